//! Browser form uploads (`POST` with `multipart/form-data`): the form read up to its `file`
//! part, the file then streamed, and the POST policy document that says what the form may
//! hold. Shared by the dialects that take such uploads — COS POST Object and the OSS-style
//! upload host of Alibaba's `CreateFileDetectUploadUrl` — each with its own signature and
//! error format around it; the reading and the policy rules are decided here once.
//!
//! * [`read_form`] reads the fields before the file (their count and total size bounded) and
//!   hands the `file` part back as a [`FilePart`] to be streamed: nothing of the file is
//!   buffered beyond one chunk, its size limit is enforced while reading, and at its end
//!   that no field follows it.
//! * [`check_policy`] parses a policy document (`expiration`, `conditions`) and checks it
//!   against the form: `content-length-range`, `eq` and `starts-with` on `$field`, and
//!   `{"field": "value"}` objects; anything else is an invalid document.
//!
//! Field names are matched case-insensitively, values exactly; a repeated field is refused.
//! Pure over network input: negative tests here and in the dialects, fuzz target
//! `aliyun_form` (the reader) and `cos_parse` (the policy).

use std::fmt;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// Not well-formed `multipart/form-data` (no boundary, a broken part, a field that is not
    /// UTF-8, a body cut off).
    #[error("the body is not well-formed multipart/form-data")]
    Malformed,
    /// The form ended without a `file` part.
    #[error("POST requires exactly one file upload per request")]
    NoFile,
    /// A field is given twice.
    #[error("the form field {0} is repeated")]
    RepeatedField(String),
    /// More fields before the file than [`FormLimits::max_fields`].
    #[error("too many form fields")]
    TooManyFields,
    /// The fields before the file are larger than [`FormLimits::max_pre_data`].
    #[error("the form fields preceding the file are too large")]
    PreDataTooLarge,
    /// A field follows the file.
    #[error("the file field must be the last field of the form")]
    FieldAfterFile,
    /// The file (or the whole body) is larger than allowed.
    #[error("the file is larger than allowed")]
    TooLarge,
}

impl FormError {
    fn from_multer(e: multer::Error) -> Self {
        match e {
            multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
                FormError::TooLarge
            }
            _ => FormError::Malformed,
        }
    }
}

/// Bounds on what [`read_form`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormLimits {
    /// Largest file accepted whatever the policy says.
    pub max_file: u64,
    /// Total bytes of the field values before the file.
    pub max_pre_data: u64,
    /// Most fields before the file.
    pub max_fields: usize,
}

impl Default for FormLimits {
    fn default() -> Self {
        FormLimits {
            max_file: 100 * 1024 * 1024,
            max_pre_data: 64 * 1024,
            max_fields: 64,
        }
    }
}

/// Room for boundaries and part headers in the whole-body limit.
const FRAMING_SLACK: u64 = 256 * 1024;

/// Largest piece of the body handed to multer at a time.
pub const BODY_PIECE: usize = 32 * 1024;

/// Hands the body to multer one piece of at most [`BODY_PIECE`] bytes per poll.
///
/// multer's buffer takes every item that is ready at once, so a body whose data is all ready (a
/// fast client, a test stream) would be buffered whole. Splitting items into pieces (zero-copy
/// slices) and yielding after each (asking to be polled again at once) bounds what multer
/// buffers to one piece per poll: once the file streams, each [`FilePart::chunk`] is one piece;
/// before, a few pieces per form field.
struct Pieces<S> {
    inner: std::pin::Pin<Box<S>>,
    rest: Bytes,
    yielded: bool,
}

impl<S> Pieces<S> {
    fn new(inner: S) -> Self {
        Pieces {
            inner: Box::pin(inner),
            rest: Bytes::new(),
            yielded: false,
        }
    }
}

impl<S, O, E> Stream for Pieces<S>
where
    S: Stream<Item = Result<O, E>>,
    O: Into<Bytes>,
{
    type Item = Result<Bytes, E>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if std::mem::take(&mut self.yielded) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        while self.rest.is_empty() {
            match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(item))) => self.rest = item.into(),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.rest.len().min(BODY_PIECE);
        let piece = self.rest.split_to(n);
        self.yielded = true;
        Poll::Ready(Some(Ok(piece)))
    }
}

/// The fields of a form before its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// Every field before the file, names in lower case, in order.
    pub fields: Vec<(String, String)>,
    /// The file part's `filename`.
    pub file_name: Option<String>,
}

impl Form {
    /// A field by (case-insensitive) name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The `file` part, to be read once the form was accepted.
pub struct FilePart {
    multipart: multer::Multipart<'static>,
    field: Option<multer::Field<'static>>,
    read: u64,
    max: u64,
}

impl fmt::Debug for FilePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilePart")
            .field("read", &self.read)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl FilePart {
    /// Lowers the size limit (to a policy's maximum, see [`Policy::max_size`]).
    pub fn limit(&mut self, max: u64) {
        self.max = self.max.min(max);
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The next chunk of the file; `None` at its end, once it is known that the body ends
    /// properly and no field follows the file. [`FormError::TooLarge`] as soon as the limit
    /// is passed.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FormError> {
        let Some(field) = self.field.as_mut() else {
            return Ok(None);
        };
        match field.chunk().await.map_err(FormError::from_multer)? {
            Some(bytes) => {
                self.read = self.read.saturating_add(bytes.len() as u64);
                if self.read > self.max {
                    return Err(FormError::TooLarge);
                }
                Ok(Some(bytes))
            }
            None => {
                self.field = None;
                match self.multipart.next_field().await {
                    Ok(None) => Ok(None),
                    Ok(Some(_)) => Err(FormError::FieldAfterFile),
                    Err(e) => Err(FormError::from_multer(e)),
                }
            }
        }
    }

    /// The rest of the file as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, FormError>> + Send {
        futures_util::stream::unfold(Some(self), |file| async move {
            let mut file = file?;
            match file.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(file))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Reads and drops what is left of the body, at most `budget` bytes (the limit does not
    /// apply). Answering an error with the body unread makes the connection close, and a
    /// client still sending then sees a reset instead of the answer; a body longer than
    /// `budget` is left unread all the same.
    pub async fn discard(&mut self, budget: u64) {
        let mut left = budget;
        loop {
            if self.field.is_none() {
                match self.multipart.next_field().await {
                    Ok(Some(field)) => self.field = Some(field),
                    _ => return,
                }
            }
            let Some(field) = self.field.as_mut() else {
                return;
            };
            match field.chunk().await {
                Ok(Some(bytes)) => {
                    left = left.saturating_sub(bytes.len() as u64);
                    if left == 0 {
                        return;
                    }
                }
                Ok(None) => self.field = None,
                Err(_) => return,
            }
        }
    }
}

/// Reads a form body up to its `file` part. `content_type` is the request's `Content-Type`
/// (with the boundary); `body` its byte stream (e.g. `Body::into_data_stream`).
pub async fn read_form<S, O, E>(
    content_type: &str,
    body: S,
    limits: &FormLimits,
) -> Result<(Form, FilePart), FormError>
where
    S: Stream<Item = Result<O, E>> + Send + 'static,
    O: Into<Bytes> + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let boundary = multer::parse_boundary(content_type).map_err(|_| FormError::Malformed)?;
    let whole = limits
        .max_file
        .saturating_add(limits.max_pre_data)
        .saturating_add(FRAMING_SLACK);
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(whole));
    let mut multipart =
        multer::Multipart::with_constraints(Pieces::new(body), boundary, constraints);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut pre_data: u64 = 0;
    loop {
        let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(FormError::from_multer)?
        else {
            return Err(FormError::NoFile);
        };
        let name = field
            .name()
            .ok_or(FormError::Malformed)?
            .to_ascii_lowercase();
        if name == "file" {
            let file_name = field.file_name().map(str::to_owned);
            return Ok((
                Form { fields, file_name },
                FilePart {
                    multipart,
                    field: Some(field),
                    read: 0,
                    max: limits.max_file,
                },
            ));
        }
        if fields.len() == limits.max_fields {
            return Err(FormError::TooManyFields);
        }
        if fields.iter().any(|(k, _)| *k == name) {
            return Err(FormError::RepeatedField(name));
        }
        let mut value = Vec::new();
        while let Some(bytes) = field.chunk().await.map_err(FormError::from_multer)? {
            pre_data = pre_data.saturating_add(bytes.len() as u64);
            if pre_data > limits.max_pre_data {
                return Err(FormError::PreDataTooLarge);
            }
            value.extend_from_slice(&bytes);
        }
        let value = String::from_utf8(value).map_err(|_| FormError::Malformed)?;
        fields.push((name, value));
    }
}

/// Why a policy document does not allow a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is not one (bad base64 or JSON, no `expiration`, an unknown condition …);
    /// the message says what.
    #[error("{0}")]
    Invalid(String),
    /// Its `expiration` has passed.
    #[error("Policy expired.")]
    Expired,
    /// A condition does not hold for the form (the condition, as JSON).
    #[error("Policy Condition failed: {0}")]
    ConditionFailed(String),
}

/// Why a file's final size is refused by a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    TooLarge,
    TooSmall,
}

/// A policy that allows a form: its expiry and size bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `expiration`, Unix milliseconds.
    pub expires_at_ms: i64,
    /// The smallest size `content-length-range` allows (0 without one).
    pub min_size: u64,
    /// The largest size `content-length-range` allows, if it has one.
    pub max_size: Option<u64>,
}

impl Policy {
    /// The largest size allowed, for [`FilePart::limit`].
    pub fn max_size(&self) -> Option<u64> {
        self.max_size
    }

    /// Checks the final size against `content-length-range`.
    pub fn check_size(&self, size: u64) -> Result<(), SizeError> {
        if self.max_size.is_some_and(|max| size > max) {
            return Err(SizeError::TooLarge);
        }
        if size < self.min_size {
            return Err(SizeError::TooSmall);
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid(message.into())
}

/// Checks the policy document `json` (the decoded `policy` field) at `now_ms` against a form
/// whose field values `value` answers (`None`: not sent, compared as empty). A condition on a
/// field named in `always_hold` holds whatever it says (the OSS upload host has one bucket).
pub fn check_policy(
    json: &[u8],
    value: &dyn Fn(&str) -> Option<String>,
    always_hold: &[&str],
    now_ms: i64,
) -> Result<Policy, PolicyError> {
    let doc: Value =
        serde_json::from_slice(json).map_err(|_| invalid("Policy is not valid JSON."))?;
    let expiration = doc
        .get("expiration")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Policy missing expiration."))?;
    let expires_at_ms =
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid("Invalid 'expiration' value."))?
            .unix_timestamp_nanos()
            / 1_000_000;
    let conditions = doc
        .get("conditions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Policy missing conditions."))?;
    if i128::from(now_ms) > expires_at_ms {
        return Err(PolicyError::Expired);
    }
    let mut policy = Policy {
        expires_at_ms: i64::try_from(expires_at_ms).unwrap_or(i64::MAX),
        min_size: 0,
        max_size: None,
    };
    let holds_always = |name: &str| always_hold.iter().any(|a| a.eq_ignore_ascii_case(name));
    for c in conditions {
        check_condition(c, value, &holds_always, &mut policy)?;
    }
    Ok(policy)
}

fn check_condition(
    c: &Value,
    value: &dyn Fn(&str) -> Option<String>,
    holds_always: &dyn Fn(&str) -> bool,
    policy: &mut Policy,
) -> Result<(), PolicyError> {
    let failed = || PolicyError::ConditionFailed(c.to_string());
    match c {
        Value::Object(map) => {
            let mut entries = map.iter();
            let (Some((name, expected)), None) = (entries.next(), entries.next()) else {
                return Err(invalid(
                    "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
                ));
            };
            let expected = expected
                .as_str()
                .ok_or_else(|| invalid("Invalid Simple-Condition: value must be a string."))?;
            if holds_always(name) {
                return Ok(());
            }
            if value(name).unwrap_or_default() != expected {
                return Err(failed());
            }
            Ok(())
        }
        Value::Array(items) => {
            let op = items.first().and_then(Value::as_str).unwrap_or("");
            match (op.to_ascii_lowercase().as_str(), items.len()) {
                ("content-length-range", 3) => {
                    let (Some(min), Some(max)) = (items[1].as_u64(), items[2].as_u64()) else {
                        return Err(invalid(
                            "Invalid content-length-range: bounds must be non-negative integers.",
                        ));
                    };
                    if min > max {
                        return Err(invalid(
                            "Invalid content-length-range: minimum above maximum.",
                        ));
                    }
                    policy.min_size = policy.min_size.max(min);
                    policy.max_size = Some(policy.max_size.map_or(max, |m| m.min(max)));
                    Ok(())
                }
                ("eq", 3) | ("starts-with", 3) => {
                    let (Some(name), Some(expected)) = (items[1].as_str(), items[2].as_str())
                    else {
                        return Err(invalid(
                            "Invalid Condition: field and value must be strings.",
                        ));
                    };
                    let name = name
                        .strip_prefix('$')
                        .ok_or_else(|| invalid("Condition field names must start with '$'."))?;
                    if holds_always(name) {
                        return Ok(());
                    }
                    let actual = value(name).unwrap_or_default();
                    let holds = if op.eq_ignore_ascii_case("eq") {
                        actual == expected
                    } else {
                        actual.starts_with(expected)
                    };
                    if holds { Ok(()) } else { Err(failed()) }
                }
                _ => Err(invalid(format!("Invalid Condition: {c}"))),
            }
        }
        _ => Err(invalid("Each condition must be an array or an object.")),
    }
}
