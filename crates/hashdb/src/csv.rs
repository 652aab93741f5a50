//! A small CSV record parser tolerant of the abuse.ch export shape: quoted fields, `""`
//! escapes, whitespace around quoted fields (`"a", "b"`), quoted fields spanning lines.

use crate::types::Algorithm;

/// Which digest a CSV hash column holds; `None` means "decide by length".
pub(crate) type HashColumn = (usize, Option<Algorithm>);

/// The columns of a CSV header that matter.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) delimiter: u8,
    pub(crate) hash_columns: Vec<HashColumn>,
    pub(crate) name_column: Option<usize>,
}

/// Name columns, best first.
const NAME_COLUMNS: [&str; 10] = [
    "signature",
    "malwarename",
    "malware",
    "threatname",
    "threat",
    "malwarefamily",
    "family",
    "detection",
    "virusname",
    "name",
];

fn normalize(field: &[u8]) -> String {
    field
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

fn hash_column(normalized: &str) -> Option<Option<Algorithm>> {
    match normalized {
        "md5" | "md5hash" | "md5sum" => Some(Some(Algorithm::Md5)),
        "sha1" | "sha1hash" | "sha1sum" => Some(Some(Algorithm::Sha1)),
        "sha256" | "sha256hash" | "sha256sum" => Some(Some(Algorithm::Sha256)),
        "hash" | "filehash" => Some(None),
        _ => None,
    }
}

/// The delimiter of a header line: the most frequent of `,`, `;`, tab outside quotes.
fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let mut best = (b',', counts[0]);
    for (d, c) in [(b';', counts[1]), (b'\t', counts[2])] {
        if c > best.1 {
            best = (d, c);
        }
    }
    best.0
}

/// Parses `line` as a CSV header; `Some` when it names at least one hash column.
pub(crate) fn header_candidate(line: &[u8]) -> Option<Header> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return None;
    }
    let delimiter = detect_delimiter(line);
    let mut rec = Record::default();
    if !rec.feed(line, delimiter) {
        return None;
    }
    let mut hash_columns = Vec::new();
    let mut name_column: Option<(usize, usize)> = None; // (priority, column)
    for i in 0..rec.len() {
        let norm = normalize(rec.field(i).unwrap_or_default());
        if let Some(alg) = hash_column(&norm) {
            hash_columns.push((i, alg));
        } else if let Some(prio) = NAME_COLUMNS.iter().position(|n| *n == norm)
            && name_column.is_none_or(|(p, _)| prio < p)
        {
            name_column = Some((prio, i));
        }
    }
    (!hash_columns.is_empty()).then(|| Header {
        delimiter,
        hash_columns,
        name_column: name_column.map(|(_, i)| i),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Start,
    Unquoted,
    Quoted,
    QuoteInQuoted,
    AfterQuoted,
}

/// One CSV record being parsed, possibly over several lines.
#[derive(Debug, Default)]
pub(crate) struct Record {
    buf: Vec<u8>,
    fields: Vec<(usize, usize)>,
    field_start: usize,
    state: State,
    /// A quote appeared where CSV does not allow one (`"a"b`).
    pub(crate) stray_quote: bool,
}

impl Record {
    /// Clears the record for the next one.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.fields.clear();
        self.field_start = 0;
        self.state = State::Start;
        self.stray_quote = false;
    }

    /// Bytes held so far.
    pub(crate) fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// Field `i`, unquoted.
    pub(crate) fn field(&self, i: usize) -> Option<&[u8]> {
        let &(a, b) = self.fields.get(i)?;
        self.buf.get(a..b)
    }

    fn end_field(&mut self) {
        if self.state == State::Unquoted {
            while self.buf.len() > self.field_start && matches!(self.buf.last(), Some(b' ' | b'\t'))
            {
                self.buf.pop();
            }
        }
        self.fields.push((self.field_start, self.buf.len()));
        self.field_start = self.buf.len();
        self.state = State::Start;
    }

    /// Feeds one line (without its newline). Returns `true` when the record is complete,
    /// `false` when a quoted field continues on the next line.
    pub(crate) fn feed(&mut self, line: &[u8], delimiter: u8) -> bool {
        let is_space = |b: u8| b == b' ' || (b == b'\t' && delimiter != b'\t');
        for &b in line {
            match self.state {
                State::Start => {
                    if b == delimiter {
                        self.end_field();
                    } else if is_space(b) {
                    } else if b == b'"' {
                        self.state = State::Quoted;
                    } else {
                        self.buf.push(b);
                        self.state = State::Unquoted;
                    }
                }
                State::Unquoted => {
                    if b == delimiter {
                        self.end_field();
                    } else {
                        self.buf.push(b);
                    }
                }
                State::Quoted => {
                    if b == b'"' {
                        self.state = State::QuoteInQuoted;
                    } else {
                        self.buf.push(b);
                    }
                }
                State::QuoteInQuoted => {
                    if b == b'"' {
                        self.buf.push(b'"');
                        self.state = State::Quoted;
                    } else if b == delimiter {
                        self.end_field();
                    } else if is_space(b) {
                        self.state = State::AfterQuoted;
                    } else {
                        self.stray_quote = true;
                        self.buf.push(b);
                        self.state = State::Unquoted;
                    }
                }
                State::AfterQuoted => {
                    if b == delimiter {
                        self.end_field();
                    } else if !is_space(b) {
                        self.stray_quote = true;
                        self.buf.push(b);
                        self.state = State::Unquoted;
                    }
                }
            }
        }
        if self.state == State::Quoted {
            self.buf.push(b'\n');
            return false;
        }
        self.end_field();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        let mut r = Record::default();
        assert!(r.feed(line.as_bytes(), b','));
        (0..r.len())
            .map(|i| String::from_utf8(r.field(i).unwrap().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn quoting() {
        assert_eq!(fields(r#"a,"b,c", "d""e" ,f "#), ["a", "b,c", "d\"e", "f"]);
        assert_eq!(fields(""), [""]);
        assert_eq!(fields(",,"), ["", "", ""]);
        let mut r = Record::default();
        assert!(!r.feed(br#"x,"multi"#, b','));
        assert!(r.feed(br#"line",y"#, b','));
        assert_eq!(r.field(1).unwrap(), b"multi\nline");
        assert_eq!(r.field(2).unwrap(), b"y");
        assert!(!r.stray_quote);
        r.reset();
        assert!(r.feed(br#""a"b,c"#, b','));
        assert!(r.stray_quote);
    }

    #[test]
    fn headers() {
        let h = header_candidate(
            br#" "first_seen_utc","sha256_hash","md5_hash","sha1_hash","file_name","signature","clamav""#,
        )
        .unwrap();
        assert_eq!(h.delimiter, b',');
        assert_eq!(
            h.hash_columns,
            vec![
                (1, Some(Algorithm::Sha256)),
                (2, Some(Algorithm::Md5)),
                (3, Some(Algorithm::Sha1))
            ]
        );
        assert_eq!(h.name_column, Some(5));
        let h = header_candidate(b"Name;Threat;HASH").unwrap();
        assert_eq!((h.delimiter, h.name_column), (b';', Some(1)));
        assert_eq!(h.hash_columns, vec![(2, None)]);
        assert!(header_candidate(b"a,b,c").is_none());
        assert!(header_candidate(b"").is_none());
    }
}
