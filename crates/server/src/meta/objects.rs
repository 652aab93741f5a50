//! The object index: buckets, and for each object its key, its blob and its metadata.
//!
//! [`ObjectIndex`] is what the objects service ([`crate::core::objects`]) calls; the bytes
//! are in the blob store ([`crate::blobs`]), named by the immutable blob id a row holds.
//! Each operation is atomic on its own (one transaction): an upsert answers the blob it
//! replaced, a metadata change applies only while the row still holds the blob it was read
//! with. How a listing is paged and grouped is decided once, here ([`Lister`]), for every
//! backend: a backend only reads key ranges.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::BoxFuture;

use super::BackendError;

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
    /// Object tags (key → value).
    pub tags: BTreeMap<String, String>,
    /// Unix milliseconds.
    pub last_modified: i64,
    /// The blob holding the content (never shown to clients).
    pub(crate) blob: String,
}

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    #[error("the object does not exist")]
    NoSuchKey,
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl IndexError {
    /// Whether the index's backend cannot be reached just now (try again).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, IndexError::Backend(b) if b.is_unavailable())
    }
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

/// Largest page of a listing.
pub const MAX_LIST_KEYS: usize = 1000;

/// The object index interface (object safe: the server holds an `Arc<dyn ObjectIndex>`).
pub trait ObjectIndex: Send + Sync + 'static {
    /// Adds a bucket; `false` when one of that name exists (nothing changed then).
    fn insert_bucket<'a>(&'a self, bucket: &'a Bucket) -> BoxFuture<'a, Result<bool, IndexError>>;
    /// Sets a bucket's public-read flag.
    fn set_public_read<'a>(
        &'a self,
        name: &'a str,
        public_read: bool,
    ) -> BoxFuture<'a, Result<(), IndexError>>;
    /// Turns COS file processing on or off; `NoSuchBucket` when there is no such bucket.
    fn set_file_processing<'a>(
        &'a self,
        name: &'a str,
        on: bool,
    ) -> BoxFuture<'a, Result<(), IndexError>>;
    /// A bucket by name.
    fn bucket<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Bucket>, IndexError>>;
    /// Every bucket, by name.
    fn buckets(&self) -> BoxFuture<'_, Result<Vec<Bucket>, IndexError>>;
    /// Deletes a bucket without objects (the check and the delete in one transaction):
    /// `BucketNotEmpty` or `NoSuchBucket` otherwise.
    fn delete_bucket<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), IndexError>>;

    /// An object's row: `NoSuchKey`, or `NoSuchBucket` when the bucket is missing too.
    fn head<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectMeta, IndexError>>;
    /// [`head`](Self::head) on the calling thread, for plain threads (the job workers).
    fn head_blocking(&self, bucket: &str, key: &str) -> Result<ObjectMeta, IndexError>;
    /// Makes `object` the row of its key (inserted or replaced, only if its bucket exists:
    /// `NoSuchBucket` otherwise), answering the blob of the row it replaced.
    fn upsert<'a>(
        &'a self,
        object: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<Option<String>, IndexError>>;
    /// Removes the row of a key, answering its blob (`None`: there was none).
    fn remove<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, IndexError>>;
    /// Sets one user-metadata entry of the row at `object`'s key while it holds `object`'s
    /// blob, keeping every other entry as it is now (read, change and write in one
    /// transaction, so concurrent writers never undo each other); `NoSuchKey` when the row
    /// is gone or holds another blob.
    fn set_user_meta<'a>(
        &'a self,
        object: &'a ObjectMeta,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), IndexError>>;
    /// Replaces the tags of the row at `object`'s key while it holds `object`'s blob (the
    /// data, metadata and last-modified stay); `NoSuchKey` otherwise.
    fn set_tags<'a>(
        &'a self,
        object: &'a ObjectMeta,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), IndexError>>;
    /// Rewrites content type, headers, user metadata and last-modified of the row at
    /// `meta`'s key while it holds `meta`'s blob; `NoSuchKey` otherwise.
    fn rewrite_meta<'a>(&'a self, meta: &'a ObjectMeta) -> BoxFuture<'a, Result<(), IndexError>>;
    /// One page of a listing, read range by range as `lister` asks ([`Lister::drive`]
    /// does it for a backend with a synchronous range read) from one snapshot.
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        lister: Lister,
    ) -> BoxFuture<'a, Result<ListPage, IndexError>>;
    /// Every blob a row names: what a sweep of the blob store must keep.
    fn referenced_blobs(&self) -> BoxFuture<'_, Result<HashSet<String>, IndexError>>;
}

/// A range of keys to read, in bytewise key order: `lower` ≤ key < `upper` (no upper
/// bound when `None`), at most `limit` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub lower: Vec<u8>,
    pub upper: Option<Vec<u8>>,
    pub limit: usize,
}

/// How a listing reads the index: the one place where markers, prefixes, delimiters and
/// page sizes are interpreted. A backend asks [`next_range`](Lister::next_range) which rows
/// to read, hands them to [`feed`](Lister::feed), and repeats until there is no range left;
/// a common prefix makes the lister skip every other key under it with a new range.
#[derive(Debug, Clone)]
pub struct Lister {
    params: ListParams,
    max: usize,
    lower: Vec<u8>,
    upper: Option<Vec<u8>>,
    page: ListPage,
    count: usize,
    last: Option<String>,
    done: bool,
}

impl Lister {
    /// A listing of `params` (`max_keys` capped at [`MAX_LIST_KEYS`]).
    pub fn new(params: &ListParams) -> Lister {
        let max = params.max_keys.min(MAX_LIST_KEYS);
        let prefix = params.prefix.as_bytes();
        let upper = prefix_upper(prefix);
        let mut lower: Vec<u8> = prefix.to_vec();
        let mut done = false;
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
                    None => done = true,
                }
            }
        }
        Lister {
            params: params.clone(),
            max,
            lower,
            upper,
            page: ListPage::default(),
            count: 0,
            last: None,
            done,
        }
    }

    /// The next rows to read, or `None` when the page is complete.
    pub fn next_range(&self) -> Option<KeyRange> {
        if self.done {
            return None;
        }
        Some(KeyRange {
            lower: self.lower.clone(),
            upper: self.upper.clone(),
            // One row more than the page holds tells whether it is truncated.
            limit: (self.max - self.count + 1).clamp(1, MAX_LIST_KEYS + 1),
        })
    }

    /// Takes the rows read for the last [`next_range`](Self::next_range), in key order.
    pub fn feed(&mut self, rows: Vec<ObjectMeta>) {
        let asked = self.max - self.count + 1;
        let fetched = rows.len();
        let prefix_len = self.params.prefix.len();
        for object in rows {
            let rest = object.key.get(prefix_len..).unwrap_or("");
            let group = (!self.params.delimiter.is_empty())
                .then(|| rest.find(&self.params.delimiter))
                .flatten()
                .map(|i| object.key[..prefix_len + i + self.params.delimiter.len()].to_string());
            if self.count == self.max {
                self.page.truncated = true;
                self.done = true;
                return;
            }
            self.count += 1;
            match group {
                Some(cp) => {
                    // Skip every other key under this common prefix.
                    match prefix_upper(cp.as_bytes()) {
                        Some(after) => self.lower = after,
                        None => self.done = true,
                    }
                    self.last = Some(cp.clone());
                    self.page.common_prefixes.push(cp);
                    return;
                }
                None => {
                    self.lower = object.key.as_bytes().to_vec();
                    self.lower.push(0);
                    self.last = Some(object.key.clone());
                    self.page.objects.push(object);
                }
            }
        }
        // Fewer rows than asked for: the range is exhausted.
        if fetched < asked.clamp(1, MAX_LIST_KEYS + 1) {
            self.done = true;
        }
    }

    /// The page, once [`next_range`](Self::next_range) answers `None`.
    pub fn finish(mut self) -> ListPage {
        if self.page.truncated {
            self.page.next_marker = self.last;
        }
        self.page
    }

    /// Runs the listing over a synchronous range read.
    pub fn drive<E>(
        mut self,
        mut read: impl FnMut(&KeyRange) -> Result<Vec<ObjectMeta>, E>,
    ) -> Result<ListPage, E> {
        while let Some(range) = self.next_range() {
            let rows = read(&range)?;
            self.feed(rows);
        }
        Ok(self.finish())
    }
}

/// The smallest byte string greater than every string starting with `prefix`, or `None`
/// when there is none (empty prefix). UTF-8 never contains 0xFF, so incrementing the last
/// byte is enough.
pub(crate) fn prefix_upper(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < 0xFF {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn object(key: &str) -> ObjectMeta {
        ObjectMeta {
            bucket: "b-1".into(),
            key: key.into(),
            size: 0,
            etag: String::new(),
            crc64: 0,
            content_type: String::new(),
            headers: BTreeMap::new(),
            user_meta: BTreeMap::new(),
            tags: BTreeMap::new(),
            last_modified: 0,
            blob: String::new(),
        }
    }

    /// Runs a listing over sorted keys, reading ranges as a backend would; also answers
    /// how many ranges it read.
    fn list(keys: &[&str], params: ListParams) -> (ListPage, usize) {
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        let mut reads = 0;
        let page = Lister::new(&params)
            .drive(|range| {
                reads += 1;
                Ok::<_, ()>(
                    sorted
                        .iter()
                        .filter(|k| k.as_bytes() >= range.lower.as_slice())
                        .filter(|k| {
                            range
                                .upper
                                .as_ref()
                                .is_none_or(|u| k.as_bytes() < u.as_slice())
                        })
                        .take(range.limit)
                        .map(|k| object(k))
                        .collect(),
                )
            })
            .unwrap();
        (page, reads)
    }

    fn keys(page: &ListPage) -> Vec<&str> {
        page.objects.iter().map(|o| o.key.as_str()).collect()
    }

    const KEYS: &[&str] = &["a.txt", "dir/1", "dir/2", "dir/sub/3", "e/x", "z"];

    #[test]
    fn prefix_upper_bounds() {
        assert_eq!(prefix_upper(b"dir/"), Some(b"dir0".to_vec()));
        assert_eq!(prefix_upper(b""), None);
        assert_eq!(prefix_upper(b"a\xff"), Some(b"b".to_vec()));
    }

    #[test]
    fn a_delimiter_groups_keys_and_skips_each_group_in_one_range() {
        let params = ListParams {
            delimiter: "/".into(),
            max_keys: 1000,
            ..ListParams::default()
        };
        let (page, reads) = list(KEYS, params);
        assert_eq!(keys(&page), ["a.txt", "z"]);
        assert_eq!(page.common_prefixes, ["dir/", "e/"]);
        assert!(!page.truncated);
        // One read to the first group, one past each group.
        assert_eq!(reads, 3);
    }

    #[test]
    fn pages_end_with_a_marker_that_continues_them() {
        let first = ListParams {
            delimiter: "/".into(),
            max_keys: 2,
            ..ListParams::default()
        };
        let (page, _) = list(KEYS, first.clone());
        assert_eq!(keys(&page), ["a.txt"]);
        assert_eq!(page.common_prefixes, ["dir/"]);
        assert!(page.truncated);
        assert_eq!(page.next_marker.as_deref(), Some("dir/"));
        // The next page starts after the whole group the marker names.
        let (next, _) = list(
            KEYS,
            ListParams {
                marker: "dir/".into(),
                ..first
            },
        );
        assert_eq!(next.common_prefixes, ["e/"]);
        assert_eq!(keys(&next), ["z"]);
        assert!(!next.truncated);
        assert_eq!(next.next_marker, None);
    }

    #[test]
    fn a_prefix_bounds_the_listing_and_max_keys_is_capped() {
        let (page, _) = list(
            KEYS,
            ListParams {
                prefix: "dir/".into(),
                max_keys: 5000,
                ..ListParams::default()
            },
        );
        assert_eq!(keys(&page), ["dir/1", "dir/2", "dir/sub/3"]);
        let many: Vec<String> = (0..1500).map(|i| format!("k{i:05}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let (page, _) = list(
            &refs,
            ListParams {
                max_keys: 5000,
                ..ListParams::default()
            },
        );
        assert_eq!(page.objects.len(), MAX_LIST_KEYS);
        assert!(page.truncated);
        assert_eq!(page.next_marker.as_deref(), Some("k00999"));
    }

    #[test]
    fn a_marker_past_every_key_lists_nothing() {
        let (page, _) = list(
            KEYS,
            ListParams {
                marker: "zz".into(),
                max_keys: 10,
                ..ListParams::default()
            },
        );
        assert!(page.objects.is_empty() && page.common_prefixes.is_empty());
        assert!(!page.truncated);
    }
}
