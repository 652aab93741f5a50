//! Cloud Infinite operations served on the COS host: the synchronous file hash
//! `GET /<key>?ci-process=filehash&type=md5|sha1|sha256[&addtoheader=true|false]`
//! (cos-ci.md §2.1).

use axum::response::Response;

use super::Ctx;
use super::error::CosError;
use crate::core::failure::{Failure, FailureKind};
use crate::core::hash_jobs::HashType;
use crate::xml::XmlWriter;

/// `true`/`false` in any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// COS time: `2022-07-18T15:16:43+0800`. hashscan keeps UTC, so the offset is `+0000`.
pub fn cos_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+0000");
    t.format(&fmt).unwrap_or_default()
}

/// The synchronous file hash.
pub async fn filehash(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: &str,
    key: &str,
) -> Result<Response, CosError> {
    let hash_type = ctx
        .param("type")
        .and_then(HashType::parse)
        .ok_or_else(|| CosError::invalid_argument("type must be md5, sha1 or sha256"))?;
    let add_to_header = match ctx.param("addtoheader") {
        None => false,
        Some(v) => parse_bool(v)
            .ok_or_else(|| CosError::invalid_argument("addtoheader must be true or false"))?,
    };
    ctx.state.store.validate_key(key)?;
    let hashed = ctx
        .state
        .hash_jobs
        .hash_now(bucket, key, hash_type, add_to_header)
        .await
        .map_err(|f| sync_hash_error(&f))?;
    let mut w = XmlWriter::new();
    w.open("Response")
        .open("FileHashCodeResult")
        .leaf(hash_type.as_str(), &hashed.digest)
        .leaf("FileSize", &hashed.size.to_string())
        .leaf("LastModified", &cos_time(hashed.last_modified))
        .leaf("Etag", &format!("\"{}\"", hashed.etag))
        .close()
        .open("Input")
        .leaf("Bucket", bucket)
        .leaf("Object", key)
        .leaf("Region", region)
        .close();
    Ok(super::xml_ok(w.finish()))
}

/// The answer to a synchronous hash that failed: the object API's codes.
fn sync_hash_error(f: &Failure) -> CosError {
    if f.is_unavailable() {
        return CosError::unavailable(f);
    }
    match f.kind {
        FailureKind::NotFound => crate::core::objects::StoreError::NoSuchKey.into(),
        FailureKind::TooLarge => CosError::invalid_argument(format!(
            "{}, the synchronous file hash's limit: submit a FileHashCode job (POST /file_jobs) instead",
            f.message
        )),
        FailureKind::InvalidInput => CosError::invalid_argument(f.message.clone()),
        _ => {
            tracing::error!(error = %f, "synchronous hash failed");
            CosError::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(cos_time(1_658_128_603_000), "2022-07-18T07:16:43+0000");
    }

    #[test]
    fn sync_hash_failures() {
        let e = sync_hash_error(&Failure::unavailable("blob store unavailable: x"));
        assert_eq!((e.status.as_u16(), e.code), (503, "ServiceUnavailable"));
        let e = sync_hash_error(
            &Failure::new(FailureKind::Unreadable, "cannot read").unavailable_if(true),
        );
        assert_eq!((e.status.as_u16(), e.code), (503, "ServiceUnavailable"));
        let e = sync_hash_error(&Failure::internal("metadata store: broken"));
        assert_eq!((e.status.as_u16(), e.code), (500, "InternalError"));
        let e = sync_hash_error(&Failure::new(FailureKind::NotFound, "gone"));
        assert_eq!((e.status.as_u16(), e.code), (404, "NoSuchKey"));
    }
}
