//! Parsers of the XML request bodies of the CI file-processing API: `POST /file_jobs`
//! (spec `cos-ci.md` §2.2) and `PUT|POST /file_queue/<queueId>` (§2.6). Pure functions over
//! network input, with negative tests here and a fuzz target (`fuzz/fuzz_targets/ci_xml.rs`).
//!
//! Two steps, so that the dialect can echo what was sent and still act on typed values:
//! - [`parse_file_job`] / [`parse_queue_update`] check the XML and return the values as sent
//!   ([`FileJobRequest`], [`QueueUpdate`]);
//! - [`validate_hash_job`] / [`validate_queue_update`] check the values and return typed ones
//!   ([`ValidHashJob`], [`ValidQueueUpdate`]). [`parse_hash_job`] does both.
//!
//! Every error is a [`CiXmlError`] whose [`code`](CiXmlError::code) is the CI code of spec §4
//! (all three are HTTP 400) and whose `Display` is a message fit for `<Message>`.
//!
//! # What the XML layer accepts (decisions where the spec is silent)
//! - A body of at most [`MAX_BODY`] bytes, UTF-8 only: an optional UTF-8 byte-order mark, an
//!   optional XML declaration (which may only declare UTF-8, and may follow leading
//!   whitespace), then exactly one root element `<Request>`. Comments and processing
//!   instructions are ignored anywhere. Characters that XML 1.0 forbids (C0 controls other
//!   than tab, CR, LF; U+FFFE, U+FFFF) are refused, literal or as `&#…;` references.
//! - No DTD: any `<!DOCTYPE …>` is refused (`InvalidContent`), so no entity is ever defined,
//!   let alone expanded or fetched. Only the five predefined entities (`&amp;` `&lt;` `&gt;`
//!   `&quot;` `&apos;`) and character references are resolved; anything else is refused.
//! - Children in any order. Element names are matched exactly (case-sensitive, no namespace
//!   prefix); attributes are checked for well-formedness and otherwise ignored.
//! - Unknown elements, anywhere, are ignored with all their content (forward compatibility;
//!   e.g. another job type's `Operation` config), but must still be well-formed and nest at
//!   most [`MAX_DEPTH`] levels deep, counting the root.
//! - Known containers (`Request`, `Input`, `Operation`, …) may contain only elements and
//!   whitespace; known leaves (`Tag`, `Object`, …) only text, CDATA, references and comments.
//!   Anything else is `InvalidContent`.
//! - A known element given twice is `InvalidArgument` naming it (no first-wins/last-wins
//!   guessing; no SDK sends duplicates).
//! - A leaf's value is its text with entities resolved, CDATA included verbatim, CRLF
//!   normalised to LF, and surrounding XML whitespace (space, tab, CR, LF) trimmed — also for
//!   `Input/Object`, so a key with leading or trailing whitespace cannot be addressed here.
//! - An empty element (`<UserData/>` or `<UserData></UserData>`) is `Some("")`, an absent one
//!   `None`: the parsed structs keep that difference. Validation then treats an empty
//!   *optional* value as absent (like empty query values, spec §8.3), except `UserData`,
//!   which is passed on as `Some("")`.
//!
//! # What validation accepts
//! - Every enumerated value (`Type`, `AddToHeader`, `CallBackFormat`, `CallBackType`,
//!   `State`, `NotifyConfig/*`) is matched ASCII case-insensitively (the GO unit test sends
//!   `sha1`); the typed values carry the canonical spelling (`as_str`).
//! - TDMQ callbacks are refused with `InvalidArgument`: hashscan only delivers HTTP callbacks.
//! - Callback URLs must be `http://` or `https://` with a non-empty rest and no whitespace or
//!   control characters; anything deeper (reachability, allowed hosts) is the caller's policy.
//! - `QueueId` and `Object` are only checked for presence; whether the queue or the object
//!   exists, and whether a key is valid, is decided by the caller and the store.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event;

/// The largest request body accepted, in bytes. The biggest valid body — 1024 bytes of
/// `UserData`, an object key of ~850 bytes, a callback URL, all escaped — is far below this;
/// the HTTP layer may cut bodies off earlier, this is the parser's own bound.
pub const MAX_BODY: usize = 64 * 1024;

/// The deepest element nesting accepted, counting `<Request>` as 1. Valid bodies need 4
/// (`Request/Operation/FileHashCodeConfig/Type`); the rest is room for unknown elements.
pub const MAX_DEPTH: usize = 32;

/// The longest `UserData`, in bytes of printable ASCII (spec §2.2).
pub const MAX_USER_DATA: usize = 1024;

/// The longest queue `Name`, in characters (spec §2.6).
pub const MAX_QUEUE_NAME: usize = 128;

/// The tag of a hash job.
pub const FILE_HASH_CODE: &str = "FileHashCode";

/// Why a body was refused; each variant is one CI error code (spec §4), all HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CiXmlError {
    /// The body is empty, whitespace, or has no root element.
    #[error("The request body is missing.")]
    MissingContent,
    /// The body is not acceptable XML: malformed, not UTF-8, a DTD, too large, too deep,
    /// the wrong root element, text where elements belong or the reverse.
    #[error("{0}")]
    InvalidContent(String),
    /// Well-formed XML with a missing, repeated or invalid field; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
}

impl CiXmlError {
    /// The CI error code (`<Code>`).
    pub fn code(&self) -> &'static str {
        match self {
            CiXmlError::MissingContent => "MissingContent",
            CiXmlError::InvalidContent(_) => "InvalidContent",
            CiXmlError::InvalidArgument(_) => "InvalidArgument",
        }
    }
}

fn content(message: impl Into<String>) -> CiXmlError {
    CiXmlError::InvalidContent(message.into())
}

fn argument(message: impl Into<String>) -> CiXmlError {
    CiXmlError::InvalidArgument(message.into())
}

// ---------------------------------------------------------------------------------------------
// POST /file_jobs

/// A `POST /file_jobs` body, values as sent (trimmed). `None` is an absent element,
/// `Some("")` an empty one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileJobRequest {
    /// `Tag` (required element; may be empty here, [`validate_hash_job`] refuses that).
    pub tag: String,
    /// `Input/Object` (required element; may be empty here).
    pub object: String,
    /// `Operation/FileHashCodeConfig`, when present.
    pub hash: Option<HashConfig>,
    /// `Operation/UserData`.
    pub user_data: Option<String>,
    pub queue_id: Option<String>,
    /// `CallBack`: the callback URL, overriding the queue's `NotifyConfig/Url`.
    pub callback: Option<String>,
    pub callback_format: Option<String>,
    pub callback_type: Option<String>,
    /// `CallBackMqConfig`, when present.
    pub mq: Option<MqConfig>,
}

/// `Operation/FileHashCodeConfig`, values as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashConfig {
    /// `Type` (required once the container is present).
    pub type_: String,
    /// `AddToHeader`; the GO SDK omits it when false.
    pub add_to_header: Option<String>,
}

/// The TDMQ target of a callback (`CallBackMqConfig`, or the `Mq*` fields of a queue's
/// `NotifyConfig`), values as sent. Parsed only to be refused or ignored: hashscan has no TDMQ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqConfig {
    pub mq_mode: Option<String>,
    pub mq_region: Option<String>,
    pub mq_name: Option<String>,
}

const JOB_TAG: &str = "Request.Tag";
const JOB_INPUT: &str = "Request.Input";
const JOB_OBJECT: &str = "Request.Input.Object";
const JOB_OPERATION: &str = "Request.Operation";
const JOB_HASH: &str = "Request.Operation.FileHashCodeConfig";
const JOB_HASH_TYPE: &str = "Request.Operation.FileHashCodeConfig.Type";
const JOB_ADD_TO_HEADER: &str = "Request.Operation.FileHashCodeConfig.AddToHeader";
const JOB_USER_DATA: &str = "Request.Operation.UserData";
const JOB_QUEUE_ID: &str = "Request.QueueId";
const JOB_CALLBACK: &str = "Request.CallBack";
const JOB_CALLBACK_FORMAT: &str = "Request.CallBackFormat";
const JOB_CALLBACK_TYPE: &str = "Request.CallBackType";
const JOB_MQ: &str = "Request.CallBackMqConfig";
const JOB_MQ_MODE: &str = "Request.CallBackMqConfig.MqMode";
const JOB_MQ_REGION: &str = "Request.CallBackMqConfig.MqRegion";
const JOB_MQ_NAME: &str = "Request.CallBackMqConfig.MqName";

/// The known elements of a `POST /file_jobs` body.
const FILE_JOB_SCHEMA: &[(&str, Kind)] = &[
    (JOB_TAG, Kind::Leaf),
    (JOB_INPUT, Kind::Container),
    (JOB_OBJECT, Kind::Leaf),
    (JOB_OPERATION, Kind::Container),
    (JOB_HASH, Kind::Container),
    (JOB_HASH_TYPE, Kind::Leaf),
    (JOB_ADD_TO_HEADER, Kind::Leaf),
    (JOB_USER_DATA, Kind::Leaf),
    (JOB_QUEUE_ID, Kind::Leaf),
    (JOB_CALLBACK, Kind::Leaf),
    (JOB_CALLBACK_FORMAT, Kind::Leaf),
    (JOB_CALLBACK_TYPE, Kind::Leaf),
    (JOB_MQ, Kind::Container),
    (JOB_MQ_MODE, Kind::Leaf),
    (JOB_MQ_REGION, Kind::Leaf),
    (JOB_MQ_NAME, Kind::Leaf),
];

/// Parses a `POST /file_jobs` body (spec §2.2). Requires `Tag`, `Input/Object` and, when
/// `FileHashCodeConfig` is present, its `Type`; everything else is optional here.
pub fn parse_file_job(body: &[u8]) -> Result<FileJobRequest, CiXmlError> {
    let mut f = parse(body, FILE_JOB_SCHEMA)?;
    let tag = f
        .take(JOB_TAG)
        .ok_or_else(|| argument(format!("{JOB_TAG} is missing.")))?;
    let object = f
        .take(JOB_OBJECT)
        .ok_or_else(|| argument(format!("{JOB_OBJECT} is missing.")))?;
    let hash = if f.has(JOB_HASH) {
        Some(HashConfig {
            type_: f
                .take(JOB_HASH_TYPE)
                .ok_or_else(|| argument(format!("{JOB_HASH_TYPE} is missing.")))?,
            add_to_header: f.take(JOB_ADD_TO_HEADER),
        })
    } else {
        None
    };
    let mq = f.has(JOB_MQ).then(|| MqConfig {
        mq_mode: f.take(JOB_MQ_MODE),
        mq_region: f.take(JOB_MQ_REGION),
        mq_name: f.take(JOB_MQ_NAME),
    });
    Ok(FileJobRequest {
        tag,
        object,
        hash,
        user_data: f.take(JOB_USER_DATA),
        queue_id: f.take(JOB_QUEUE_ID),
        callback: f.take(JOB_CALLBACK),
        callback_format: f.take(JOB_CALLBACK_FORMAT),
        callback_type: f.take(JOB_CALLBACK_TYPE),
        mq,
    })
}

/// A hash algorithm of `FileHashCodeConfig/Type`: the core's.
pub use crate::core::hash_jobs::HashType;

/// The body format of a callback (`CallBackFormat`, `NotifyConfig/ResultFormat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CallbackFormat {
    /// The documented default.
    #[default]
    Xml,
    Json,
}

impl CallbackFormat {
    /// Any case of `XML`, `JSON`.
    pub fn parse(value: &str) -> Option<Self> {
        [CallbackFormat::Xml, CallbackFormat::Json]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(value))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallbackFormat::Xml => "XML",
            CallbackFormat::Json => "JSON",
        }
    }
}

/// How a callback is delivered (`CallBackType`, `NotifyConfig/Type`). The wire also knows
/// `TDMQ`, which validation refuses: hashscan delivers HTTP callbacks only, so `Url` is the
/// one variant (an enum so that another transport would be an additive change).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CallbackType {
    /// An HTTP POST to a URL; the documented default.
    #[default]
    Url,
}

impl CallbackType {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackType::Url => "Url",
        }
    }
}

/// A valid hash job: what [`validate_hash_job`] makes of a [`FileJobRequest`] whose `Tag` is
/// `FileHashCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidHashJob {
    /// The object key, non-empty.
    pub object: String,
    pub hash_type: HashType,
    /// `AddToHeader`; absent or empty is `false` (the GO SDK omits it when false).
    pub add_to_header: bool,
    /// `UserData`, at most [`MAX_USER_DATA`] bytes of printable ASCII; `Some("")` when sent
    /// empty, so that it can be echoed as sent.
    pub user_data: Option<String>,
    /// `QueueId`; `None` (absent or empty) means the bucket's default queue (spec §8.4).
    /// Not checked for existence here.
    pub queue_id: Option<String>,
    /// `CallBack`, an http(s) URL; `None` (absent or empty) means the queue's `NotifyConfig`.
    pub callback: Option<String>,
    /// `CallBack` was `no` (any case): no callback at all, not even the queue's (the COS
    /// job APIs: "设置为 no 时，表示队列的回调地址不产生回调").
    pub callback_off: bool,
    /// `CallBackFormat`; `None` (absent or empty) means the queue's `ResultFormat`, which
    /// `CallBackFormat` overrides (spec §2.2) — hence an `Option`, not the default applied
    /// here. [`CallbackFormat::default`] is the documented default, XML.
    pub callback_format: Option<CallbackFormat>,
    /// Always [`CallbackType::Url`]: `TDMQ` is refused. A `CallBackMqConfig` sent with a
    /// `Url` callback type is ignored.
    pub callback_type: CallbackType,
}

/// Checks the values of a hash job (`Tag` `FileHashCode`); see the module documentation for
/// the rules. Every error is `InvalidArgument` naming the field.
pub fn validate_hash_job(req: &FileJobRequest) -> Result<ValidHashJob, CiXmlError> {
    if req.tag.is_empty() {
        return Err(argument(format!("{JOB_TAG} is empty.")));
    }
    if req.tag != FILE_HASH_CODE {
        return Err(argument(format!(
            "unsupported Tag '{}': {JOB_TAG} must be {FILE_HASH_CODE}.",
            shown(&req.tag)
        )));
    }
    if req.object.is_empty() {
        return Err(argument(format!("{JOB_OBJECT} is empty.")));
    }
    let hash = req
        .hash
        .as_ref()
        .ok_or_else(|| argument(format!("{JOB_HASH} is missing.")))?;
    let hash_type = HashType::parse(&hash.type_).ok_or_else(|| {
        argument(format!(
            "{JOB_HASH_TYPE} must be MD5, SHA1 or SHA256, not '{}'.",
            shown(&hash.type_)
        ))
    })?;
    let add_to_header = match non_empty(&hash.add_to_header) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(argument(format!(
                "{JOB_ADD_TO_HEADER} must be true or false, not '{}'.",
                shown(v)
            )));
        }
    };
    if let Some(data) = &req.user_data {
        check_user_data(data)?;
    }
    let callback_type = check_callback_type(JOB_CALLBACK_TYPE, &req.callback_type)?;
    let callback_format = non_empty(&req.callback_format)
        .map(|v| check_format(JOB_CALLBACK_FORMAT, v))
        .transpose()?;
    let callback_off =
        non_empty(&req.callback).is_some_and(|v| v.trim().eq_ignore_ascii_case("no"));
    let callback = non_empty(&req.callback)
        .filter(|_| !callback_off)
        .map(|v| check_url(JOB_CALLBACK, v))
        .transpose()?;
    Ok(ValidHashJob {
        object: req.object.clone(),
        hash_type,
        add_to_header,
        user_data: req.user_data.clone(),
        queue_id: non_empty(&req.queue_id).map(str::to_string),
        callback,
        callback_off,
        callback_format,
        callback_type,
    })
}

/// [`parse_file_job`] then [`validate_hash_job`].
pub fn parse_hash_job(body: &[u8]) -> Result<ValidHashJob, CiXmlError> {
    validate_hash_job(&parse_file_job(body)?)
}

fn check_user_data(data: &str) -> Result<(), CiXmlError> {
    if data.len() > MAX_USER_DATA {
        return Err(argument(format!(
            "{JOB_USER_DATA} is {} bytes long; at most {MAX_USER_DATA} are allowed.",
            data.len()
        )));
    }
    if let Some(c) = data.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(argument(format!(
            "{JOB_USER_DATA} must be printable ASCII; it contains U+{:04X}.",
            u32::from(c)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PUT|POST /file_queue/<queueId>

/// A `PUT|POST /file_queue/<queueId>` body, values as sent (trimmed); every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueUpdate {
    pub name: Option<String>,
    pub state: Option<String>,
    /// `NotifyConfig`, when present.
    pub notify: Option<NotifyConfig>,
}

/// A queue's `NotifyConfig`, values as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    pub state: Option<String>,
    pub url: Option<String>,
    pub type_: Option<String>,
    pub event: Option<String>,
    pub result_format: Option<String>,
    /// `MqMode`, `MqRegion`, `MqName`, when any of them is present.
    pub mq: Option<MqConfig>,
}

const Q_NAME: &str = "Request.Name";
const Q_STATE: &str = "Request.State";
const Q_NOTIFY: &str = "Request.NotifyConfig";
const Q_N_STATE: &str = "Request.NotifyConfig.State";
const Q_N_URL: &str = "Request.NotifyConfig.Url";
const Q_N_TYPE: &str = "Request.NotifyConfig.Type";
const Q_N_EVENT: &str = "Request.NotifyConfig.Event";
const Q_N_FORMAT: &str = "Request.NotifyConfig.ResultFormat";
const Q_N_MQ_MODE: &str = "Request.NotifyConfig.MqMode";
const Q_N_MQ_REGION: &str = "Request.NotifyConfig.MqRegion";
const Q_N_MQ_NAME: &str = "Request.NotifyConfig.MqName";

/// The known elements of a queue update body.
const QUEUE_SCHEMA: &[(&str, Kind)] = &[
    (Q_NAME, Kind::Leaf),
    (Q_STATE, Kind::Leaf),
    (Q_NOTIFY, Kind::Container),
    (Q_N_STATE, Kind::Leaf),
    (Q_N_URL, Kind::Leaf),
    (Q_N_TYPE, Kind::Leaf),
    (Q_N_EVENT, Kind::Leaf),
    (Q_N_FORMAT, Kind::Leaf),
    (Q_N_MQ_MODE, Kind::Leaf),
    (Q_N_MQ_REGION, Kind::Leaf),
    (Q_N_MQ_NAME, Kind::Leaf),
];

/// Parses a queue update body (spec §2.6). `<Request/>` is a valid update that changes nothing.
pub fn parse_queue_update(body: &[u8]) -> Result<QueueUpdate, CiXmlError> {
    let mut f = parse(body, QUEUE_SCHEMA)?;
    let notify = f.has(Q_NOTIFY).then(|| {
        let mq = MqConfig {
            mq_mode: f.take(Q_N_MQ_MODE),
            mq_region: f.take(Q_N_MQ_REGION),
            mq_name: f.take(Q_N_MQ_NAME),
        };
        NotifyConfig {
            state: f.take(Q_N_STATE),
            url: f.take(Q_N_URL),
            type_: f.take(Q_N_TYPE),
            event: f.take(Q_N_EVENT),
            result_format: f.take(Q_N_FORMAT),
            mq: (mq != MqConfig::default()).then_some(mq),
        }
    });
    Ok(QueueUpdate {
        name: f.take(Q_NAME),
        state: f.take(Q_STATE),
        notify,
    })
}

/// A queue's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueState {
    Active,
    /// Queued jobs stay queued; running ones are unaffected (spec §2.6).
    Paused,
}

impl QueueState {
    /// Any case of `Active`, `Paused`.
    pub fn parse(value: &str) -> Option<Self> {
        [QueueState::Active, QueueState::Paused]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Active => "Active",
            QueueState::Paused => "Paused",
        }
    }
}

/// An event a queue notifies about (`NotifyConfig/Event`, a comma list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyEvent {
    /// A job finished; the only event file jobs produce.
    TaskFinish,
    /// A workflow finished; accepted as the docs list it, never produced by hashscan.
    WorkflowFinish,
}

impl NotifyEvent {
    /// Any case of `TaskFinish`, `WorkflowFinish`.
    pub fn parse(value: &str) -> Option<Self> {
        [NotifyEvent::TaskFinish, NotifyEvent::WorkflowFinish]
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(value))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::TaskFinish => "TaskFinish",
            NotifyEvent::WorkflowFinish => "WorkflowFinish",
        }
    }
}

/// A valid queue update. `None` fields leave the queue's value unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidQueueUpdate {
    pub name: Option<String>,
    pub state: Option<QueueState>,
    /// A new notification configuration, replacing the queue's whole `NotifyConfig` (fields
    /// absent from it take their documented defaults, not the queue's old values).
    pub notify: Option<ValidNotifyConfig>,
}

/// A valid `NotifyConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidNotifyConfig {
    /// `State` `On`; absent or empty is `Off` (the documented default).
    pub enabled: bool,
    /// The http(s) URL; required when `enabled`, kept (and checked) when given while off.
    pub url: Option<String>,
    /// `Type`; absent or empty is `Url` (the only one hashscan delivers, although the docs
    /// call it required when `State` is `On`); `TDMQ` is refused.
    pub callback_type: CallbackType,
    /// `Event`, split on commas, empty items skipped, duplicates removed, order kept;
    /// absent or empty is `[TaskFinish]`.
    pub events: Vec<NotifyEvent>,
    /// `ResultFormat`; absent or empty is XML (the documented default).
    pub result_format: CallbackFormat,
}

/// Checks the values of a queue update; see [`ValidQueueUpdate`] and the module documentation.
/// `Name` holds 1 to [`MAX_QUEUE_NAME`] characters among ASCII letters and digits, CJK
/// ideographs (the "Chinese characters" of the docs) and `_ - *`; an empty `Name` is absent.
/// Every error is `InvalidArgument` naming the field.
pub fn validate_queue_update(req: &QueueUpdate) -> Result<ValidQueueUpdate, CiXmlError> {
    let name = non_empty(&req.name)
        .map(|n| check_queue_name(n).map(|()| n.to_string()))
        .transpose()?;
    let state = non_empty(&req.state)
        .map(|s| {
            QueueState::parse(s).ok_or_else(|| {
                argument(format!(
                    "{Q_STATE} must be Active or Paused, not '{}'.",
                    shown(s)
                ))
            })
        })
        .transpose()?;
    let notify = req.notify.as_ref().map(check_notify).transpose()?;
    Ok(ValidQueueUpdate {
        name,
        state,
        notify,
    })
}

/// [`parse_queue_update`] then [`validate_queue_update`].
pub fn parse_valid_queue_update(body: &[u8]) -> Result<ValidQueueUpdate, CiXmlError> {
    validate_queue_update(&parse_queue_update(body)?)
}

fn check_queue_name(name: &str) -> Result<(), CiXmlError> {
    let len = name.chars().count();
    if len > MAX_QUEUE_NAME {
        return Err(argument(format!(
            "{Q_NAME} is {len} characters long; at most {MAX_QUEUE_NAME} are allowed."
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '*') || is_cjk(c);
    if let Some(c) = name.chars().find(|&c| !allowed(c)) {
        return Err(argument(format!(
            "{Q_NAME} may hold only letters, digits, Chinese characters and _ - *; it contains U+{:04X}.",
            u32::from(c)
        )));
    }
    Ok(())
}

/// CJK Unified Ideographs, their extensions A to H and the compatibility ideographs.
fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF)
}

fn check_notify(n: &NotifyConfig) -> Result<ValidNotifyConfig, CiXmlError> {
    let callback_type = check_callback_type(Q_N_TYPE, &n.type_)?;
    let enabled = match non_empty(&n.state) {
        None => false,
        Some(s) if s.eq_ignore_ascii_case("On") => true,
        Some(s) if s.eq_ignore_ascii_case("Off") => false,
        Some(s) => {
            return Err(argument(format!(
                "{Q_N_STATE} must be On or Off, not '{}'.",
                shown(s)
            )));
        }
    };
    let url = non_empty(&n.url)
        .map(|u| check_url(Q_N_URL, u))
        .transpose()?;
    if enabled && url.is_none() {
        return Err(argument(format!(
            "{Q_N_URL} is required when {Q_N_STATE} is On."
        )));
    }
    let result_format = non_empty(&n.result_format)
        .map(|v| check_format(Q_N_FORMAT, v))
        .transpose()?
        .unwrap_or_default();
    let mut events = Vec::new();
    for item in non_empty(&n.event).unwrap_or("").split(',') {
        let item = item.trim_matches(is_xml_space);
        if item.is_empty() {
            continue;
        }
        let event = NotifyEvent::parse(item).ok_or_else(|| {
            argument(format!(
                "{Q_N_EVENT} may list only TaskFinish and WorkflowFinish, not '{}'.",
                shown(item)
            ))
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        events.push(NotifyEvent::TaskFinish);
    }
    Ok(ValidNotifyConfig {
        enabled,
        url,
        callback_type,
        events,
        result_format,
    })
}

// ---------------------------------------------------------------------------------------------
// Shared value checks

/// An optional value, with empty counting as absent.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn check_callback_type(field: &str, value: &Option<String>) -> Result<CallbackType, CiXmlError> {
    match non_empty(value) {
        None => Ok(CallbackType::Url),
        Some(v) if v.eq_ignore_ascii_case("Url") => Ok(CallbackType::Url),
        Some(v) if v.eq_ignore_ascii_case("TDMQ") => Err(argument(format!(
            "{field} TDMQ is not supported: hashscan delivers callbacks only by HTTP (Url)."
        ))),
        Some(v) => Err(argument(format!(
            "{field} must be Url or TDMQ, not '{}'.",
            shown(v)
        ))),
    }
}

fn check_format(field: &str, value: &str) -> Result<CallbackFormat, CiXmlError> {
    CallbackFormat::parse(value).ok_or_else(|| {
        argument(format!(
            "{field} must be XML or JSON, not '{}'.",
            shown(value)
        ))
    })
}

pub(crate) fn check_url(field: &str, url: &str) -> Result<String, CiXmlError> {
    let rest = ["http://", "https://"].iter().find_map(|scheme| {
        url.get(..scheme.len())
            .filter(|p| p.eq_ignore_ascii_case(scheme))
            .and_then(|_| url.get(scheme.len()..))
    });
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(url.to_string())
    } else {
        Err(argument(format!(
            "{field} must be an http:// or https:// URL, not '{}'.",
            shown(url)
        )))
    }
}

/// A value as quoted in a message: at most 64 characters.
fn shown(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(64) {
        None => Cow::Borrowed(value),
        Some((i, _)) => Cow::Owned(format!("{}…", &value[..i])),
    }
}

// ---------------------------------------------------------------------------------------------
// The XML layer: one pass of quick-xml's pull reader against a table of known elements.

/// What a known element holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Only elements (and whitespace).
    Container,
    /// Only text.
    Leaf,
}

/// The root element of every CI request body.
const ROOT: &str = "Request";

/// An open element.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Root,
    /// A known element: its index in the schema.
    Known(usize),
    /// An unknown element, or anything inside one: skipped.
    Unknown,
}

/// The result of the XML layer: for each schema entry, `None` if absent, else the trimmed
/// text of a leaf or `""` for a container.
struct Fields {
    schema: &'static [(&'static str, Kind)],
    values: Vec<Option<String>>,
}

impl Fields {
    fn index(&self, path: &str) -> Option<usize> {
        self.schema.iter().position(|(p, _)| *p == path)
    }

    fn take(&mut self, path: &str) -> Option<String> {
        let i = self.index(path)?;
        self.values.get_mut(i)?.take()
    }

    fn has(&self, path: &str) -> bool {
        self.index(path)
            .and_then(|i| self.values.get(i))
            .is_some_and(Option::is_some)
    }
}

/// The parser's state between events.
struct Builder {
    fields: Fields,
    /// The open elements inside the root (empty: at the root's level).
    stack: Vec<Frame>,
}

impl Builder {
    fn path(&self, frame: Frame) -> &'static str {
        match frame {
            Frame::Root | Frame::Unknown => ROOT,
            Frame::Known(i) => self.fields.schema.get(i).map_or(ROOT, |(p, _)| *p),
        }
    }

    fn kind(&self, i: usize) -> Kind {
        self.fields
            .schema
            .get(i)
            .map_or(Kind::Container, |(_, k)| *k)
    }

    fn child(&mut self, parent: &str, name: &str) -> Result<Frame, CiXmlError> {
        let found = self
            .fields
            .schema
            .iter()
            .position(|(p, _)| {
                p.strip_prefix(parent)
                    .and_then(|r| r.strip_prefix('.'))
                    .is_some_and(|r| r == name)
            })
            .filter(|_| !name.contains('.'));
        let Some(i) = found else {
            return Ok(Frame::Unknown);
        };
        let path = self.path(Frame::Known(i));
        match self.fields.values.get_mut(i) {
            Some(slot @ None) => *slot = Some(String::new()),
            _ => return Err(argument(format!("{path} is given more than once."))),
        }
        Ok(Frame::Known(i))
    }
}

impl Sink for Builder {
    fn open(&mut self, name: &str) -> Result<(), CiXmlError> {
        let frame = match self.stack.last().copied().unwrap_or(Frame::Root) {
            Frame::Unknown => Frame::Unknown,
            Frame::Known(i) if self.kind(i) == Kind::Leaf => {
                return Err(content(format!(
                    "{} must contain text, not the element <{}>.",
                    self.path(Frame::Known(i)),
                    shown(name)
                )));
            }
            parent => self.child(self.path(parent), name)?,
        };
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self) {
        if let Some(Frame::Known(i)) = self.stack.pop()
            && let Some(Some(v)) = self.fields.values.get_mut(i)
        {
            let trimmed = v.trim_matches(is_xml_space);
            if trimmed.len() != v.len() {
                *v = trimmed.to_string();
            }
        }
    }

    fn text(&mut self, s: &str) -> Result<(), CiXmlError> {
        let blank = s.chars().all(is_xml_space);
        match self.stack.last().copied().unwrap_or(Frame::Root) {
            Frame::Unknown => Ok(()),
            Frame::Known(i) if self.kind(i) == Kind::Leaf => {
                if let Some(Some(v)) = self.fields.values.get_mut(i) {
                    v.push_str(s);
                }
                Ok(())
            }
            _ if blank => Ok(()),
            frame => Err(content(format!(
                "{} must contain elements, not text.",
                self.path(frame)
            ))),
        }
    }
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The characters XML 1.0 allows (`Char`, §2.2 of the XML spec).
fn is_xml_char(c: char) -> bool {
    matches!(u32::from(c), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..)
}

/// What [`read_strict`] hands the events inside a document's root element to: a parser of
/// one document type. The reader itself checks the root (its name, that there is exactly
/// one, that it is closed), the nesting depth and text outside the root.
pub(super) trait Sink {
    /// An element starts inside the root (`<name>`; an empty element is followed by
    /// [`close`](Sink::close)).
    fn open(&mut self, name: &str) -> Result<(), CiXmlError>;
    /// The innermost element [`open`](Sink::open) started ends.
    fn close(&mut self);
    /// Character data (text, CDATA or a resolved reference) inside the root, whitespace
    /// included.
    fn text(&mut self, s: &str) -> Result<(), CiXmlError>;
}

/// Reads `body` (at most `max` bytes) as one XML document whose root element is `root`, under
/// the rules of this module's documentation (UTF-8 only, no DTD, only the predefined
/// entities, well-formed attributes, at most [`MAX_DEPTH`] levels counting the root), handing
/// the events inside the root to `sink`. An empty or all-whitespace body, or one without a
/// root element, is [`CiXmlError::MissingContent`].
pub(super) fn read_strict(
    body: &[u8],
    max: usize,
    root: &str,
    sink: &mut impl Sink,
) -> Result<(), CiXmlError> {
    if body.len() > max {
        return Err(content(format!(
            "The request body is {} bytes; at most {max} are accepted.",
            body.len()
        )));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|e| {
        content(format!(
            "The request body is not UTF-8 (invalid byte at {}).",
            e.valid_up_to()
        ))
    })?;
    if text.chars().all(is_xml_space) {
        return Err(CiXmlError::MissingContent);
    }
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| !is_xml_char(c)) {
        return Err(content(format!(
            "The character U+{:04X} at byte {at} is not allowed in XML.",
            u32::from(c)
        )));
    }

    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;
    config.expand_empty_elements = false;

    let mut b = Strict {
        sink,
        root,
        depth: 0,
        root_seen: false,
        root_done: false,
        markup_seen: false,
    };
    loop {
        let event = reader.read_event().map_err(|e| {
            content(format!(
                "Malformed XML at byte {}: {e}.",
                reader.error_position()
            ))
        })?;
        let syntax = |e: &dyn std::fmt::Display| content(format!("Malformed XML: {e}."));
        match event {
            Event::Decl(decl) => {
                if b.markup_seen {
                    return Err(content("The XML declaration must come first."));
                }
                decl.version().map_err(|e| syntax(&e))?;
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(|e| syntax(&e))?;
                    if !(encoding.eq_ignore_ascii_case(b"utf-8")
                        || encoding.eq_ignore_ascii_case(b"utf8"))
                    {
                        return Err(content(format!(
                            "Unsupported encoding '{}': only UTF-8 is accepted.",
                            shown(&String::from_utf8_lossy(&encoding))
                        )));
                    }
                }
                b.markup_seen = true;
            }
            Event::DocType(_) => {
                return Err(content(
                    "Document type declarations (DTDs) are not accepted.",
                ));
            }
            Event::PI(_) | Event::Comment(_) => b.markup_seen = true,
            Event::Start(e) | Event::Empty(e) if e.attributes().any(|a| a.is_err()) => {
                let err = e.attributes().find_map(Result::err);
                return Err(content(format!(
                    "Malformed attribute in <{}>: {}.",
                    shown(&String::from_utf8_lossy(e.name().as_ref())),
                    err.map_or_else(String::new, |e| e.to_string())
                )));
            }
            Event::Start(e) => b.open(e.name().as_ref())?,
            Event::Empty(e) => {
                b.open(e.name().as_ref())?;
                b.close()?;
            }
            Event::End(_) => b.close()?,
            Event::Text(t) => b.text(&t.xml10_content().map_err(|e| syntax(&e))?)?,
            Event::CData(c) => b.text(&c.xml10_content().map_err(|e| syntax(&e))?)?,
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) if is_xml_char(c) => Cow::Owned(c.to_string()),
                        _ => {
                            return Err(content(format!(
                                "Invalid character reference &{};.",
                                shown(&String::from_utf8_lossy(&r))
                            )));
                        }
                    }
                } else {
                    let name = r.decode().map_err(|e| syntax(&e))?;
                    match resolve_xml_entity(&name) {
                        Some(s) => Cow::Borrowed(s),
                        None => {
                            return Err(content(format!(
                                "Undefined entity &{};: only &amp; &lt; &gt; &quot; &apos; are known.",
                                shown(&name)
                            )));
                        }
                    }
                };
                b.text(&resolved)?;
            }
            Event::Eof => break,
        }
    }
    if b.depth > 0 {
        return Err(content(format!(
            "Malformed XML: the body ends before <{root}> is closed."
        )));
    }
    if !b.root_seen {
        return Err(CiXmlError::MissingContent);
    }
    Ok(())
}

/// The reader's own state around a [`Sink`]: the root and the depth.
struct Strict<'a, S> {
    sink: &'a mut S,
    root: &'a str,
    /// Open elements, counting the root.
    depth: usize,
    root_seen: bool,
    root_done: bool,
    /// Whether anything but whitespace has been read (the XML declaration must come first).
    markup_seen: bool,
}

impl<S: Sink> Strict<'_, S> {
    fn open(&mut self, name: &[u8]) -> Result<(), CiXmlError> {
        self.markup_seen = true;
        let name =
            std::str::from_utf8(name).map_err(|_| content("An element name is not UTF-8."))?;
        if self.depth >= MAX_DEPTH {
            return Err(content(format!(
                "Elements are nested more than {MAX_DEPTH} levels deep."
            )));
        }
        if self.depth == 0 {
            if self.root_done {
                return Err(content("The body has more than one root element."));
            }
            if name != self.root {
                return Err(content(format!(
                    "The root element must be <{}>, not <{}>.",
                    self.root,
                    shown(name)
                )));
            }
            self.root_seen = true;
        } else {
            self.sink.open(name)?;
        }
        self.depth += 1;
        Ok(())
    }

    fn close(&mut self) -> Result<(), CiXmlError> {
        match self.depth {
            0 => return Err(content("An end tag has no start tag.")),
            1 => self.root_done = true,
            _ => self.sink.close(),
        }
        self.depth -= 1;
        Ok(())
    }

    fn text(&mut self, s: &str) -> Result<(), CiXmlError> {
        let blank = s.chars().all(is_xml_space);
        if !blank {
            self.markup_seen = true;
        }
        match self.depth {
            0 if blank => Ok(()),
            0 => Err(content("The body has text outside the root element.")),
            _ => self.sink.text(s),
        }
    }
}

/// Reads `body` as one `<Request>` document, collecting the elements of `schema`.
fn parse(body: &[u8], schema: &'static [(&'static str, Kind)]) -> Result<Fields, CiXmlError> {
    let mut b = Builder {
        fields: Fields {
            schema,
            values: vec![None; schema.len()],
        },
        stack: Vec::new(),
    };
    read_strict(body, MAX_BODY, ROOT, &mut b)?;
    Ok(b.fields)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    /// The doc's example body (spec §2.2, seed 002) with its `<CallBackFormat>` typo fixed.
    const DOC_BODY: &str = r#"<Request>
    <Tag>FileHashCode</Tag>
    <Input>
        <Object>input/test.mp4</Object>
    </Input>
    <Operation>
        <FileHashCodeConfig>
            <Type>MD5</Type>
            <AddToHeader>true</AddToHeader>
        </FileHashCodeConfig>
        <UserData>This is my data.</UserData>
    </Operation>
    <QueueId>p2911917386e148639319e13c285cc774</QueueId>
    <CallBack>http://callback.demo.com</CallBack>
    <CallBackFormat>JSON</CallBackFormat>
</Request>
"#;

    /// The doc's example body exactly as published (seeds 001 and 002).
    const DOC_BODY_TYPO: &str = r#"<Request>
    <Tag>FileHashCode</Tag>
    <Input>
        <Object>input/test.mp4</Object>
    </Input>
    <Operation>
        <FileHashCodeConfig>
            <Type>MD5</Type>
            <AddToHeader>true</AddToHeader>
        </FileHashCodeConfig>
        <UserData>This is my data.</UserData>
    </Operation>
    <QueueId>p2911917386e148639319e13c285cc774</QueueId>
    <CallBack>http://callback.demo.com</CallBack>
    <CallBackFormat>JSON<CallBackFormat>
</Request>
"#;

    /// A minimal valid job with one extra element spliced into `<Request>`.
    fn job_with(extra: &str) -> String {
        format!(
            "<Request><Tag>FileHashCode</Tag><Input><Object>a.txt</Object></Input>\
             <Operation><FileHashCodeConfig><Type>MD5</Type></FileHashCodeConfig></Operation>\
             {extra}</Request>"
        )
    }

    /// A minimal valid job with the given `FileHashCodeConfig` children and `UserData`.
    fn job_hash(config: &str, user_data: Option<&str>) -> String {
        let ud = user_data.map_or(String::new(), |u| format!("<UserData>{u}</UserData>"));
        format!(
            "<Request><Tag>FileHashCode</Tag><Input><Object>a.txt</Object></Input>\
             <Operation><FileHashCodeConfig>{config}</FileHashCodeConfig>{ud}</Operation></Request>"
        )
    }

    fn job(body: &str) -> Result<ValidHashJob, CiXmlError> {
        parse_hash_job(body.as_bytes())
    }

    fn queue(body: &str) -> Result<ValidQueueUpdate, CiXmlError> {
        parse_valid_queue_update(body.as_bytes())
    }

    #[track_caller]
    fn assert_content(r: Result<impl std::fmt::Debug, CiXmlError>) -> String {
        match r {
            Err(CiXmlError::InvalidContent(m)) => m,
            other => panic!("expected InvalidContent, got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_argument(r: Result<impl std::fmt::Debug, CiXmlError>, needle: &str) -> String {
        match r {
            Err(CiXmlError::InvalidArgument(m)) => {
                assert!(
                    m.contains(needle),
                    "message {m:?} should mention {needle:?}"
                );
                m
            }
            other => panic!("expected InvalidArgument mentioning {needle}, got {other:?}"),
        }
    }

    #[test]
    fn doc_example_parses_to_the_exact_struct() {
        let parsed = parse_file_job(DOC_BODY.as_bytes()).unwrap();
        assert_eq!(
            parsed,
            FileJobRequest {
                tag: "FileHashCode".into(),
                object: "input/test.mp4".into(),
                hash: Some(HashConfig {
                    type_: "MD5".into(),
                    add_to_header: Some("true".into()),
                }),
                user_data: Some("This is my data.".into()),
                queue_id: Some("p2911917386e148639319e13c285cc774".into()),
                callback: Some("http://callback.demo.com".into()),
                callback_format: Some("JSON".into()),
                callback_type: None,
                mq: None,
            }
        );
        assert_eq!(
            validate_hash_job(&parsed).unwrap(),
            ValidHashJob {
                object: "input/test.mp4".into(),
                hash_type: HashType::Md5,
                add_to_header: true,
                user_data: Some("This is my data.".into()),
                queue_id: Some("p2911917386e148639319e13c285cc774".into()),
                callback: Some("http://callback.demo.com".into()),
                callback_off: false,
                callback_format: Some(CallbackFormat::Json),
                callback_type: CallbackType::Url,
            }
        );
    }

    #[test]
    fn doc_example_with_its_typo_is_invalid_content() {
        let m = assert_content(parse_file_job(DOC_BODY_TYPO.as_bytes()));
        assert!(m.contains("CallBackFormat"), "{m}");
        assert_eq!(
            parse_file_job(DOC_BODY_TYPO.as_bytes()).unwrap_err().code(),
            "InvalidContent"
        );
    }

    #[test]
    fn full_doc_example_with_mq_config() {
        let body = job_with(
            "<CallBackType>Url</CallBackType>\
             <CallBackMqConfig><MqMode>Queue</MqMode><MqRegion>bj</MqRegion><MqName>queueName</MqName></CallBackMqConfig>",
        );
        let parsed = parse_file_job(body.as_bytes()).unwrap();
        assert_eq!(parsed.callback_type.as_deref(), Some("Url"));
        assert_eq!(
            parsed.mq,
            Some(MqConfig {
                mq_mode: Some("Queue".into()),
                mq_region: Some("bj".into()),
                mq_name: Some("queueName".into()),
            })
        );
        // A TDMQ config beside a Url callback type is ignored.
        let v = validate_hash_job(&parsed).unwrap();
        assert_eq!(v.callback_type, CallbackType::Url);
        assert_eq!(v.callback, None);
        assert_eq!(v.callback_format, None);
    }

    #[test]
    fn python_sdk_shape() {
        // PY: prolog, dict order, raw UTF-8 key (spec §2.2 wire variants).
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
            <Request><Input><Object>测试/文件 ü & more.txt</Object></Input><Tag>FileHashCode</Tag>\
            <Operation><FileHashCodeConfig><Type>SHA256</Type><AddToHeader>false</AddToHeader></FileHashCodeConfig>\
            <UserData>py</UserData></Operation><QueueId>p0123456789abcdef0123456789abcdef</QueueId>\
            <CallBack>https://cb.example.com/hook?x=1</CallBack><CallBackFormat>XML</CallBackFormat></Request>"
            .replace(" & ", " &amp; ");
        let v = job(&body).unwrap();
        assert_eq!(v.object, "测试/文件 ü & more.txt");
        assert_eq!(v.hash_type, HashType::Sha256);
        assert!(!v.add_to_header);
        assert_eq!(v.user_data.as_deref(), Some("py"));
        assert_eq!(
            v.queue_id.as_deref(),
            Some("p0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            v.callback.as_deref(),
            Some("https://cb.example.com/hook?x=1")
        );
        assert_eq!(v.callback_format, Some(CallbackFormat::Xml));
    }

    #[test]
    fn go_sdk_shape() {
        // GO: no prolog, Tag first, AddToHeader omitted when false, no QueueId, compact.
        let body = "<Request><Tag>FileHashCode</Tag><Input><Object>dir/obj.bin</Object></Input>\
            <Operation><FileHashCodeConfig><Type>sha1</Type></FileHashCodeConfig></Operation></Request>";
        let parsed = parse_file_job(body.as_bytes()).unwrap();
        assert_eq!(parsed.hash.as_ref().unwrap().add_to_header, None);
        let v = validate_hash_job(&parsed).unwrap();
        assert_eq!(v.hash_type, HashType::Sha1);
        assert!(!v.add_to_header);
        assert_eq!(v.queue_id, None);
        assert_eq!(v.user_data, None);
        assert_eq!(v.callback, None);
    }

    #[test]
    fn hash_type_any_case() {
        for (t, want) in [
            ("md5", HashType::Md5),
            ("MD5", HashType::Md5),
            ("Sha1", HashType::Sha1),
            ("SHA256", HashType::Sha256),
            ("sHa256", HashType::Sha256),
            ("  sha256\n", HashType::Sha256),
        ] {
            let v = job(&job_hash(&format!("<Type>{t}</Type>"), None)).unwrap();
            assert_eq!(v.hash_type, want, "{t}");
            assert_eq!(want.as_str(), want.as_str().to_ascii_uppercase());
        }
        for t in ["SHA512", "", "md 5", "CRC64"] {
            assert_argument(
                job(&job_hash(&format!("<Type>{t}</Type>"), None)),
                "FileHashCodeConfig.Type",
            );
        }
        assert_argument(job(&job_hash("<Type/>", None)), "Type");
        // The container without Type: refused when parsing.
        assert_argument(
            parse_file_job(job_hash("<AddToHeader>true</AddToHeader>", None).as_bytes()),
            "FileHashCodeConfig.Type is missing",
        );
    }

    #[test]
    fn add_to_header_values() {
        for (a, want) in [
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("false", false),
            ("FALSE", false),
            ("", false),
        ] {
            let v = job(&job_hash(
                &format!("<Type>MD5</Type><AddToHeader>{a}</AddToHeader>"),
                None,
            ))
            .unwrap();
            assert_eq!(v.add_to_header, want, "{a:?}");
        }
        for a in ["yes", "1", "on", "truee"] {
            assert_argument(
                job(&job_hash(
                    &format!("<Type>MD5</Type><AddToHeader>{a}</AddToHeader>"),
                    None,
                )),
                "AddToHeader",
            );
        }
    }

    #[test]
    fn user_data_limits() {
        let ok = "~ !".repeat(341) + "a"; // 1024 printable ASCII bytes, space and ~ included
        assert_eq!(ok.len(), MAX_USER_DATA);
        let v = job(&job_hash("<Type>MD5</Type>", Some(&ok))).unwrap();
        assert_eq!(v.user_data.as_deref(), Some(ok.as_str()));

        let long = "x".repeat(MAX_USER_DATA + 1);
        assert_argument(job(&job_hash("<Type>MD5</Type>", Some(&long))), "UserData");
        for bad in ["a\tb", "a&#10;b", "a&#9;b", "é", "a&#x7F;b", "中文"] {
            assert_argument(job(&job_hash("<Type>MD5</Type>", Some(bad))), "UserData");
        }
        // Entities count after resolution: 1024 `&amp;` are 1024 bytes.
        let amps = "&amp;".repeat(MAX_USER_DATA);
        let v = job(&job_hash("<Type>MD5</Type>", Some(&amps))).unwrap();
        assert_eq!(v.user_data.unwrap().len(), MAX_USER_DATA);
    }

    #[test]
    fn empty_elements_are_some_empty() {
        let body = job_hash("<Type>MD5</Type><AddToHeader/>", Some(""));
        let parsed = parse_file_job(body.as_bytes()).unwrap();
        assert_eq!(parsed.user_data.as_deref(), Some(""));
        assert_eq!(
            parsed.hash.as_ref().unwrap().add_to_header.as_deref(),
            Some("")
        );
        let body = body.replace("<UserData></UserData>", "<UserData/>");
        let parsed = parse_file_job(body.as_bytes()).unwrap();
        assert_eq!(parsed.user_data.as_deref(), Some(""));
        let v = validate_hash_job(&parsed).unwrap();
        assert_eq!(v.user_data.as_deref(), Some(""));
        assert!(!v.add_to_header);

        // Empty optional values count as absent.
        let v = job(&job_with(
            "<QueueId/><CallBack></CallBack><CallBackFormat/><CallBackType> </CallBackType>",
        ))
        .unwrap();
        assert_eq!(v.queue_id, None);
        assert_eq!(v.callback, None);
        assert_eq!(v.callback_format, None);
        assert_eq!(v.callback_type, CallbackType::Url);
    }

    #[test]
    fn callback_type_and_format() {
        for t in ["TDMQ", "tdmq"] {
            let m = assert_argument(
                job(&job_with(&format!("<CallBackType>{t}</CallBackType>"))),
                "TDMQ",
            );
            assert!(m.contains("not supported"), "{m}");
            assert!(m.contains("CallBackType"), "{m}");
        }
        for t in ["Url", "url", "URL"] {
            let v = job(&job_with(&format!("<CallBackType>{t}</CallBackType>"))).unwrap();
            assert_eq!(v.callback_type, CallbackType::Url);
        }
        assert_argument(
            job(&job_with("<CallBackType>Kafka</CallBackType>")),
            "CallBackType",
        );
        for (f, want) in [
            ("json", CallbackFormat::Json),
            ("JSON", CallbackFormat::Json),
            ("Json", CallbackFormat::Json),
            ("xml", CallbackFormat::Xml),
            ("XML", CallbackFormat::Xml),
        ] {
            let v = job(&job_with(&format!("<CallBackFormat>{f}</CallBackFormat>"))).unwrap();
            assert_eq!(v.callback_format, Some(want), "{f}");
        }
        assert_argument(
            job(&job_with("<CallBackFormat>yaml</CallBackFormat>")),
            "CallBackFormat",
        );
        assert_eq!(CallbackFormat::default(), CallbackFormat::Xml);
    }

    #[test]
    fn callback_urls() {
        for u in [
            "http://a",
            "HTTPS://cb.example.com:8443/p?q=1&amp;r=2",
            "http://127.0.0.1:9/x",
        ] {
            let v = job(&job_with(&format!("<CallBack>{u}</CallBack>"))).unwrap();
            assert_eq!(v.callback.unwrap(), u.replace("&amp;", "&"));
        }
        for u in [
            "ftp://x",
            "http://",
            "http:///path",
            "callback.demo.com",
            "http://a b",
            "javascript:alert(1)",
            "htt",
        ] {
            assert_argument(
                job(&job_with(&format!("<CallBack>{u}</CallBack>"))),
                "Request.CallBack",
            );
        }
    }

    #[test]
    fn tag_and_object() {
        let detect = job_with("").replace(">FileHashCode<", ">FileDetect<");
        let m = assert_argument(job(&detect), "unsupported Tag");
        assert!(m.contains("FileDetect"), "{m}");
        // Other tags still parse: the caller decides.
        assert_eq!(parse_file_job(detect.as_bytes()).unwrap().tag, "FileDetect");
        // Tags are exact.
        assert_argument(
            job(&job_with("").replace(">FileHashCode<", ">filehashcode<")),
            "unsupported Tag",
        );
        assert_argument(
            job(&job_with("").replace("<Tag>FileHashCode</Tag>", "<Tag> </Tag>")),
            "Request.Tag is empty",
        );
        assert_argument(
            parse_file_job(
                job_with("")
                    .replace("<Tag>FileHashCode</Tag>", "")
                    .as_bytes(),
            ),
            "Request.Tag is missing",
        );
        assert_argument(
            job(&job_with("").replace("<Object>a.txt</Object>", "<Object>\n  </Object>")),
            "Request.Input.Object is empty",
        );
        assert_argument(
            job(&job_with("").replace("<Object>a.txt</Object>", "<Object/>")),
            "Object is empty",
        );
        assert_argument(
            parse_file_job(
                job_with("")
                    .replace("<Object>a.txt</Object>", "")
                    .as_bytes(),
            ),
            "Request.Input.Object is missing",
        );
        assert_argument(
            parse_file_job(
                job_with("")
                    .replace("<Input><Object>a.txt</Object></Input>", "")
                    .as_bytes(),
            ),
            "Request.Input.Object is missing",
        );
        // `Object` outside `Input` is not `Input/Object`.
        assert_argument(
            parse_file_job(
                job_with("<Object>b</Object>")
                    .replace("<Input><Object>a.txt</Object></Input>", "")
                    .as_bytes(),
            ),
            "Request.Input.Object is missing",
        );
        // A dotted name is not a path.
        assert_argument(
            parse_file_job(
                job_with("<Input.Object>b</Input.Object>")
                    .replace("<Input><Object>a.txt</Object></Input>", "")
                    .as_bytes(),
            ),
            "Request.Input.Object is missing",
        );
        // No FileHashCodeConfig, or no Operation at all.
        let no_config = "<Request><Tag>FileHashCode</Tag><Input><Object>a</Object></Input>\
             <Operation><UserData>u</UserData></Operation></Request>";
        assert_argument(job(no_config), "FileHashCodeConfig is missing");
        let no_op = "<Request><Tag>FileHashCode</Tag><Input><Object>a</Object></Input></Request>";
        assert_argument(job(no_op), "FileHashCodeConfig is missing");
    }

    #[test]
    fn entities_cdata_whitespace_and_line_ends() {
        let body = "<Request>\r\n\t<Tag>\r\n  FileHashCode  \r\n</Tag>\r\n\
            <Input><Object> a&amp;b&lt;c&gt;d&quot;e&apos;f&#x4E2D;&#25991;<![CDATA[<x>&amp;]]>\r\nz </Object></Input>\
            <Operation><FileHashCodeConfig><Type><![CDATA[md5]]></Type></FileHashCodeConfig>\
            <UserData>a<!-- a comment -->b</UserData></Operation></Request>";
        let v = job(body).unwrap();
        assert_eq!(v.object, "a&b<c>d\"e'f中文<x>&amp;\nz");
        assert_eq!(v.hash_type, HashType::Md5);
        assert_eq!(v.user_data.as_deref(), Some("ab"));

        assert_content(job(&job_with("<CallBack>http://a/&nbsp;</CallBack>")));
        assert_content(job(&job_with("<CallBack>http://a/?x&y</CallBack>")));
        for bad_ref in [
            "&#0;",
            "&#1;",
            "&#xFFFE;",
            "&#xD800;",
            "&#x110000;",
            "&#xZZ;",
            "&#;",
        ] {
            assert_content(job(&job_with(&format!("<QueueId>{bad_ref}</QueueId>"))));
        }
    }

    #[test]
    fn unknown_elements_comments_and_attributes_are_ignored() {
        let body = "<?xml version=\"1.0\"?><!-- leading --><?pi data?>\
            <Request xmlns=\"http://example.com\" a='1'>\
            <Future><Deep><Deeper x=\"1\">text &amp; <![CDATA[more]]></Deeper></Deep>text</Future>\
            <Tag>FileHashCode</Tag><Input><Region>ap-x</Region><Object>k</Object></Input>\
            <Operation><FileDetectConfig><Anything>1</Anything></FileDetectConfig>\
            <FileHashCodeConfig><Type>SHA1</Type><Extra/></FileHashCodeConfig></Operation>\
            <tag>ignored: names are case-sensitive</tag><Empty/></Request><!-- trailing -->\n";
        let v = job(body).unwrap();
        assert_eq!(v.object, "k");
        assert_eq!(v.hash_type, HashType::Sha1);
        // ... but must still be well-formed.
        assert_content(job(&job_with("<Future><Deep></Future></Deep>")));
        assert_content(job(&job_with("<Future a=\"1\" a=\"2\"/>")));
        assert_content(job(&job_with("<Future a=1/>")));
        assert_content(job(&job_with("<!-- a -- b -->")));
    }

    #[test]
    fn duplicates_are_refused() {
        assert_argument(
            job(&job_with("<Tag>FileHashCode</Tag>")),
            "Request.Tag is given more than once",
        );
        assert_argument(
            job(&job_with("<Input><Object>b</Object></Input>")),
            "Request.Input is given more than once",
        );
        assert_argument(
            job(&job_hash("<Type>MD5</Type><Type>SHA1</Type>", None)),
            "Type is given more than once",
        );
    }

    #[test]
    fn text_and_elements_in_the_wrong_place() {
        let m = assert_content(job(&job_with("stray text")));
        assert!(m.contains("Request must contain elements"), "{m}");
        let m = assert_content(job(&job_with("").replace("<Input>", "<Input>x")));
        assert!(m.contains("Request.Input"), "{m}");
        let m = assert_content(job(
            &job_with("").replace("<Tag>FileHashCode</Tag>", "<Tag><b>FileHashCode</b></Tag>")
        ));
        assert!(m.contains("Request.Tag must contain text"), "{m}");
        assert_content(job(&job_with("<![CDATA[x]]>")));
        assert_content(job(&job_with("&amp;")));
        // Whitespace is not text.
        job(&job_with(" \n\t<![CDATA[ ]]>&#32;")).unwrap();
    }

    #[test]
    fn malformed_bodies() {
        use CiXmlError::MissingContent;
        for empty in [
            "",
            " ",
            "\r\n\t \n",
            "\u{FEFF}",
            "<?xml version=\"1.0\"?>",
            "<!-- x -->",
        ] {
            assert_eq!(
                parse_file_job(empty.as_bytes()),
                Err(MissingContent),
                "{empty:?}"
            );
            assert_eq!(parse_queue_update(empty.as_bytes()), Err(MissingContent));
        }
        assert_eq!(MissingContent.code(), "MissingContent");
        let cases: &[&[u8]] = &[
            b"<Request>",
            b"<Request><Tag>FileHashCode</Tag>",
            b"<Request><Tag>x</Request>",
            b"<Request></Requests>",
            b"</Request>",
            b"<Foo><Tag>FileHashCode</Tag></Foo>",
            b"<request/>",
            b"<ns:Request xmlns:ns=\"x\"/>",
            b"<Request/><Request/>",
            b"<Request/>trailing",
            b"leading<Request/>",
            b"not xml at all",
            b"\x00\x01\x02\x03",
            b"<Request>\xff\xfe</Request>",
            b"\xff\xfe<\x00R\x00",
            b"<Request><Tag>\xc3\x28</Tag></Request>",
            b"<Request><Tag>a\x01b</Tag></Request>",
            b"<Request \"x\"/>",
            b"<Request",
            b"<Request><![CDATA[x</Request>",
            b"<Request><!-- x</Request>",
            b"<?xml version=\"1.0\" encoding=\"GBK\"?><Request/>",
            b"<?xml version=\"1.0\" encoding=\"utf-16\"?><Request/>",
            b"<Request/><?xml version=\"1.0\"?>",
            b"<!-- c --><?xml version=\"1.0\"?><Request/>",
            b"<!DOCTYPE Request><Request/>",
            b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x \"FileHashCode\">]><Request><Tag>&x;</Tag></Request>",
            b"<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Request><Tag>&x;</Tag></Request>",
            b"<Request><Tag>&x;</Tag></Request>",
        ];
        for body in cases {
            let r = parse_file_job(body);
            assert!(
                matches!(r, Err(CiXmlError::InvalidContent(_))),
                "{:?} -> {r:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(r.unwrap_err().code(), "InvalidContent");
            assert!(matches!(
                parse_queue_update(body),
                Err(CiXmlError::InvalidContent(_))
            ));
        }
        assert!(assert_content(parse_file_job(b"<!DOCTYPE Request><Request/>")).contains("DTD"));
        assert!(assert_content(parse_file_job(b"<Foo/>")).contains("<Foo>"));
    }

    #[test]
    fn bom_and_declaration_variants() {
        let doc = DOC_BODY.as_bytes();
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), doc].concat();
        job(std::str::from_utf8(&with_bom).unwrap()).unwrap();
        for decl in [
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n",
            "<?xml version=\"1.0\" encoding=\"utf8\" ?>",
            "\n  <?xml version=\"1.0\"?>",
        ] {
            job(&format!("{decl}{DOC_BODY}")).unwrap();
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        // 10,000 levels (closing them all would not fit in MAX_BODY: see below for 8,000).
        let deep = format!("<Request>{}</Request>", "<a>".repeat(10_000));
        let m = assert_content(parse_file_job(deep.as_bytes()));
        assert!(m.contains("nested"), "{m}");
        assert_content(parse_queue_update(deep.as_bytes()));
        let closed = format!(
            "<Request>{}{}</Request>",
            "<a>".repeat(8_000),
            "</a>".repeat(8_000)
        );
        assert!(closed.len() <= MAX_BODY);
        let m = assert_content(parse_file_job(closed.as_bytes()));
        assert!(m.contains("nested"), "{m}");
        assert_content(parse_file_job("<a>".repeat(10_000).as_bytes()));
        assert_content(parse_file_job("<Request><Input>".repeat(5_000).as_bytes()));
        // The limit itself: MAX_DEPTH levels pass, one more does not.
        let at = |n: usize| {
            // `<Request>` is level 1, so n - 1 `<a>` reach level n.
            job_with(&format!("{}{}", "<a>".repeat(n - 1), "</a>".repeat(n - 1)))
        };
        job(&at(MAX_DEPTH)).unwrap();
        assert_content(job(&at(MAX_DEPTH + 1)));
    }

    #[test]
    fn size_cap() {
        let base = job_with("");
        let exact = format!("{base}{}", " ".repeat(MAX_BODY - base.len()));
        assert_eq!(exact.len(), MAX_BODY);
        job(&exact).unwrap();
        let over = format!("{exact} ");
        let m = assert_content(job(&over));
        assert!(m.contains(&MAX_BODY.to_string()), "{m}");
        assert_content(parse_file_job(&vec![b' '; 10 * MAX_BODY]));
    }

    #[test]
    fn error_codes_and_messages() {
        assert_eq!(
            CiXmlError::InvalidContent("x".into()).code(),
            "InvalidContent"
        );
        assert_eq!(
            CiXmlError::InvalidArgument("y".into()).code(),
            "InvalidArgument"
        );
        assert_eq!(CiXmlError::InvalidArgument("y".into()).to_string(), "y");
        assert!(!CiXmlError::MissingContent.to_string().is_empty());
        // Long values are cut short in messages.
        let long = "Q".repeat(5000);
        let m = assert_argument(
            job(&job_hash(&format!("<Type>{long}</Type>"), None)),
            "Type",
        );
        assert!(m.len() < 300, "{}", m.len());
    }

    const QUEUE_BODY: &str = r#"<Request>
    <Name>My-Queue-file</Name>
    <State>Active</State>
    <NotifyConfig>
        <State>On</State>
        <Url>http://callback.demo.com</Url>
        <Type>Url</Type>
        <Event>TaskFinish,WorkflowFinish</Event>
        <ResultFormat>JSON</ResultFormat>
    </NotifyConfig>
</Request>"#;

    #[test]
    fn queue_update_doc_example() {
        let parsed = parse_queue_update(QUEUE_BODY.as_bytes()).unwrap();
        assert_eq!(
            parsed,
            QueueUpdate {
                name: Some("My-Queue-file".into()),
                state: Some("Active".into()),
                notify: Some(NotifyConfig {
                    state: Some("On".into()),
                    url: Some("http://callback.demo.com".into()),
                    type_: Some("Url".into()),
                    event: Some("TaskFinish,WorkflowFinish".into()),
                    result_format: Some("JSON".into()),
                    mq: None,
                }),
            }
        );
        assert_eq!(
            validate_queue_update(&parsed).unwrap(),
            ValidQueueUpdate {
                name: Some("My-Queue-file".into()),
                state: Some(QueueState::Active),
                notify: Some(ValidNotifyConfig {
                    enabled: true,
                    url: Some("http://callback.demo.com".into()),
                    callback_type: CallbackType::Url,
                    events: vec![NotifyEvent::TaskFinish, NotifyEvent::WorkflowFinish],
                    result_format: CallbackFormat::Json,
                }),
            }
        );
    }

    #[test]
    fn queue_update_variants() {
        let v = queue("<Request><State>Paused</State></Request>").unwrap();
        assert_eq!(v.state, Some(QueueState::Paused));
        assert_eq!(v.name, None);
        assert_eq!(v.notify, None);
        assert_eq!(
            queue("<Request><State>paused</State></Request>")
                .unwrap()
                .state,
            Some(QueueState::Paused)
        );
        assert_eq!(
            queue("<Request/>").unwrap(),
            ValidQueueUpdate {
                name: None,
                state: None,
                notify: None
            }
        );
        assert_eq!(
            queue("<Request><Name/><State></State></Request>")
                .unwrap()
                .name,
            None
        );
        assert_argument(
            queue("<Request><State>Running</State></Request>"),
            "Request.State",
        );

        // NotifyConfig defaults: Off, Url, [TaskFinish], XML.
        let v = queue("<Request><NotifyConfig/></Request>").unwrap();
        assert_eq!(
            v.notify,
            Some(ValidNotifyConfig {
                enabled: false,
                url: None,
                callback_type: CallbackType::Url,
                events: vec![NotifyEvent::TaskFinish],
                result_format: CallbackFormat::Xml,
            })
        );
        let v = queue(
            "<Request><NotifyConfig><State>on</State><Url>https://h/p</Url>\
             <Event> WorkflowFinish , taskfinish,,TaskFinish </Event><ResultFormat>xml</ResultFormat></NotifyConfig></Request>",
        )
        .unwrap()
        .notify
        .unwrap();
        assert!(v.enabled);
        assert_eq!(
            v.events,
            vec![NotifyEvent::WorkflowFinish, NotifyEvent::TaskFinish]
        );
        assert_eq!(v.result_format, CallbackFormat::Xml);
        // Off with a URL keeps (and checks) it.
        let v = queue(
            "<Request><NotifyConfig><State>Off</State><Url>http://x</Url></NotifyConfig></Request>",
        )
        .unwrap()
        .notify
        .unwrap();
        assert!(!v.enabled);
        assert_eq!(v.url.as_deref(), Some("http://x"));
    }

    #[test]
    fn queue_update_errors() {
        assert_argument(
            queue("<Request><NotifyConfig><State>On</State></NotifyConfig></Request>"),
            "NotifyConfig.Url is required",
        );
        assert_argument(
            queue("<Request><NotifyConfig><State>On</State><Url/></NotifyConfig></Request>"),
            "NotifyConfig.Url is required",
        );
        assert_argument(
            queue(
                "<Request><NotifyConfig><State>Off</State><Url>ftp://x</Url></NotifyConfig></Request>",
            ),
            "NotifyConfig.Url",
        );
        assert_argument(
            queue("<Request><NotifyConfig><State>Maybe</State></NotifyConfig></Request>"),
            "NotifyConfig.State",
        );
        let m = assert_argument(
            queue(
                "<Request><NotifyConfig><State>On</State><Url>http://x</Url><Type>TDMQ</Type>\
                 <MqMode>Queue</MqMode><MqRegion>bj</MqRegion><MqName>q</MqName></NotifyConfig></Request>",
            ),
            "TDMQ",
        );
        assert!(m.contains("NotifyConfig.Type"), "{m}");
        assert_argument(
            queue("<Request><NotifyConfig><Type>Http</Type></NotifyConfig></Request>"),
            "NotifyConfig.Type",
        );
        assert_argument(
            queue("<Request><NotifyConfig><Event>TaskStart</Event></NotifyConfig></Request>"),
            "NotifyConfig.Event",
        );
        assert_argument(
            queue(
                "<Request><NotifyConfig><ResultFormat>csv</ResultFormat></NotifyConfig></Request>",
            ),
            "NotifyConfig.ResultFormat",
        );
        assert_argument(
            queue("<Request><Name>a</Name><Name>b</Name></Request>"),
            "Request.Name is given more than once",
        );
        assert_content(queue("<Request><NotifyConfig>On</NotifyConfig></Request>"));
        assert_content(queue("<Queue><Name>x</Name></Queue>"));
        // The MQ fields are kept as sent.
        let parsed = parse_queue_update(
            b"<Request><NotifyConfig><MqName>q</MqName></NotifyConfig></Request>",
        )
        .unwrap();
        assert_eq!(
            parsed.notify.unwrap().mq,
            Some(MqConfig {
                mq_mode: None,
                mq_region: None,
                mq_name: Some("q".into())
            })
        );
    }

    #[test]
    fn queue_names() {
        for good in [
            "My-Queue-file",
            "q_1*",
            "队列-一号",
            "A",
            &"n".repeat(MAX_QUEUE_NAME),
            &"队".repeat(MAX_QUEUE_NAME),
        ] {
            let v = queue(&format!("<Request><Name>{good}</Name></Request>")).unwrap();
            assert_eq!(v.name.as_deref(), Some(good));
        }
        for bad in [
            "my queue",
            "q/1",
            "q.1",
            "Ünïcode",
            "q&amp;1",
            "q\u{3000}",
            "😀",
            &"n".repeat(MAX_QUEUE_NAME + 1),
        ] {
            assert_argument(
                queue(&format!("<Request><Name>{bad}</Name></Request>")),
                "Request.Name",
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Properties: nothing panics; values round-trip through any child order and escaping.

    fn check_invariants(body: &[u8]) {
        for r in [
            parse_file_job(body).map(|_| ()),
            parse_hash_job(body).map(|_| ()),
            parse_queue_update(body).map(|_| ()),
            parse_valid_queue_update(body).map(|_| ()),
        ] {
            if let Err(e) = r {
                assert!(matches!(
                    e.code(),
                    "MissingContent" | "InvalidContent" | "InvalidArgument"
                ));
                assert!(!e.to_string().is_empty());
            }
        }
        if let Ok(v) = parse_hash_job(body) {
            assert!(!v.object.is_empty());
            if let Some(u) = &v.user_data {
                assert!(u.len() <= MAX_USER_DATA && u.bytes().all(|b| (b' '..=b'~').contains(&b)));
            }
        }
        if let Ok(v) = parse_valid_queue_update(body)
            && let Some(n) = &v.notify
        {
            assert!(!n.enabled || n.url.is_some());
            assert!(!n.events.is_empty());
        }
    }

    /// A valid body with every element, for mutation.
    fn rich_body() -> String {
        job_with(
            "<QueueId>p1</QueueId><CallBack>http://cb/x?a=1&amp;b=2</CallBack>\
             <CallBackFormat>JSON</CallBackFormat><CallBackType>Url</CallBackType>\
             <CallBackMqConfig><MqMode>Queue</MqMode></CallBackMqConfig><!-- c --><![CDATA[ ]]>",
        )
        .replace(
            "<Type>MD5</Type>",
            "<Type>MD5</Type><AddToHeader>true</AddToHeader>",
        )
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Insert(usize, Vec<u8>),
        Delete(usize, usize),
        Replace(usize, u8),
        Truncate(usize),
        Duplicate(usize, usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let token = prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..8),
            Just(b"<".to_vec()),
            Just(b">".to_vec()),
            Just(b"</".to_vec()),
            Just(b"/>".to_vec()),
            Just(b"&".to_vec()),
            Just(b"&amp;".to_vec()),
            Just(b"<![CDATA[".to_vec()),
            Just(b"]]>".to_vec()),
            Just(b"<!DOCTYPE x>".to_vec()),
            Just(b"<Tag>".to_vec()),
            Just(b"</Request>".to_vec()),
            Just("中".as_bytes().to_vec()),
        ];
        prop_oneof![
            (any::<usize>(), token).prop_map(|(i, t)| Mutation::Insert(i, t)),
            (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
        ]
    }

    fn apply(body: &mut Vec<u8>, m: &Mutation) {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Insert(i, t) => {
                let i = at(*i, body.len());
                body.splice(i..i, t.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = at(*i, body.len());
                let end = (i + n).min(body.len());
                body.drain(i..end);
            }
            Mutation::Replace(i, b) => {
                if !body.is_empty() {
                    let i = i % body.len();
                    body[i] = *b;
                }
            }
            Mutation::Truncate(i) => body.truncate(at(*i, body.len())),
            Mutation::Duplicate(a, b) => {
                let (a, b) = (at(*a, body.len()), at(*b, body.len()));
                let (lo, hi) = (a.min(b), a.max(b));
                let copy = body[lo..hi].to_vec();
                body.splice(hi..hi, copy);
            }
        }
    }

    /// Text that survives escaping and trimming: no surrounding whitespace, XML chars only.
    fn value() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_./&<>'\"\\]\\[ 中文é!-]{0,24}"
            .prop_map(|s| s.trim_matches(is_xml_space).to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            check_invariants(&body);
        }

        #[test]
        fn arbitrary_text_never_panics(body in "[<>/&;!?\\[\\]a-zA-Z \"'=#x0-9-]{0,256}") {
            check_invariants(body.as_bytes());
            check_invariants(format!("<Request>{body}</Request>").as_bytes());
        }

        #[test]
        fn mutated_valid_bodies_never_panic(
            mutations in proptest::collection::vec(mutation(), 1..6),
            queue_body in any::<bool>(),
        ) {
            let mut body = if queue_body { QUEUE_BODY.as_bytes().to_vec() } else { rich_body().into_bytes() };
            for m in &mutations {
                apply(&mut body, m);
            }
            check_invariants(&body);
        }

        #[test]
        fn values_round_trip_in_any_order(
            object in value().prop_filter("non-empty", |s| !s.is_empty()),
            user_data in value(),
            queue_id in value(),
            callback in value(),
            order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
            cdata in any::<bool>(),
            pretty in any::<bool>(),
        ) {
            let esc = |s: &str| {
                if cdata && !s.contains("]]>") {
                    format!("<![CDATA[{s}]]>")
                } else {
                    quick_xml::escape::escape(s).into_owned()
                }
            };
            let children = [
                "<Tag>FileHashCode</Tag>".to_string(),
                format!("<Input><Object>{}</Object></Input>", esc(&object)),
                format!(
                    "<Operation><UserData>{}</UserData><FileHashCodeConfig><Type>sha256</Type></FileHashCodeConfig></Operation>",
                    esc(&user_data)
                ),
                format!("<QueueId>{}</QueueId>", esc(&queue_id)),
                format!("<CallBack>{}</CallBack>", esc(&callback)),
                "<Unknown><X/></Unknown>".to_string(),
            ];
            let sep = if pretty { "\n    " } else { "" };
            let inner: Vec<&str> = order.iter().map(|&i| children[i].as_str()).collect();
            let body = format!("<Request>{sep}{}{sep}</Request>", inner.join(sep));
            let parsed = parse_file_job(body.as_bytes()).unwrap();
            prop_assert_eq!(parsed.tag, "FileHashCode");
            prop_assert_eq!(parsed.object, object);
            prop_assert_eq!(parsed.user_data, Some(user_data));
            prop_assert_eq!(parsed.queue_id, Some(queue_id));
            prop_assert_eq!(parsed.callback, Some(callback));
            prop_assert_eq!(parsed.hash.map(|h| h.type_), Some("sha256".to_string()));
        }
    }
}
