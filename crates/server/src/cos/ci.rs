//! Cloud Infinite operations served on the COS host: the synchronous file hash
//! `GET /<key>?ci-process=filehash&type=md5|sha1|sha256[&addtoheader=true|false]`
//! (cos-ci.md §2.1).

use axum::response::Response;
use hashscan_digest::{Algorithm, AlgorithmSet, Hasher, Options};

use super::Ctx;
use super::error::CosError;
use crate::xml::XmlWriter;

/// Largest object the synchronous API hashes (COS: "< 128 MB"); larger ones go through the
/// asynchronous jobs.
pub const SYNC_HASH_LIMIT: u64 = 128 * 1024 * 1024;

/// The hash types of the file-hash APIs, with their XML element names.
pub fn parse_hash_type(value: &str) -> Option<(Algorithm, &'static str)> {
    match value.trim().to_ascii_lowercase().as_str() {
        "md5" => Some((Algorithm::Md5, "MD5")),
        "sha1" => Some((Algorithm::Sha1, "SHA1")),
        "sha256" => Some((Algorithm::Sha256, "SHA256")),
        _ => None,
    }
}

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
    let (algorithm, element) = ctx
        .param("type")
        .and_then(parse_hash_type)
        .ok_or_else(|| CosError::invalid_argument("type must be md5, sha1 or sha256"))?;
    let add_to_header = match ctx.param("addtoheader") {
        None => false,
        Some(v) => parse_bool(v)
            .ok_or_else(|| CosError::invalid_argument("addtoheader must be true or false"))?,
    };
    let (meta, file) = ctx.state.store.open_object(bucket, key).await?;
    if meta.size > SYNC_HASH_LIMIT {
        return Err(CosError::invalid_argument(format!(
            "the object is {} bytes; the synchronous file hash takes objects under {SYNC_HASH_LIMIT} bytes: submit a FileHashCode job (POST /file_jobs) instead",
            meta.size
        )));
    }
    let mut file = file.into_std().await;
    let size = meta.size;
    let digest = tokio::task::spawn_blocking(move || {
        let mut h = Hasher::with_options(
            AlgorithmSet::one(algorithm),
            &Options::new().size_hint(size),
        );
        h.update_from_reader(&mut file).map(|_| h.finish())
    })
    .await
    .map_err(|e| crate::store::StoreError::Io(std::io::Error::other(e)))?
    .map_err(crate::store::StoreError::Io)?;
    ctx.state.metrics.hashed(size);
    let hex = digest
        .get(algorithm)
        .map(|d| d.to_hex())
        .unwrap_or_default();
    if add_to_header {
        let name = format!("x-cos-meta-{}", algorithm.name());
        // Only this entry changes: the data, its ETag and Last-Modified stay. If the object
        // was replaced meanwhile, the digest belongs to the old content and is not written.
        let set = ctx.state.store.set_user_meta(&meta, &name, &hex);
        match set.await {
            Ok(()) | Err(crate::store::StoreError::NoSuchKey) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut w = XmlWriter::new();
    w.open("Response")
        .open("FileHashCodeResult")
        .leaf(element, &hex)
        .leaf("FileSize", &meta.size.to_string())
        .leaf("LastModified", &cos_time(meta.last_modified))
        .leaf("Etag", &format!("\"{}\"", meta.etag))
        .close()
        .open("Input")
        .leaf("Bucket", bucket)
        .leaf("Object", key)
        .leaf("Region", region)
        .close();
    Ok(super::xml_ok(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(
            parse_hash_type("SHA256"),
            Some((Algorithm::Sha256, "SHA256"))
        );
        assert_eq!(parse_hash_type("Md5"), Some((Algorithm::Md5, "MD5")));
        assert_eq!(parse_hash_type("sha512"), None);
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(cos_time(1_658_128_603_000), "2022-07-18T07:16:43+0000");
    }
}
