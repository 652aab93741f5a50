//! The wire shapes of nta 2024-07-30 (detection-apis.md §3.1): the two request bodies, parsed
//! and validated, the `GetFileDetection` result and the `ResponseMetadata` envelope.
//!
//! Parsing is strict about what it reads and lenient about what it does not: the body must be
//! a JSON object (an empty body counts as `{}`), the one parameter of each action must be a
//! string of the allowed length, other members are ignored. Lengths count characters, as the
//! Python SDK's validation does (`len(str)`).

use hashscan_detect::Verdict;
use serde_json::{Map, Value, json};

use super::error::VolcError;
use crate::core::detections::{Detection, Lookup, State};

/// Longest `SignURL`, in characters (SDK validation: 1–2048).
pub const MAX_SIGN_URL: usize = 2048;
/// Longest `QueryKey`, in characters (SDK validation and Go `max:"64"`).
pub const MAX_QUERY_KEY: usize = 64;

/// `CreateFileDetection`'s body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFileDetection {
    pub sign_url: String,
}

/// `GetFileDetection`'s body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetFileDetection {
    pub query_key: String,
}

/// The body as a JSON object; an empty (or all-whitespace) body is `{}`.
fn object(body: &[u8]) -> Result<Map<String, Value>, VolcError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(VolcError::invalid(
            "The request body must be a JSON object.",
        )),
        Err(_) => Err(VolcError::invalid("The request body is not valid JSON.")),
    }
}

/// The string member `name`, with a length of 1 to `max` characters; `null` counts as absent.
fn string_param(body: &Map<String, Value>, name: &str, max: usize) -> Result<String, VolcError> {
    match body.get(name) {
        None | Some(Value::Null) => Err(VolcError::missing(name)),
        Some(Value::String(s)) => {
            let len = s.chars().count();
            if len == 0 || len > max {
                Err(VolcError::invalid(format!(
                    "The parameter {name} must be 1 to {max} characters long; it is {len}."
                )))
            } else {
                Ok(s.clone())
            }
        }
        Some(_) => Err(VolcError::invalid(format!(
            "The parameter {name} must be a string."
        ))),
    }
}

pub fn parse_create(body: &[u8]) -> Result<CreateFileDetection, VolcError> {
    let body = object(body)?;
    Ok(CreateFileDetection {
        sign_url: string_param(&body, "SignURL", MAX_SIGN_URL)?,
    })
}

pub fn parse_get(body: &[u8]) -> Result<GetFileDetection, VolcError> {
    let body = object(body)?;
    Ok(GetFileDetection {
        query_key: string_param(&body, "QueryKey", MAX_QUERY_KEY)?,
    })
}

/// `Finish`: the detection's progress.
pub mod finish {
    /// No detection of this key (never submitted, or expired).
    pub const NOT_DETECTED: i32 = -2;
    /// The detection failed (download refused or failed, file too large, unreadable).
    pub const FAILED: i32 = -1;
    /// Under way.
    pub const DETECTING: i32 = 1;
    /// Done: `FileSecType` holds the verdict.
    pub const DONE: i32 = 2;
}

/// `FileSecType`: the verdict.
pub mod sec_type {
    pub const UNKNOWN: i32 = 0;
    pub const NORMAL: i32 = 1;
    pub const VIRUS: i32 = 2;
}

/// `GetFileDetection`'s `Result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDetection {
    pub file_md5: String,
    pub file_sec_type: i32,
    pub file_size: u64,
    pub finish: i32,
    pub virus_desc: String,
}

impl FileDetection {
    /// The answer for what a lookup found (the mapping is documented in the module doc of
    /// [`super`]).
    pub fn of(found: &Lookup) -> FileDetection {
        match found {
            Lookup::Unknown => FileDetection {
                file_md5: String::new(),
                file_sec_type: sec_type::UNKNOWN,
                file_size: 0,
                finish: finish::NOT_DETECTED,
                virus_desc: String::new(),
            },
            Lookup::Found(d) => Self::of_detection(d),
        }
    }

    fn of_detection(d: &Detection) -> FileDetection {
        let mut out = FileDetection {
            file_md5: d.md5.clone().unwrap_or_default(),
            file_sec_type: sec_type::UNKNOWN,
            file_size: d.size.unwrap_or(0),
            finish: finish::DETECTING,
            virus_desc: String::new(),
        };
        match d.state {
            State::Detecting => {}
            State::Failed => out.finish = finish::FAILED,
            State::Done => {
                out.finish = finish::DONE;
                if let Some(r) = &d.report {
                    out.file_md5.clone_from(&r.md5);
                    out.file_size = r.size;
                    out.file_sec_type = match r.verdict {
                        Verdict::Malicious | Verdict::Suspicious => sec_type::VIRUS,
                        Verdict::Clean => sec_type::NORMAL,
                        Verdict::Unknown => sec_type::UNKNOWN,
                    };
                    if out.file_sec_type == sec_type::VIRUS {
                        out.virus_desc =
                            r.threat_type.map_or("Malware", |t| t.as_str()).to_string();
                    }
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "FileMd5": self.file_md5,
            "FileSecType": self.file_sec_type,
            "FileSize": self.file_size,
            "Finish": self.finish,
            "VirusDesc": self.virus_desc,
        })
    }
}

/// `ResponseMetadata`, on every answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMetadata {
    pub request_id: String,
    pub action: String,
    pub version: String,
    pub region: String,
}

/// Service name in every `ResponseMetadata`.
pub const SERVICE: &str = "nta";

impl ResponseMetadata {
    /// `{"ResponseMetadata": {…}, "Result": result}`.
    pub fn ok(&self, result: Value) -> Value {
        json!({ "ResponseMetadata": self.fields(None), "Result": result })
    }

    /// `{"ResponseMetadata": {…, "Error": {"CodeN", "Code", "Message"}}}`.
    pub fn error(&self, e: &VolcError) -> Value {
        json!({ "ResponseMetadata": self.fields(Some(e)) })
    }

    fn fields(&self, e: Option<&VolcError>) -> Value {
        let mut m = Map::new();
        m.insert("RequestId".into(), self.request_id.clone().into());
        m.insert("Action".into(), self.action.clone().into());
        m.insert("Version".into(), self.version.clone().into());
        m.insert("Service".into(), SERVICE.into());
        m.insert("Region".into(), self.region.clone().into());
        if let Some(e) = e {
            let mut err = Map::new();
            if let Some(n) = e.code.code_n() {
                err.insert("CodeN".into(), n.into());
            }
            err.insert("Code".into(), e.code.code().into());
            err.insert("Message".into(), e.message.clone().into());
            m.insert("Error".into(), Value::Object(err));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::detections::{Options, Source};
    use crate::volc::error::Code;
    use hashscan_detect::{Report, ThreatType};

    #[test]
    fn create_bodies() {
        assert_eq!(
            parse_create(br#"{"SignURL": "http://a/b"}"#)
                .unwrap()
                .sign_url,
            "http://a/b"
        );
        // Unknown members are ignored.
        assert_eq!(
            parse_create(br#"{"SignURL":"x","Other":1}"#)
                .unwrap()
                .sign_url,
            "x"
        );
        let long = "h".repeat(MAX_SIGN_URL);
        let body = serde_json::to_vec(&json!({ "SignURL": long })).unwrap();
        assert_eq!(parse_create(&body).unwrap().sign_url.len(), MAX_SIGN_URL);
        // Characters, not bytes: 2048 three-byte characters are fine.
        let wide = "é".repeat(MAX_SIGN_URL);
        let body = serde_json::to_vec(&json!({ "SignURL": wide })).unwrap();
        assert!(parse_create(&body).is_ok());
    }

    #[test]
    fn create_bodies_refused() {
        let code = |b: &[u8]| parse_create(b).unwrap_err().code;
        assert_eq!(code(b"{"), Code::InvalidParameter);
        assert_eq!(code(b"not json"), Code::InvalidParameter);
        assert_eq!(code(b"\xff\xfe"), Code::InvalidParameter);
        assert_eq!(code(b"[]"), Code::InvalidParameter);
        assert_eq!(code(br#""SignURL""#), Code::InvalidParameter);
        assert_eq!(code(br#"{"SignURL": 5}"#), Code::InvalidParameter);
        assert_eq!(code(br#"{"SignURL": ["a"]}"#), Code::InvalidParameter);
        assert_eq!(code(br#"{"SignURL": {"a": 1}}"#), Code::InvalidParameter);
        assert_eq!(code(br#"{"SignURL": ""}"#), Code::InvalidParameter);
        assert_eq!(code(br#"{"SignURL": null}"#), Code::MissingParameter);
        assert_eq!(code(b"{}"), Code::MissingParameter);
        assert_eq!(code(b""), Code::MissingParameter);
        assert_eq!(code(b"  \n"), Code::MissingParameter);
        // Names are case-sensitive, as the SDK sends them.
        assert_eq!(code(br#"{"signurl": "x"}"#), Code::MissingParameter);
        let long = "h".repeat(MAX_SIGN_URL + 1);
        let body = serde_json::to_vec(&json!({ "SignURL": long })).unwrap();
        assert_eq!(code(&body), Code::InvalidParameter);
        let m = parse_create(b"{}").unwrap_err().message;
        assert_eq!(m, "The request is missing SignURL parameter.");
    }

    #[test]
    fn get_bodies() {
        let key = "d41d8cd98f00b204e9800998ecf8427e";
        let body = format!(r#"{{"QueryKey": "{key}"}}"#);
        assert_eq!(parse_get(body.as_bytes()).unwrap().query_key, key);
        let max = "k".repeat(MAX_QUERY_KEY);
        let body = serde_json::to_vec(&json!({ "QueryKey": max })).unwrap();
        assert!(parse_get(&body).is_ok());
    }

    #[test]
    fn get_bodies_refused() {
        let code = |b: &[u8]| parse_get(b).unwrap_err().code;
        assert_eq!(code(b"{\"QueryKey\":"), Code::InvalidParameter);
        assert_eq!(code(b"42"), Code::InvalidParameter);
        assert_eq!(code(br#"{"QueryKey": 1}"#), Code::InvalidParameter);
        assert_eq!(code(br#"{"QueryKey": true}"#), Code::InvalidParameter);
        assert_eq!(code(br#"{"QueryKey": ""}"#), Code::InvalidParameter);
        assert_eq!(code(br#"{"SignURL": "x"}"#), Code::MissingParameter);
        assert_eq!(code(b""), Code::MissingParameter);
        let long = "k".repeat(MAX_QUERY_KEY + 1);
        let body = serde_json::to_vec(&json!({ "QueryKey": long })).unwrap();
        assert_eq!(code(&body), Code::InvalidParameter);
    }

    fn detection(state: State, report: Option<Report>) -> Detection {
        Detection {
            id: "f".to_string() + &"0".repeat(32),
            hash_key: None,
            md5: Some("0123456789abcdef0123456789abcdef".into()),
            sha1: None,
            sha256: None,
            size: Some(7),
            state,
            report,
            ruleset: None,
            error_code: None,
            error_message: None,
            source: Source::Url {
                url: "http://x/".into(),
            },
            options: Options::default(),
            created_at: 0,
            finished_at: None,
            expires_at: 0,
        }
    }

    fn report(verdict: Verdict, threat: Option<ThreatType>) -> Report {
        let mut r: Report = serde_json::from_value(json!({
            "verdict": "clean", "score": 0, "threat_type": null, "threat_name": null,
            "hits": [], "labels": [], "archive": null, "size": 68,
            "md5": "44d88612fea8a8f36de82e1278abb02f", "sha1": "", "sha256": "",
            "ruleset": "r", "notes": []
        }))
        .unwrap();
        r.verdict = verdict;
        r.threat_type = threat;
        r
    }

    fn of(state: State, rep: Option<Report>) -> FileDetection {
        FileDetection::of(&Lookup::Found(std::sync::Arc::new(detection(state, rep))))
    }

    #[test]
    fn finish_and_sec_type() {
        let unknown = FileDetection::of(&Lookup::Unknown);
        assert_eq!((unknown.finish, unknown.file_sec_type), (-2, 0));
        assert_eq!(unknown.file_md5, "");

        let detecting = of(State::Detecting, None);
        assert_eq!((detecting.finish, detecting.file_sec_type), (1, 0));
        assert_eq!(detecting.file_md5, "0123456789abcdef0123456789abcdef");
        assert_eq!(detecting.file_size, 7);

        let failed = of(State::Failed, None);
        assert_eq!((failed.finish, failed.file_sec_type), (-1, 0));

        let eicar = of(
            State::Done,
            Some(report(Verdict::Malicious, Some(ThreatType::Engtest))),
        );
        assert_eq!((eicar.finish, eicar.file_sec_type), (2, 2));
        assert_eq!(eicar.virus_desc, "Engtest");
        assert_eq!(eicar.file_md5, "44d88612fea8a8f36de82e1278abb02f");
        assert_eq!(eicar.file_size, 68);

        let shell = of(
            State::Done,
            Some(report(Verdict::Suspicious, Some(ThreatType::WebShell))),
        );
        assert_eq!(
            (shell.file_sec_type, shell.virus_desc.as_str()),
            (2, "WebShell")
        );

        let untyped = of(State::Done, Some(report(Verdict::Malicious, None)));
        assert_eq!(untyped.virus_desc, "Malware");

        let clean = of(State::Done, Some(report(Verdict::Clean, None)));
        assert_eq!((clean.finish, clean.file_sec_type), (2, 1));
        assert_eq!(clean.virus_desc, "");

        let unsure = of(State::Done, Some(report(Verdict::Unknown, None)));
        assert_eq!((unsure.finish, unsure.file_sec_type), (2, 0));

        // A type on a clean verdict is not a virus description.
        let clean_typed = of(
            State::Done,
            Some(report(Verdict::Clean, Some(ThreatType::Trojan))),
        );
        assert_eq!(clean_typed.virus_desc, "");
    }

    #[test]
    fn result_json_field_names() {
        let v = FileDetection::of(&Lookup::Unknown).to_json();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["FileMd5", "FileSecType", "FileSize", "Finish", "VirusDesc"]
        );
    }

    #[test]
    fn envelopes() {
        let meta = ResponseMetadata {
            request_id: "rid".into(),
            action: "GetFileDetection".into(),
            version: "2024-07-30".into(),
            region: "cn-beijing".into(),
        };
        let ok = meta.ok(json!({"QueryKey": "k"}));
        assert_eq!(
            ok.to_string(),
            r#"{"ResponseMetadata":{"RequestId":"rid","Action":"GetFileDetection","Version":"2024-07-30","Service":"nta","Region":"cn-beijing"},"Result":{"QueryKey":"k"}}"#
        );
        let err = meta.error(&VolcError::missing("QueryKey"));
        assert_eq!(
            err.to_string(),
            r#"{"ResponseMetadata":{"RequestId":"rid","Action":"GetFileDetection","Version":"2024-07-30","Service":"nta","Region":"cn-beijing","Error":{"CodeN":100002,"Code":"MissingParameter","Message":"The request is missing QueryKey parameter."}}}"#
        );
        let err = meta.error(&VolcError::invalid("x"));
        assert!(err["ResponseMetadata"]["Error"].get("CodeN").is_none());
        assert!(err.get("Result").is_none());
    }
}
