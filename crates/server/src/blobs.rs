//! Object bytes: immutable blobs named by id, the bytes side of the object store. The
//! embedded implementation keeps them as files `<data>/blobs/<id[0..2]>/<id>`; an upload is
//! received into a spool file (`<data>/tmp/`) and installed as a blob (renamed, directory
//! fsynced) before the row that names it is committed. Ids never come from clients.
//!
//! [`BlobStore`] is the interface: its operations are the ones an S3-compatible store offers
//! too (put of a received file, ranged get, server-side copy, delete, listing for the sweep),
//! and no file-system type but the local spool path crosses it: readers are `Read` trait
//! objects and byte streams.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

pub mod s3;

/// The blob store cannot be reached just now (a refused or lost connection, a timeout,
/// a server error that persisted through the retries): carried inside an [`io::Error`] so
/// that the APIs answer "service unavailable, try again" instead of an internal error.
#[derive(Debug, thiserror::Error)]
#[error("blob store unavailable: {0}")]
pub struct Unavailable(pub String);

/// An [`io::Error`] saying the blob store cannot be reached.
pub fn unavailable(message: impl Into<String>) -> io::Error {
    io::Error::other(Unavailable(message.into()))
}

/// Whether an error of a blob operation means the store cannot be reached just now.
pub fn is_unavailable(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Unavailable>())
}

/// Bytes read per chunk of a blob stream.
const READ_CHUNK: usize = 256 * 1024;

/// A blob's bytes, as a stream.
pub type BlobStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Where object bytes live. Blobs are immutable and named by ids the store makes; the
/// spool (where an upload is received before it becomes a blob) is a local file in every
/// engine. Implemented by [`LocalBlobs`]; an S3-compatible store is the scale-out one.
pub trait BlobStore: Send + Sync + 'static {
    /// A fresh spool file path for an upload to be received into.
    fn spool_path(&self) -> PathBuf;
    /// Makes a received (and synced) spool file a blob, durably; its new id.
    fn install<'a>(&'a self, spooled: &'a Path) -> BoxFuture<'a, io::Result<String>>;
    /// A blob with the bytes of `id`, for a copy of an object: a new blob (local files:
    /// a hard link), or `id` itself in a store whose [`remove`](Self::remove) only marks
    /// (S3: blobs are immutable and swept only when no row names them).
    fn share<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<String>>;
    /// A new blob with the bytes of `ids`, one after another (a multipart upload's
    /// completion); the blobs read stay. `NotFound` when one of them is gone.
    fn concat<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, io::Result<String>>;
    /// Gives up a blob a row named (failures are logged: the sweep removes what is left).
    /// Local files are deleted at once; a shared store only marks the blob, and its sweep
    /// deletes it after a grace period longer than the longest read, unless a row names
    /// it again.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
    /// Opens a blob; `NotFound` when it is gone (its object was replaced or deleted).
    fn open_blob<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<OpenBlob>>;
    /// Opens a blob for reading on the calling (blocking) thread: the job workers hash and
    /// scan there. `NotFound` when it is gone.
    fn read_blocking(&self, id: &str) -> io::Result<Box<dyn Read + Send>>;
    /// Removes blobs not in `referenced` and this node's leftover spool files: what a crash
    /// between the install of a blob and the commit of its row leaves behind, and what
    /// [`remove`](Self::remove) gave up. Local files: everything at once (only for a store
    /// this process owns alone, behind the data directory's lock). A shared store: only
    /// what has been unreferenced for its grace period, one node at a time.
    fn sweep(&self, referenced: HashSet<String>) -> BoxFuture<'_, io::Result<usize>>;
    /// Stores the local file `path` as the named file `name` (the detection uploads, by
    /// SHA-256), for a store that several nodes share, so that any node can read it;
    /// `Ok(false)` when this store keeps no named files (the embedded store: they stay in
    /// the data directory, the only one).
    fn put_file<'a>(&'a self, _name: &'a str, _path: &'a Path) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async { Ok(false) })
    }
    /// Writes the named file `name` to the local path `dest` (a new file); `Ok(false)` when
    /// this store keeps no named files, `NotFound` when it has none of that name.
    fn get_file<'a>(&'a self, _name: &'a str, _dest: &'a Path) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async { Ok(false) })
    }
    /// Whether the named file `name` exists (always false for a store that keeps none).
    fn has_file<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async { Ok(false) })
    }
    /// Deletes the named file `name` (nothing when there is none).
    fn delete_file<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Answers when the store can be reached (for readiness probes). A local store always
    /// can: the data directory is checked on its own.
    fn ping(&self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// An opened blob: it stays readable even if its object is replaced or deleted meanwhile.
pub struct OpenBlob(Box<dyn RangeRead>);

/// What an engine's opened blob can do: stream a range of its bytes.
pub trait RangeRead: Send {
    fn range(self: Box<Self>, start: u64, len: u64) -> BoxFuture<'static, io::Result<BlobStream>>;
}

impl OpenBlob {
    /// `len` bytes from `start`, as a stream.
    pub async fn range(self, start: u64, len: u64) -> io::Result<BlobStream> {
        self.0.range(start, len).await
    }
}

/// Blobs as local files.
#[derive(Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
    spool: PathBuf,
}

/// An open local blob file.
struct LocalFile(tokio::fs::File);

impl RangeRead for LocalFile {
    fn range(self: Box<Self>, start: u64, len: u64) -> BoxFuture<'static, io::Result<BlobStream>> {
        Box::pin(async move {
            let mut file = self.0;
            if start > 0 {
                file.seek(SeekFrom::Start(start)).await?;
            }
            let stream: BlobStream =
                Box::pin(ReaderStream::with_capacity(file.take(len), READ_CHUNK));
            Ok(stream)
        })
    }
}

impl LocalBlobs {
    /// Uses (creating) `<data_dir>/blobs` and `<data_dir>/tmp`.
    pub fn open(data_dir: &Path) -> io::Result<LocalBlobs> {
        let dir = data_dir.join("blobs");
        let spool = data_dir.join("tmp");
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(&spool)?;
        Ok(LocalBlobs { dir, spool })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id.get(..2).unwrap_or("00")).join(id)
    }

    fn new_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

impl BlobStore for LocalBlobs {
    fn spool_path(&self) -> PathBuf {
        self.spool.join(Self::new_id())
    }

    fn install<'a>(&'a self, spooled: &'a Path) -> BoxFuture<'a, io::Result<String>> {
        Box::pin(async move {
            let id = Self::new_id();
            let (from, to) = (spooled.to_path_buf(), self.path(&id));
            tokio::task::spawn_blocking(move || install(&from, &to))
                .await
                .map_err(io::Error::other)??;
            Ok(id)
        })
    }

    fn share<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<String>> {
        Box::pin(async move {
            let new = Self::new_id();
            let (from, to) = (self.path(id), self.path(&new));
            tokio::task::spawn_blocking(move || link_or_copy(&from, &to))
                .await
                .map_err(io::Error::other)??;
            Ok(new)
        })
    }

    fn concat<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, io::Result<String>> {
        Box::pin(async move {
            let spool = self.spool_path();
            let sources: Vec<PathBuf> = ids.iter().map(|id| self.path(id)).collect();
            let target = spool.clone();
            let written = tokio::task::spawn_blocking(move || concat_files(&sources, &target))
                .await
                .map_err(io::Error::other)?;
            if let Err(e) = written {
                let _ = tokio::fs::remove_file(&spool).await;
                return Err(e);
            }
            self.install(&spool).await
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = tokio::fs::remove_file(self.path(id)).await
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(blob = id, error = %e, "cannot remove a blob");
            }
        })
    }

    fn open_blob<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<OpenBlob>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(self.path(id)).await?;
            Ok(OpenBlob(Box::new(LocalFile(file))))
        })
    }

    fn read_blocking(&self, id: &str) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(self.path(id))?))
    }

    fn sweep(&self, referenced: HashSet<String>) -> BoxFuture<'_, io::Result<usize>> {
        let (spool, dir) = (self.spool.clone(), self.dir.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> io::Result<usize> {
                let mut removed = 0;
                for entry in std::fs::read_dir(&spool)? {
                    std::fs::remove_file(entry?.path())?;
                    removed += 1;
                }
                for shard in std::fs::read_dir(&dir)? {
                    let shard = shard?.path();
                    if !shard.is_dir() {
                        continue;
                    }
                    for entry in std::fs::read_dir(&shard)? {
                        let entry = entry?;
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if !referenced.contains(&name) {
                            std::fs::remove_file(entry.path())?;
                            removed += 1;
                        }
                    }
                }
                Ok(removed)
            })
            .await
            .map_err(io::Error::other)?
        })
    }
}

/// Moves a finished spool file to its blob path, durably.
fn install(tmp: &Path, dest: &Path) -> io::Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::rename(tmp, dest)?;
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Writes `sources` one after another into a new file `target`, synced. `std::io::copy`
/// between files uses `copy_file_range`: the kernel copies (or, on file systems that share
/// extents, links) the bytes without them passing through this process.
fn concat_files(sources: &[PathBuf], target: &Path) -> io::Result<()> {
    let mut out = File::create_new(target)?;
    for source in sources {
        let mut part = File::open(source)?;
        io::copy(&mut part, &mut out)?;
    }
    out.sync_all()
}

fn link_or_copy(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)?;
        File::open(to)?.sync_all()?;
    }
    if let Some(dir) = to.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    #[tokio::test]
    async fn install_share_read_range_remove_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let spooled = blobs.spool_path();
        std::fs::write(&spooled, b"hello world").unwrap();
        let id = blobs.install(&spooled).await.unwrap();
        assert!(!spooled.exists());
        let copy = blobs.share(&id).await.unwrap();
        assert_ne!(id, copy);

        let mut all = String::new();
        blobs
            .read_blocking(&copy)
            .unwrap()
            .read_to_string(&mut all)
            .unwrap();
        assert_eq!(all, "hello world");
        let part: Vec<Bytes> = blobs
            .open_blob(&id)
            .await
            .unwrap()
            .range(6, 5)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(part.concat(), b"world");

        let joined = blobs.concat(&[id.clone(), copy.clone()]).await.unwrap();
        let mut both = String::new();
        blobs
            .read_blocking(&joined)
            .unwrap()
            .read_to_string(&mut both)
            .unwrap();
        assert_eq!(both, "hello worldhello world");
        blobs.remove(&joined).await;
        let missing = blobs.concat(&[id.clone(), "0000".into()]).await;
        assert_eq!(
            missing.err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );

        blobs.remove(&id).await;
        assert_eq!(
            blobs.read_blocking(&id).err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
        std::fs::write(blobs.spool_path(), b"left over").unwrap();
        let removed = blobs.sweep(HashSet::from([copy.clone()])).await.unwrap();
        assert_eq!(removed, 1);
        assert!(blobs.read_blocking(&copy).is_ok());
        assert_eq!(blobs.sweep(HashSet::new()).await.unwrap(), 1);
    }
}
