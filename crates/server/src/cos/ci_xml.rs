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

/// A hash algorithm of `FileHashCodeConfig/Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashType {
    Md5,
    Sha1,
    Sha256,
}

impl HashType {
    /// Any case of `MD5`, `SHA1`, `SHA256`.
    pub fn parse(value: &str) -> Option<Self> {
        [HashType::Md5, HashType::Sha1, HashType::Sha256]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(value))
    }

    /// The canonical spelling, as the docs show it: `MD5`, `SHA1`, `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashType::Md5 => "MD5",
            HashType::Sha1 => "SHA1",
            HashType::Sha256 => "SHA256",
        }
    }
}

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
    let callback = non_empty(&req.callback)
        .map(|v| check_url(JOB_CALLBACK, v))
        .transpose()?;
    Ok(ValidHashJob {
        object: req.object.clone(),
        hash_type,
        add_to_header,
        user_data: req.user_data.clone(),
        queue_id: non_empty(&req.queue_id).map(str::to_string),
        callback,
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

fn check_url(field: &str, url: &str) -> Result<String, CiXmlError> {
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
    stack: Vec<Frame>,
    root_seen: bool,
    root_done: bool,
    /// Whether anything but whitespace has been read (the XML declaration must come first).
    markup_seen: bool,
}

impl Builder {
    fn path(&self, frame: Frame) -> &'static str {
        match frame {
            Frame::Root | Frame::Unknown => ROOT,
            Frame::Known(i) => self.fields.schema.get(i).map_or(ROOT, |(p, _)| *p),
        }
    }

    fn kind(&self, i: usize) -> Kind {
        self.fields.schema.get(i).map_or(Kind::Container, |(_, k)| *k)
    }

    fn open(&mut self, name: &[u8]) -> Result<(), CiXmlError> {
        let name = std::str::from_utf8(name).map_err(|_| content("An element name is not UTF-8."))?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(content(format!(
                "Elements are nested more than {MAX_DEPTH} levels deep."
            )));
        }
        let frame = match self.stack.last().copied() {
            None if self.root_done => return Err(content("The body has more than one root element.")),
            None if name != ROOT => {
                return Err(content(format!(
                    "The root element must be <{ROOT}>, not <{}>.",
                    shown(name)
                )));
            }
            None => {
                self.root_seen = true;
                Frame::Root
            }
            Some(Frame::Unknown) => Frame::Unknown,
            Some(Frame::Known(i)) if self.kind(i) == Kind::Leaf => {
                return Err(content(format!(
                    "{} must contain text, not the element <{}>.",
                    self.path(Frame::Known(i)),
                    shown(name)
                )));
            }
            Some(parent) => self.child(self.path(parent), name)?,
        };
        self.stack.push(frame);
        Ok(())
    }

    /// The frame of the element `name` inside the known container at `parent`.
    fn child(&mut self, parent: &str, name: &str) -> Result<Frame, CiXmlError> {
        let found = self.fields.schema.iter().position(|(p, _)| {
            p.strip_prefix(parent)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|r| r == name)
        }) .filter(|_| !name.contains('.'));
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

    fn close(&mut self) -> Result<(), CiXmlError> {
        match self.stack.pop() {
            None => Err(content("An end tag has no start tag.")),
            Some(Frame::Root) => {
                self.root_done = true;
                Ok(())
            }
            Some(Frame::Known(i)) => {
                if let Some(Some(v)) = self.fields.values.get_mut(i) {
                    let trimmed = v.trim_matches(is_xml_space);
                    if trimmed.len() != v.len() {
                        *v = trimmed.to_string();
                    }
                }
                Ok(())
            }
            Some(Frame::Unknown) => Ok(()),
        }
    }

    /// Character data (text, CDATA or a resolved reference) at the current position.
    fn text(&mut self, s: &str) -> Result<(), CiXmlError> {
        let blank = s.chars().all(is_xml_space);
        if !blank {
            self.markup_seen = true;
        }
        match self.stack.last().copied() {
            None if blank => Ok(()),
            None => Err(content("The body has text outside the root element.")),
            Some(Frame::Unknown) => Ok(()),
            Some(Frame::Known(i)) if self.kind(i) == Kind::Leaf => {
                if let Some(Some(v)) = self.fields.values.get_mut(i) {
                    v.push_str(s);
                }
                Ok(())
            }
            Some(_) if blank => Ok(()),
            Some(frame) => Err(content(format!(
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

/// Reads `body` as one `<Request>` document, collecting the elements of `schema`.
fn parse(body: &[u8], schema: &'static [(&'static str, Kind)]) -> Result<Fields, CiXmlError> {
    if body.len() > MAX_BODY {
        return Err(content(format!(
            "The request body is {} bytes; at most {MAX_BODY} are accepted.",
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

    let mut b = Builder {
        fields: Fields {
            schema,
            values: vec![None; schema.len()],
        },
        stack: Vec::new(),
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
                return Err(content("Document type declarations (DTDs) are not accepted."));
            }
            Event::PI(_) | Event::Comment(_) => b.markup_seen = true,
            Event::Start(e) | Event::Empty(e)
                if e.attributes().any(|a| a.is_err()) =>
            {
                let err = e.attributes().find_map(Result::err);
                return Err(content(format!(
                    "Malformed attribute in <{}>: {}.",
                    shown(&String::from_utf8_lossy(e.name().as_ref())),
                    err.map_or_else(String::new, |e| e.to_string())
                )));
            }
            Event::Start(e) => {
                b.markup_seen = true;
                b.open(e.name().as_ref())?;
            }
            Event::Empty(e) => {
                b.markup_seen = true;
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
    if !b.stack.is_empty() {
        return Err(content(format!(
            "Malformed XML: the body ends before <{ROOT}> is closed."
        )));
    }
    if !b.root_seen {
        return Err(CiXmlError::MissingContent);
    }
    Ok(b.fields)
}
