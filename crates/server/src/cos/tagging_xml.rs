//! Object tags on the wire: the `<Tagging>` body of PUT Object tagging and the
//! `x-cos-tagging` header of a PUT (`k1=v1&k2=v2`, URL-encoded). The body is read by the strict
//! XML reader of the CI bodies ([`super::ci_xml::read_strict`]). Pure functions over network
//! input, with negative tests here and a fuzz target (`fuzz/fuzz_targets/cos_parse.rs`).
//! The limits (count, lengths, characters) are decided by the core
//! ([`crate::core::objects::validate_tags`]); here only the shape is checked, and a key given
//! twice.

use std::collections::BTreeMap;

use super::ci_xml::{CiXmlError, Sink, read_strict};

/// Largest body: ten tags of at most 128 + 256 characters, escaped, with their markup.
pub const MAX_BODY: usize = 64 * 1024;

/// Parses a `<Tagging><TagSet><Tag><Key>…</Key><Value>…</Value></Tag>…</TagSet></Tagging>`
/// body; the error's message is fit for a `MalformedXML` answer (or `InvalidTag` when
/// [`TagError::Duplicate`]).
pub fn parse_tagging(body: &[u8]) -> Result<BTreeMap<String, String>, TagError> {
    let mut sink = TagSink::default();
    read_strict(body, MAX_BODY, "Tagging", &mut sink).map_err(|e| {
        TagError::Malformed(match e {
            CiXmlError::MissingContent => "The request body is empty.".to_string(),
            other => other.to_string(),
        })
    })?;
    if let Some(e) = sink.error {
        return Err(e);
    }
    Ok(sink.tags)
}

/// Parses the `x-cos-tagging` header: `k1=v1&k2=v2`, each part URL-encoded (`+` is a space).
pub fn parse_tagging_header(value: &str) -> Result<BTreeMap<String, String>, TagError> {
    let mut tags = BTreeMap::new();
    for part in value.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| TagError::Malformed("x-cos-tagging is not URL-encoded UTF-8.".into()))
        };
        let (k, v) = (decode(k)?, decode(v)?);
        if tags.insert(k.clone(), v).is_some() {
            return Err(TagError::Duplicate(k));
        }
    }
    Ok(tags)
}

/// Why tags could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("{0}")]
    Malformed(String),
    #[error("The tag key {0:?} is given more than once.")]
    Duplicate(String),
}

/// Where the reader is inside `<Tagging>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    TagSet,
    Tag,
    Key,
    Value,
    /// An unknown element, or anything inside one.
    Skipped,
}

#[derive(Default)]
struct TagSink {
    /// The open elements inside the root (empty: directly in `<Tagging>`).
    stack: Vec<At>,
    tags: BTreeMap<String, String>,
    key: Option<String>,
    value: Option<String>,
    /// The first shape error found when an element closed: a `<Tag>` without a key, or a
    /// key given twice.
    error: Option<TagError>,
}

/// Most `<Tag>` elements read (the core allows fewer; this only bounds the work).
const MAX_TAG_ELEMENTS: usize = 64;

fn content(message: impl Into<String>) -> CiXmlError {
    CiXmlError::InvalidContent(message.into())
}

impl Sink for TagSink {
    fn open(&mut self, name: &str) -> Result<(), CiXmlError> {
        let at = match (self.stack.last(), name) {
            (None, "TagSet") => At::TagSet,
            (Some(At::TagSet), "Tag") => {
                if self.tags.len() >= MAX_TAG_ELEMENTS {
                    return Err(content("Too many <Tag> elements."));
                }
                self.key = None;
                self.value = None;
                At::Tag
            }
            (Some(At::Tag), "Key") => {
                if self.key.is_some() {
                    return Err(content("A <Tag> has more than one <Key>."));
                }
                self.key = Some(String::new());
                At::Key
            }
            (Some(At::Tag), "Value") => {
                if self.value.is_some() {
                    return Err(content("A <Tag> has more than one <Value>."));
                }
                self.value = Some(String::new());
                At::Value
            }
            (Some(At::Key | At::Value), _) => {
                return Err(content("Key and Value must contain text, not elements."));
            }
            _ => At::Skipped,
        };
        self.stack.push(at);
        Ok(())
    }

    fn close(&mut self) {
        if self.stack.pop() != Some(At::Tag) || self.error.is_some() {
            return;
        }
        let Some(key) = self.key.take() else {
            self.error = Some(TagError::Malformed("A <Tag> has no <Key>.".to_string()));
            return;
        };
        let value = self.value.take().unwrap_or_default();
        if self.tags.insert(key.clone(), value).is_some() {
            self.error = Some(TagError::Duplicate(key));
        }
    }

    fn text(&mut self, s: &str) -> Result<(), CiXmlError> {
        let target = match self.stack.last() {
            Some(At::Key) => &mut self.key,
            Some(At::Value) => &mut self.value,
            Some(At::Skipped) => return Ok(()),
            _ if s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) => return Ok(()),
            _ => {
                return Err(content("Tagging, TagSet and Tag must contain elements."));
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
    fn bodies_and_headers_parse() {
        let t = parse_tagging(
            b"<Tagging><TagSet><Tag><Key>verdict</Key><Value>clean</Value></Tag><Tag><Key>a b</Key><Value></Value></Tag></TagSet></Tagging>",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t["verdict"], "clean");
        assert_eq!(t["a b"], "");
        assert!(
            parse_tagging(b"<Tagging><TagSet/></Tagging>")
                .unwrap()
                .is_empty()
        );
        let h = parse_tagging_header("k1=v1&a+b=c%2Fd&empty=").unwrap();
        assert_eq!(h["k1"], "v1");
        assert_eq!(h["a b"], "c/d");
        assert_eq!(h["empty"], "");
        assert!(parse_tagging_header("").unwrap().is_empty());
    }

    #[test]
    fn bad_tags_are_refused() {
        for bad in [
            &b""[..],
            b"<Tagging>",
            b"<Other/>",
            b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key>a<x/></Key></Tag></TagSet></Tagging>",
            b"<!DOCTYPE t [<!ENTITY e 'x'>]><Tagging/>",
            b"<Tagging>text</Tagging>",
        ] {
            assert!(
                matches!(parse_tagging(bad), Err(TagError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_tagging(b"<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>"),
            Err(TagError::Duplicate("a".into()))
        );
        assert_eq!(
            parse_tagging_header("a=1&a=2"),
            Err(TagError::Duplicate("a".into()))
        );
        assert!(parse_tagging_header("a=%ff").is_err());
    }
}
