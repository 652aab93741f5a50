//! The body of DELETE Multiple Objects (`POST /?delete`): a `<Delete>` document with an
//! optional `<Quiet>` and 1 to [`MAX_KEYS`] `<Object><Key>` entries, read by the strict XML
//! reader the CI bodies use ([`super::ci_xml::read_strict`]: UTF-8, no DTD, only predefined
//! entities). Pure functions over network input, with negative tests here and a fuzz target
//! (`fuzz/fuzz_targets/cos_parse.rs`).
//!
//! Decisions where COS is silent: unknown elements are ignored with their content (as in the
//! CI bodies), `<VersionId>` included (hashscan keeps no versions); a key keeps its
//! whitespace (it is text, as in a listing); `Quiet` is `true`/`false` in any case; an
//! `<Object>` without a `<Key>`, or an empty key, is refused.

use super::ci_xml::{CiXmlError, Sink, read_strict};

/// Most keys one request deletes (COS: 1000).
pub const MAX_KEYS: usize = 1000;
/// Largest body: 1000 keys of up to 850 bytes, escaped, with their markup.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// A parsed `<Delete>` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// Answer only the failures.
    pub quiet: bool,
    /// The keys, in the order given.
    pub keys: Vec<String>,
}

/// Parses a `<Delete>` body; the error's message is fit for a `MalformedXML` answer.
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, String> {
    let mut sink = DeleteSink::default();
    read_strict(body, MAX_BODY, "Delete", &mut sink).map_err(|e| match e {
        CiXmlError::MissingContent => "The request body is empty.".to_string(),
        other => other.to_string(),
    })?;
    let quiet = match sink.quiet.as_deref().map(str::trim) {
        None => false,
        Some(q) if q.eq_ignore_ascii_case("true") => true,
        Some(q) if q.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err("Quiet must be true or false.".to_string()),
    };
    if sink.keyless {
        return Err("An <Object> has no <Key> or an empty one.".to_string());
    }
    if sink.keys.is_empty() {
        return Err("The request names no <Object><Key>.".to_string());
    }
    Ok(DeleteRequest {
        quiet,
        keys: sink.keys,
    })
}

/// Where the reader is inside `<Delete>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Quiet,
    Object,
    Key,
    /// An unknown element, or anything inside one.
    Skipped,
}

#[derive(Default)]
struct DeleteSink {
    /// The open elements inside the root (empty: directly in `<Delete>`).
    stack: Vec<At>,
    quiet: Option<String>,
    keys: Vec<String>,
    /// The key of the open `<Object>`, once its `<Key>` opened.
    key: Option<String>,
    /// An `<Object>` without a key, found when it closed.
    keyless: bool,
}

fn content(message: impl Into<String>) -> CiXmlError {
    CiXmlError::InvalidContent(message.into())
}

impl Sink for DeleteSink {
    fn open(&mut self, name: &str) -> Result<(), CiXmlError> {
        let at = match (self.stack.last(), name) {
            (None, "Quiet") => {
                if self.quiet.is_some() {
                    return Err(content("Quiet is given more than once."));
                }
                self.quiet = Some(String::new());
                At::Quiet
            }
            (None, "Object") => {
                if self.keys.len() >= MAX_KEYS {
                    return Err(content(format!(
                        "At most {MAX_KEYS} objects may be deleted at once."
                    )));
                }
                self.key = None;
                At::Object
            }
            (Some(At::Object), "Key") => {
                if self.key.is_some() {
                    return Err(content("An <Object> has more than one <Key>."));
                }
                self.key = Some(String::new());
                At::Key
            }
            (Some(At::Quiet | At::Key), _) => {
                return Err(content("Quiet and Key must contain text, not elements."));
            }
            _ => At::Skipped,
        };
        self.stack.push(at);
        Ok(())
    }

    fn close(&mut self) {
        if self.stack.pop() == Some(At::Object) {
            match self.key.take() {
                Some(k) if !k.is_empty() => self.keys.push(k),
                _ => self.keyless = true,
            }
        }
    }

    fn text(&mut self, s: &str) -> Result<(), CiXmlError> {
        let target = match self.stack.last() {
            Some(At::Quiet) => &mut self.quiet,
            Some(At::Key) => &mut self.key,
            Some(At::Skipped) => return Ok(()),
            _ if s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) => return Ok(()),
            _ => {
                return Err(content(
                    "Delete and Object must contain elements, not text.",
                ));
            }
        };
        if let Some(t) = target {
            t.push_str(s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_sdk_body_parses() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<Delete><Quiet>true</Quiet><Object><Key>a.txt</Key></Object><Object><Key> dir/b &amp; c </Key><VersionId>x</VersionId></Object></Delete>"#;
        let d = parse_delete(body).unwrap();
        assert!(d.quiet);
        assert_eq!(d.keys, ["a.txt", " dir/b & c "]);
        let d = parse_delete(b"<Delete><Object><Key>k</Key></Object></Delete>").unwrap();
        assert!(!d.quiet);
        let d = parse_delete(b"<Delete><Quiet>FALSE</Quiet><Object><Key>k</Key></Object><Extra><Key>no</Key></Extra></Delete>").unwrap();
        assert_eq!((d.quiet, d.keys.len()), (false, 1));
    }

    #[test]
    fn bad_bodies_are_refused() {
        for bad in [
            &b""[..],
            b"   ",
            b"<Delete></Delete>",
            b"<Delete><Object></Object></Delete>",
            b"<Delete><Object><Key></Key></Object></Delete>",
            b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
            b"<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>",
            b"<Delete><Quiet>true</Quiet><Quiet>true</Quiet><Object><Key>a</Key></Object></Delete>",
            b"<Delete><Object><Key>a<b/></Key></Object></Delete>",
            b"<Other><Object><Key>a</Key></Object></Other>",
            b"<Delete><Object><Key>a</Key></Object>",
            b"<Delete><Object><Key>a</Key></Object></Delete><Delete/>",
            b"<!DOCTYPE x [<!ENTITY e \"y\">]><Delete><Object><Key>&e;</Key></Object></Delete>",
            b"<Delete><Object><Key>\xff</Key></Object></Delete>",
            b"<Delete>text<Object><Key>a</Key></Object></Delete>",
        ] {
            assert!(
                parse_delete(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn at_most_1000_keys_and_a_bounded_body() {
        let body = |n: usize| {
            let mut b = String::from("<Delete>");
            for i in 0..n {
                b.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
            }
            b.push_str("</Delete>");
            b
        };
        assert_eq!(
            parse_delete(body(MAX_KEYS).as_bytes()).unwrap().keys.len(),
            MAX_KEYS
        );
        let e = parse_delete(body(MAX_KEYS + 1).as_bytes()).unwrap_err();
        assert!(e.contains("1000"), "{e}");
        let huge = format!(
            "<Delete><Object><Key>{}</Key></Object></Delete>",
            "k".repeat(MAX_BODY)
        );
        assert!(parse_delete(huge.as_bytes()).is_err());
    }
}
