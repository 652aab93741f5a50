//! Which query parameters an object or bucket request may carry.
//!
//! COS selects many operations by a query parameter on the same path and method (`PUT
//! /key?tagging`, `DELETE /?cors`, `POST /key?uploads`). A server that ignored an unknown one
//! would run a plain write instead — replace the object with the tagging XML, delete the
//! bucket — so every request is checked here, before anything is read or written:
//!
//! - a sub-resource the COS SDKs can send and hashscan does not implement is refused with
//!   `501 NotImplemented`, for every method, on objects and buckets alike;
//! - a write (any method but GET and HEAD) carrying any other parameter is refused too: what
//!   it would mean is unknown, so it is not guessed;
//! - a read ignores parameters it does not know (a cache-busting `?t=…`), as COS does.
//!
//! A parameter that selects or changes a write (`ci-process` with `addtoheader=true`) must
//! also be covered by the request's signature: see [`require_signed`].

use axum::http::{Method, StatusCode};

use super::error::CosError;

/// Where a request is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Bucket,
    Object,
}

/// Sub-resources the COS SDKs (Python, Node.js, Go, Java) and tools send on bucket and object
/// paths, lower-case. Each is refused before anything is touched, except on the level and
/// method that implement it ([`implemented`]: `POST /?delete`, `GET /?location`, `GET|PUT|DELETE
/// /<key>?tagging`, the multipart operations' `uploads`, `uploadId` and `partNumber`).
pub const UNSUPPORTED: &[&str] = &[
    "accelerate",
    "acl",
    "append",
    "cors",
    "delete",
    "domain",
    "domaincertificate",
    "encryption",
    "guetzli",
    "image-process",
    "imageinspect",
    "intelligent-tiering",
    "intelligenttiering",
    "inventory",
    "lifecycle",
    "live",
    "location",
    "logging",
    "metaquery",
    "notification",
    "object-lock",
    "origin",
    "partnumber",
    "policy",
    "position",
    "referer",
    "rename",
    "replication",
    "requestpayment",
    "restore",
    "retention",
    "select",
    "select-type",
    "style",
    "symlink",
    "tagging",
    "torrent",
    "uploadid",
    "uploads",
    "versionid",
    "versioning",
    "versions",
    "vod",
    "website",
];

/// The fields of a presigned URL and the security token: allowed on every request.
const SIGNATURE_PARAMS: &[&str] = &[
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
    "x-cos-security-token",
    "x-ci-security-token",
];

/// The response-header overrides of GET Object.
pub const RESPONSE_OVERRIDES: &[&str] = &[
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];

/// Parameters an implemented operation reads, by level and method.
fn implemented(level: Level, method: &Method, name: &str) -> bool {
    match (level, method) {
        (Level::Object, &Method::GET) => {
            RESPONSE_OVERRIDES.contains(&name)
                || matches!(
                    name,
                    "ci-process"
                        | "type"
                        | "addtoheader"
                        | "tagging"
                        // List Parts
                        | "uploadid"
                        | "max-parts"
                        | "part-number-marker"
                        | "encoding-type"
                )
        }
        (Level::Object, &Method::HEAD) => RESPONSE_OVERRIDES.contains(&name),
        (Level::Bucket, &Method::POST) => name == "delete",
        // Initiate, Complete.
        (Level::Object, &Method::POST) => matches!(name, "uploads" | "uploadid"),
        // Upload Part (- Copy).
        (Level::Object, &Method::PUT) => matches!(name, "tagging" | "partnumber" | "uploadid"),
        // Abort.
        (Level::Object, &Method::DELETE) => matches!(name, "tagging" | "uploadid"),
        (Level::Bucket, &Method::GET) => {
            matches!(
                name,
                "prefix"
                    | "delimiter"
                    | "marker"
                    | "max-keys"
                    | "encoding-type"
                    // GET Bucket location
                    | "location"
                    // List Multipart Uploads
                    | "uploads"
                    | "key-marker"
                    | "upload-id-marker"
                    | "max-uploads"
            )
        }
        _ => false,
    }
}

/// Refuses a request whose parameters name an operation hashscan does not implement.
/// `query` holds the decoded pairs.
pub fn check(level: Level, method: &Method, query: &[(String, String)]) -> Result<(), CosError> {
    let read = *method == Method::GET || *method == Method::HEAD;
    for (name, _) in query {
        let lower = name.to_ascii_lowercase();
        let lower = lower.as_str();
        if SIGNATURE_PARAMS.contains(&lower) || implemented(level, method, lower) {
            continue;
        }
        let what = match level {
            Level::Bucket => "buckets",
            Level::Object => "objects",
        };
        if UNSUPPORTED.contains(&lower) {
            return Err(not_implemented(format!(
                "hashscan does not implement the ?{} sub-resource on {what} ({method}); nothing was changed.",
                shown(name)
            )));
        }
        if !read {
            return Err(not_implemented(format!(
                "hashscan does not know the parameter ?{} of {method} on {what}; nothing was changed.",
                shown(name)
            )));
        }
    }
    Ok(())
}

/// Requires the signature of a request to cover each of `params` that the request carries:
/// a parameter that turns a read into a write must not be addable to a presigned URL or a
/// captured request by whoever holds it. `signed` is the verified signature, `None` for an
/// anonymous request (then any such parameter is refused).
pub fn require_signed(
    signed: Option<&hashscan_auth::Verified>,
    query: &[(String, String)],
    params: &[&str],
) -> Result<(), CosError> {
    for p in params {
        if !query.iter().any(|(k, _)| k.eq_ignore_ascii_case(p)) {
            continue;
        }
        match signed {
            Some(v) if v.covers_param(p) => {}
            Some(_) => {
                return Err(CosError::access_denied(format!(
                    "The signature does not cover the parameter ?{p}; sign it (q-url-param-list) to make this change."
                )));
            }
            None => {
                return Err(CosError::access_denied(format!(
                    "The parameter ?{p} changes the object: it needs a signed request."
                )));
            }
        }
    }
    Ok(())
}

/// A canned ACL hashscan understands (`x-cos-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedAcl {
    /// `private`, or `default` (an object's: its bucket's).
    Private,
    /// `public-read`: unsigned GET and HEAD.
    PublicRead,
}

/// The canned ACL of a PUT, if it sends one. Any other value (`public-read-write`,
/// `authenticated-read` …) and any `x-cos-grant-*` header are refused with 501
/// `NotImplemented`: rights hashscan cannot enforce are not silently dropped.
pub fn canned_acl(headers: &axum::http::HeaderMap) -> Result<Option<CannedAcl>, CosError> {
    if let Some(name) = headers
        .keys()
        .find(|n| n.as_str().starts_with("x-cos-grant-"))
    {
        return Err(not_implemented(format!(
            "hashscan does not implement {name}: every access key may do everything, and public-read buckets allow unsigned reads. Nothing was changed."
        )));
    }
    let Some(value) = headers.get("x-cos-acl") else {
        return Ok(None);
    };
    match value
        .to_str()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Ok("private" | "default") => Ok(Some(CannedAcl::Private)),
        Ok("public-read") => Ok(Some(CannedAcl::PublicRead)),
        _ => Err(not_implemented(format!(
            "x-cos-acl {:?} is not supported: private or public-read. Nothing was changed.",
            String::from_utf8_lossy(value.as_bytes())
                .chars()
                .take(40)
                .collect::<String>()
        ))),
    }
}

/// Refuses a write that asks for server-side encryption (`x-cos-server-side-encryption` and
/// its `-customer-*` and `-cos-kms-*` kin, also for a copy's source) with 501
/// `NotImplemented`: hashscan does not encrypt objects itself, and an object the client
/// believes encrypted must not be stored in the clear. `names` are the request's header
/// names (or a form upload's field names), lower-case.
pub fn no_encryption<'a>(mut names: impl Iterator<Item = &'a str>) -> Result<(), CosError> {
    match names.find(|n| {
        n.starts_with("x-cos-server-side-encryption")
            || n.starts_with("x-cos-copy-source-server-side-encryption")
    }) {
        Some(name) => Err(not_implemented(format!(
            "hashscan does not encrypt objects itself ({}): encrypt the disk or the S3 service beneath it, or send the object without it. Nothing was stored.",
            shown(name)
        ))),
        None => Ok(()),
    }
}

fn not_implemented(message: String) -> CosError {
    CosError::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", message)
}

/// A parameter name as an error message may quote it: at most 64 characters.
fn shown(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn encryption_is_refused_by_any_of_its_headers() {
        for name in [
            "x-cos-server-side-encryption",
            "x-cos-server-side-encryption-customer-algorithm",
            "x-cos-server-side-encryption-cos-kms-key-id",
            "x-cos-copy-source-server-side-encryption-customer-key",
        ] {
            let e = no_encryption(["content-type", name].into_iter()).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
                "{name}"
            );
            assert!(e.message.contains(name), "{}", e.message);
        }
        assert!(no_encryption(["content-type", "x-cos-meta-encryption"].into_iter()).is_ok());
    }

    fn q(pairs: &[&str]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect()
    }

    #[test]
    fn every_unsupported_sub_resource_is_refused_on_every_method_and_level() {
        let methods = [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::OPTIONS,
        ];
        for name in UNSUPPORTED {
            for level in [Level::Bucket, Level::Object] {
                for m in &methods {
                    if implemented(level, m, name) {
                        assert!(check(level, m, &q(&[name])).is_ok(), "{name} {m}");
                        continue;
                    }
                    let e = check(level, m, &q(&[name])).expect_err(name);
                    assert_eq!(e.status, StatusCode::NOT_IMPLEMENTED, "{name} {m}");
                    assert_eq!(e.code, "NotImplemented");
                }
            }
            // The SDKs spell some in camel case (uploadId, partNumber, versionId).
            let upper = name.to_ascii_uppercase();
            assert_eq!(
                check(Level::Object, &Method::PUT, &q(&[&upper])).is_err(),
                !implemented(Level::Object, &Method::PUT, name),
                "{upper}"
            );
        }
    }

    #[test]
    fn multipart_parameters_are_implemented_only_where_they_exist() {
        let on = |level, m: Method, name| implemented(level, &m, name);
        assert!(on(Level::Object, Method::POST, "uploads"));
        assert!(on(Level::Bucket, Method::GET, "uploads"));
        assert!(!on(Level::Object, Method::PUT, "uploads"));
        assert!(!on(Level::Bucket, Method::POST, "uploads"));
        assert!(!on(Level::Object, Method::GET, "uploads"));
        for m in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
            assert!(on(Level::Object, m.clone(), "uploadid"), "{m}");
            assert!(!on(Level::Bucket, m, "uploadid"));
        }
        assert!(on(Level::Object, Method::PUT, "partnumber"));
        for m in [Method::GET, Method::POST, Method::DELETE, Method::HEAD] {
            assert!(!on(Level::Object, m, "partnumber"));
        }
        // The camel case the SDKs send passes the check.
        assert!(
            check(
                Level::Object,
                &Method::PUT,
                &q(&["partNumber=1", "uploadId=x"])
            )
            .is_ok()
        );
        assert!(check(Level::Object, &Method::HEAD, &q(&["uploadId=x"])).is_err());
    }

    #[test]
    fn only_delete_and_tagging_are_implemented_and_only_where_they_exist() {
        let on = |level, m: Method, name| implemented(level, &m, name);
        assert!(on(Level::Bucket, Method::POST, "delete"));
        assert!(!on(Level::Object, Method::POST, "delete"));
        assert!(!on(Level::Bucket, Method::DELETE, "delete"));
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            assert!(on(Level::Object, m.clone(), "tagging"), "{m}");
            assert!(!on(Level::Bucket, m, "tagging"));
        }
        assert!(!on(Level::Object, Method::HEAD, "tagging"));
        assert!(!on(Level::Object, Method::POST, "tagging"));
    }

    #[test]
    fn writes_refuse_any_unknown_parameter_reads_ignore_it() {
        for m in [Method::PUT, Method::POST, Method::DELETE] {
            assert!(check(Level::Object, &m, &q(&["t=1"])).is_err(), "{m}");
            assert!(check(Level::Bucket, &m, &q(&["t=1"])).is_err(), "{m}");
            // A filehash is a GET; on a write its parameters mean nothing.
            assert!(check(Level::Object, &m, &q(&["ci-process=filehash"])).is_err());
        }
        assert!(check(Level::Object, &Method::GET, &q(&["t=1"])).is_ok());
        assert!(check(Level::Bucket, &Method::GET, &q(&["t=1"])).is_ok());
    }

    #[test]
    fn implemented_parameters_and_presigned_fields_pass() {
        let presigned = q(&[
            "q-sign-algorithm=sha1",
            "q-ak=AKID",
            "q-sign-time=1;2",
            "q-key-time=1;2",
            "q-header-list=host",
            "q-url-param-list=",
            "q-signature=00",
            "x-cos-security-token=t",
        ]);
        for m in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert!(check(Level::Object, &m, &presigned).is_ok(), "{m}");
        }
        assert!(
            check(
                Level::Object,
                &Method::GET,
                &q(&["ci-process=filehash", "type=md5", "addtoheader=true"])
            )
            .is_ok()
        );
        assert!(
            check(
                Level::Object,
                &Method::GET,
                &q(&["response-content-type=a/b"])
            )
            .is_ok()
        );
        assert!(
            check(
                Level::Bucket,
                &Method::GET,
                &q(&[
                    "prefix=a",
                    "delimiter=/",
                    "marker=x",
                    "max-keys=5",
                    "encoding-type=url"
                ])
            )
            .is_ok()
        );
        assert!(check(Level::Bucket, &Method::PUT, &[]).is_ok());
    }

    fn verified(params: &[&str]) -> hashscan_auth::Verified {
        hashscan_auth::Verified {
            scheme: hashscan_auth::Scheme::Cos,
            access_key_id: "AKID".into(),
            nonce: None,
            signed_at: 0,
            expires_at: 0,
            security_token: None,
            region: None,
            service: None,
            signed_params: params.iter().map(|p| p.to_string()).collect(),
            signed_headers: vec!["host".into()],
        }
    }

    #[test]
    fn canned_acls() {
        let h = |name: &str, v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
            h
        };
        assert_eq!(canned_acl(&axum::http::HeaderMap::new()).unwrap(), None);
        assert_eq!(
            canned_acl(&h("x-cos-acl", "Public-Read")).unwrap(),
            Some(CannedAcl::PublicRead)
        );
        assert_eq!(
            canned_acl(&h("x-cos-acl", "private")).unwrap(),
            Some(CannedAcl::Private)
        );
        for bad in ["public-read-write", "authenticated-read", ""] {
            let e = canned_acl(&h("x-cos-acl", bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::NOT_IMPLEMENTED, "{bad}");
        }
        assert!(canned_acl(&h("x-cos-grant-read", "id=\"1\"")).is_err());
    }

    #[test]
    fn a_write_parameter_needs_the_signature_to_cover_it() {
        let query = q(&["ci-process=filehash", "type=md5", "addtoheader=true"]);
        let needed = ["ci-process", "addtoheader"];
        assert!(
            require_signed(
                Some(&verified(&["ci-process", "addtoheader", "type"])),
                &query,
                &needed
            )
            .is_ok()
        );
        let e = require_signed(Some(&verified(&["ci-process"])), &query, &needed)
            .expect_err("unsigned addtoheader");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(require_signed(Some(&verified(&[])), &query, &needed).is_err());
        assert!(require_signed(None, &query, &needed).is_err());
        // Absent parameters need nothing.
        assert!(require_signed(None, &q(&["type=md5"]), &needed).is_ok());
    }
}
