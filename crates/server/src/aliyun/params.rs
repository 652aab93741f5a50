//! RPC parameters: the query string of a Sas request, decoded and validated into one typed
//! request per action (detection-apis.md §1.3–§1.7, §2.1).
//!
//! A Sas call is `POST /?<params>` with an empty body as the Tea SDKs send it, or (the classic
//! POP clients, e.g. `@alicloud/pop-core`) `POST /` with the parameters in an
//! `application/x-www-form-urlencoded` body: as Alibaba's gateway does, the parameters are the
//! query's and such a body's together ([`request_params`]), and a V2 signature covers them
//! all. The SDKs form-encode them (a space is `+`), send arrays as 1-based `Name.N` and arrays
//! of objects as `Name.N.Field`, and stringify values with Python's `str()` (booleans arrive as
//! `True`/`False`).
//!
//! Choices made where the spec is silent:
//! * decoding is strict: a malformed `%` escape or a value that is not UTF-8 is
//!   `InvalidParameter` (the signature check decodes leniently and runs first, so such a request
//!   only gets here when it was signed that way);
//! * a repeated parameter name is refused, and at most [`MAX_PARAMS`] parameters are read;
//! * an empty value counts as absent (the legacy SDK sends `SignatureType=`), except inside a
//!   list, where it is an element (and then fails the element's validation);
//! * `Name.N` indexes are decimal without a sign or leading zero, start at 1 and have no gaps;
//!   an index past the list's maximum is refused as too many elements; a bare `Name`, or
//!   `Name.N.Field` where a list of strings is expected, is refused;
//! * unknown parameters, and unknown fields of `Name.N.Field` objects, are ignored (newer SDKs
//!   add optional parameters);
//! * the action comes from the `x-acs-action` header (V3) or the `Action` parameter (V2); when
//!   both are present they must agree, and a V2-signed request must carry its action in its
//!   (signed) parameters, since V2 does not sign headers ([`RpcRequest::validate`]). Likewise for the
//!   version, which is required and must be `2018-12-03`;
//! * hash keys are 32 (MD5) or 64 (SHA-256) hex digits; upper case is accepted and lower-cased;
//! * `GetFileDetectResult` takes at most [`MAX_HASH_KEYS`] = 100 keys (the current
//!   documentation; SDK 10.3.2's comment says 200), `CreateFileDetectUploadUrl` at most
//!   [`MAX_UPLOAD_ITEMS`];
//! * `Type` is required; 0 is detection, 1, 2 and 4 (older documentation's binary, webshell,
//!   script) are accepted as hints, anything else (6, "Skill" archives, included) is
//!   `InvalidApiDetectType`; a `Type` that is not an integer is `InvalidParameter`;
//! * `CreateFileDetect` needs exactly one of `OssKey` and `DownloadUrl`; `DownloadUrl` must be an
//!   `http`/`https` URL with a host and no control characters, at most [`MAX_URL_LEN`] bytes,
//!   else `InvalidDownloadUrl`; `DecompressMaxLayer` (1–5) and `DecompressMaxFileCount`
//!   (1–1000) are optional even with `Decompress=true` (the core applies its defaults);
//! * `ListCompressFileDetectResult` requires `HashKey` (`MissingHashKey`; the real service
//!   answers 500 `ServerError`), `CurrentPage` ≥ 1 (default 1), `PageSize` 1–100 (default 20).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use axum::http::{HeaderMap, Uri};
use hashscan_auth::Scheme;

use super::error::SasError;

/// The raw parameter string of a request (without `?`): the query, followed by the body when
/// it is a non-empty `application/x-www-form-urlencoded` form. A parameter sent in both is
/// refused later as repeated.
pub fn request_params<'a>(
    uri: &'a Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<std::borrow::Cow<'a, str>, SasError> {
    let query = uri.query().unwrap_or("");
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form || body.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(query));
    }
    let body = std::str::from_utf8(body)
        .map_err(|_| SasError::invalid_query("the form body is not UTF-8"))?;
    Ok(std::borrow::Cow::Owned(if query.is_empty() {
        body.to_string()
    } else {
        format!("{query}&{body}")
    }))
}

/// The only API version served.
pub const API_VERSION: &str = "2018-12-03";

/// Parameters of the RPC protocol itself (signature, format, routing), not of an API.
pub const PROTOCOL_PARAMS: [&str; 12] = [
    "Action",
    "Version",
    "Format",
    "Timestamp",
    "SignatureNonce",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureType",
    "AccessKeyId",
    "SecurityToken",
    "Signature",
    "RegionId",
];

/// Most query parameters read from one request.
pub const MAX_PARAMS: usize = 1024;
/// Most hash keys in one `GetFileDetectResult`.
pub const MAX_HASH_KEYS: usize = 100;
/// Most files in one `CreateFileDetectUploadUrl`.
pub const MAX_UPLOAD_ITEMS: usize = 100;
/// Longest accepted `DownloadUrl`.
pub const MAX_URL_LEN: usize = 8192;
/// Longest accepted `OssKey` (OSS's object-key limit).
pub const MAX_OSS_KEY_LEN: usize = 1023;
/// Longest accepted `SourceIp`.
pub const MAX_SOURCE_IP_LEN: usize = 256;

/// Decodes a raw query string (without `?`) strictly: `+` is a space, every `%` must start a
/// two-hex-digit escape, and the result must be UTF-8. Empty segments (`a=1&&b=2`) are skipped;
/// a segment without `=` has an empty value.
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, SasError> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    let mut out = Vec::new();
    for segment in raw.split('&').filter(|s| !s.is_empty()) {
        if out.len() == MAX_PARAMS {
            return Err(SasError::invalid_query(format_args!(
                "more than {MAX_PARAMS} parameters"
            )));
        }
        let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
        out.push((decode_component(k)?, decode_component(v)?));
    }
    Ok(out)
}

fn decode_component(s: &str) -> Result<String, SasError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(SasError::invalid_query("malformed percent-escape"));
                };
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| SasError::invalid_query("a value is not UTF-8"))
}

/// The API parameters of a request (protocol parameters left out), unique by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// The API parameters of a raw query string.
    pub fn from_query(raw: &str) -> Result<Self, SasError> {
        Self::from_pairs(decode_query(raw)?)
    }

    /// The API parameters among decoded pairs; a repeated name (protocol ones included) is
    /// refused.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, SasError> {
        let mut map = BTreeMap::new();
        let mut protocol = [false; PROTOCOL_PARAMS.len()];
        for (count, (k, v)) in pairs.into_iter().enumerate() {
            if count == MAX_PARAMS {
                return Err(SasError::invalid_query(format_args!(
                    "more than {MAX_PARAMS} parameters"
                )));
            }
            if let Some(i) = PROTOCOL_PARAMS.iter().position(|p| *p == k) {
                if std::mem::replace(&mut protocol[i], true) {
                    return Err(SasError::invalid_parameter(PROTOCOL_PARAMS[i], "repeated"));
                }
                continue;
            }
            if map.contains_key(&k) {
                return Err(SasError::invalid_query("a parameter is repeated"));
            }
            map.insert(k, v);
        }
        Ok(Params { map })
    }

    /// Number of API parameters.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All API parameters, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A parameter; an empty value counts as absent.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be present and non-empty (`Missing<name>` otherwise).
    pub fn required(&self, name: &str) -> Result<&str, SasError> {
        self.string(name)
            .ok_or_else(|| SasError::missing_parameter(name))
    }

    /// `true`/`false` in any case (`True` from Python); absent or empty is `None`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, SasError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(SasError::invalid_parameter(name, "must be true or false")),
        }
    }

    /// A decimal integer within `range`; absent or empty is `None`.
    pub fn int_in(&self, name: &str, range: RangeInclusive<i64>) -> Result<Option<i64>, SasError> {
        let Some(v) = self.string(name) else {
            return Ok(None);
        };
        let n: i64 = v
            .parse()
            .map_err(|_| SasError::invalid_parameter(name, "must be an integer"))?;
        if !range.contains(&n) {
            return Err(SasError::invalid_parameter(
                name,
                format_args!("must be between {} and {}", range.start(), range.end()),
            ));
        }
        Ok(Some(n))
    }

    /// The parameters under `name.` as `(index, rest)`, with indexes validated against `max`,
    /// sorted by index; a bare `name` is refused.
    fn indexed<'a>(
        &'a self,
        name: &str,
        max: usize,
    ) -> Result<Vec<(usize, &'a str, &'a str)>, SasError> {
        if self.map.contains_key(name) {
            return Err(SasError::invalid_parameter(
                name,
                format_args!("a list must be sent as {name}.1, {name}.2, …"),
            ));
        }
        let prefix = format!("{name}.");
        let mut out = Vec::new();
        for (k, v) in self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            let rest = &k[prefix.len()..];
            let (index, field) = match rest.split_once('.') {
                Some((i, f)) => (i, f),
                None => (rest, ""),
            };
            let n = parse_index(index).ok_or_else(|| {
                SasError::invalid_parameter(
                    name,
                    "an element index is not a positive decimal number without leading zeros",
                )
            })?;
            if n > max {
                return Err(SasError::invalid_parameter(
                    name,
                    format_args!("at most {max} elements are allowed"),
                ));
            }
            out.push((n, field, v.as_str()));
        }
        out.sort_by_key(|(n, _, _)| *n);
        Ok(out)
    }

    /// The list `name.1`, `name.2`, … (1-based, no gaps, at most `max`); empty when absent.
    pub fn list(&self, name: &str, max: usize) -> Result<Vec<String>, SasError> {
        let entries = self.indexed(name, max)?;
        let mut out = Vec::with_capacity(entries.len());
        for (n, field, v) in entries {
            if !field.is_empty() {
                return Err(SasError::invalid_parameter(
                    name,
                    "elements must be strings, not objects",
                ));
            }
            if n != out.len() + 1 {
                return Err(gap(name, n, out.len()));
            }
            out.push(v.to_owned());
        }
        Ok(out)
    }

    /// The list of objects `name.N.Field` (1-based, no gaps, at most `max`), each a map of its
    /// fields; empty when absent.
    pub fn objects(
        &self,
        name: &str,
        max: usize,
    ) -> Result<Vec<BTreeMap<String, String>>, SasError> {
        let mut out: Vec<BTreeMap<String, String>> = Vec::new();
        for (n, field, v) in self.indexed(name, max)? {
            if field.is_empty() {
                return Err(SasError::invalid_parameter(
                    name,
                    format_args!("elements must be objects sent as {name}.N.Field"),
                ));
            }
            if n == out.len() + 1 {
                out.push(BTreeMap::new());
            } else if n != out.len() {
                return Err(gap(name, n, out.len()));
            }
            if let Some(object) = out.last_mut() {
                object.insert(field.to_owned(), v.to_owned());
            }
        }
        Ok(out)
    }
}

fn gap(name: &str, index: usize, before: usize) -> SasError {
    if index == before {
        SasError::invalid_parameter(name, "an element index is repeated")
    } else {
        SasError::invalid_parameter(
            name,
            format_args!(
                "element {} is missing (indexes start at 1, without gaps)",
                before + 1
            ),
        )
    }
}

/// `1`, `2`, … `usize::MAX`; no sign, no leading zero, no `0`.
fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for a usize is still a (huge) index: refuse it as over any maximum.
    Some(s.parse().unwrap_or(usize::MAX))
}

/// The Sas actions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    CreateFileDetectUploadUrl,
    CreateFileDetect,
    GetFileDetectResult,
    ListCompressFileDetectResult,
    GetFileDetectApiInvokeInfo,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::CreateFileDetectUploadUrl,
        Action::CreateFileDetect,
        Action::GetFileDetectResult,
        Action::ListCompressFileDetectResult,
        Action::GetFileDetectApiInvokeInfo,
    ];

    /// The action named `name` (case-sensitive); 404 `InvalidAction.NotFound` otherwise.
    pub fn parse(name: &str) -> Result<Self, SasError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(SasError::invalid_action_not_found)
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateFileDetectUploadUrl => "CreateFileDetectUploadUrl",
            Action::CreateFileDetect => "CreateFileDetect",
            Action::GetFileDetectResult => "GetFileDetectResult",
            Action::ListCompressFileDetectResult => "ListCompressFileDetectResult",
            Action::GetFileDetectApiInvokeInfo => "GetFileDetectApiInvokeInfo",
        }
    }
}

/// Where a request named its action or version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Source {
    header: bool,
    query: bool,
}

/// A Sas RPC request: action, version and API parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcRequest {
    /// `x-acs-action` or `Action`.
    pub action: String,
    /// `x-acs-version` or `Version`.
    pub version: Option<String>,
    /// The API parameters.
    pub params: Params,
    action_source: Source,
    version_source: Source,
}

impl RpcRequest {
    /// Parses the request's parameters (query and form body, [`request_params`]) and the
    /// `x-acs-*` headers.
    pub fn parse(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Self, SasError> {
        Self::from_parts(&request_params(uri, headers, body)?, headers)
    }

    /// Parses a raw query string (without `?`) and the headers.
    pub fn from_parts(raw_query: &str, headers: &HeaderMap) -> Result<Self, SasError> {
        let pairs = decode_query(raw_query)?;
        let query_value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let action_q = query_value("Action");
        let version_q = query_value("Version");
        let params = Params::from_pairs(pairs)?;

        let action_h = single_header(headers, "x-acs-action", "Action")?;
        let (action, action_source) = pick(action_h, action_q, "Action")?;
        let action = action.ok_or_else(|| SasError::missing_parameter("Action"))?;
        let version_h = single_header(headers, "x-acs-version", "Version")?;
        let (version, version_source) = pick(version_h, version_q, "Version")?;
        Ok(RpcRequest {
            action,
            version,
            params,
            action_source,
            version_source,
        })
    }

    /// Checks the request against the scheme that authenticated it and parses the typed
    /// request: a V2 signature must cover the action and version (they must be in the query),
    /// the version must be `2018-12-03`, the action known, the parameters valid.
    pub fn validate(&self, scheme: Scheme) -> Result<SasRequest, SasError> {
        if scheme == Scheme::AliyunV2 {
            if !self.action_source.query {
                return Err(SasError::incomplete_signature(
                    "a V2-signed request must carry Action in its query",
                ));
            }
            if self.version.is_some() && !self.version_source.query {
                return Err(SasError::incomplete_signature(
                    "a V2-signed request must carry Version in its query",
                ));
            }
        }
        match self.version.as_deref() {
            None => return Err(SasError::missing_parameter("Version")),
            Some(API_VERSION) => {}
            Some(_) => return Err(SasError::invalid_version()),
        }
        SasRequest::parse(Action::parse(&self.action)?, &self.params)
    }
}

/// The one value of a header, trimmed; empty counts as absent.
fn single_header(headers: &HeaderMap, name: &str, param: &str) -> Result<Option<String>, SasError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(SasError::invalid_parameter(
            param,
            format_args!("the {name} header is repeated"),
        ));
    }
    let v = first
        .to_str()
        .map_err(|_| SasError::invalid_parameter(param, format_args!("{name} is not ASCII")))?
        .trim();
    Ok((!v.is_empty()).then(|| v.to_owned()))
}

fn pick(
    header: Option<String>,
    query: Option<String>,
    param: &str,
) -> Result<(Option<String>, Source), SasError> {
    let source = Source {
        header: header.is_some(),
        query: query.is_some(),
    };
    match (header, query) {
        (Some(h), Some(q)) if h != q => Err(SasError::invalid_parameter(
            param,
            "the x-acs-* header and the query parameter differ",
        )),
        (h, q) => Ok((h.or(q), source)),
    }
}

/// A hash key: 32 (MD5) or 64 (SHA-256) hex digits, returned in lower case.
pub fn hash_key(name: &str, value: &str) -> Result<String, SasError> {
    if (value.len() == 32 || value.len() == 64) && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(SasError::invalid_parameter(
            name,
            "must be an MD5 (32 hex digits) or SHA-256 (64 hex digits)",
        ))
    }
}

/// `Type`: what the caller says the file is. Only detection exists here; the older
/// documentation's kinds are accepted as hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetectType {
    /// 0: malicious-file detection ("unknown" kind in older documentation).
    Detect,
    /// 1: binary (older documentation).
    Binary,
    /// 2: webshell (older documentation).
    Webshell,
    /// 4: script (older documentation).
    Script,
}

impl DetectType {
    /// The required `Type` parameter.
    pub fn from_params(params: &Params) -> Result<Self, SasError> {
        let raw = params.required("Type")?;
        let n: i64 = raw
            .parse()
            .map_err(|_| SasError::invalid_parameter("Type", "must be an integer"))?;
        Self::from_code(n).ok_or_else(SasError::invalid_api_detect_type)
    }

    /// The kind of a `Type` value.
    pub fn from_code(n: i64) -> Option<Self> {
        match n {
            0 => Some(Self::Detect),
            1 => Some(Self::Binary),
            2 => Some(Self::Webshell),
            4 => Some(Self::Script),
            _ => None,
        }
    }

    /// The `Type` value.
    pub fn code(self) -> u8 {
        match self {
            Self::Detect => 0,
            Self::Binary => 1,
            Self::Webshell => 2,
            Self::Script => 4,
        }
    }
}

/// One file of a `CreateFileDetectUploadUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadItem {
    pub hash_key: String,
    /// `HashKeyContextList.N.FileSize`, bytes.
    pub file_size: Option<u64>,
}

/// `CreateFileDetectUploadUrl` (§1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFileDetectUploadUrl {
    pub items: Vec<UploadItem>,
    pub kind: DetectType,
}

impl CreateFileDetectUploadUrl {
    pub fn parse(params: &Params) -> Result<Self, SasError> {
        let plain = params.list("HashKeyList", MAX_UPLOAD_ITEMS)?;
        let context = params.objects("HashKeyContextList", MAX_UPLOAD_ITEMS)?;
        let items = match (plain.is_empty(), context.is_empty()) {
            (true, true) => {
                return Err(SasError::missing_parameter("HashKeyList"));
            }
            (false, false) => {
                return Err(SasError::invalid_parameter(
                    "HashKeyContextList",
                    "give either HashKeyList or HashKeyContextList, not both",
                ));
            }
            (false, true) => plain
                .iter()
                .map(|h| {
                    Ok(UploadItem {
                        hash_key: hash_key("HashKeyList", h)?,
                        file_size: None,
                    })
                })
                .collect::<Result<Vec<_>, SasError>>()?,
            (true, false) => context
                .iter()
                .map(|o| {
                    let h = o.get("HashKey").filter(|h| !h.is_empty()).ok_or_else(|| {
                        SasError::missing_parameter("HashKeyContextList.N.HashKey")
                    })?;
                    let file_size = match o.get("FileSize").filter(|s| !s.is_empty()) {
                        None => None,
                        Some(s) => Some(s.parse::<u64>().map_err(|_| {
                            SasError::invalid_parameter(
                                "HashKeyContextList.N.FileSize",
                                "must be a non-negative integer",
                            )
                        })?),
                    };
                    Ok(UploadItem {
                        hash_key: hash_key("HashKeyContextList.N.HashKey", h)?,
                        file_size,
                    })
                })
                .collect::<Result<Vec<_>, SasError>>()?,
        };
        Ok(Self {
            items,
            kind: DetectType::from_params(params)?,
        })
    }
}

/// `CreateFileDetect` (§1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFileDetect {
    pub hash_key: String,
    pub kind: DetectType,
    /// `Context.OssKey` of an upload; exactly one of `oss_key` and `download_url` is set.
    pub oss_key: Option<String>,
    pub download_url: Option<String>,
    pub source_ip: Option<String>,
    pub decompress: bool,
    /// `DecompressMaxLayer`, 1–5.
    pub max_layer: Option<u8>,
    /// `DecompressMaxFileCount`, 1–1000.
    pub max_file_count: Option<u32>,
}

impl CreateFileDetect {
    pub fn parse(params: &Params) -> Result<Self, SasError> {
        let kind = DetectType::from_params(params)?;
        let hash_key = hash_key("HashKey", params.required("HashKey")?)?;
        let oss_key = params.string("OssKey");
        let download_url = params.string("DownloadUrl");
        match (oss_key, download_url) {
            (None, None) => return Err(SasError::missing_parameter("OssKey")),
            (Some(_), Some(_)) => {
                return Err(SasError::invalid_parameter(
                    "DownloadUrl",
                    "give either OssKey or DownloadUrl, not both",
                ));
            }
            _ => {}
        }
        if oss_key.is_some_and(|k| k.len() > MAX_OSS_KEY_LEN || k.chars().any(char::is_control)) {
            return Err(SasError::invalid_parameter(
                "OssKey",
                "must be an OssKey returned by CreateFileDetectUploadUrl",
            ));
        }
        if let Some(u) = download_url {
            check_download_url(u)?;
        }
        let source_ip = params.string("SourceIp");
        if source_ip.is_some_and(|s| s.len() > MAX_SOURCE_IP_LEN) {
            return Err(SasError::invalid_parameter("SourceIp", "too long"));
        }
        let max_layer = params
            .int_in("DecompressMaxLayer", 1..=5)?
            .and_then(|n| u8::try_from(n).ok());
        let max_file_count = params
            .int_in("DecompressMaxFileCount", 1..=1000)?
            .and_then(|n| u32::try_from(n).ok());
        Ok(Self {
            hash_key,
            kind,
            oss_key: oss_key.map(str::to_owned),
            download_url: download_url.map(str::to_owned),
            source_ip: source_ip.map(str::to_owned),
            decompress: params.bool("Decompress")?.unwrap_or(false),
            max_layer,
            max_file_count,
        })
    }
}

/// An `http`/`https` URL with a host, no control characters, at most [`MAX_URL_LEN`] bytes.
/// The fetcher parses it fully; this only refuses what can never be fetched.
fn check_download_url(u: &str) -> Result<(), SasError> {
    let lower_prefix = |p: &str| u.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p));
    let rest = if lower_prefix("https://") {
        &u[8..]
    } else if lower_prefix("http://") {
        &u[7..]
    } else {
        return Err(SasError::invalid_download_url());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if u.len() > MAX_URL_LEN
        || host.is_empty()
        || host.starts_with(':')
        || u.chars().any(char::is_control)
        || authority.contains(' ')
    {
        return Err(SasError::invalid_download_url());
    }
    Ok(())
}

/// `GetFileDetectResult` (§1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetFileDetectResult {
    /// 1 to [`MAX_HASH_KEYS`] keys, lower case, in the order given (repeats kept).
    pub hash_keys: Vec<String>,
    pub kind: DetectType,
}

impl GetFileDetectResult {
    pub fn parse(params: &Params) -> Result<Self, SasError> {
        let keys = params.list("HashKeyList", MAX_HASH_KEYS)?;
        if keys.is_empty() {
            return Err(SasError::missing_parameter("HashKeyList"));
        }
        let hash_keys = keys
            .iter()
            .map(|k| hash_key("HashKeyList", k))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            hash_keys,
            kind: DetectType::from_params(params)?,
        })
    }
}

/// `ListCompressFileDetectResult` (§1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCompressFileDetectResult {
    pub hash_key: String,
    /// 1-based.
    pub current_page: u32,
    /// 1–100.
    pub page_size: u32,
}

impl ListCompressFileDetectResult {
    pub fn parse(params: &Params) -> Result<Self, SasError> {
        let hash_key = hash_key("HashKey", params.required("HashKey")?)?;
        let current_page = params
            .int_in("CurrentPage", 1..=i64::from(u32::MAX))?
            .unwrap_or(1);
        let page_size = params.int_in("PageSize", 1..=100)?.unwrap_or(20);
        Ok(Self {
            hash_key,
            current_page: u32::try_from(current_page).unwrap_or(1),
            page_size: u32::try_from(page_size).unwrap_or(20),
        })
    }
}

/// `GetFileDetectApiInvokeInfo` (§1.7): no parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetFileDetectApiInvokeInfo {}

/// A validated Sas request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SasRequest {
    CreateFileDetectUploadUrl(CreateFileDetectUploadUrl),
    CreateFileDetect(CreateFileDetect),
    GetFileDetectResult(GetFileDetectResult),
    ListCompressFileDetectResult(ListCompressFileDetectResult),
    GetFileDetectApiInvokeInfo(GetFileDetectApiInvokeInfo),
}

impl SasRequest {
    /// The typed request of `action`.
    pub fn parse(action: Action, params: &Params) -> Result<Self, SasError> {
        Ok(match action {
            Action::CreateFileDetectUploadUrl => {
                Self::CreateFileDetectUploadUrl(CreateFileDetectUploadUrl::parse(params)?)
            }
            Action::CreateFileDetect => Self::CreateFileDetect(CreateFileDetect::parse(params)?),
            Action::GetFileDetectResult => {
                Self::GetFileDetectResult(GetFileDetectResult::parse(params)?)
            }
            Action::ListCompressFileDetectResult => {
                Self::ListCompressFileDetectResult(ListCompressFileDetectResult::parse(params)?)
            }
            Action::GetFileDetectApiInvokeInfo => {
                Self::GetFileDetectApiInvokeInfo(GetFileDetectApiInvokeInfo {})
            }
        })
    }

    /// The action.
    pub fn action(&self) -> Action {
        match self {
            Self::CreateFileDetectUploadUrl(_) => Action::CreateFileDetectUploadUrl,
            Self::CreateFileDetect(_) => Action::CreateFileDetect,
            Self::GetFileDetectResult(_) => Action::GetFileDetectResult,
            Self::ListCompressFileDetectResult(_) => Action::ListCompressFileDetectResult,
            Self::GetFileDetectApiInvokeInfo(_) => Action::GetFileDetectApiInvokeInfo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_form_body_adds_to_the_query_and_other_bodies_do_not() {
        let uri: Uri = "/?Action=GetFileDetectResult".parse().unwrap();
        let mut form = HeaderMap::new();
        form.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        assert_eq!(
            request_params(&uri, &form, b"Type=0&HashKeyList.1=x").unwrap(),
            "Action=GetFileDetectResult&Type=0&HashKeyList.1=x"
        );
        assert_eq!(
            request_params(&uri, &form, b"").unwrap(),
            "Action=GetFileDetectResult"
        );
        let bare: Uri = "/".parse().unwrap();
        assert_eq!(request_params(&bare, &form, b"Type=0").unwrap(), "Type=0");
        let mut json = HeaderMap::new();
        json.insert("content-type", HeaderValue::from_static("application/json"));
        assert_eq!(
            request_params(&uri, &json, b"Type=0").unwrap(),
            "Action=GetFileDetectResult"
        );
        assert_eq!(
            request_params(&uri, &HeaderMap::new(), b"Type=0").unwrap(),
            "Action=GetFileDetectResult"
        );
        let bad = request_params(&uri, &form, b"Type=\xff\xfe").unwrap_err();
        assert_eq!(bad.status().as_u16(), 400);
        // A parameter in both places is repeated.
        let both = RpcRequest::parse(&uri, &form, b"Action=GetFileDetectResult").unwrap_err();
        assert_eq!(both.status().as_u16(), 400);
    }

    const MD5: &str = "0a212417e65c26ff133cfff28f6c1234";
    const MD5_2: &str = "5d41402abc4b2a76b9719d911017c592";
    const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(q: &str) -> Params {
        Params::from_query(q).unwrap()
    }

    fn err(r: Result<impl std::fmt::Debug, SasError>) -> (String, String) {
        let e = r.unwrap_err();
        (e.code().to_owned(), e.message().to_owned())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn decoding_is_form_decoding_and_strict() {
        assert_eq!(
            decode_query("a=x+y%2Fz&b&&c=%E4%BD%A0").unwrap(),
            vec![
                ("a".into(), "x y/z".into()),
                ("b".into(), String::new()),
                ("c".into(), "你".into())
            ]
        );
        assert_eq!(
            decode_query("?a=%2b").unwrap(),
            vec![("a".into(), "+".into())]
        );
        for bad in ["a=%", "a=%4", "a=%zz", "%g0=1", "a=%ff", "a=%C3%28"] {
            let (code, _) = err(decode_query(bad));
            assert_eq!(code, "InvalidParameter", "{bad}");
        }
        let many = (0..=MAX_PARAMS)
            .map(|i| format!("p{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(decode_query(&many).is_err());
    }

    #[test]
    fn protocol_params_are_not_api_params() {
        let params = p(
            "Action=GetFileDetectResult&Format=json&Version=2018-12-03&Timestamp=x&SignatureNonce=n&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureType=&AccessKeyId=ak&SecurityToken=t&Signature=s&RegionId=cn&Type=0",
        );
        assert_eq!(params.iter().collect::<Vec<_>>(), vec![("Type", "0")]);
        let (code, msg) = err(Params::from_query("Type=0&Type=1"));
        assert_eq!(code, "InvalidParameter");
        assert!(msg.contains("repeated"));
        assert!(Params::from_query("Signature=a&Signature=b").is_err());
    }

    #[test]
    fn strings_required_bools_ints() {
        let params =
            p("A=x&E=&B1=True&B2=false&B3=TRUE&B4=yes&N=5&M=-1&X=5.0&Big=99999999999999999999");
        assert_eq!(params.string("A"), Some("x"));
        assert_eq!(params.string("E"), None);
        assert_eq!(params.string("Z"), None);
        assert_eq!(params.required("A").unwrap(), "x");
        assert_eq!(err(params.required("E")).0, "MissingE");
        assert_eq!(params.bool("B1").unwrap(), Some(true));
        assert_eq!(params.bool("B2").unwrap(), Some(false));
        assert_eq!(params.bool("B3").unwrap(), Some(true));
        assert_eq!(params.bool("Z").unwrap(), None);
        assert_eq!(err(params.bool("B4")).0, "InvalidParameter");
        assert_eq!(params.int_in("N", 1..=5).unwrap(), Some(5));
        assert_eq!(params.int_in("Z", 1..=5).unwrap(), None);
        let (code, msg) = err(params.int_in("N", 1..=4));
        assert_eq!(code, "InvalidParameter");
        assert!(msg.contains("between 1 and 4"), "{msg}");
        assert!(params.int_in("M", 0..=10).is_err());
        assert!(params.int_in("X", 0..=10).is_err());
        assert!(params.int_in("Big", 0..=10).is_err());
        assert!(params.int_in("A", 0..=10).is_err());
    }

    #[test]
    fn lists_are_one_based_without_gaps() {
        let params = p("L.2=b&L.1=a&L.3=&M.1=x");
        assert_eq!(params.list("L", 10).unwrap(), vec!["a", "b", ""]);
        assert_eq!(params.list("Absent", 10).unwrap(), Vec::<String>::new());
        // A name that merely starts with the list's name is another parameter.
        assert_eq!(p("LX.1=a&L.1=b").list("L", 10).unwrap(), vec!["b"]);
        for (q, why) in [
            ("L.0=a", "positive"),
            ("L.01=a", "leading zeros"),
            ("L.-1=a", "positive"),
            ("L.+1=a", "positive"),
            ("L.a=a", "positive"),
            ("L.=a", "positive"),
            ("L.1=a&L.3=c", "element 2 is missing"),
            ("L.2=a", "element 1 is missing"),
            ("L.1=a&L.2=b&L.3=c&L.4=d", "at most 3"),
            ("L.99999999999999999999999=a", "at most 3"),
            ("L.1.F=a", "strings"),
            ("L=a", "L.1"),
            ("L.1=a&L.1=b", "repeated"),
        ] {
            let (code, msg) = err(p_or_err(q).and_then(|ps| ps.list("L", 3)));
            assert_eq!(code, "InvalidParameter", "{q}");
            assert!(msg.contains(why), "{q}: {msg}");
        }
    }

    fn p_or_err(q: &str) -> Result<Params, SasError> {
        Params::from_query(q)
    }

    #[test]
    fn objects_group_fields_by_index() {
        let params = p("O.1.HashKey=a&O.1.FileSize=1&O.2.HashKey=b&O.2.X.Y=z");
        let objs = params.objects("O", 5).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0]["HashKey"], "a");
        assert_eq!(objs[0]["FileSize"], "1");
        assert_eq!(objs[1]["HashKey"], "b");
        assert_eq!(objs[1]["X.Y"], "z");
        assert!(params.objects("None", 5).unwrap().is_empty());
        for (q, why) in [
            ("O.1=a", "O.N.Field"),
            ("O.1.=a", "O.N.Field"),
            ("O.0.F=a", "positive"),
            ("O.2.F=a", "element 1 is missing"),
            ("O.1.F=a&O.3.F=a", "element 2 is missing"),
            ("O.6.F=a", "at most 5"),
            ("O=x", "O.1"),
        ] {
            let (code, msg) = err(p(q).objects("O", 5));
            assert_eq!(code, "InvalidParameter", "{q}");
            assert!(msg.contains(why), "{q}: {msg}");
        }
    }

    #[test]
    fn hash_keys_are_md5_or_sha256_hex() {
        assert_eq!(hash_key("H", MD5).unwrap(), MD5);
        assert_eq!(hash_key("H", SHA256).unwrap(), SHA256);
        assert_eq!(hash_key("H", &MD5.to_uppercase()).unwrap(), MD5);
        let long = format!("{MD5}0");
        let g = "g".repeat(32);
        for bad in [
            "",
            "0a212417e65c26ff133cfff28f6c****",
            &MD5[..31],
            &long,
            &SHA256[1..],
            &g,
        ] {
            assert_eq!(err(hash_key("H", bad)).0, "InvalidParameter", "{bad}");
        }
    }

    #[test]
    fn rpc_request_reads_action_and_version_from_headers_or_query() {
        let v3 = RpcRequest::from_parts(
            "HashKeyList.1=0a212417e65c26ff133cfff28f6c1234&HashKeyList.2=5d41402abc4b2a76b9719d911017c592&Type=0",
            &headers(&[("x-acs-action", "GetFileDetectResult"), ("x-acs-version", "2018-12-03")]),
        )
        .unwrap();
        assert_eq!(v3.action, "GetFileDetectResult");
        assert_eq!(v3.version.as_deref(), Some(API_VERSION));
        assert_eq!(
            v3.validate(Scheme::AliyunV3).unwrap(),
            SasRequest::GetFileDetectResult(GetFileDetectResult {
                hash_keys: vec![MD5.into(), MD5_2.into()],
                kind: DetectType::Detect
            })
        );
        // §2.5 V2 wire query, with the (unsigned) tea headers agreeing.
        let wire = "Action=GetFileDetectResult&Format=json&Version=2018-12-03&Timestamp=2024-10-22T06%3A23%3A35Z&SignatureNonce=3156853299f313e23d1673dc12e1703d&HashKeyList.1=0a212417e65c26ff133cfff28f6c1234&HashKeyList.2=5d41402abc4b2a76b9719d911017c592&Type=0&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testAK&Signature=DK1j0VWgfK4ZlDbb5Q8LhhKDFY8%3D";
        let v2 = RpcRequest::from_parts(
            wire,
            &headers(&[
                ("x-acs-action", "GetFileDetectResult"),
                ("x-acs-version", "2018-12-03"),
            ]),
        )
        .unwrap();
        assert_eq!(v2.params.len(), 3);
        assert!(matches!(
            v2.validate(Scheme::AliyunV2).unwrap(),
            SasRequest::GetFileDetectResult(_)
        ));
        // Legacy core: query only.
        let legacy = RpcRequest::from_parts(wire, &HeaderMap::new()).unwrap();
        assert!(legacy.validate(Scheme::AliyunV2).is_ok());
    }

    #[test]
    fn rpc_request_negatives() {
        let h = |a: &str| headers(&[("x-acs-action", a), ("x-acs-version", API_VERSION)]);
        // Missing action.
        assert_eq!(
            err(RpcRequest::from_parts("Type=0", &HeaderMap::new())).0,
            "MissingAction"
        );
        assert_eq!(
            err(RpcRequest::from_parts("Action=", &HeaderMap::new())).0,
            "MissingAction"
        );
        // Header and query disagree.
        let (code, msg) = err(RpcRequest::from_parts(
            "Action=CreateFileDetect",
            &h("GetFileDetectResult"),
        ));
        assert_eq!(code, "InvalidParameter");
        assert!(msg.contains("Action"));
        // Repeated header.
        let mut twice = h("GetFileDetectResult");
        twice.append(
            "x-acs-action",
            HeaderValue::from_static("GetFileDetectResult"),
        );
        assert!(RpcRequest::from_parts("", &twice).is_err());
        // Non-ASCII header value.
        let mut bin = HeaderMap::new();
        bin.insert("x-acs-action", HeaderValue::from_bytes(b"\xffGet").unwrap());
        assert!(RpcRequest::from_parts("", &bin).is_err());
        // Unknown action: 404.
        let r = RpcRequest::from_parts("", &h("DescribeInstances")).unwrap();
        let e = r.validate(Scheme::AliyunV3).unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (404, "InvalidAction.NotFound")
        );
        // Action names are case-sensitive.
        let r = RpcRequest::from_parts("", &h("getfiledetectresult")).unwrap();
        assert_eq!(
            r.validate(Scheme::AliyunV3).unwrap_err().code(),
            "InvalidAction.NotFound"
        );
        // Version.
        let r =
            RpcRequest::from_parts("Action=GetFileDetectApiInvokeInfo", &HeaderMap::new()).unwrap();
        assert_eq!(
            r.validate(Scheme::AliyunV2).unwrap_err().code(),
            "MissingVersion"
        );
        let r = RpcRequest::from_parts(
            "Action=GetFileDetectApiInvokeInfo&Version=2017-01-01",
            &HeaderMap::new(),
        )
        .unwrap();
        assert_eq!(
            r.validate(Scheme::AliyunV2).unwrap_err().code(),
            "InvalidVersion"
        );
        // V2 does not sign headers: the action must be in the query.
        let r =
            RpcRequest::from_parts("Version=2018-12-03", &h("GetFileDetectApiInvokeInfo")).unwrap();
        assert_eq!(
            r.validate(Scheme::AliyunV2).unwrap_err().code(),
            "IncompleteSignature"
        );
        assert!(r.validate(Scheme::AliyunV3).is_ok());
        let r = RpcRequest::from_parts(
            "Action=GetFileDetectApiInvokeInfo",
            &h("GetFileDetectApiInvokeInfo"),
        )
        .unwrap();
        assert_eq!(
            r.validate(Scheme::AliyunV2).unwrap_err().code(),
            "IncompleteSignature"
        );
        // Bad escapes in the query.
        assert!(RpcRequest::from_parts("Type=%zz", &h("GetFileDetectResult")).is_err());
    }

    fn parse(action: Action, q: &str) -> Result<SasRequest, SasError> {
        SasRequest::parse(action, &Params::from_query(q)?)
    }

    #[test]
    fn create_upload_url_from_either_list() {
        let r = parse(
            Action::CreateFileDetectUploadUrl,
            &format!("HashKeyContextList.1.FileSize=28&HashKeyContextList.1.HashKey={MD5}&Type=0"),
        )
        .unwrap();
        assert_eq!(
            r,
            SasRequest::CreateFileDetectUploadUrl(CreateFileDetectUploadUrl {
                items: vec![UploadItem {
                    hash_key: MD5.into(),
                    file_size: Some(28)
                }],
                kind: DetectType::Detect,
            })
        );
        let r = parse(
            Action::CreateFileDetectUploadUrl,
            &format!("HashKeyList.1={MD5}&HashKeyList.2={SHA256}&Type=4"),
        )
        .unwrap();
        let SasRequest::CreateFileDetectUploadUrl(u) = r else {
            panic!()
        };
        assert_eq!(u.items.len(), 2);
        assert_eq!(u.items[1].file_size, None);
        assert_eq!(u.kind, DetectType::Script);
        for (q, code) in [
            ("Type=0".to_string(), "MissingHashKeyList"),
            (format!("HashKeyList.1={MD5}"), "MissingType"),
            (
                format!("HashKeyList.1={MD5}&Type=6"),
                "InvalidApiDetectType",
            ),
            (
                format!("HashKeyList.1={MD5}&Type=3"),
                "InvalidApiDetectType",
            ),
            (format!("HashKeyList.1={MD5}&Type=zero"), "InvalidParameter"),
            (
                format!("HashKeyList.1={MD5}&HashKeyContextList.1.HashKey={MD5}&Type=0"),
                "InvalidParameter",
            ),
            (
                "HashKeyContextList.1.FileSize=1&Type=0".to_string(),
                "MissingHashKeyContextList.N.HashKey",
            ),
            (
                format!(
                    "HashKeyContextList.1.HashKey={MD5}&HashKeyContextList.1.FileSize=-1&Type=0"
                ),
                "InvalidParameter",
            ),
            (
                format!(
                    "HashKeyContextList.1.HashKey={MD5}&HashKeyContextList.1.FileSize=1e3&Type=0"
                ),
                "InvalidParameter",
            ),
            (
                "HashKeyList.1=nothex&Type=0".to_string(),
                "InvalidParameter",
            ),
            (
                format!("HashKeyList.{}={MD5}&Type=0", MAX_UPLOAD_ITEMS + 1),
                "InvalidParameter",
            ),
        ] {
            assert_eq!(
                err(parse(Action::CreateFileDetectUploadUrl, &q)).0,
                code,
                "{q}"
            );
        }
    }

    #[test]
    fn create_file_detect() {
        // §2.5: the captured CreateFileDetect query.
        let r = parse(
            Action::CreateFileDetect,
            "HashKey=0a212417e65c26ff133cfff28f6c1234&OssKey=1%2F2022%2F06%2F23%2F15%2F41%2Fx&Type=0",
        )
        .unwrap();
        assert_eq!(
            r,
            SasRequest::CreateFileDetect(CreateFileDetect {
                hash_key: MD5.into(),
                kind: DetectType::Detect,
                oss_key: Some("1/2022/06/23/15/41/x".into()),
                download_url: None,
                source_ip: None,
                decompress: false,
                max_layer: None,
                max_file_count: None,
            })
        );
        let r = parse(
            Action::CreateFileDetect,
            &format!("HashKey={}&DownloadUrl=https%3A%2F%2Fexample.com%2Fa+b%3Fx%3D1%26y%3D2&Type=0&Decompress=True&DecompressMaxLayer=2&DecompressMaxFileCount=100&SourceIp=1.2.3.4", MD5.to_uppercase()),
        )
        .unwrap();
        let SasRequest::CreateFileDetect(c) = r else {
            panic!()
        };
        assert_eq!(c.hash_key, MD5);
        assert_eq!(
            c.download_url.as_deref(),
            Some("https://example.com/a b?x=1&y=2")
        );
        assert!(c.decompress);
        assert_eq!((c.max_layer, c.max_file_count), (Some(2), Some(100)));
        assert_eq!(c.source_ip.as_deref(), Some("1.2.3.4"));

        for (q, code) in [
            ("OssKey=k&Type=0".to_string(), "MissingHashKey"),
            (format!("HashKey={MD5}&Type=0"), "MissingOssKey"),
            (
                format!("HashKey={MD5}&OssKey=&DownloadUrl=&Type=0"),
                "MissingOssKey",
            ),
            (
                format!("HashKey={MD5}&OssKey=k&DownloadUrl=http://a/&Type=0"),
                "InvalidParameter",
            ),
            (format!("HashKey={MD5}&OssKey=k"), "MissingType"),
            (
                format!("HashKey={MD5}&OssKey=k&Type=6"),
                "InvalidApiDetectType",
            ),
            (
                format!("HashKey={MD5}&OssKey=k&Type=0&Decompress=1"),
                "InvalidParameter",
            ),
            (
                format!("HashKey={MD5}&OssKey=k&Type=0&DecompressMaxLayer=6"),
                "InvalidParameter",
            ),
            (
                format!("HashKey={MD5}&OssKey=k&Type=0&DecompressMaxLayer=0"),
                "InvalidParameter",
            ),
            (
                format!("HashKey={MD5}&OssKey=k&Type=0&DecompressMaxFileCount=1001"),
                "InvalidParameter",
            ),
            (
                format!("HashKey={MD5}&OssKey=k&Type=0&DecompressMaxFileCount=many"),
                "InvalidParameter",
            ),
            (
                format!("HashKey={MD5}&OssKey=a%0Ab&Type=0"),
                "InvalidParameter",
            ),
            (
                format!(
                    "HashKey={MD5}&OssKey={}&Type=0",
                    "k".repeat(MAX_OSS_KEY_LEN + 1)
                ),
                "InvalidParameter",
            ),
            (
                format!("HashKey={MD5}&SourceIp={}&OssKey=k&Type=0", "1".repeat(300)),
                "InvalidParameter",
            ),
            (
                "HashKey=abc&OssKey=k&Type=0".to_string(),
                "InvalidParameter",
            ),
        ] {
            assert_eq!(err(parse(Action::CreateFileDetect, &q)).0, code, "{q}");
        }
        for url in [
            "ftp://example.com/a",
            "example.com/a",
            "https://",
            "https:///path",
            "http://:80/",
            "https://exa mple.com/",
            "https://example.com/a%0Ab",
            "javascript:alert(1)",
        ] {
            let q = format!(
                "HashKey={MD5}&Type=0&DownloadUrl={}",
                hashscan_auth::encode::rfc3986(&percent_decode(url))
            );
            assert_eq!(
                err(parse(Action::CreateFileDetect, &q)).0,
                "InvalidDownloadUrl",
                "{url}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        let q = format!("HashKey={MD5}&Type=0&DownloadUrl={long}");
        assert_eq!(
            err(parse(Action::CreateFileDetect, &q)).0,
            "InvalidDownloadUrl"
        );
        for ok in [
            "HTTP://Example.com",
            "https://user@host:8443/p?q#f",
            "http://[::1]:8080/x",
        ] {
            let q = format!(
                "HashKey={MD5}&Type=0&DownloadUrl={}",
                hashscan_auth::encode::rfc3986(ok)
            );
            assert!(parse(Action::CreateFileDetect, &q).is_ok(), "{ok}");
        }
    }

    fn percent_decode(s: &str) -> String {
        decode_component(s).unwrap()
    }

    #[test]
    fn get_file_detect_result() {
        let q = (1..=MAX_HASH_KEYS)
            .map(|i| format!("HashKeyList.{i}={MD5}"))
            .collect::<Vec<_>>()
            .join("&");
        let SasRequest::GetFileDetectResult(r) =
            parse(Action::GetFileDetectResult, &format!("{q}&Type=0")).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.hash_keys.len(), MAX_HASH_KEYS);
        let over = format!("{q}&HashKeyList.{}={MD5}&Type=0", MAX_HASH_KEYS + 1);
        assert_eq!(
            err(parse(Action::GetFileDetectResult, &over)).0,
            "InvalidParameter"
        );
        assert_eq!(
            err(parse(Action::GetFileDetectResult, "Type=0")).0,
            "MissingHashKeyList"
        );
        assert_eq!(
            err(parse(
                Action::GetFileDetectResult,
                &format!("HashKeyList.1={MD5}")
            ))
            .0,
            "MissingType"
        );
        assert_eq!(
            err(parse(
                Action::GetFileDetectResult,
                &format!("HashKeyList.1={MD5}&Type=5")
            ))
            .0,
            "InvalidApiDetectType"
        );
        assert_eq!(
            err(parse(Action::GetFileDetectResult, "HashKeyList.1=&Type=0")).0,
            "InvalidParameter"
        );
        assert_eq!(
            err(parse(
                Action::GetFileDetectResult,
                &format!("HashKeyList={MD5}&Type=0")
            ))
            .0,
            "InvalidParameter"
        );
    }

    #[test]
    fn list_compress_defaults_and_bounds() {
        let SasRequest::ListCompressFileDetectResult(r) = parse(
            Action::ListCompressFileDetectResult,
            &format!("HashKey={MD5}"),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((r.current_page, r.page_size), (1, 20));
        let SasRequest::ListCompressFileDetectResult(r) = parse(
            Action::ListCompressFileDetectResult,
            &format!("HashKey={MD5}&CurrentPage=3&PageSize=50"),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (r.hash_key.as_str(), r.current_page, r.page_size),
            (MD5, 3, 50)
        );
        for (q, code) in [
            ("CurrentPage=1".to_string(), "MissingHashKey"),
            (format!("HashKey={MD5}&CurrentPage=0"), "InvalidParameter"),
            (format!("HashKey={MD5}&CurrentPage=-2"), "InvalidParameter"),
            (
                format!("HashKey={MD5}&CurrentPage=4294967296"),
                "InvalidParameter",
            ),
            (format!("HashKey={MD5}&PageSize=0"), "InvalidParameter"),
            (format!("HashKey={MD5}&PageSize=101"), "InvalidParameter"),
            (format!("HashKey={MD5}&PageSize=ten"), "InvalidParameter"),
        ] {
            assert_eq!(
                err(parse(Action::ListCompressFileDetectResult, &q)).0,
                code,
                "{q}"
            );
        }
    }

    #[test]
    fn invoke_info_ignores_parameters() {
        assert_eq!(
            parse(Action::GetFileDetectApiInvokeInfo, "Anything=1").unwrap(),
            SasRequest::GetFileDetectApiInvokeInfo(GetFileDetectApiInvokeInfo {})
        );
    }

    #[test]
    fn actions_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.name()).unwrap(), a);
        }
        assert_eq!(
            Action::parse("GetFileDetectReport")
                .unwrap_err()
                .status()
                .as_u16(),
            404
        );
        assert_eq!(
            Action::parse("").unwrap_err().code(),
            "InvalidAction.NotFound"
        );
        for t in [0, 1, 2, 4] {
            assert_eq!(i64::from(DetectType::from_code(t).unwrap().code()), t);
        }
        assert!(DetectType::from_code(6).is_none());
    }

    /// A query made of the tokens the parsers look at, glued arbitrarily.
    fn query_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop_oneof![
            Just("HashKeyList".to_owned()),
            Just("HashKeyContextList".to_owned()),
            Just("HashKey".to_owned()),
            Just("FileSize".to_owned()),
            Just("Type".to_owned()),
            Just("OssKey".to_owned()),
            Just("DownloadUrl".to_owned()),
            Just("Decompress".to_owned()),
            Just("DecompressMaxLayer".to_owned()),
            Just("CurrentPage".to_owned()),
            Just("PageSize".to_owned()),
            Just("Action".to_owned()),
            Just("Version".to_owned()),
            Just(MD5.to_owned()),
            Just("https://h/x".to_owned()),
            Just("2018-12-03".to_owned()),
            Just("True".to_owned()),
            "[.=&%+0-9a-fA-F]{1,3}",
            "[0-9]{1,22}",
            "\\PC{0,4}",
        ];
        proptest::collection::vec(token, 0..24).prop_map(|t| t.concat())
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic_and_respect_bounds(
            q in query_strategy(),
            action in proptest::option::of("\\PC{0,30}"),
        ) {
            let mut h = HeaderMap::new();
            if let Some(a) = action.and_then(|a| HeaderValue::from_str(&a).ok()) {
                h.insert("x-acs-action", a);
            }
            if let Ok(params) = Params::from_query(&q) {
                for a in Action::ALL {
                    if let Ok(r) = SasRequest::parse(a, &params) {
                        match r {
                            SasRequest::GetFileDetectResult(g) => {
                                proptest::prop_assert!((1..=MAX_HASH_KEYS).contains(&g.hash_keys.len()));
                            }
                            SasRequest::CreateFileDetect(c) => {
                                proptest::prop_assert!(c.oss_key.is_some() != c.download_url.is_some());
                            }
                            SasRequest::ListCompressFileDetectResult(l) => {
                                proptest::prop_assert!((1..=100).contains(&l.page_size));
                            }
                            _ => {}
                        }
                    }
                }
            }
            if let Ok(r) = RpcRequest::from_parts(&q, &h) {
                let _ = r.validate(Scheme::AliyunV2);
                let _ = r.validate(Scheme::AliyunV3);
            }
        }
    }
}
