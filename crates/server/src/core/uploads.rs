//! `Uploads`: the one streaming receive behind every upload — a COS PUT, an Alibaba form
//! upload, a `/v1` detection upload. Chunks go to a temporary file on a blocking thread that
//! writes each chunk and feeds the same buffer to the digest engine, so the bytes are read
//! from memory once; the size limit is checked as the chunks arrive, so an over-large body
//! costs no more than the limit. A durable receive flushes to disk beside the upload (a
//! helper thread starts writeback every 32 MiB) and fsyncs at the end.
//!
//! On any failure the temporary file is removed; on success the caller owns it (installs it
//! as a blob, or keeps it as a detection file).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hashscan_digest::{AlgorithmSet, Digests, Hasher, Options};

/// Bytes written between two early writeback requests of a durable receive.
const WRITEBACK_STEP: usize = 32 * 1024 * 1024;
/// Chunks in flight between the request and the writing thread.
const QUEUE: usize = 16;

/// What to receive and under which limit.
#[derive(Debug, Clone)]
pub struct Receive {
    /// The temporary file to create (it must not exist).
    pub temp: PathBuf,
    /// The digests computed while writing.
    pub algorithms: AlgorithmSet,
    /// Most bytes accepted.
    pub limit: u64,
    /// The announced length (`Content-Length`), if any: over the limit, the body is refused
    /// before it is read; otherwise a hint for the digest engine.
    pub size_hint: Option<u64>,
    /// Flush and fsync (objects); detection files, kept for hours, skip it.
    pub durable: bool,
}

/// A received body: the temporary file, its size and digests.
#[derive(Debug)]
pub struct Received {
    pub temp: PathBuf,
    pub size: u64,
    pub digests: Digests,
}

impl Received {
    /// A digest as lower-case hex (empty if it was not computed).
    pub fn hex(&self, algorithm: hashscan_digest::Algorithm) -> String {
        self.digests
            .get(algorithm)
            .map(|d| d.to_hex())
            .unwrap_or_default()
    }
}

/// Why a body was not received.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError<E> {
    /// The body stream failed (the dialect's own error: a broken form, a digest mismatch…).
    #[error("the body could not be read")]
    Body(E),
    /// More than the limit.
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The temporary file could not be written.
    #[error("cannot write the upload: {0}")]
    Io(#[from] io::Error),
}

impl<E> ReceiveError<E> {
    /// Whether a store cannot be reached just now (try again). The body's own errors are
    /// the dialect's to judge.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ReceiveError::Io(e) if crate::core::failure::io_unavailable(e))
    }
}

/// Streams `body` into `r.temp`, hashing it on the way.
pub async fn receive<S, E>(r: Receive, body: S) -> Result<Received, ReceiveError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
{
    if r.size_hint.is_some_and(|n| n > r.limit) {
        return Err(ReceiveError::TooLarge { limit: r.limit });
    }
    let temp = r.temp.clone();
    let received = receive_inner(r, body).await;
    if received.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    received
}

async fn receive_inner<S, E>(r: Receive, body: S) -> Result<Received, ReceiveError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(QUEUE);
    let (path, algorithms, durable, hint) = (r.temp.clone(), r.algorithms, r.durable, r.size_hint);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<Digests> {
        let mut file = File::create_new(&path)?;
        let options = match hint {
            Some(n) => Options::new().size_hint(n),
            None => Options::new(),
        };
        let mut hasher = Hasher::with_options(algorithms, &options);
        let flusher = durable.then(|| Flusher::start(&file));
        let mut unflushed = 0usize;
        while let Some(chunk) = rx.blocking_recv() {
            file.write_all(&chunk)?;
            unflushed += chunk.len();
            hasher.update_bytes(chunk);
            if unflushed >= WRITEBACK_STEP {
                unflushed = 0;
                if let Some(f) = &flusher {
                    f.poke();
                }
            }
        }
        if let Some(f) = flusher {
            f.finish();
            file.sync_all()?;
        } else {
            file.flush()?;
        }
        Ok(hasher.finish())
    });

    let mut received: u64 = 0;
    let mut failure = None;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(ReceiveError::Body(e));
                break;
            }
        };
        received += chunk.len() as u64;
        if received > r.limit {
            failure = Some(ReceiveError::TooLarge { limit: r.limit });
            break;
        }
        if tx.send(chunk).await.is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop(tx);
    let written = writer.await.map_err(io::Error::other)?;
    match failure {
        Some(e) => Err(e),
        None => {
            let digests = written?;
            Ok(Received {
                temp: r.temp,
                size: digests.size(),
                digests,
            })
        }
    }
}

/// Removes a received file that will not be kept.
pub async fn discard(temp: &Path) {
    let _ = tokio::fs::remove_file(temp).await;
}

/// Starts writeback of a file being written from a helper thread, so that the final fsync
/// only waits for the tail.
struct Flusher {
    tx: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    fn start(file: &File) -> Flusher {
        let Ok(clone) = file.try_clone() else {
            return Flusher {
                tx: None,
                thread: None,
            };
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("upload-flush".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    let _ = clone.sync_data();
                }
            })
            .ok();
        Flusher {
            tx: thread.is_some().then_some(tx),
            thread,
        }
    }

    fn poke(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }

    fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashscan_digest::Algorithm;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, &'static str>> {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    fn spec(dir: &Path, limit: u64) -> Receive {
        Receive {
            temp: dir.join("t"),
            algorithms: [Algorithm::Md5, Algorithm::Sha256].into_iter().collect(),
            limit,
            size_hint: None,
            durable: true,
        }
    }

    #[tokio::test]
    async fn writes_and_hashes_what_it_receives() {
        let dir = tempfile::tempdir().unwrap();
        let got = receive(spec(dir.path(), 100), chunks(&[b"ab", b"c"]))
            .await
            .unwrap();
        assert_eq!(got.size, 3);
        assert_eq!(got.hex(Algorithm::Md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(std::fs::read(&got.temp).unwrap(), b"abc");
    }

    #[tokio::test]
    async fn over_the_limit_or_broken_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let over = receive(spec(dir.path(), 2), chunks(&[b"ab", b"c"])).await;
        assert!(matches!(over, Err(ReceiveError::TooLarge { limit: 2 })));
        assert!(!dir.path().join("t").exists());

        let mut announced = spec(dir.path(), 2);
        announced.size_hint = Some(3);
        let early = receive(announced, chunks(&[])).await;
        assert!(matches!(early, Err(ReceiveError::TooLarge { .. })));

        let broken = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"a")), Err("cut")]);
        let got = receive(spec(dir.path(), 100), broken).await;
        assert!(matches!(got, Err(ReceiveError::Body("cut"))));
        assert!(!dir.path().join("t").exists());
    }
}
