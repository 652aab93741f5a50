//! The upload index: multipart uploads in progress and their parts (COS Initiate / Upload
//! Part / Complete / Abort / List Parts / List Multipart Uploads).
//!
//! [`UploadIndex`] is what the multipart service ([`crate::core::multipart`]) calls. A part
//! is a blob of its own; [`complete`](UploadIndex::complete) makes the concatenated object
//! visible and deletes the upload and its parts in one transaction, so a crash leaves the
//! old object with the upload still open, or the new object — never a mix. The rules
//! (part limits, the part list, the ETag) are the service's; a backend stores rows.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use super::BackendError;
use super::objects::ObjectMeta;

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Opaque, made by the service; sorts by initiation time.
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    /// Unix milliseconds.
    pub initiated: i64,
    /// The metadata the object will have (given at initiation).
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub user_meta: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// A stored part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1 to 10,000.
    pub number: u32,
    pub size: u64,
    /// MD5 of the part, lower-case hex, without quotes.
    pub etag: String,
    /// CRC-64/XZ of the part.
    pub crc64: u64,
    /// Unix milliseconds.
    pub last_modified: i64,
    /// The blob holding the part (never shown to clients).
    pub(crate) blob: String,
}

/// Why an upload operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    #[error("the upload does not exist (it was completed, aborted or expired)")]
    NoSuchUpload,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl UploadError {
    /// Whether the index's backend cannot be reached just now (try again).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, UploadError::Backend(b) if b.is_unavailable())
    }
}

/// Where a listing of uploads starts and stops, in (key, upload id) order: uploads after
/// (`after_key`, `after_id`) — an upload of `after_key` itself only with an id greater than
/// `after_id` — and with a key below `upper` (no bound when `None`), at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRange {
    pub after_key: Vec<u8>,
    pub after_id: String,
    pub upper: Option<Vec<u8>>,
    pub limit: usize,
}

/// What [`UploadIndex::complete`] replaced: the blob of the object the key held before and
/// the blobs of the upload's parts, for the caller to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completed {
    pub replaced: Option<String>,
    pub parts: Vec<String>,
}

/// The upload index interface (object safe).
pub trait UploadIndex: Send + Sync + 'static {
    /// Records a new upload; `NoSuchBucket` when its bucket does not exist.
    fn create<'a>(&'a self, upload: &'a Upload) -> BoxFuture<'a, Result<(), UploadError>>;
    /// An upload of `bucket` and `key` by id; `NoSuchUpload` when there is none.
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Upload, UploadError>>;
    /// Makes `part` the part of its number (inserted or replaced) while the upload exists,
    /// answering the blob of the part it replaced; `NoSuchUpload` otherwise.
    fn put_part<'a>(
        &'a self,
        upload_id: &'a str,
        part: &'a Part,
    ) -> BoxFuture<'a, Result<Option<String>, UploadError>>;
    /// Parts with a number above `after`, in order, at most `limit`.
    fn parts<'a>(
        &'a self,
        upload_id: &'a str,
        after: u32,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Part>, UploadError>>;
    /// Uploads of a bucket in `range`, in (key, upload id) order.
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        range: &'a UploadRange,
    ) -> BoxFuture<'a, Result<Vec<Upload>, UploadError>>;
    /// In one transaction, while the upload exists: makes `object` the row of its key and
    /// deletes the upload with its parts. `NoSuchUpload` when it is gone (completed or
    /// aborted meanwhile), `NoSuchBucket` when the bucket is.
    fn complete<'a>(
        &'a self,
        upload_id: &'a str,
        object: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<Completed, UploadError>>;
    /// Deletes an upload and its parts, answering the parts' blobs; `NoSuchUpload` when it
    /// is gone.
    fn abort<'a>(&'a self, upload_id: &'a str) -> BoxFuture<'a, Result<Vec<String>, UploadError>>;
    /// Uploads initiated before `before` (Unix milliseconds), oldest first, at most `limit`.
    fn initiated_before(
        &self,
        before: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Upload>, UploadError>>;
}
