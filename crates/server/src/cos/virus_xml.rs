//! The body of COS Cloud Virus Detection's submission (`POST /virus/detect`):
//! `<Request><Input><Object>|<Url></Input><Conf><DetectType>Virus</DetectType>
//! [<Callback>]</Conf></Request>`, as cos-python-sdk-v5's `ci_auditing_virus_submit` and the
//! official Node.js example (`CallBack`) send it. Read by the strict XML reader of the CI
//! bodies ([`super::ci_xml::read_strict`]); pure functions over network input, with negative
//! tests here and a fuzz target (`fuzz/fuzz_targets/cos_parse.rs`).
//!
//! Decisions where the docs are silent: empty elements count as absent; exactly one of
//! `Object` and `Url` (both or neither: `InvalidArgument`); `DetectType` is required and
//! `Virus` in any case; `Callback` and `CallBack` are the same field; unknown elements are
//! ignored with their content, as in the other CI bodies.

use super::ci_xml::{CiXmlError, MAX_BODY, Sink, check_url, read_strict};

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirusInput {
    /// A key of the request's bucket (a leading `/` removed).
    Object(String),
    /// An http(s) URL.
    Url(String),
}

/// A valid submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirusRequest {
    pub input: VirusInput,
    /// Where the result is announced, if anywhere.
    pub callback: Option<String>,
}

/// Longest text of one field (a key is at most 850 bytes, a URL at most 2 KiB here).
const MAX_FIELD: usize = 4096;

/// Parses and checks a submission; every error is fit for a CI error answer.
pub fn parse_virus_request(body: &[u8]) -> Result<VirusRequest, CiXmlError> {
    let mut sink = VirusSink::default();
    read_strict(body, MAX_BODY, "Request", &mut sink)?;
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let argument = |m: &str| CiXmlError::InvalidArgument(m.to_string());
    let input = match (present(&sink.object), present(&sink.url)) {
        (Some(o), None) => VirusInput::Object(o.strip_prefix('/').unwrap_or(&o).to_string()),
        (None, Some(u)) => {
            if u.len() > 2048 {
                return Err(argument("Input.Url is longer than 2048 bytes."));
            }
            VirusInput::Url(check_url("Input.Url", &u)?)
        }
        (Some(_), Some(_)) => return Err(argument("Give Input.Object or Input.Url, not both.")),
        (None, None) => return Err(argument("Input.Object or Input.Url is required.")),
    };
    match present(&sink.detect_type) {
        Some(t) if t.eq_ignore_ascii_case("Virus") => {}
        Some(_) => return Err(argument("Conf.DetectType must be Virus.")),
        None => return Err(argument("Conf.DetectType is required (Virus).")),
    }
    let callback = present(&sink.callback)
        .map(|c| check_url("Conf.Callback", &c))
        .transpose()?;
    Ok(VirusRequest { input, callback })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Input,
    Conf,
    Object,
    Url,
    DetectType,
    Callback,
    Skipped,
}

#[derive(Default)]
struct VirusSink {
    stack: Vec<At>,
    object: Option<String>,
    url: Option<String>,
    detect_type: Option<String>,
    callback: Option<String>,
}

fn content(message: impl Into<String>) -> CiXmlError {
    CiXmlError::InvalidContent(message.into())
}

impl VirusSink {
    fn field(&mut self, at: At) -> Option<&mut Option<String>> {
        match at {
            At::Object => Some(&mut self.object),
            At::Url => Some(&mut self.url),
            At::DetectType => Some(&mut self.detect_type),
            At::Callback => Some(&mut self.callback),
            _ => None,
        }
    }
}

impl Sink for VirusSink {
    fn open(&mut self, name: &str) -> Result<(), CiXmlError> {
        let at = match (self.stack.last(), name) {
            (None, "Input") => At::Input,
            (None, "Conf") => At::Conf,
            (Some(At::Input), "Object") => At::Object,
            (Some(At::Input), "Url") => At::Url,
            (Some(At::Conf), "DetectType") => At::DetectType,
            (Some(At::Conf), "Callback" | "CallBack") => At::Callback,
            (Some(At::Object | At::Url | At::DetectType | At::Callback), _) => {
                return Err(content(
                    "Object, Url, DetectType and Callback must contain text.",
                ));
            }
            _ => At::Skipped,
        };
        if let Some(field) = self.field(at) {
            if field.is_some() {
                return Err(CiXmlError::InvalidArgument(format!(
                    "{name} is given more than once."
                )));
            }
            *field = Some(String::new());
        }
        self.stack.push(at);
        Ok(())
    }

    fn close(&mut self) {
        self.stack.pop();
    }

    fn text(&mut self, s: &str) -> Result<(), CiXmlError> {
        let Some(&at) = self.stack.last() else {
            return if s.trim().is_empty() {
                Ok(())
            } else {
                Err(content("Request must contain elements, not text."))
            };
        };
        match self.field(at) {
            Some(Some(t)) => {
                if t.len() + s.len() > MAX_FIELD {
                    return Err(content("A field is too long."));
                }
                t.push_str(s);
                Ok(())
            }
            _ if at == At::Skipped || s.trim().is_empty() => Ok(()),
            _ => Err(content("Input and Conf must contain elements, not text.")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_sdks_send() {
        // cos-python-sdk-v5 (xmltodict, with a prolog).
        let py = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Request><Input><Object>a/b 中.exe</Object></Input><Conf><DetectType>Virus</DetectType><Callback>http://127.0.0.1:9000/cb</Callback></Conf></Request>";
        assert_eq!(
            parse_virus_request(py.as_bytes()).unwrap(),
            VirusRequest {
                input: VirusInput::Object("a/b 中.exe".into()),
                callback: Some("http://127.0.0.1:9000/cb".into()),
            }
        );
        // The Node.js example: no prolog, `CallBack`, a URL.
        let node = b"<Request><Input><Url>https://example.com/x.zip?a=1&amp;b=2</Url></Input><Conf><DetectType>virus</DetectType><CallBack>https://cb.example.com/</CallBack></Conf></Request>";
        let r = parse_virus_request(node).unwrap();
        assert_eq!(
            r.input,
            VirusInput::Url("https://example.com/x.zip?a=1&b=2".into())
        );
        assert_eq!(r.callback.as_deref(), Some("https://cb.example.com/"));
        // Empty elements are absent; a leading slash is not part of the key.
        let r = parse_virus_request(
            b"<Request><Input><Object>/k</Object><Url/></Input><Conf><DetectType>Virus</DetectType><Callback></Callback><Extra><x/></Extra></Conf></Request>",
        )
        .unwrap();
        assert_eq!(
            r,
            VirusRequest {
                input: VirusInput::Object("k".into()),
                callback: None
            }
        );
    }

    #[test]
    fn refuses_what_is_not_one_request() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "MissingContent"),
            (b"<Other/>", "InvalidContent"),
            (b"<Request><Input></Input><Conf><DetectType>Virus</DetectType></Conf></Request>", "InvalidArgument"),
            (b"<Request><Input><Object>a</Object><Url>http://x/</Url></Input><Conf><DetectType>Virus</DetectType></Conf></Request>", "InvalidArgument"),
            (b"<Request><Input><Object>a</Object></Input></Request>", "InvalidArgument"),
            (b"<Request><Input><Object>a</Object></Input><Conf><DetectType>Porn</DetectType></Conf></Request>", "InvalidArgument"),
            (b"<Request><Input><Url>ftp://x/y</Url></Input><Conf><DetectType>Virus</DetectType></Conf></Request>", "InvalidArgument"),
            (b"<Request><Input><Object>a</Object></Input><Conf><DetectType>Virus</DetectType><Callback>javascript:1</Callback></Conf></Request>", "InvalidArgument"),
            (b"<Request><Input><Object>a</Object><Object>b</Object></Input><Conf><DetectType>Virus</DetectType></Conf></Request>", "InvalidArgument"),
            (b"<Request><Input><Object><b/></Object></Input></Request>", "InvalidContent"),
            (b"<Request>text<Input/></Request>", "InvalidContent"),
            (b"<!DOCTYPE r [<!ENTITY e 'x'>]><Request><Input><Object>&e;</Object></Input></Request>", "InvalidContent"),
            (b"<Request><Input><Object>a</Object></Input>", "InvalidContent"),
        ];
        for (body, code) in cases {
            let e = parse_virus_request(body).expect_err(&String::from_utf8_lossy(body));
            assert_eq!(e.code(), *code, "{}", String::from_utf8_lossy(body));
        }
        let long = format!(
            "<Request><Input><Object>{}</Object></Input><Conf><DetectType>Virus</DetectType></Conf></Request>",
            "a".repeat(MAX_FIELD + 1)
        );
        assert!(parse_virus_request(long.as_bytes()).is_err());
    }
}
