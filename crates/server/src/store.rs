//! The object store: buckets and objects on local disk, indexed in SQLite.
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
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::Stream;
use hashscan_digest::Algorithm;
use rusqlite::{OptionalExtension, params};

use crate::blobs::{BlobStore, LocalBlobs, OpenBlob};
use crate::config::Limits;
use crate::core::uploads::{self, Receive, ReceiveError};
use crate::db::{ReadPool, ReadStopped, WriteError, WriteOp, Writer};
use crate::rows::Columns;

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
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("the request body could not be read: {0}")]
    Body(io::Error),
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

impl From<ReadStopped> for StoreError {
    fn from(e: ReadStopped) -> Self {
        StoreError::Io(io::Error::other(e))
    }
}

/// A write that did not happen: its statement's error, or (the writer stopped, the commit
/// failed) a storage error, which every dialect answers as an internal error.
impl From<WriteError> for StoreError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Sql(e) => StoreError::Sql(e),
            other => StoreError::Io(io::Error::other(other)),
        }
    }
}

/// A write of the object store, for the group-commit [`Writer`].
fn op<T, F>(f: F) -> WriteOp<T, StoreError>
where
    F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
{
    Box::new(f)
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub public_read: bool,
    /// COS Cloud Infinite file processing (hash jobs) is enabled.
    pub file_processing: bool,
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// MD5 of the content, lower-case hex, without quotes.
    pub etag: String,
    /// CRC-64/XZ of the content (COS `x-cos-hash-crc64ecma`).
    pub crc64: u64,
    pub content_type: String,
    /// Stored standard headers (`cache-control`, `content-disposition`, `content-encoding`,
    /// `content-language`, `expires`), names lower-case.
    pub headers: BTreeMap<String, String>,
    /// User metadata: the `x-cos-meta-*` headers, names lower-case and with the prefix.
    pub user_meta: BTreeMap<String, String>,
    /// Unix milliseconds.
    pub last_modified: i64,
    blob: String,
}

/// The caller-supplied part of a new object's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMeta {
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub user_meta: BTreeMap<String, String>,
}

/// Parameters of a bucket listing.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: String,
    /// List keys strictly after this one.
    pub marker: String,
    pub max_keys: usize,
}

/// One page of a bucket listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts (the last key or common prefix of this one).
    pub next_marker: Option<String>,
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
/// Largest page of a listing.
pub const MAX_LIST_KEYS: usize = 1000;

/// Buckets and objects on local disk with their index in SQLite.
#[derive(Clone)]
pub struct ObjectStore {
    /// Every write to the index, each one transaction of its own (durable when answered).
    writer: Writer,
    /// Every read of the index: from async code on a blocking thread, from plain threads
    /// (the job workers) directly ([`Self::head_blocking`]).
    readers: ReadPool,
    /// The bytes: immutable blobs ([`crate::blobs`]).
    blobs: Arc<dyn BlobStore>,
    limits: Limits,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl ObjectStore {
    /// Opens the store in `data_dir` (which must exist) over its database (opened and
    /// migrated by [`crate::db::open`]): writes through `writer`, reads through `readers`
    /// (both shared with the other stores of the database). Leftover temporary files of
    /// interrupted uploads are removed when `recover` is set (the server does it at start,
    /// holding the data directory's lock).
    pub async fn open(
        data_dir: &Path,
        writer: Writer,
        readers: ReadPool,
        limits: Limits,
        recover: bool,
    ) -> Result<Self, StoreError> {
        let store = ObjectStore {
            writer,
            readers,
            blobs: Arc::new(LocalBlobs::open(data_dir)?),
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

    /// Removes temporary files and blobs no row points at: what a crash between the rename
    /// of a blob and the commit of its row leaves behind.
    async fn recover(&self) -> Result<(), StoreError> {
        let referenced = self
            .readers
            .read(
                |conn| -> Result<std::collections::HashSet<String>, StoreError> {
                    let mut stmt = conn.prepare("SELECT blob FROM objects")?;
                    let blobs = stmt.query_map([], |r| r.get::<_, String>(0))?;
                    Ok(blobs.collect::<Result<_, _>>()?)
                },
            )
            .await?;
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
        let (name, region, created_at) = (
            bucket.name.clone(),
            bucket.region.clone(),
            bucket.created_at,
        );
        let done = self
            .writer
            .write(op(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "INSERT INTO buckets (name, region, created_at, public_read)
                         VALUES (?, ?, ?, ?)
                         ON CONFLICT (name) DO NOTHING",
                    )?
                    .execute(params![name, region, created_at, public_read])?)
            }))
            .await?;
        if done == 0 {
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
                let name = name.to_string();
                self.writer
                    .write(op(move |conn| {
                        conn.prepare_cached("UPDATE buckets SET public_read = ? WHERE name = ?")?
                            .execute(params![public_read, name])?;
                        Ok(())
                    }))
                    .await
            }
            Err(e) => Err(e),
        }
    }

    /// A bucket by name.
    pub async fn bucket(&self, name: &str) -> Result<Option<Bucket>, StoreError> {
        // Every request of a bucket asks this: on a blocking thread, one hand-off between
        // threads for the whole read (docs/benchmarks.md, issue 4).
        let name = name.to_string();
        self.readers
            .read(move |conn| -> Result<Option<Bucket>, StoreError> {
                let mut stmt = conn.prepare_cached(
                    "SELECT name, region, created_at, public_read, file_processing
                     FROM buckets WHERE name = ?",
                )?;
                let mut rows = stmt.query([&name])?;
                rows.next()?.map(bucket_from_row).transpose()
            })
            .await
    }

    /// Every bucket, by name.
    pub async fn list_buckets(&self) -> Result<Vec<Bucket>, StoreError> {
        self.readers
            .read(|conn| -> Result<Vec<Bucket>, StoreError> {
                let mut stmt = conn.prepare_cached(
                    "SELECT name, region, created_at, public_read, file_processing FROM buckets
                     ORDER BY name",
                )?;
                let mut rows = stmt.query([])?;
                let mut buckets = Vec::new();
                while let Some(row) = rows.next()? {
                    buckets.push(bucket_from_row(row)?);
                }
                Ok(buckets)
            })
            .await
    }

    /// Turns COS file processing on or off for a bucket.
    pub async fn set_file_processing(&self, name: &str, on: bool) -> Result<(), StoreError> {
        let name = name.to_string();
        self.writer
            .write(op(move |conn| {
                let done = conn
                    .prepare_cached("UPDATE buckets SET file_processing = ? WHERE name = ?")?
                    .execute(params![on, name])?;
                if done == 0 {
                    return Err(StoreError::NoSuchBucket);
                }
                Ok(())
            }))
            .await
    }

    /// Deletes an empty bucket: the check and the delete in one write transaction.
    pub async fn delete_bucket(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.writer
            .write(op(move |conn| {
                let has_objects = conn
                    .prepare_cached("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1")?
                    .exists([&name])?;
                if has_objects {
                    return Err(StoreError::BucketNotEmpty);
                }
                let done = conn
                    .prepare_cached("DELETE FROM buckets WHERE name = ?")?
                    .execute([&name])?;
                if done == 0 {
                    return Err(StoreError::NoSuchBucket);
                }
                Ok(())
            }))
            .await
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
        self.require_bucket(bucket).await?;
        let tmp = self.blobs.spool_path();
        let receive = Receive {
            temp: tmp.clone(),
            algorithms: [Algorithm::Md5, Algorithm::Crc64].into_iter().collect(),
            limit: self.limits.max_object_size,
            size_hint: None,
            durable: true,
        };
        let received = uploads::receive(receive, body).await.map_err(|e| match e {
            ReceiveError::Body(e) => StoreError::Body(e),
            ReceiveError::TooLarge { limit } => StoreError::EntityTooLarge { limit },
            ReceiveError::Io(e) => StoreError::Io(e),
        })?;
        let size = received.size;
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
            last_modified: now_ms(),
            blob,
        };
        self.commit(&object).await?;
        Ok(object)
    }

    /// Makes `object` visible, replacing what its key held, and removes the replaced blob:
    /// the old blob is read and the row upserted in one write transaction, and the old blob
    /// is removed once that is committed.
    async fn commit(&self, object: &ObjectMeta) -> Result<(), StoreError> {
        let row = object.clone();
        let committed = self
            .writer
            .write(op(move |conn| {
                let key = row.key.as_bytes();
                let old: Option<String> = conn
                    .prepare_cached("SELECT blob FROM objects WHERE bucket = ? AND key = ?")?
                    .query_row(params![row.bucket, key], |r| r.get(0))
                    .optional()?;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO objects (bucket, key, blob, size, etag, crc64, content_type,
                                              headers, user_meta, last_modified)
                         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
                         WHERE EXISTS (SELECT 1 FROM buckets WHERE name = ?)
                         ON CONFLICT (bucket, key) DO UPDATE SET
                            blob = excluded.blob, size = excluded.size, etag = excluded.etag,
                            crc64 = excluded.crc64, content_type = excluded.content_type,
                            headers = excluded.headers, user_meta = excluded.user_meta,
                            last_modified = excluded.last_modified",
                    )?
                    .execute(params![
                        row.bucket,
                        key,
                        row.blob,
                        row.size as i64,
                        row.etag,
                        row.crc64.to_string(),
                        row.content_type,
                        json(&row.headers),
                        json(&row.user_meta),
                        row.last_modified,
                        row.bucket
                    ])?;
                if inserted == 0 {
                    return Err(StoreError::NoSuchBucket);
                }
                Ok(old)
            }))
            .await;
        let old = match committed {
            Ok(old) => old,
            Err(StoreError::NoSuchBucket) => {
                // The bucket was deleted after the upload began: nothing was written.
                self.remove_blob(&object.blob).await;
                return Err(StoreError::NoSuchBucket);
            }
            Err(e) => return Err(e),
        };
        if let Some(old) = old.filter(|o| *o != object.blob) {
            // Unlinking a large file takes a while on some file systems; the caller need not
            // wait for it (a leftover is removed at the next start).
            let store = self.clone();
            tokio::spawn(async move { store.remove_blob(&old).await });
        }
        Ok(())
    }

    async fn remove_blob(&self, blob: &str) {
        self.blobs.remove(blob).await;
    }

    async fn require_bucket(&self, bucket: &str) -> Result<Bucket, StoreError> {
        self.bucket(bucket).await?.ok_or(StoreError::NoSuchBucket)
    }

    /// An object's metadata, read on the calling thread: for code on a plain thread (the job
    /// workers), where [`Self::head`] would hand the read to another thread and back.
    pub fn head_blocking(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        self.readers.with(|conn| head_in(conn, bucket, key))
    }

    /// An object's metadata.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.readers
            .read(move |conn| head_in(conn, &bucket, &key))
            .await
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
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let blob: Option<String> = self
            .writer
            .write(op(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING blob",
                )?;
                let mut rows = stmt.query(params![bucket, key.as_bytes()])?;
                let blob = rows.next()?.map(|r| r.get(0)).transpose()?;
                // Run the statement to its end (it stays active until then).
                while rows.next()?.is_some() {}
                Ok(blob)
            }))
            .await?;
        if let Some(blob) = blob {
            self.remove_blob(&blob).await;
        }
        Ok(())
    }

    /// Copies an object. Copying an object onto itself only rewrites its metadata (the data
    /// is not touched) and needs [`MetadataDirective::Replace`].
    pub async fn copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        directive: MetadataDirective,
    ) -> Result<ObjectMeta, StoreError> {
        self.validate_key(dst_key)?;
        self.require_bucket(dst_bucket).await?;
        let src = self.head(src_bucket, src_key).await?;
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
        let (bucket, key, blob) = (
            object.bucket.clone(),
            object.key.clone(),
            object.blob.clone(),
        );
        let (name, value) = (name.to_string(), value.to_string());
        self.writer
            .write(op(move |conn| {
                let current: Option<String> = conn
                    .prepare_cached(
                        "SELECT user_meta FROM objects WHERE bucket = ? AND key = ? AND blob = ?",
                    )?
                    .query_row(params![bucket, key.as_bytes(), blob], |r| r.get(0))
                    .optional()?;
                let Some(current) = current else {
                    return Err(StoreError::NoSuchKey);
                };
                let mut user_meta: BTreeMap<String, String> =
                    serde_json::from_str(&current).unwrap_or_default();
                if user_meta.get(&name).is_some_and(|v| *v == value) {
                    return Ok(());
                }
                user_meta.insert(name, value);
                conn.prepare_cached(
                    "UPDATE objects SET user_meta = ? WHERE bucket = ? AND key = ? AND blob = ?",
                )?
                .execute(params![
                    json(&user_meta),
                    bucket,
                    key.as_bytes(),
                    blob
                ])?;
                Ok(())
            }))
            .await
    }

    /// Rewrites the metadata of the object at `meta`'s key if it still holds the same blob.
    pub async fn rewrite_meta(&self, meta: &ObjectMeta) -> Result<(), StoreError> {
        let meta = meta.clone();
        self.writer
            .write(op(move |conn| {
                let done = conn
                    .prepare_cached(
                        "UPDATE objects SET content_type = ?, headers = ?, user_meta = ?,
                                last_modified = ?
                         WHERE bucket = ? AND key = ? AND blob = ?",
                    )?
                    .execute(params![
                        meta.content_type,
                        json(&meta.headers),
                        json(&meta.user_meta),
                        meta.last_modified,
                        meta.bucket,
                        meta.key.as_bytes(),
                        meta.blob
                    ])?;
                if done == 0 {
                    return Err(StoreError::NoSuchKey);
                }
                Ok(())
            }))
            .await
    }

    /// Lists a bucket in key order (bytewise), grouping keys by `delimiter` after `prefix`.
    pub async fn list(&self, bucket: &str, params: &ListParams) -> Result<ListPage, StoreError> {
        self.require_bucket(bucket).await?;
        let max = params.max_keys.min(MAX_LIST_KEYS);
        let prefix = params.prefix.as_bytes();
        let upper = prefix_upper(prefix);
        let mut lower: Vec<u8> = prefix.to_vec();
        if !params.marker.is_empty() && params.marker.as_bytes() >= prefix {
            lower = params.marker.as_bytes().to_vec();
            lower.push(0);
            // A marker inside a common prefix (a NextMarker that was one) skips the group.
            let rest = params.marker.get(params.prefix.len()..).unwrap_or("");
            if !params.delimiter.is_empty()
                && let Some(i) = rest.find(&params.delimiter)
            {
                let group = &params.marker[..params.prefix.len() + i + params.delimiter.len()];
                match prefix_upper(group.as_bytes()) {
                    Some(after) => lower = lower.max(after),
                    None => return Ok(ListPage::default()),
                }
            }
        }
        let (bucket, params) = (bucket.to_string(), params.clone());
        self.readers
            .read(move |conn| list_in(conn, &bucket, &params, max, lower, upper))
            .await
    }
}

/// The scan of [`ObjectStore::list`] from `lower` (inclusive) to `upper` (exclusive), in
/// batches, each read by a statement of its own.
fn list_in(
    conn: &rusqlite::Connection,
    bucket: &str,
    params: &ListParams,
    max: usize,
    mut lower: Vec<u8>,
    upper: Option<Vec<u8>>,
) -> Result<ListPage, StoreError> {
    let mut page = ListPage::default();
    let mut count = 0usize;
    let mut last: Option<String> = None;
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, key, blob, size, etag, crc64, content_type, headers, user_meta,
                    last_modified FROM objects
             WHERE bucket = ? AND key >= ? AND (? IS NULL OR key < ?)
             ORDER BY key LIMIT ?",
    )?;
    'scan: loop {
        let batch = (max - count + 1).clamp(1, 1001) as i64;
        let mut rows = stmt.query(params![bucket, lower, upper, upper, batch])?;
        let mut fetched = 0i64;
        while let Some(row) = rows.next()? {
            fetched += 1;
            let object = object_from_row(row)?;
            let rest = &object.key[params.prefix.len()..];
            let group = (!params.delimiter.is_empty())
                .then(|| rest.find(&params.delimiter))
                .flatten()
                .map(|i| {
                    object.key[..params.prefix.len() + i + params.delimiter.len()].to_string()
                });
            if count == max {
                page.truncated = true;
                break 'scan;
            }
            count += 1;
            match group {
                Some(cp) => {
                    // Skip every other key under this common prefix.
                    lower = prefix_upper(cp.as_bytes()).unwrap_or_default();
                    last = Some(cp.clone());
                    page.common_prefixes.push(cp);
                    if lower.is_empty() {
                        break 'scan;
                    }
                    continue 'scan;
                }
                None => {
                    lower = object.key.as_bytes().to_vec();
                    lower.push(0);
                    last = Some(object.key.clone());
                    page.objects.push(object);
                }
            }
        }
        // Fewer rows than asked for (none included): the range is exhausted.
        if fetched < batch {
            break;
        }
    }
    if page.truncated {
        page.next_marker = last;
    }
    Ok(page)
}

/// The smallest byte string greater than every string starting with `prefix`, or `None`
/// when there is none (empty prefix). UTF-8 never contains 0xFF, so incrementing the last
/// byte is enough.
fn prefix_upper(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < 0xFF {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
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

fn json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}

fn bucket_from_row(r: &impl Columns) -> Result<Bucket, StoreError> {
    Ok(Bucket {
        name: r.col("name")?,
        region: r.col("region")?,
        created_at: r.col("created_at")?,
        public_read: r.col("public_read")?,
        file_processing: r.col("file_processing")?,
    })
}

const HEAD_SQL: &str = "SELECT bucket, key, blob, size, etag, crc64, content_type, headers, \
    user_meta, last_modified FROM objects WHERE bucket = ? AND key = ?";

/// An object's metadata; [`StoreError::NoSuchKey`] or [`StoreError::NoSuchBucket`] when
/// there is none.
fn head_in(conn: &rusqlite::Connection, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
    let found = conn
        .prepare_cached(HEAD_SQL)?
        .query_row(params![bucket, key.as_bytes()], |r| Ok(object_from_row(r)))
        .optional()?;
    match found {
        Some(meta) => meta,
        None => {
            let bucket_exists = conn
                .prepare_cached("SELECT 1 FROM buckets WHERE name = ?")?
                .exists([bucket])?;
            Err(if bucket_exists {
                StoreError::NoSuchKey
            } else {
                StoreError::NoSuchBucket
            })
        }
    }
}

fn object_from_row(r: &impl Columns) -> Result<ObjectMeta, StoreError> {
    let key: Vec<u8> = r.col("key")?;
    let crc64: String = r.col("crc64")?;
    let headers: String = r.col("headers")?;
    let user_meta: String = r.col("user_meta")?;
    let size: i64 = r.col("size")?;
    Ok(ObjectMeta {
        bucket: r.col("bucket")?,
        key: String::from_utf8(key)
            .map_err(|_| StoreError::InvalidKey("stored key is not UTF-8"))?,
        blob: r.col("blob")?,
        size: size.max(0) as u64,
        etag: r.col("etag")?,
        crc64: crc64.parse().unwrap_or(0),
        content_type: r.col("content_type")?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        user_meta: serde_json::from_str(&user_meta).unwrap_or_default(),
        last_modified: r.col("last_modified")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn blob_exists(store: &ObjectStore, id: &str) -> bool {
        store.blobs.read_blocking(id).is_ok()
    }

    async fn open_store(dir: &Path) -> ObjectStore {
        crate::db::open(dir).await.unwrap();
        let writer = Writer::open(dir).await.unwrap();
        ObjectStore::open(dir, writer, ReadPool::new(dir), Limits::default(), true)
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
    fn prefix_upper_bounds() {
        assert_eq!(prefix_upper(b"dir/"), Some(b"dir0".to_vec()));
        assert_eq!(prefix_upper(b""), None);
    }
}
