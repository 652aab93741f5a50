//! Header-name case on the wire.
//!
//! hyper writes every response header name in lower case (or, optionally, in Title-Case), and
//! offers no public way to choose the case of each name. The COS Python SDK copies response
//! headers into a plain, case-sensitive `dict` and reads `ETag`, `Content-Length`,
//! `Last-Modified` and `x-cos-hash-crc64ecma` from it, exactly as COS spells them; with
//! lower-case names its `download_file` fails with `KeyError: 'Content-Length'`.
//!
//! [`CaseIo`] sits between hyper and the socket and rewrites the names in each response head
//! to the case COS uses: `ETag`, Title-Case for standard headers (`Content-Length`), lower case
//! for `x-*` headers (`x-cos-request-id`). To find where each head starts it follows the
//! response framing (Content-Length, chunked, none): bodies pass through untouched, without a
//! copy. HEAD responses carry no body though they have a Content-Length, so the handler marks
//! them with the internal header [`NO_BODY_MARKER`], which is removed here.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Internal response header: this response has no body whatever its Content-Length says.
pub const NO_BODY_MARKER: &str = "x-hashscan-no-body";

/// Largest response head accepted before giving up on rewriting.
const MAX_HEAD: usize = 64 * 1024;

/// An I/O stream whose outgoing HTTP/1 response heads get their header names re-cased.
pub struct CaseIo<T> {
    inner: T,
    state: Frame,
    pending: Vec<u8>,
    pending_pos: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// Collecting a response head.
    Head(Vec<u8>),
    /// A body of this many more bytes.
    Length(u64),
    /// A chunked body.
    Chunked(Chunk),
    /// A body that lasts until the connection closes; also the state after any surprise.
    Passthrough,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    EndLf,
}

impl<T> CaseIo<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        CaseIo {
            inner,
            state: Frame::Head(Vec::new()),
            pending: Vec::new(),
            pending_pos: 0,
        }
    }
}

impl Frame {
    /// Advances over body bytes of the current message; returns how many of `buf` belong to
    /// it and whether the message ended there.
    fn advance(&mut self, buf: &[u8]) -> (usize, bool) {
        match self {
            Frame::Length(left) => {
                let n = (*left).min(buf.len() as u64);
                *left -= n;
                (n as usize, *left == 0)
            }
            Frame::Chunked(chunk) => {
                let mut i = 0;
                while i < buf.len() {
                    let b = buf[i];
                    *chunk = match *chunk {
                        Chunk::Data(left) => {
                            let n = left.min((buf.len() - i) as u64);
                            i += n as usize;
                            if left == n {
                                Chunk::DataCr
                            } else {
                                Chunk::Data(left - n)
                            }
                        }
                        state => {
                            i += 1;
                            match (state, b) {
                                (Chunk::Size(n), b';') => Chunk::Extension(n),
                                (Chunk::Size(n), b'\r') | (Chunk::Extension(n), b'\r') => {
                                    Chunk::SizeLf(n)
                                }
                                (Chunk::Size(n), d) => match (d as char).to_digit(16) {
                                    Some(v) => Chunk::Size(
                                        n.saturating_mul(16).saturating_add(u64::from(v)),
                                    ),
                                    None => Chunk::Size(n),
                                },
                                (Chunk::Extension(n), _) => Chunk::Extension(n),
                                (Chunk::SizeLf(0), _) => Chunk::TrailerStart,
                                (Chunk::SizeLf(n), _) => Chunk::Data(n),
                                (Chunk::DataCr, _) => Chunk::DataLf,
                                (Chunk::DataLf, _) => Chunk::Size(0),
                                (Chunk::TrailerStart, b'\r') => Chunk::EndLf,
                                (Chunk::TrailerStart, _) | (Chunk::TrailerLine, _)
                                    if b != b'\n' =>
                                {
                                    Chunk::TrailerLine
                                }
                                (Chunk::TrailerLine, _) => Chunk::TrailerStart,
                                (Chunk::EndLf, _) => return (i, true),
                                (s, _) => s,
                            }
                        }
                    };
                }
                (i, false)
            }
            Frame::Passthrough => (buf.len(), false),
            Frame::Head(_) => (0, true),
        }
    }
}

/// Rewrites a complete response head and says how its body is framed.
fn rewrite_head(head: &[u8]) -> (Vec<u8>, Frame) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut out = Vec::with_capacity(head.len());
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    let (mut no_body, mut chunked, mut length) = (false, false, None);
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, rest)) = line.split_once(':') else {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
            continue;
        };
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            NO_BODY_MARKER => {
                no_body = true;
                continue;
            }
            "content-length" => length = rest.trim().parse::<u64>().ok(),
            "transfer-encoding" => chunked = rest.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
        out.extend_from_slice(canonical(&lower).as_bytes());
        out.push(b':');
        out.extend_from_slice(rest.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let frame = if (100..200).contains(&status) || status == 204 || status == 304 || no_body {
        Frame::Head(Vec::new())
    } else if chunked {
        Frame::Chunked(Chunk::Size(0))
    } else {
        match length {
            Some(0) => Frame::Head(Vec::new()),
            Some(n) => Frame::Length(n),
            None => Frame::Passthrough,
        }
    };
    (out, frame)
}

/// The case COS uses for a header name given in lower case.
pub fn canonical(lower: &str) -> Cow<'_, str> {
    match lower {
        "etag" => Cow::Borrowed("ETag"),
        "content-md5" => Cow::Borrowed("Content-MD5"),
        "www-authenticate" => Cow::Borrowed("WWW-Authenticate"),
        n if n.starts_with("x-") => Cow::Borrowed(n),
        n => {
            let mut s = String::with_capacity(n.len());
            let mut up = true;
            for c in n.chars() {
                s.push(if up { c.to_ascii_uppercase() } else { c });
                up = c == '-';
            }
            Cow::Owned(s)
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

impl<T: AsyncWrite + Unpin> CaseIo<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_pos < self.pending.len() {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.pending_pos..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_pos += n;
        }
        self.pending.clear();
        self.pending_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CaseIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if let Frame::Head(acc) = &mut this.state {
            let start = acc.len().saturating_sub(3);
            let before = acc.len();
            acc.extend_from_slice(buf);
            if let Some(end) = find_head_end(&acc[start..]).map(|e| start + e) {
                let consumed = end - before;
                acc.truncate(end);
                let (head, frame) = rewrite_head(acc);
                this.pending = head;
                this.state = frame;
                let _ = this.poll_drain(cx)?;
                return Poll::Ready(Ok(consumed));
            }
            if acc.len() > MAX_HEAD {
                // Not a head we understand: send what we have and stop rewriting.
                this.pending = std::mem::take(acc);
                this.state = Frame::Passthrough;
                let _ = this.poll_drain(cx)?;
            }
            return Poll::Ready(Ok(buf.len()));
        }
        let mut probe = this.state.clone();
        let (take, _) = probe.advance(buf);
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..take]))?;
        let (_, done) = this.state.advance(&buf[..n]);
        if done {
            this.state = Frame::Head(Vec::new());
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CaseIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Writes `pieces` through a CaseIo, each write as its own call, and returns the wire.
    async fn through(pieces: &[&[u8]]) -> Vec<u8> {
        let mut io = CaseIo::new(Vec::new());
        for p in pieces {
            io.write_all(p).await.unwrap();
        }
        io.flush().await.unwrap();
        io.inner
    }

    #[tokio::test]
    async fn names_get_cos_case_and_bodies_pass_untouched() {
        let wire = through(&[
            b"HTTP/1.1 200 OK\r\netag: \"abc\"\r\ncontent-length: 5\r\nx-cos-request-id: r1\r\n\r\nhe",
            b"llo",
        ])
        .await;
        assert_eq!(
            wire,
            b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 5\r\nx-cos-request-id: r1\r\n\r\nhello"
        );
    }

    #[tokio::test]
    async fn body_bytes_that_look_like_heads_are_not_touched() {
        let body = b"etag: x\r\n\r\n";
        let mut first = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n".to_vec();
        first.extend_from_slice(body);
        first.extend_from_slice(b"HTTP/1.1 204 No Content\r\nserver: s\r\n\r\n");
        let wire = through(&[&first]).await;
        let mut want = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n".to_vec();
        want.extend_from_slice(body);
        want.extend_from_slice(b"HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n");
        assert_eq!(wire, want);
    }

    #[tokio::test]
    async fn head_responses_have_no_body_and_lose_the_marker() {
        let wire = through(&[
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nx-hashscan-no-body: 1\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        ])
        .await;
        assert_eq!(
            wire,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn chunked_bodies_and_continue_are_followed() {
        let pieces: Vec<&[u8]> = vec![
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"5\r\nhello\r\n",
            b"3;ext=1\r\n\r\n\r\n\r\n",
            b"0\r\ntrailer-x: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-type: a\r\ncontent-length: 0\r\n\r\n",
        ];
        let wire = through(&pieces).await;
        let text = String::from_utf8(wire).unwrap();
        assert!(text.contains("Transfer-Encoding: chunked"));
        assert!(
            text.contains("3;ext=1\r\n\r\n\r\n\r\n0\r\ntrailer-x: 1\r\n\r\n"),
            "{text}"
        );
        assert!(text.ends_with("HTTP/1.1 200 OK\r\nContent-Type: a\r\nContent-Length: 0\r\n\r\n"));
    }

    #[tokio::test]
    async fn byte_at_a_time_writes_give_the_same_wire() {
        let whole: &[u8] = b"HTTP/1.1 200 OK\r\nlast-modified: x\r\ncontent-length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\ncontent-md5: q\r\ncontent-length: 0\r\n\r\n";
        let one = through(&[whole]).await;
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(through(&bytes).await, one);
        assert_eq!(
            one,
            b"HTTP/1.1 200 OK\r\nLast-Modified: x\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-MD5: q\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical("etag"), "ETag");
        assert_eq!(canonical("content-length"), "Content-Length");
        assert_eq!(canonical("x-cos-hash-crc64ecma"), "x-cos-hash-crc64ecma");
        assert_eq!(canonical("accept-ranges"), "Accept-Ranges");
    }
}
