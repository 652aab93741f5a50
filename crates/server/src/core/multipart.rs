//! `Multipart`: multipart uploads — the one place their rules are decided (part numbers and
//! sizes, the part list of a completion, the object's ETag and CRC-64, expiry), over the
//! upload index ([`crate::meta::uploads`]) and the blob store.
//!
//! Each part is received through the one streaming receive (MD5 and CRC-64 while it is
//! written, synced) into a blob of its own. Completion checks the client's part list
//! against the stored parts, concatenates their blobs into a new blob (the kernel copies
//! the bytes: [`crate::blobs::BlobStore::concat`]), and commits the object row and the
//! removal of the upload in one transaction; the object's CRC-64 is combined from the
//! parts' CRCs and its ETag is COS's `<MD5 of the parts' MD5s>-<number of parts>`. A crash
//! before the commit leaves the old object and the upload (the new blob is swept at the
//! next start); after it, the new object (the part blobs are swept).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use hashscan_digest::Algorithm;

use super::objects::{
    Conditions, NewMeta, ObjectMeta, ObjectStore, ReceivedBlob, StoreError, now_ms,
};
use crate::meta::objects::prefix_upper;
use crate::meta::uploads::{Part, Upload, UploadError, UploadIndex, UploadRange};

/// Most parts of one upload, and the highest part number (COS: 10,000).
pub const MAX_PARTS: u32 = 10_000;
/// Smallest part but the last (COS: 1 MB).
pub const MIN_PART_SIZE: u64 = 1 << 20;
/// Largest part (COS: 5 GB).
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Largest page of a part or upload listing.
pub const MAX_LIST: usize = 1000;

/// Why a multipart operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the specified upload does not exist: it was completed, aborted or has expired")]
    NoSuchUpload,
    #[error("part numbers are 1 to {MAX_PARTS}; got {0:?}")]
    InvalidPartNumber(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error("the parts must be listed in ascending order of part number, each once")]
    InvalidPartOrder,
    #[error(
        "part {number} is {size} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes"
    )]
    EntityTooSmall { number: u32, size: u64 },
    #[error("{0}")]
    InvalidArgument(String),
}

impl MultipartError {
    /// Whether a store cannot be reached just now (try again).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, MultipartError::Store(e) if e.is_unavailable())
    }
}

impl From<UploadError> for MultipartError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::NoSuchBucket => StoreError::NoSuchBucket.into(),
            UploadError::NoSuchUpload => MultipartError::NoSuchUpload,
            UploadError::Backend(b) => StoreError::Meta(b).into(),
        }
    }
}

type Result<T> = std::result::Result<T, MultipartError>;

/// Parses a part number as the wire gives it.
pub fn part_number(text: &str) -> Result<u32> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_PARTS).contains(&n) => Ok(n),
        _ => Err(MultipartError::InvalidPartNumber(
            text.chars().take(32).collect(),
        )),
    }
}

/// One page of an upload's parts.
#[derive(Debug, Clone, Default)]
pub struct PartsPage {
    pub parts: Vec<Part>,
    pub truncated: bool,
    /// The last part number of this page, where the next one starts.
    pub next_marker: u32,
}

/// Parameters of a listing of uploads (List Multipart Uploads).
#[derive(Debug, Clone, Default)]
pub struct UploadListParams {
    pub prefix: String,
    pub delimiter: String,
    pub key_marker: String,
    /// Only with `key_marker`: uploads of that key after this id are listed too.
    pub upload_id_marker: String,
    pub max_uploads: usize,
}

/// One page of a listing of uploads.
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    pub uploads: Vec<Upload>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    pub next_key_marker: String,
    pub next_upload_id_marker: String,
}

/// Where a part goes: part `number` of upload `upload_id` of `bucket`/`key`.
#[derive(Debug, Clone, Copy)]
pub struct PartTarget<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
    pub number: u32,
}

/// A checked completion ([`Multipart::plan_completion`]): the object-to-be's ETag, size
/// and CRC-64, and the part blobs to join.
#[derive(Debug, Clone)]
pub struct Completion {
    upload: Upload,
    parts: Vec<String>,
    pub size: u64,
    /// `<MD5 of the parts' MD5s>-<N>`.
    pub etag: String,
    pub crc64: u64,
}

/// The multipart upload service.
#[derive(Clone)]
pub struct Multipart {
    objects: ObjectStore,
    uploads: Arc<dyn UploadIndex>,
    /// How long an upload may stay incomplete before it is aborted.
    expiry: Duration,
}

impl Multipart {
    pub fn new(objects: ObjectStore, uploads: Arc<dyn UploadIndex>, expiry: Duration) -> Self {
        Multipart {
            objects,
            uploads,
            expiry,
        }
    }

    /// Begins an upload of `key` that will have `meta` once complete.
    pub async fn initiate(&self, bucket: &str, key: &str, meta: NewMeta) -> Result<Upload> {
        self.objects.validate_key(key)?;
        self.objects.validate_user_meta(&meta.user_meta)?;
        super::objects::validate_tags(&meta.tags)?;
        let initiated = now_ms();
        let upload = Upload {
            // Ids sort by initiation time (the SDKs resume the newest upload of a key).
            upload_id: format!("{:012x}{}", initiated.max(0), uuid::Uuid::new_v4().simple()),
            bucket: bucket.to_string(),
            key: key.to_string(),
            initiated,
            content_type: meta.content_type,
            headers: meta.headers,
            user_meta: meta.user_meta,
            tags: meta.tags,
        };
        self.uploads.create(&upload).await?;
        Ok(upload)
    }

    /// The upload `upload_id` of this bucket and key.
    pub async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        self.objects.require_bucket(bucket).await?;
        Ok(self.uploads.get(bucket, key, upload_id).await?)
    }

    /// Stores part `number` of an upload from a body stream, replacing a part of that
    /// number; `content_md5`, when given, must match.
    pub async fn upload_part<S>(
        &self,
        to: PartTarget<'_>,
        body: S,
        size_hint: Option<u64>,
        content_md5: Option<[u8; 16]>,
    ) -> Result<Part>
    where
        S: Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send,
    {
        // Refused before a byte is read: an unknown upload, an over-large part.
        self.upload(to.bucket, to.key, to.upload_id).await?;
        let limit = self.part_limit();
        if size_hint.is_some_and(|n| n > limit) {
            return Err(StoreError::EntityTooLarge { limit }.into());
        }
        let received = self
            .objects
            .receive_blob(body, limit, size_hint, content_md5)
            .await?;
        self.store_part(to, received).await
    }

    /// Stores part `number` of an upload from a byte range (`first`, `last`, inclusive) of
    /// another object, or the whole of it (Upload Part - Copy).
    pub async fn copy_part(
        &self,
        to: PartTarget<'_>,
        source: (&str, &str),
        range: Option<(u64, u64)>,
        conditions: &Conditions,
    ) -> Result<Part> {
        self.upload(to.bucket, to.key, to.upload_id).await?;
        let (meta, blob) = self.objects.open_object(source.0, source.1).await?;
        if conditions.check(&meta, false).is_err() {
            return Err(StoreError::PreconditionFailed.into());
        }
        let (start, len) = match range {
            None => (0, meta.size),
            Some((first, last)) if first <= last && last < meta.size => (first, last - first + 1),
            Some(_) => {
                return Err(MultipartError::InvalidArgument(format!(
                    "The copy source range is not within the source object ({} bytes).",
                    meta.size
                )));
            }
        };
        let limit = self.part_limit();
        if len > limit {
            return Err(StoreError::EntityTooLarge { limit }.into());
        }
        let bytes = blob.range(start, len).await.map_err(StoreError::from)?;
        let received = self
            .objects
            .receive_blob(bytes.map_err(std::io::Error::other), limit, Some(len), None)
            .await?;
        self.store_part(to, received).await
    }

    /// Makes a received blob part `to.number` of its upload.
    async fn store_part(&self, to: PartTarget<'_>, received: ReceivedBlob) -> Result<Part> {
        let part = Part {
            number: to.number,
            size: received.size,
            etag: hex::encode(received.md5),
            crc64: received.crc64,
            last_modified: now_ms(),
            blob: received.blob,
        };
        match self.uploads.put_part(to.upload_id, &part).await {
            Ok(replaced) => {
                if let Some(old) = replaced {
                    self.objects.discard_blob(&old).await;
                }
                Ok(part)
            }
            Err(e) => {
                // Completed or aborted meanwhile: the part belongs to nothing.
                self.objects.discard_blob(&part.blob).await;
                Err(e.into())
            }
        }
    }

    fn part_limit(&self) -> u64 {
        MAX_PART_SIZE.min(self.objects.limits().max_object_size)
    }

    /// One page of an upload's parts, after part number `marker`.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max_parts: usize,
    ) -> Result<(Upload, PartsPage)> {
        let upload = self.upload(bucket, key, upload_id).await?;
        let max = max_parts.min(MAX_LIST);
        let mut parts = self.uploads.parts(upload_id, marker, max + 1).await?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        let next_marker = parts.last().map_or(marker, |p| p.number);
        Ok((
            upload,
            PartsPage {
                parts,
                truncated,
                next_marker,
            },
        ))
    }

    /// Completes an upload from the client's list of (part number, ETag): every part
    /// listed must be stored with that ETag, in ascending order, each but the last at least
    /// [`MIN_PART_SIZE`]. Parts not listed are discarded. The object replaces what its key
    /// held. [`plan_completion`](Self::plan_completion) then
    /// [`finish_completion`](Self::finish_completion).
    pub async fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        listed: &[(u32, String)],
    ) -> Result<ObjectMeta> {
        let plan = self.plan_completion(bucket, key, upload_id, listed).await?;
        self.finish_completion(plan).await
    }

    /// Checks a completion and computes the object's ETag, size and CRC-64 — everything a
    /// client can be told before the parts are joined, so that a dialect can answer at once
    /// and send the outcome when the (long) join is done.
    pub async fn plan_completion(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        listed: &[(u32, String)],
    ) -> Result<Completion> {
        let upload = self.upload(bucket, key, upload_id).await?;
        if listed.is_empty() {
            return Err(MultipartError::InvalidArgument(
                "The part list is empty: list at least one part.".to_string(),
            ));
        }
        if listed.len() > MAX_PARTS as usize {
            return Err(MultipartError::InvalidArgument(format!(
                "At most {MAX_PARTS} parts make an object."
            )));
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(MultipartError::InvalidPartOrder);
        }
        let stored = self
            .uploads
            .parts(upload_id, 0, MAX_PARTS as usize + 1)
            .await?;
        let mut chosen = Vec::with_capacity(listed.len());
        for (i, (number, etag)) in listed.iter().enumerate() {
            let part = stored
                .binary_search_by_key(number, |p| p.number)
                .ok()
                .and_then(|at| stored.get(at))
                .ok_or_else(|| {
                    MultipartError::InvalidPart(format!(
                        "Part {number} has not been uploaded (or was replaced)."
                    ))
                })?;
            let wanted = etag.trim().trim_matches('"');
            if !wanted.eq_ignore_ascii_case(&part.etag) {
                return Err(MultipartError::InvalidPart(format!(
                    "The ETag of part {number} is not the ETag of the part uploaded."
                )));
            }
            if i + 1 < listed.len() && part.size < MIN_PART_SIZE {
                return Err(MultipartError::EntityTooSmall {
                    number: *number,
                    size: part.size,
                });
            }
            chosen.push(part);
        }
        let size: u64 = chosen.iter().map(|p| p.size).sum();
        let limit = self.objects.limits().max_object_size;
        if size > limit {
            return Err(StoreError::EntityTooLarge { limit }.into());
        }
        let (etag, crc64) = combined(&chosen);
        Ok(Completion {
            upload,
            parts: chosen.iter().map(|p| p.blob.clone()).collect(),
            size,
            etag,
            crc64,
        })
    }

    /// Joins the planned parts into the object's blob and commits the object, removing the
    /// upload, in one transaction.
    pub async fn finish_completion(&self, plan: Completion) -> Result<ObjectMeta> {
        let Completion {
            upload,
            parts: ids,
            size,
            etag,
            crc64,
        } = plan;
        let upload_id = upload.upload_id.clone();
        let blob = match self.objects.blobs().concat(&ids).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A part was replaced (its old blob removed) while we read it.
                return Err(MultipartError::InvalidPart(
                    "A part was replaced during completion; complete again.".to_string(),
                ));
            }
            Err(e) => return Err(StoreError::Io(e).into()),
        };
        let object = ObjectMeta {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            size,
            etag,
            crc64,
            content_type: upload
                .content_type
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| super::objects::DEFAULT_CONTENT_TYPE.to_string()),
            headers: upload.headers,
            user_meta: upload.user_meta,
            tags: upload.tags,
            last_modified: now_ms(),
            blob,
        };
        match self.uploads.complete(&upload_id, &object).await {
            Ok(done) => {
                let stale = done
                    .replaced
                    .into_iter()
                    .filter(|old| *old != object.blob)
                    .chain(done.parts)
                    .collect();
                self.objects.discard_later(stale);
                Ok(object)
            }
            Err(e) => {
                self.objects.discard_blob(&object.blob).await;
                Err(e.into())
            }
        }
    }

    /// Aborts an upload and removes its parts.
    pub async fn abort(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.upload(bucket, key, upload_id).await?;
        let blobs = self.uploads.abort(upload_id).await?;
        for blob in blobs {
            self.objects.discard_blob(&blob).await;
        }
        Ok(())
    }

    /// One page of a bucket's uploads in (key, upload id) order, keys grouped by
    /// `delimiter` after `prefix` as in an object listing.
    pub async fn list_uploads(&self, bucket: &str, p: &UploadListParams) -> Result<UploadsPage> {
        self.objects.require_bucket(bucket).await?;
        let max = p.max_uploads.min(MAX_LIST);
        let mut page = UploadsPage::default();
        let upper = prefix_upper(p.prefix.as_bytes());
        // Start after the markers, and never before the prefix.
        let (mut after_key, mut after_id) = if p.key_marker.is_empty() {
            (Vec::new(), String::new())
        } else if p.upload_id_marker.is_empty() {
            // Every upload of the marker key is skipped: start after all its ids.
            let mut k = p.key_marker.as_bytes().to_vec();
            k.push(0);
            (k, String::new())
        } else {
            (p.key_marker.as_bytes().to_vec(), p.upload_id_marker.clone())
        };
        if after_key.as_slice() < p.prefix.as_bytes() {
            (after_key, after_id) = (p.prefix.as_bytes().to_vec(), String::new());
            // `(prefix, "")` excludes nothing: ids are never empty.
        }
        let mut count = 0usize;
        'read: loop {
            let range = UploadRange {
                after_key: after_key.clone(),
                after_id: after_id.clone(),
                upper: upper.clone(),
                limit: max + 1 - count,
            };
            let rows = self.uploads.list(bucket, &range).await?;
            let fetched = rows.len();
            for upload in rows {
                let rest = upload.key.get(p.prefix.len()..).unwrap_or("");
                let group = (!p.delimiter.is_empty())
                    .then(|| rest.find(&p.delimiter))
                    .flatten()
                    .map(|i| upload.key[..p.prefix.len() + i + p.delimiter.len()].to_string());
                if count == max {
                    page.truncated = true;
                    break 'read;
                }
                count += 1;
                match group {
                    Some(g) => {
                        page.next_key_marker = g.clone();
                        page.next_upload_id_marker = String::new();
                        // Skip every other upload under the group.
                        match prefix_upper(g.as_bytes()) {
                            Some(next) => (after_key, after_id) = (next, String::new()),
                            None => {
                                page.common_prefixes.push(g);
                                break 'read;
                            }
                        }
                        page.common_prefixes.push(g);
                        continue 'read;
                    }
                    None => {
                        page.next_key_marker = upload.key.clone();
                        page.next_upload_id_marker = upload.upload_id.clone();
                        after_key = upload.key.as_bytes().to_vec();
                        after_id = upload.upload_id.clone();
                        page.uploads.push(upload);
                    }
                }
            }
            if fetched < range.limit {
                break;
            }
        }
        if !page.truncated {
            page.next_key_marker.clear();
            page.next_upload_id_marker.clear();
        }
        Ok(page)
    }

    /// Aborts the uploads older than the expiry; how many.
    pub async fn expire(&self) -> Result<usize> {
        let before = now_ms() - i64::try_from(self.expiry.as_millis()).unwrap_or(i64::MAX);
        let mut aborted = 0;
        loop {
            let old = self.uploads.initiated_before(before, 100).await?;
            if old.is_empty() {
                return Ok(aborted);
            }
            for upload in old {
                match self.uploads.abort(&upload.upload_id).await {
                    Ok(blobs) => {
                        aborted += 1;
                        for blob in blobs {
                            self.objects.discard_blob(&blob).await;
                        }
                    }
                    Err(UploadError::NoSuchUpload) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// Aborts expired uploads every `every` until `stop` changes.
    pub fn spawn_expiry(
        &self,
        every: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        super::workers::spawn_periodic(
            "expired multipart uploads aborted",
            every,
            stop,
            move || {
                let this = this.clone();
                async move { this.expire().await }
            },
        )
    }
}

/// The ETag (`<MD5 of the parts' binary MD5s>-<count>`, as COS and S3 compute it) and the
/// CRC-64 of the concatenation of `parts`.
fn combined(parts: &[&Part]) -> (String, u64) {
    let mut md5s = Vec::with_capacity(parts.len() * 16);
    let mut crc = 0u64;
    for p in parts {
        let mut raw = [0u8; 16];
        if hex::decode_to_slice(&p.etag, &mut raw).is_ok() {
            md5s.extend_from_slice(&raw);
        }
        crc = hashscan_digest::crc64_combine(crc, p.crc64, p.size);
    }
    let md5 = hashscan_digest::hash_bytes([Algorithm::Md5].into_iter().collect(), &md5s)
        .get(Algorithm::Md5)
        .map(|d| d.to_hex())
        .unwrap_or_default();
    (format!("{md5}-{}", parts.len()), crc)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::blobs::{BlobStore, LocalBlobs};

    const BUCKET: &str = "b-1250000000";

    /// A multipart service over a fresh embedded store in `dir`, with a bucket.
    async fn service(dir: &std::path::Path, expiry: Duration) -> (Multipart, ObjectStore) {
        let meta = crate::meta::sqlite::open(dir).await.unwrap();
        let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobs::open(dir).unwrap());
        let store = ObjectStore::open(
            meta.objects.clone(),
            blobs,
            crate::config::Limits::default(),
            true,
        )
        .await
        .unwrap();
        store
            .ensure_bucket(BUCKET, "ap-guangzhou", false)
            .await
            .unwrap();
        (Multipart::new(store.clone(), meta.uploads, expiry), store)
    }

    fn target<'a>(key: &'a str, upload_id: &'a str, number: u32) -> PartTarget<'a> {
        PartTarget {
            bucket: BUCKET,
            key,
            upload_id,
            number,
        }
    }

    fn body(b: Vec<u8>) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
        futures_util::stream::iter(vec![Ok(Bytes::from(b))])
    }

    fn blob_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("blobs"))
            .unwrap()
            .map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap().count())
            .sum()
    }

    async fn upload_two_parts(mp: &Multipart, key: &str) -> (Upload, Vec<(u32, String)>, Vec<u8>) {
        let up = mp.initiate(BUCKET, key, NewMeta::default()).await.unwrap();
        let (a, b) = (vec![7u8; MIN_PART_SIZE as usize], b"tail".to_vec());
        let pa = mp
            .upload_part(target(key, &up.upload_id, 1), body(a.clone()), None, None)
            .await
            .unwrap();
        let pb = mp
            .upload_part(target(key, &up.upload_id, 2), body(b.clone()), None, None)
            .await
            .unwrap();
        let listed = vec![(1, pa.etag), (2, format!("\"{}\"", pb.etag))];
        (up, listed, [a, b].concat())
    }

    #[tokio::test]
    async fn a_crash_before_the_commit_keeps_the_upload_and_sweeps_the_new_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (mp, _) = service(dir.path(), Duration::from_secs(3600)).await;
        let (up, listed, whole) = upload_two_parts(&mp, "k").await;
        // What Complete does up to the commit: the concatenated blob, no row yet.
        let parts = mp.uploads.parts(&up.upload_id, 0, 10).await.unwrap();
        let ids: Vec<String> = parts.iter().map(|p| p.blob.clone()).collect();
        mp.objects.blobs().concat(&ids).await.unwrap();
        assert_eq!(blob_files(dir.path()), 3);
        drop(mp);
        // The next start sweeps what no row names: the parts are named by their rows.
        let (mp, store) = service(dir.path(), Duration::from_secs(3600)).await;
        assert_eq!(blob_files(dir.path()), 2);
        assert!(matches!(
            store.head(BUCKET, "k").await,
            Err(StoreError::NoSuchKey)
        ));
        let object = mp
            .complete(BUCKET, "k", &up.upload_id, &listed)
            .await
            .unwrap();
        assert_eq!(object.size, whole.len() as u64);
        let mut read = Vec::new();
        std::io::Read::read_to_end(
            &mut store.open_content_blocking(&object).unwrap(),
            &mut read,
        )
        .unwrap();
        assert_eq!(read, whole);
        assert!(matches!(
            mp.upload(BUCKET, "k", &up.upload_id).await,
            Err(MultipartError::NoSuchUpload)
        ));
        // The parts' blobs go once the object is committed.
        for _ in 0..100 {
            if blob_files(dir.path()) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(blob_files(dir.path()), 1);
    }

    #[tokio::test]
    async fn a_completion_after_an_abort_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mp, store) = service(dir.path(), Duration::from_secs(3600)).await;
        store
            .put(BUCKET, "k", NewMeta::default(), body(b"old".to_vec()), None)
            .await
            .unwrap();
        let (up, listed, _) = upload_two_parts(&mp, "k").await;
        mp.abort(BUCKET, "k", &up.upload_id).await.unwrap();
        let late = mp.complete(BUCKET, "k", &up.upload_id, &listed).await;
        assert!(matches!(late, Err(MultipartError::NoSuchUpload)));
        let late_part = mp
            .upload_part(
                target("k", &up.upload_id, 3),
                body(b"x".to_vec()),
                None,
                None,
            )
            .await;
        assert!(matches!(late_part, Err(MultipartError::NoSuchUpload)));
        assert_eq!(store.head(BUCKET, "k").await.unwrap().size, 3);
        assert_eq!(blob_files(dir.path()), 1, "only the old object's blob");
    }

    #[tokio::test]
    async fn expired_uploads_are_aborted_with_their_parts() {
        let dir = tempfile::tempdir().unwrap();
        let (mp, _) = service(dir.path(), Duration::ZERO).await;
        let (up, _, _) = upload_two_parts(&mp, "old").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(mp.expire().await.unwrap(), 1);
        assert!(matches!(
            mp.upload(BUCKET, "old", &up.upload_id).await,
            Err(MultipartError::NoSuchUpload)
        ));
        assert_eq!(blob_files(dir.path()), 0);
        let other = tempfile::tempdir().unwrap();
        let (keep, _) = service(other.path(), Duration::from_secs(3600)).await;
        let (fresh, _, _) = upload_two_parts(&keep, "new").await;
        assert_eq!(keep.expire().await.unwrap(), 0);
        keep.upload(BUCKET, "new", &fresh.upload_id).await.unwrap();
    }

    #[tokio::test]
    async fn an_over_large_part_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let (mp, _) = service(dir.path(), Duration::from_secs(3600)).await;
        let up = mp.initiate(BUCKET, "k", NewMeta::default()).await.unwrap();
        let never = futures_util::stream::pending::<std::io::Result<Bytes>>();
        let r = mp
            .upload_part(
                target("k", &up.upload_id, 1),
                never,
                Some(MAX_PART_SIZE + 1),
                None,
            )
            .await;
        assert!(matches!(
            r,
            Err(MultipartError::Store(StoreError::EntityTooLarge { .. }))
        ));
        // Another key's upload id is not this key's.
        let other = mp
            .upload_part(target("other", &up.upload_id, 1), body(vec![1]), None, None)
            .await;
        assert!(matches!(other, Err(MultipartError::NoSuchUpload)));
    }

    #[test]
    fn part_numbers_are_one_to_ten_thousand() {
        assert_eq!(part_number("1").unwrap(), 1);
        assert_eq!(part_number("10000").unwrap(), 10_000);
        for bad in ["0", "10001", "-1", "", "1.5", "x", "99999999999999999999"] {
            assert!(part_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn etag_and_crc_of_the_parts_are_those_of_the_whole() {
        let digest = |b: &[u8]| {
            let d = hashscan_digest::hash_bytes(
                [Algorithm::Md5, Algorithm::Crc64].into_iter().collect(),
                b,
            );
            (
                d.get(Algorithm::Md5).unwrap().to_hex(),
                d.get(Algorithm::Crc64).unwrap().as_u64().unwrap(),
            )
        };
        let part = |n: u32, b: &[u8]| {
            let (etag, crc64) = digest(b);
            Part {
                number: n,
                size: b.len() as u64,
                etag,
                crc64,
                last_modified: 0,
                blob: String::new(),
            }
        };
        let (a, b) = (part(1, b"hello "), part(2, b"world"));
        let (etag, crc) = combined(&[&a, &b]);
        assert_eq!(crc, digest(b"hello world").1);
        // md5(md5("hello ") ‖ md5("world")), as `aws s3`/COS compute it (worked out with
        // Python's hashlib).
        assert_eq!(etag, "e09e4fd6265b36115fe3db32df945d84-2");
    }
}
