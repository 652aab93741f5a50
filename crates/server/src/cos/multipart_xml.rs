//! The body of Complete Multipart Upload (`POST /<key>?uploadId=…`): a
//! `<CompleteMultipartUpload>` document of `<Part><PartNumber>…</PartNumber><ETag>…</ETag>
//! </Part>` entries, read by the strict XML reader of the CI bodies
//! ([`super::ci_xml::read_strict`]: UTF-8, no DTD, only predefined entities). Pure
//! functions over network input, with negative tests here and a fuzz target
//! (`fuzz/fuzz_targets/cos_parse.rs`). Whether the list names the stored parts, in order,
//! is the core's decision ([`crate::core::multipart::Multipart::complete`]).

use super::ci_xml::{CiXmlError, Sink, read_strict};
use crate::core::multipart::MAX_PARTS;

/// Largest body: 10,000 parts with their markup and some whitespace (the Node.js SDK notes
/// 853 KB without whitespace).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Parses a `<CompleteMultipartUpload>` body into (part number, ETag) pairs in the order
/// given; the error's message is fit for a `MalformedXML` answer.
pub fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, String> {
    let mut sink = CompleteSink::default();
    read_strict(body, MAX_BODY, "CompleteMultipartUpload", &mut sink).map_err(|e| match e {
        CiXmlError::MissingContent => "The request body is empty.".to_string(),
        other => other.to_string(),
    })?;
    if let Some(e) = sink.error {
        return Err(e);
    }
    if sink.parts.is_empty() {
        return Err("The request lists no <Part>.".to_string());
    }
    Ok(sink.parts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Part,
    Number,
    ETag,
    Skipped,
}

#[derive(Default)]
struct CompleteSink {
    stack: Vec<At>,
    parts: Vec<(u32, String)>,
    number: Option<String>,
    etag: Option<String>,
    /// The first shape error found when a `<Part>` closed.
    error: Option<String>,
}

fn content(message: impl Into<String>) -> CiXmlError {
    CiXmlError::InvalidContent(message.into())
}

impl Sink for CompleteSink {
    fn open(&mut self, name: &str) -> Result<(), CiXmlError> {
        let at = match (self.stack.last(), name) {
            (None, "Part") => {
                if self.parts.len() >= MAX_PARTS as usize {
                    return Err(content(format!(
                        "At most {MAX_PARTS} parts make an object."
                    )));
                }
                self.number = None;
                self.etag = None;
                At::Part
            }
            (Some(At::Part), "PartNumber") => {
                if self.number.is_some() {
                    return Err(content("A <Part> has more than one <PartNumber>."));
                }
                self.number = Some(String::new());
                At::Number
            }
            (Some(At::Part), "ETag") => {
                if self.etag.is_some() {
                    return Err(content("A <Part> has more than one <ETag>."));
                }
                self.etag = Some(String::new());
                At::ETag
            }
            (Some(At::Number | At::ETag), _) => {
                return Err(content(
                    "PartNumber and ETag must contain text, not elements.",
                ));
            }
            _ => At::Skipped,
        };
        self.stack.push(at);
        Ok(())
    }

    fn close(&mut self) {
        if self.stack.pop() != Some(At::Part) || self.error.is_some() {
            return;
        }
        let number = self.number.take().unwrap_or_default();
        let etag = self.etag.take().unwrap_or_default();
        let etag = etag.trim();
        match number.trim().parse::<u32>() {
            Ok(n) if !etag.is_empty() => self.parts.push((n, etag.to_string())),
            Ok(_) => self.error = Some("A <Part> has no <ETag>.".to_string()),
            Err(_) => {
                self.error = Some(format!(
                    "A <Part> has no <PartNumber> or one that is not a number ({:?}).",
                    number.chars().take(32).collect::<String>()
                ));
            }
        }
    }

    fn text(&mut self, s: &str) -> Result<(), CiXmlError> {
        let target = match self.stack.last() {
            Some(At::Number) => &mut self.number,
            Some(At::ETag) => &mut self.etag,
            Some(At::Skipped) => return Ok(()),
            _ if s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) => return Ok(()),
            _ => {
                return Err(content(
                    "CompleteMultipartUpload and Part must contain elements, not text.",
                ));
            }
        };
        if let Some(t) = target {
            if t.len() + s.len() > 256 {
                return Err(content("A PartNumber or ETag is too long."));
            }
            t.push_str(s);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_parts_as_the_sdks_send_them() {
        // Python (dict_to_xml) and Node.js (json2xml, whitespace removed) send this shape.
        let body = br#"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"5d41402abc4b2a76b9719d911017c592"</ETag></Part>
            <Part><ETag>&quot;7d793037a0760186574b0282f2f435e7&quot;</ETag><PartNumber> 2 </PartNumber></Part></CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(body).unwrap(),
            vec![
                (1, "\"5d41402abc4b2a76b9719d911017c592\"".to_string()),
                (2, "\"7d793037a0760186574b0282f2f435e7\"".to_string())
            ]
        );
        // Order is kept: the core refuses a list out of order.
        let swapped = b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(parse_complete(swapped).unwrap()[0].0, 2);
    }

    #[test]
    fn refuses_malformed_bodies() {
        for bad in [
            &b""[..],
            b"<CompleteMultipartUpload/>",
            b"<CompleteMultipartUpload></CompleteMultipartUpload>",
            b"<Other><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Other>",
            b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber><b/>1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload>text<Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part>",
            b"<!DOCTYPE x [<!ENTITY e 'a'>]><CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&e;</ETag></Part></CompleteMultipartUpload>",
        ] {
            assert!(parse_complete(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn bounds_the_work() {
        let one = "<Part><PartNumber>1</PartNumber><ETag>a</ETag></Part>";
        let too_many = format!(
            "<CompleteMultipartUpload>{}</CompleteMultipartUpload>",
            one.repeat(MAX_PARTS as usize + 1)
        );
        assert!(parse_complete(too_many.as_bytes()).is_err());
        let at_limit = format!(
            "<CompleteMultipartUpload>{}</CompleteMultipartUpload>",
            one.repeat(MAX_PARTS as usize)
        );
        assert_eq!(parse_complete(at_limit.as_bytes()).unwrap().len(), 10_000);
        let long = format!(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
            "a".repeat(300)
        );
        assert!(parse_complete(long.as_bytes()).is_err());
        let huge = vec![b' '; MAX_BODY + 1];
        assert!(parse_complete(&huge).is_err());
    }
}
