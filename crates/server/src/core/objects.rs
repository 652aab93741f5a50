//! `Objects`: buckets and objects — the one place their rules are decided (names, keys,
//! limits, what a copy or a replace does), over the object index ([`crate::meta::objects`])
//! and the blob store ([`crate::blobs`]).
//!
//! Object bytes live in immutable *blobs* ([`crate::blobs`]); the `objects` table maps
//! `(bucket, key)` to a blob and holds the metadata. A PUT receives the body through the one
//! streaming receive ([`crate::core::uploads`]: MD5 for the ETag and CRC-64 in the same pass,
//! fsynced), installs it as a blob, and only then commits the row that makes it visible:
//! a crash or a dropped connection leaves the old object or nothing, never a partial one.
//! Metadata can be rewritten without touching the data (one row update), and a copy shares
//! the immutable blob.
//!
//! Keys are never used as file names, so no key can reach outside the data directory; keys
//! with `..` segments or NUL bytes are refused all the same, since other tools would
//! misread them.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::Stream;
use hashscan_digest::Algorithm;

use crate::blobs::{BlobStore, OpenBlob};
use crate::config::Limits;
use crate::core::uploads::{self, Receive, ReceiveError};
use crate::meta::BackendError;
pub use crate::meta::objects::{Bucket, ListPage, ListParams, MAX_LIST_KEYS, ObjectMeta};
use crate::meta::objects::{IndexError, Lister, ObjectIndex};

/// Why an object or bucket operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    #[error("the object does not exist")]
    NoSuchKey,
    #[error("the bucket already exists")]
    BucketAlreadyExists,
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    #[error(
        "invalid bucket name {0:?}: expected <name>-<appid>, name of lower-case letters, digits and '-'"
    )]
    InvalidBucketName(String),
    #[error("invalid object key: {0}")]
    InvalidKey(&'static str),
    #[error("the object key is longer than {limit} bytes")]
    KeyTooLong { limit: usize },
    #[error("the object is larger than the {limit}-byte limit")]
    EntityTooLarge { limit: u64 },
    #[error("the user metadata is larger than {limit} bytes (names and values together)")]
    MetadataTooLarge { limit: usize },
    #[error("the Content-MD5 does not match the body")]
    BadDigest,
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("{0}")]
    InvalidTag(String),
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("the request body could not be read: {0}")]
    Body(io::Error),
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Meta(#[from] BackendError),
}

impl From<IndexError> for StoreError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::NoSuchBucket => StoreError::NoSuchBucket,
            IndexError::NoSuchKey => StoreError::NoSuchKey,
            IndexError::BucketNotEmpty => StoreError::BucketNotEmpty,
            IndexError::Backend(e) => StoreError::Meta(e),
        }
    }
}

impl StoreError {
    /// Whether the metadata or blob store cannot be reached just now (the request may be
    /// tried again): the APIs answer their "service unavailable" instead of an internal
    /// error. A body read from a blob (an upload-part copy) counts too.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Meta(b) => b.is_unavailable(),
            StoreError::Io(e) | StoreError::Body(e) => io_unavailable(e),
            _ => false,
        }
    }
}

use crate::core::failure::io_unavailable;

/// The caller-supplied part of a new object's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMeta {
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub user_meta: BTreeMap<String, String>,
    /// Tags given with the upload (`x-cos-tagging`).
    pub tags: BTreeMap<String, String>,
}

/// Most tags an object has (COS: 10).
pub const MAX_TAGS: usize = 10;
/// Longest tag key, in characters (COS: 128).
pub const MAX_TAG_KEY: usize = 128;
/// Longest tag value, in characters (COS: 256).
pub const MAX_TAG_VALUE: usize = 256;

/// Checks tags against COS's rules: at most [`MAX_TAGS`]; keys of 1 to [`MAX_TAG_KEY`]
/// characters, values of at most [`MAX_TAG_VALUE`]; letters, digits, spaces and
/// `+ - = . _ : / @` only; keys unique (a map cannot hold a key twice; a caller that
/// parsed a list checks that first).
pub fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), StoreError> {
    if tags.len() > MAX_TAGS {
        return Err(StoreError::InvalidTag(format!(
            "An object can have at most {MAX_TAGS} tags."
        )));
    }
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
    };
    for (k, v) in tags {
        let kl = k.chars().count();
        if kl == 0 || kl > MAX_TAG_KEY {
            return Err(StoreError::InvalidTag(format!(
                "A tag key must have 1 to {MAX_TAG_KEY} characters."
            )));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(StoreError::InvalidTag(format!(
                "A tag value must have at most {MAX_TAG_VALUE} characters."
            )));
        }
        if !allowed(k) || !allowed(v) {
            return Err(StoreError::InvalidTag(
                "Tag keys and values may hold letters, digits, spaces and + - = . _ : / @ only."
                    .to_string(),
            ));
        }
    }
    Ok(())
}

/// The conditions of a read or a copy (RFC 9110 §13.1): `If-Match`, `If-None-Match`,
/// `If-Modified-Since`, `If-Unmodified-Since` of a GET or HEAD, or COS's
/// `x-cos-copy-source-If-*` of a copy. An entity tag is compared without its quotes and a
/// weak `W/` prefix; `*` matches any object. Dates are Unix seconds (HTTP dates have no
/// finer precision); a date that did not parse is left out, as RFC 9110 says to ignore it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The entity tags of `If-Match` (`*` matches any).
    pub if_match: Option<Vec<String>>,
    /// The entity tags of `If-None-Match` (`*` matches any).
    pub if_none_match: Option<Vec<String>>,
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
}

/// Why a conditional request is not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionFailed {
    /// A read whose `If-None-Match` or `If-Modified-Since` says the client has it: 304.
    NotModified,
    /// 412.
    PreconditionFailed,
}

impl Conditions {
    /// Parses an entity-tag list header value (`"a", W/"b"` or `*`).
    pub fn etags(value: &str) -> Vec<String> {
        value
            .split(',')
            .map(|t| {
                let t = t.trim();
                let t = t.strip_prefix("W/").unwrap_or(t);
                t.trim_matches('"').to_string()
            })
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether any condition is set.
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// Evaluates the conditions against `meta` in RFC 9110's order (§13.2.2): `If-Match`,
    /// else `If-Unmodified-Since`; then `If-None-Match`, else (reads only)
    /// `If-Modified-Since`. `read` is a GET or HEAD, whose `If-None-Match` and
    /// `If-Modified-Since` answer "not modified"; for a copy they fail the precondition.
    pub fn check(&self, meta: &ObjectMeta, read: bool) -> Result<(), ConditionFailed> {
        let matches = |tags: &[String]| tags.iter().any(|t| t == "*" || *t == meta.etag);
        let modified_secs = meta.last_modified.div_euclid(1000);
        match (&self.if_match, self.if_unmodified_since) {
            (Some(tags), _) if !matches(tags) => return Err(ConditionFailed::PreconditionFailed),
            (None, Some(since)) if modified_secs > since => {
                return Err(ConditionFailed::PreconditionFailed);
            }
            _ => {}
        }
        let not_modified = if read {
            ConditionFailed::NotModified
        } else {
            ConditionFailed::PreconditionFailed
        };
        match (&self.if_none_match, self.if_modified_since) {
            (Some(tags), _) if matches(tags) => Err(not_modified),
            (None, Some(since)) if modified_secs <= since => Err(not_modified),
            _ => Ok(()),
        }
    }
}

/// What a copy does with the metadata.
#[derive(Debug, Clone)]
pub enum MetadataDirective {
    /// Keep the source's metadata.
    Copy,
    /// Replace it.
    Replace(NewMeta),
}

/// The default MIME type of objects stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Buckets and objects: the index of rows and the blobs they name.
#[derive(Clone)]
pub struct ObjectStore {
    /// Buckets and object rows.
    index: Arc<dyn ObjectIndex>,
    /// The bytes: immutable blobs ([`crate::blobs`]).
    blobs: Arc<dyn BlobStore>,
    limits: Limits,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl ObjectStore {
    /// The objects of `index` with their bytes in `blobs`. Leftover temporary files of
    /// interrupted uploads and blobs no row names are removed when `recover` is set (a
    /// server does it at start, when it owns the store alone).
    pub async fn open(
        index: Arc<dyn ObjectIndex>,
        blobs: Arc<dyn BlobStore>,
        limits: Limits,
        recover: bool,
    ) -> Result<Self, StoreError> {
        let store = ObjectStore {
            index,
            blobs,
            limits,
        };
        if recover {
            store.recover().await?;
        }
        Ok(store)
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Removes blobs no row names (and this node's spool files), as the blob store's
    /// sweep decides: at once for the embedded store, after a grace period for a shared
    /// one. The rows are read first, so a blob installed meanwhile is protected by the
    /// grace period. Answers how many blobs were removed.
    pub async fn sweep_blobs(&self) -> Result<usize, StoreError> {
        let referenced = self.index.referenced_blobs().await?;
        Ok(self.blobs.sweep(referenced).await?)
    }

    /// Removes temporary files and blobs no row points at: what a crash between the rename
    /// of a blob and the commit of its row leaves behind.
    async fn recover(&self) -> Result<(), StoreError> {
        let referenced = self.index.referenced_blobs().await?;
        let removed = self.blobs.sweep(referenced).await?;
        if removed > 0 {
            tracing::info!(removed, "removed leftovers of interrupted writes");
        }
        Ok(())
    }

    // ---- buckets -------------------------------------------------------------------------

    /// Creates a bucket.
    pub async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        public_read: bool,
    ) -> Result<Bucket, StoreError> {
        validate_bucket_name(name)?;
        let bucket = Bucket {
            name: name.to_string(),
            region: region.to_string(),
            created_at: now_ms(),
            public_read,
            file_processing: true,
        };
        if !self.index.insert_bucket(&bucket).await? {
            return Err(StoreError::BucketAlreadyExists);
        }
        Ok(bucket)
    }

    /// Creates a bucket unless it exists; updates its public-read flag either way.
    pub async fn ensure_bucket(
        &self,
        name: &str,
        region: &str,
        public_read: bool,
    ) -> Result<(), StoreError> {
        match self.create_bucket(name, region, public_read).await {
            Ok(_) => Ok(()),
            Err(StoreError::BucketAlreadyExists) => {
                Ok(self.index.set_public_read(name, public_read).await?)
            }
            Err(e) => Err(e),
        }
    }

    /// A bucket by name.
    pub async fn bucket(&self, name: &str) -> Result<Option<Bucket>, StoreError> {
        Ok(self.index.bucket(name).await?)
    }

    /// Every bucket, by name.
    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, StoreError> {
        Ok(self.index.buckets().await?)
    }

    /// Turns COS file processing on or off for a bucket.
    pub async fn set_file_processing(&self, name: &str, on: bool) -> Result<(), StoreError> {
        Ok(self.index.set_file_processing(name, on).await?)
    }

    /// Deletes an empty bucket.
    pub async fn delete_bucket(&self, name: &str) -> Result<(), StoreError> {
        Ok(self.index.delete_bucket(name).await?)
    }

    // ---- objects -------------------------------------------------------------------------

    /// Checks a key against the rules and limits.
    pub fn validate_key(&self, key: &str) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::InvalidKey("the key is empty"));
        }
        if key.len() > self.limits.max_key_len {
            return Err(StoreError::KeyTooLong {
                limit: self.limits.max_key_len,
            });
        }
        if key.contains('\0') {
            return Err(StoreError::InvalidKey("the key contains a NUL byte"));
        }
        // Listings are XML: a key must be text XML 1.0 can carry (no C0 control but tab,
        // line feed and carriage return; no U+FFFE or U+FFFF).
        if !key.chars().all(crate::xml::xml_char) {
            return Err(StoreError::InvalidKey(
                "the key contains a control character that XML cannot carry",
            ));
        }
        if key.split('/').any(|segment| segment == "..") {
            return Err(StoreError::InvalidKey("the key contains a '..' segment"));
        }
        Ok(())
    }

    /// Stores an object from a stream of body chunks, replacing any object of that key.
    /// The MD5 (ETag) and CRC-64 are computed while writing; `content_md5`, when given, must
    /// match.
    pub async fn put<S>(
        &self,
        bucket: &str,
        key: &str,
        meta: NewMeta,
        body: S,
        content_md5: Option<[u8; 16]>,
    ) -> Result<ObjectMeta, StoreError>
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send,
    {
        self.validate_key(key)?;
        self.validate_user_meta(&meta.user_meta)?;
        validate_tags(&meta.tags)?;
        self.require_bucket(bucket).await?;
        let limit = self.limits.max_object_size;
        let received = self.receive_blob(body, limit, None, content_md5).await?;
        let (size, md5, crc64, blob) = (received.size, received.md5, received.crc64, received.blob);
        let object = ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size,
            etag: hex::encode(md5),
            crc64,
            content_type: meta
                .content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
            headers: meta.headers,
            user_meta: meta.user_meta,
            tags: meta.tags,
            last_modified: now_ms(),
            blob,
        };
        self.commit(&object).await?;
        Ok(object)
    }

    /// Makes `object` visible, replacing what its key held, and removes the replaced blob
    /// once the row is committed.
    async fn commit(&self, object: &ObjectMeta) -> Result<(), StoreError> {
        let old = match self.index.upsert(object).await {
            Ok(old) => old,
            Err(IndexError::NoSuchBucket) => {
                // The bucket was deleted after the upload began: nothing was written.
                self.remove_blob(&object.blob).await;
                return Err(StoreError::NoSuchBucket);
            }
            Err(e) => return Err(e.into()),
        };
        self.discard_later(old.filter(|o| *o != object.blob).into_iter().collect());
        Ok(())
    }

    /// Removes blobs nothing names any more without making the caller wait: unlinking a
    /// large file takes a while on some file systems (a leftover is swept at the next start).
    pub(crate) fn discard_later(&self, blobs: Vec<String>) {
        if blobs.is_empty() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            for blob in blobs {
                store.remove_blob(&blob).await;
            }
        });
    }

    async fn remove_blob(&self, blob: &str) {
        self.blobs.remove(blob).await;
    }

    /// A bucket that must exist: [`StoreError::NoSuchBucket`] otherwise.
    pub(crate) async fn require_bucket(&self, bucket: &str) -> Result<Bucket, StoreError> {
        self.bucket(bucket).await?.ok_or(StoreError::NoSuchBucket)
    }

    /// An object's metadata, read on the calling thread: for code on a plain thread (the job
    /// workers), where [`Self::head`] would hand the read to another thread and back.
    pub fn head_blocking(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        Ok(self.index.head_blocking(bucket, key)?)
    }

    /// An object's metadata.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        Ok(self.index.head(bucket, key).await?)
    }

    /// Opens the content of the object `meta` describes, from a blocking context (a worker
    /// that hashes or scans on a blocking thread opens it there, saving a hop between
    /// threads). `NotFound` when the object was replaced or deleted since `meta` was read.
    pub fn open_content_blocking(&self, meta: &ObjectMeta) -> io::Result<Box<dyn io::Read + Send>> {
        self.blobs.read_blocking(&meta.blob)
    }

    /// An object's metadata and an open handle on its content. The handle stays valid even
    /// if the object is replaced or deleted meanwhile.
    pub async fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectMeta, OpenBlob), StoreError> {
        // A concurrent PUT may remove the blob between the lookup and the open: look again.
        for _ in 0..3 {
            let meta = self.head(bucket, key).await?;
            match self.blobs.open_blob(&meta.blob).await {
                Ok(f) => return Ok((meta, f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::NoSuchKey)
    }

    /// Deletes an object; deleting a missing key succeeds, as in COS.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        self.require_bucket(bucket).await?;
        self.remove_object(bucket, key).await
    }

    /// Removes a key's row and then its blob (the bucket is known to exist).
    async fn remove_object(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        if let Some(blob) = self.index.remove(bucket, key).await? {
            self.remove_blob(&blob).await;
        }
        Ok(())
    }

    /// Deletes several objects of one bucket (COS DELETE Multiple Objects): each key on its
    /// own, in order; a missing key counts as deleted. The bucket must exist; an invalid key
    /// fails alone. Answers each key with its outcome.
    pub async fn delete_many(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> Result<Vec<(String, Result<(), StoreError>)>, StoreError> {
        self.require_bucket(bucket).await?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let outcome = match self.validate_key(key) {
                Ok(()) => self.remove_object(bucket, key).await,
                Err(e) => Err(e),
            };
            out.push((key.clone(), outcome));
        }
        Ok(out)
    }

    /// Copies an object if the source meets `source_conditions` (else
    /// [`StoreError::PreconditionFailed`]). Copying an object onto itself only rewrites its
    /// metadata (the data is not touched) and needs [`MetadataDirective::Replace`].
    pub async fn copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        directive: MetadataDirective,
        source_conditions: &Conditions,
    ) -> Result<ObjectMeta, StoreError> {
        self.validate_key(dst_key)?;
        self.require_bucket(dst_bucket).await?;
        let src = self.head(src_bucket, src_key).await?;
        if source_conditions.check(&src, false).is_err() {
            return Err(StoreError::PreconditionFailed);
        }
        let same = src_bucket == dst_bucket && src_key == dst_key;
        let mut dst = src.clone();
        dst.bucket = dst_bucket.to_string();
        dst.key = dst_key.to_string();
        dst.last_modified = now_ms();
        match directive {
            MetadataDirective::Copy if same => {
                return Err(StoreError::InvalidRequest(
                    "copying an object onto itself needs x-cos-metadata-directive: Replaced",
                ));
            }
            MetadataDirective::Copy => {}
            MetadataDirective::Replace(meta) => {
                self.validate_user_meta(&meta.user_meta)?;
                dst.content_type = meta
                    .content_type
                    .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
                dst.headers = meta.headers;
                dst.user_meta = meta.user_meta;
            }
        }
        if same {
            self.rewrite_meta(&dst).await?;
            return Ok(dst);
        }
        // Blobs are immutable, so a copy can share the bytes through a hard link.
        dst.blob = self.blobs.share(&src.blob).await?;
        self.commit(&dst).await?;
        Ok(dst)
    }

    /// Checks user metadata against [`Limits::max_user_meta`].
    pub fn validate_user_meta(
        &self,
        user_meta: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let limit = self.limits.max_user_meta;
        let size: usize = user_meta.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > limit {
            return Err(StoreError::MetadataTooLarge { limit });
        }
        Ok(())
    }

    /// Sets one user-metadata entry of the object at `object`'s key if it still holds the
    /// same content (blob),
    /// keeping every other entry as it is now: read, change and write in one write
    /// transaction, so that two writers (three AddToHeader jobs on one object) never undo
    /// each other. The data, ETag and Last-Modified stay. [`StoreError::NoSuchKey`] when the
    /// object was deleted or replaced by other content.
    pub async fn set_user_meta(
        &self,
        object: &ObjectMeta,
        name: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        Ok(self.index.set_user_meta(object, name, value).await?)
    }

    /// The tags of an object.
    pub async fn tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(self.head(bucket, key).await?.tags)
    }

    /// Replaces the tags of an object (empty: removes them); its data, metadata and
    /// Last-Modified stay. Checked against COS's limits ([`validate_tags`]).
    pub async fn set_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        validate_tags(tags)?;
        // A concurrent PUT may replace the object between the read and the write: the
        // write applies only to the content read, so read again.
        for _ in 0..3 {
            let meta = self.head(bucket, key).await?;
            match self.index.set_tags(&meta, tags).await {
                Err(IndexError::NoSuchKey) => continue,
                other => return Ok(other?),
            }
        }
        Err(StoreError::NoSuchKey)
    }

    /// Rewrites the metadata of the object at `meta`'s key if it still holds the same blob.
    pub async fn rewrite_meta(&self, meta: &ObjectMeta) -> Result<(), StoreError> {
        Ok(self.index.rewrite_meta(meta).await?)
    }

    /// Lists a bucket in key order (bytewise), grouping keys by `delimiter` after `prefix`.
    pub async fn list(&self, bucket: &str, params: &ListParams) -> Result<ListPage, StoreError> {
        self.require_bucket(bucket).await?;
        Ok(self.index.list(bucket, Lister::new(params)).await?)
    }
}

/// A body received into a new blob: its size, MD5 and CRC-64.
#[derive(Debug, Clone)]
pub(crate) struct ReceivedBlob {
    pub blob: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

impl ObjectStore {
    /// Receives a body into a new blob through the one streaming receive (MD5 and CRC-64
    /// computed while it is written, synced), at most `limit` bytes; `content_md5`, when
    /// given, must match. Nothing names the blob yet: the caller commits a row that does,
    /// or removes it.
    pub(crate) async fn receive_blob<S>(
        &self,
        body: S,
        limit: u64,
        size_hint: Option<u64>,
        content_md5: Option<[u8; 16]>,
    ) -> Result<ReceivedBlob, StoreError>
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send,
    {
        let tmp = self.blobs.spool_path();
        let receive = Receive {
            temp: tmp.clone(),
            algorithms: [Algorithm::Md5, Algorithm::Crc64].into_iter().collect(),
            limit,
            size_hint,
            durable: true,
        };
        let received = uploads::receive(receive, body).await.map_err(|e| match e {
            ReceiveError::Body(e) => StoreError::Body(e),
            ReceiveError::TooLarge { limit } => StoreError::EntityTooLarge { limit },
            ReceiveError::Io(e) => StoreError::Io(e),
        })?;
        let mut md5 = [0u8; 16];
        if let Some(d) = received.digests.get(Algorithm::Md5) {
            md5.copy_from_slice(d.as_bytes());
        }
        let crc64 = received
            .digests
            .get(Algorithm::Crc64)
            .and_then(|d| d.as_u64())
            .unwrap_or(0);
        if content_md5.is_some_and(|want| want != md5) {
            uploads::discard(&tmp).await;
            return Err(StoreError::BadDigest);
        }
        let blob = self.blobs.install(&tmp).await?;
        Ok(ReceivedBlob {
            blob,
            size: received.size,
            md5,
            crc64,
        })
    }

    /// The blob store under the objects.
    pub(crate) fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Removes a blob nothing names (any more).
    pub(crate) async fn discard_blob(&self, blob: &str) {
        self.remove_blob(blob).await;
    }
}

/// `<name>-<appid>`: name of lower-case letters, digits and `-`, the whole at most 50
/// characters; appid all digits.
pub fn validate_bucket_name(name: &str) -> Result<(), StoreError> {
    let bad = || StoreError::InvalidBucketName(name.to_string());
    let (base, appid) = name.rsplit_once('-').ok_or_else(bad)?;
    let base_ok = !base.is_empty()
        && !base.starts_with('-')
        && base
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let appid_ok =
        !appid.is_empty() && appid.len() <= 20 && appid.bytes().all(|b| b.is_ascii_digit());
    if base_ok && appid_ok && name.len() <= 60 {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_stores_are_told_from_failures() {
        assert!(StoreError::Meta(BackendError::unavailable("x")).is_unavailable());
        assert!(!StoreError::Meta(BackendError::new("x")).is_unavailable());
        assert!(StoreError::Io(crate::blobs::unavailable("x")).is_unavailable());
        assert!(!StoreError::Io(io::Error::other("disk")).is_unavailable());
        // Through wrappers: a re-wrapped stream item, a backend error as an I/O error.
        let wrapped = io::Error::other(crate::blobs::unavailable("x"));
        assert!(StoreError::Body(wrapped).is_unavailable());
        assert!(io_unavailable(&io::Error::other(
            BackendError::unavailable("x")
        )));
        assert!(!io_unavailable(&io::Error::other(BackendError::new("x"))));
        assert!(
            StoreError::from(IndexError::Backend(BackendError::unavailable("x"))).is_unavailable()
        );
        assert!(!StoreError::NoSuchKey.is_unavailable());
    }

    fn blob_exists(store: &ObjectStore, id: &str) -> bool {
        store.blobs.read_blocking(id).is_ok()
    }

    async fn open_store(dir: &std::path::Path) -> ObjectStore {
        let meta = crate::meta::sqlite::open(dir).await.unwrap();
        let blobs = Arc::new(crate::blobs::LocalBlobs::open(dir).unwrap());
        ObjectStore::open(meta.objects, blobs, Limits::default(), true)
            .await
            .unwrap()
    }

    fn body(data: &'static [u8]) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
        futures_util::stream::iter([Ok::<_, io::Error>(Bytes::from_static(data))])
    }

    #[tokio::test]
    async fn a_commit_replaces_the_blob_and_a_refused_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        store
            .create_bucket("b-1250000000", "ap-guangzhou", false)
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_bucket("b-1250000000", "ap-guangzhou", true)
                .await,
            Err(StoreError::BucketAlreadyExists)
        ));
        let first = store
            .put("b-1250000000", "k", NewMeta::default(), body(b"one"), None)
            .await
            .unwrap();
        let second = store
            .put("b-1250000000", "k", NewMeta::default(), body(b"two"), None)
            .await
            .unwrap();
        assert!(blob_exists(&store, &second.blob));
        // The replaced blob is removed after the commit, off the caller's path.
        for _ in 0..100 {
            if !blob_exists(&store, &first.blob) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!blob_exists(&store, &first.blob));
        assert_eq!(store.head("b-1250000000", "k").await.unwrap(), second);

        // A commit into a bucket that is gone writes no row and removes its new blob.
        let mut orphan = second.clone();
        orphan.bucket = "gone-1250000000".into();
        let spooled = store.blobs.spool_path();
        std::fs::write(&spooled, b"x").unwrap();
        orphan.blob = store.blobs.install(&spooled).await.unwrap();
        assert!(blob_exists(&store, &orphan.blob));
        assert!(matches!(
            store.commit(&orphan).await,
            Err(StoreError::NoSuchBucket)
        ));
        assert!(!blob_exists(&store, &orphan.blob));

        // Metadata: set one entry, rewrite all; both only while the blob is the same.
        store
            .set_user_meta(&second, "x-cos-meta-a", "1")
            .await
            .unwrap();
        let mut meta = store.head("b-1250000000", "k").await.unwrap();
        assert_eq!(meta.user_meta["x-cos-meta-a"], "1");
        meta.content_type = "text/plain".into();
        store.rewrite_meta(&meta).await.unwrap();
        assert_eq!(
            store.head("b-1250000000", "k").await.unwrap().content_type,
            "text/plain"
        );
        assert!(matches!(
            store.set_user_meta(&first, "x-cos-meta-a", "2").await,
            Err(StoreError::NoSuchKey)
        ));
        assert!(matches!(
            store.rewrite_meta(&first).await,
            Err(StoreError::NoSuchKey)
        ));

        // A bucket is deleted only when empty.
        assert!(matches!(
            store.delete_bucket("b-1250000000").await,
            Err(StoreError::BucketNotEmpty)
        ));
        store.delete("b-1250000000", "k").await.unwrap();
        store.delete("b-1250000000", "k").await.unwrap();
        assert!(!blob_exists(&store, &second.blob));
        assert!(matches!(
            store.head("b-1250000000", "k").await,
            Err(StoreError::NoSuchKey)
        ));
        store
            .set_file_processing("b-1250000000", false)
            .await
            .unwrap();
        assert!(
            !store
                .bucket("b-1250000000")
                .await
                .unwrap()
                .unwrap()
                .file_processing
        );
        store.delete_bucket("b-1250000000").await.unwrap();
        assert!(matches!(
            store.delete_bucket("b-1250000000").await,
            Err(StoreError::NoSuchBucket)
        ));
        assert!(matches!(
            store.set_file_processing("b-1250000000", true).await,
            Err(StoreError::NoSuchBucket)
        ));
        assert!(store.list_buckets().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn head_blocking_reads_what_head_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        store
            .ensure_bucket("b-1250000000", "ap-guangzhou", false)
            .await
            .unwrap();
        let mut meta = NewMeta::default();
        meta.user_meta
            .insert("x-cos-meta-owner".into(), "ops".into());
        let put = store
            .put("b-1250000000", "dir/k\u{e9}y", meta, body(b"hello"), None)
            .await
            .unwrap();
        let (s2, s3) = (store.clone(), store.clone());
        let got = tokio::task::spawn_blocking(move || {
            (
                s2.head_blocking("b-1250000000", "dir/k\u{e9}y"),
                s2.head_blocking("b-1250000000", "missing"),
                s2.head_blocking("nobucket-1250000000", "dir/k\u{e9}y"),
            )
        })
        .await
        .unwrap();
        let found = got.0.unwrap();
        assert_eq!(found, put);
        assert_eq!(
            found,
            s3.head("b-1250000000", "dir/k\u{e9}y").await.unwrap()
        );
        assert_eq!(found.size, 5);
        assert_eq!(found.etag, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(found.user_meta["x-cos-meta-owner"], "ops");
        assert!(matches!(got.1, Err(StoreError::NoSuchKey)), "{:?}", got.1);
        assert!(
            matches!(got.2, Err(StoreError::NoSuchBucket)),
            "{:?}",
            got.2
        );
    }

    #[test]
    fn bucket_names() {
        for ok in [
            "examplebucket-1250000000",
            "a-1",
            "my-media-files-1250000000",
        ] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "nobucket",
            "UPPER-125",
            "-x-125",
            "name-12a",
            "name-",
            "a_b-125",
            "../x-1",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_follow_rfc_9110_order() {
        let meta = ObjectMeta {
            bucket: "b-1".into(),
            key: "k".into(),
            size: 1,
            etag: "abc".into(),
            crc64: 0,
            content_type: String::new(),
            headers: BTreeMap::new(),
            user_meta: BTreeMap::new(),
            tags: BTreeMap::new(),
            last_modified: 1_000_500,
            blob: String::new(),
        };
        let c = |m: Option<&str>, n: Option<&str>, ms: Option<i64>, us: Option<i64>| Conditions {
            if_match: m.map(Conditions::etags),
            if_none_match: n.map(Conditions::etags),
            if_modified_since: ms,
            if_unmodified_since: us,
        };
        use ConditionFailed::{NotModified, PreconditionFailed};
        assert!(Conditions::default().is_empty());
        assert_eq!(Conditions::default().check(&meta, true), Ok(()));
        assert_eq!(
            c(Some("\"abc\""), None, None, None).check(&meta, true),
            Ok(())
        );
        assert_eq!(
            c(Some("\"x\", W/\"abc\""), None, None, None).check(&meta, true),
            Ok(())
        );
        assert_eq!(c(Some("*"), None, None, None).check(&meta, true), Ok(()));
        assert_eq!(
            c(Some("\"x\""), None, None, None).check(&meta, true),
            Err(PreconditionFailed)
        );
        // Last-Modified is 1000 s (1,000,500 ms): unmodified since 1000, modified since 999.
        assert_eq!(c(None, None, None, Some(1000)).check(&meta, true), Ok(()));
        assert_eq!(
            c(None, None, None, Some(999)).check(&meta, true),
            Err(PreconditionFailed)
        );
        // If-Match decides alone when present.
        assert_eq!(
            c(Some("abc"), None, None, Some(999)).check(&meta, true),
            Ok(())
        );
        assert_eq!(
            c(None, Some("abc"), None, None).check(&meta, true),
            Err(NotModified)
        );
        assert_eq!(
            c(None, Some("abc"), None, None).check(&meta, false),
            Err(PreconditionFailed)
        );
        assert_eq!(
            c(None, None, Some(1000), None).check(&meta, true),
            Err(NotModified)
        );
        assert_eq!(c(None, None, Some(999), None).check(&meta, true), Ok(()));
        // If-None-Match decides alone when present.
        assert_eq!(
            c(None, Some("x"), Some(2000), None).check(&meta, true),
            Ok(())
        );
    }
}
