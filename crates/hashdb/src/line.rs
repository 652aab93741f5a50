//! Line reading with a length cap, so a list without newlines cannot exhaust memory.

use std::io::{self, BufRead};

/// Longest line kept; longer lines are reported as malformed and skipped.
pub(crate) const MAX_LINE_LEN: usize = 64 * 1024;

/// One line as read: its bytes (without `\n` or a trailing `\r`) and its 1-based number.
pub(crate) struct Line<'a> {
    pub(crate) number: u64,
    pub(crate) bytes: &'a [u8],
    /// The line exceeded [`MAX_LINE_LEN`]; `bytes` is empty.
    pub(crate) too_long: bool,
}

/// Reads lines from a [`BufRead`] into a reused buffer.
pub(crate) struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        LineReader {
            reader,
            buf: Vec::with_capacity(256),
            number: 0,
        }
    }

    /// Number of lines read so far.
    pub(crate) fn lines_read(&self) -> u64 {
        self.number
    }

    /// The next line, or `None` at end of input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            if !too_long {
                if self.buf.len() + chunk.len() > MAX_LINE_LEN {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.reader.consume(used);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let mut bytes = &self.buf[..];
        if self.number == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        Ok(Some(Line {
            number: self.number,
            bytes,
            too_long,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8]) -> Vec<(u64, Vec<u8>, bool)> {
        let mut r = LineReader::new(io::BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.number, l.bytes.to_vec(), l.too_long));
        }
        out
    }

    #[test]
    fn splits_crlf_bom_and_last_line() {
        let v = collect(b"\xef\xbb\xbfab\r\ncd\n\nlast");
        assert_eq!(
            v,
            vec![
                (1, b"ab".to_vec(), false),
                (2, b"cd".to_vec(), false),
                (3, b"".to_vec(), false),
                (4, b"last".to_vec(), false),
            ]
        );
        assert!(collect(b"").is_empty());
    }

    #[test]
    fn caps_long_lines() {
        let mut input = vec![b'a'; MAX_LINE_LEN + 10];
        input.extend_from_slice(b"\nok\n");
        let v = collect(&input);
        assert_eq!(v.len(), 2);
        assert!(v[0].2 && v[0].1.is_empty());
        assert_eq!(v[1], (2, b"ok".to_vec(), false));
    }
}
