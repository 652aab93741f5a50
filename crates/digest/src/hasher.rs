//! The public hasher: one pass over the input, the algorithms spread over lanes.
//!
//! A *lane* is a group of algorithms that one thread runs one after the other. The input is
//! cut into chunks held in a small pool of reusable buffers; every chunk is shared (not copied)
//! with every lane through a bounded channel, so memory stays at a few chunks whatever the
//! input size, and a slow lane holds back the reader instead of letting chunks pile up. The
//! lightest lane runs on the caller's thread, beside the reading, so that `n` lanes need only
//! `n - 1` extra threads. Algorithms are assigned to lanes by their cost (longest first, each
//! to the least loaded lane), so MD5 + SHA-1 + SHA-256 on two cores costs about what MD5 alone
//! costs.

use std::io::{self, Read};
use std::ops::Deref;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::state::Group;
use crate::{Algorithm, AlgorithmSet, Digest, Digests};

/// Default size of the chunks handed to lanes.
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
/// Inputs known to be smaller than this are hashed on the calling thread alone: starting
/// threads would cost more than it saves.
const PARALLEL_THRESHOLD: u64 = 1024 * 1024;
/// Buffers given to [`Hasher::update_bytes`] from this size on are shared, not copied.
const SHARE_MIN: usize = 64 * 1024;
/// Chunks a lane may have queued before the reader waits for it.
const LANE_QUEUE: usize = 8;

/// How a [`Hasher`] spreads its work.
#[derive(Clone, Debug)]
pub struct Options {
    lanes: Option<usize>,
    chunk_size: usize,
    size_hint: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lanes: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            size_hint: None,
        }
    }
}

impl Options {
    /// Automatic lanes (one per core, at most one per algorithm), default chunk size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use at most `n` lanes; `1` hashes everything on the calling thread.
    pub fn lanes(mut self, n: usize) -> Self {
        self.lanes = Some(n.max(1));
        self
    }

    /// Size of the chunks shared with lanes (at least 4 KiB).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(4096);
        self
    }

    /// The expected input size: small inputs are hashed without extra threads.
    pub fn size_hint(mut self, bytes: u64) -> Self {
        self.size_hint = Some(bytes);
        self
    }

    fn small(&self) -> bool {
        self.size_hint.is_some_and(|s| s < PARALLEL_THRESHOLD)
    }

    fn cores(&self) -> usize {
        self.lanes.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        })
    }

    fn lane_count(&self, set: AlgorithmSet) -> usize {
        if self.small() {
            return 1;
        }
        self.cores().min(set.len()).max(1)
    }

    /// With one group of algorithms and a spare core, the group gets its own thread and the
    /// caller only reads, so that reading overlaps hashing.
    fn offload_single_group(&self) -> bool {
        !self.small() && self.cores() >= 2
    }

    /// Size of the buffer of the single-lane path: no bigger than the input needs (plus one
    /// read to see its end), so hashing many small files does not zero a whole chunk each.
    fn inline_buffer(&self) -> usize {
        match self.size_hint {
            Some(s) => (s.saturating_add(1) as usize).clamp(8 * 1024, self.chunk_size),
            None => self.chunk_size,
        }
    }
}

/// Computes several digests of one input in one pass.
///
/// Feed it with [`update`](Hasher::update) (for example with chunks of an upload),
/// [`update_from_reader`](Hasher::update_from_reader), or as an [`io::Write`]; then call
/// [`finish`](Hasher::finish).
pub struct Hasher {
    size: u64,
    engine: Engine,
}

enum Engine {
    /// Every algorithm on the calling thread.
    Inline {
        group: Group,
        buf: Vec<u8>,
        buf_len: usize,
    },
    /// Some algorithms on lane threads, the lightest on the calling thread.
    Lanes(Lanes),
}

struct Lanes {
    local: Group,
    senders: Vec<Sender<Arc<Block>>>,
    threads: Vec<JoinHandle<Vec<Digest>>>,
    pool: Pool,
    current: Option<Chunk>,
}

impl Hasher {
    /// A hasher for `set` with automatic lanes.
    pub fn new(set: AlgorithmSet) -> Self {
        Self::with_options(set, &Options::default())
    }

    /// A hasher for `set` spread as `options` say.
    pub fn with_options(set: AlgorithmSet, options: &Options) -> Self {
        let mut plan = plan_lanes(set, options.lane_count(set));
        if plan.len() == 1 && options.offload_single_group() {
            plan.push(Vec::new());
        }
        let engine = if plan.len() <= 1 {
            Engine::Inline {
                group: Group::of(set),
                buf: Vec::new(),
                buf_len: options.inline_buffer(),
            }
        } else {
            Engine::Lanes(Lanes::start(plan, options.chunk_size))
        };
        Hasher { size: 0, engine }
    }

    /// Number of bytes fed so far.
    pub fn bytes_hashed(&self) -> u64 {
        self.size
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        match &mut self.engine {
            Engine::Inline { group, .. } => group.update(data),
            Engine::Lanes(lanes) => lanes.update(data),
        }
    }

    /// Feeds an owned buffer, such as a chunk of a request body. Large buffers are shared
    /// with the lanes as they are instead of being copied.
    pub fn update_bytes(&mut self, data: bytes::Bytes) {
        match &mut self.engine {
            Engine::Lanes(lanes) if data.len() >= SHARE_MIN => {
                self.size += data.len() as u64;
                lanes.update_shared(data);
            }
            _ => self.update(&data),
        }
    }

    /// Reads `reader` to its end and feeds every byte; returns the number of bytes read.
    /// Reads go straight into the buffers shared with the lanes: no extra copy.
    pub fn update_from_reader<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<u64> {
        match &mut self.engine {
            Engine::Inline {
                group,
                buf,
                buf_len,
            } => {
                if buf.is_empty() {
                    buf.resize(*buf_len, 0);
                }
                read_into(group, reader, buf, &mut self.size)
            }
            Engine::Lanes(lanes) => {
                let before = self.size;
                loop {
                    let n = lanes.read_into_current(reader)?;
                    if n == 0 {
                        return Ok(self.size - before);
                    }
                    self.size += n as u64;
                }
            }
        }
    }

    /// Like [`update_from_reader`](Hasher::update_from_reader), but a hasher without lanes
    /// reads through `buf` instead of a buffer of its own: for callers that hash many inputs
    /// one after another and keep one buffer (a fresh one per input is allocated and zeroed
    /// each time). A hasher with lanes, or an empty `buf`, reads as `update_from_reader`.
    pub fn update_from_reader_with<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
        buf: &mut [u8],
    ) -> io::Result<u64> {
        match &mut self.engine {
            Engine::Inline { group, .. } if !buf.is_empty() => {
                read_into(group, reader, buf, &mut self.size)
            }
            _ => self.update_from_reader(reader),
        }
    }

    /// Finishes every algorithm and returns the digests.
    pub fn finish(self) -> Digests {
        let digests = match self.engine {
            Engine::Inline { group, .. } => group.finish(),
            Engine::Lanes(lanes) => lanes.finish(),
        };
        Digests::new(self.size, digests)
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes a slice already in memory (a mapped file, say) with at most `lanes` threads: one
/// scoped thread per group of algorithms, each reading the slice itself, so nothing is copied.
/// Inputs under a MiB, or one lane, are hashed on the calling thread.
pub fn hash_slice(set: AlgorithmSet, data: &[u8], lanes: usize) -> Digests {
    let lanes = if (data.len() as u64) < PARALLEL_THRESHOLD {
        1
    } else {
        lanes.min(set.len()).max(1)
    };
    let plan = plan_lanes(set, lanes);
    let digests = if plan.len() <= 1 {
        let mut group = Group::of(set);
        group.update(data);
        group.finish()
    } else {
        std::thread::scope(|scope| {
            let hash = |algs: Vec<Algorithm>| {
                let mut group = Group::new(algs);
                group.update(data);
                group.finish()
            };
            let mut groups = plan.into_iter();
            // The calling thread takes the most expensive group, and any group whose thread
            // could not be started.
            let mut mine = groups.next().unwrap_or_default();
            let mut others = Vec::new();
            for algs in groups {
                let spawned = std::thread::Builder::new()
                    .name("hashscan-hash".into())
                    .spawn_scoped(scope, {
                        let algs = algs.clone();
                        move || hash(algs)
                    });
                match spawned {
                    Ok(handle) => others.push(handle),
                    Err(_) => mine.extend(algs),
                }
            }
            let mut digests = hash(mine);
            for handle in others {
                match handle.join() {
                    Ok(mut d) => digests.append(&mut d),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            digests
        })
    };
    Digests::new(data.len() as u64, digests)
}

/// Reads `reader` to its end through `buf` into `group`, counting into `size`; returns the
/// number of bytes read.
fn read_into<R: Read + ?Sized>(
    group: &mut Group,
    reader: &mut R,
    buf: &mut [u8],
    size: &mut u64,
) -> io::Result<u64> {
    let before = *size;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => return Ok(*size - before),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        group.update(&buf[..n]);
        *size += n as u64;
    }
}

/// Splits `set` into at most `lanes` groups of about equal cost (longest processing time
/// first). The result is ordered from the most to the least expensive group.
fn plan_lanes(set: AlgorithmSet, lanes: usize) -> Vec<Vec<Algorithm>> {
    let mut algs: Vec<Algorithm> = set.iter().collect();
    algs.sort_by_key(|a| std::cmp::Reverse(a.cost()));
    let mut groups: Vec<(u32, Vec<Algorithm>)> = vec![(0, Vec::new()); lanes.max(1)];
    for alg in algs {
        if let Some(lightest) = groups.iter_mut().min_by_key(|(cost, _)| *cost) {
            lightest.0 += alg.cost();
            lightest.1.push(alg);
        }
    }
    groups.retain(|(_, g)| !g.is_empty());
    groups.sort_by_key(|(cost, _)| std::cmp::Reverse(*cost));
    groups.into_iter().map(|(_, g)| g).collect()
}

impl Lanes {
    /// Starts a thread for every group but the last (the lightest, possibly empty), which
    /// stays local. A group whose thread cannot be started joins the local one.
    fn start(mut plan: Vec<Vec<Algorithm>>, chunk_size: usize) -> Self {
        let mut local_algs = plan.pop().unwrap_or_default();
        let mut senders = Vec::with_capacity(plan.len());
        let mut threads = Vec::with_capacity(plan.len());
        for (i, algs) in plan.into_iter().enumerate() {
            let (tx, rx) = crossbeam_channel::bounded::<Arc<Block>>(LANE_QUEUE);
            let lane_algs = algs.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("digest-lane-{i}"))
                .spawn(move || run_lane(Group::new(lane_algs), rx));
            match spawned {
                Ok(handle) => {
                    senders.push(tx);
                    threads.push(handle);
                }
                Err(_) => local_algs.extend(algs),
            }
        }
        Lanes {
            local: Group::new(local_algs),
            senders,
            threads,
            pool: Pool::new(chunk_size, LANE_QUEUE + 4),
            current: None,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let chunk = self.current.get_or_insert_with(|| self.pool.take());
            let n = chunk.fill_from(data);
            data = &data[n..];
            if chunk.is_full() {
                self.dispatch();
            }
        }
    }

    /// Reads once into the chunk being filled, dispatching it when full. Returns the bytes
    /// read, 0 at the end of the input.
    fn read_into_current<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        let chunk = self.current.get_or_insert_with(|| self.pool.take());
        let n = loop {
            match reader.read(chunk.spare()) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        chunk.len += n;
        if chunk.is_full() {
            self.dispatch();
        }
        Ok(n)
    }

    /// Hands the current chunk to every lane, then hashes the local lane's share of it.
    fn dispatch(&mut self) {
        let Some(chunk) = self.current.take() else {
            return;
        };
        if chunk.len == 0 {
            return;
        }
        self.send(Block::Pooled(chunk));
    }

    /// Shares an owned buffer with the lanes as it is, after what is already buffered.
    fn update_shared(&mut self, data: bytes::Bytes) {
        self.dispatch();
        self.send(Block::Shared(data));
    }

    fn send(&mut self, block: Block) {
        let chunk = Arc::new(block);
        for tx in &self.senders {
            // A send fails only if the lane thread is gone, which only a panic can cause;
            // `finish` reports that panic when it joins the thread.
            let _ = tx.send(Arc::clone(&chunk));
        }
        self.local.update(&chunk);
    }

    fn finish(mut self) -> Vec<Digest> {
        self.dispatch();
        self.senders.clear();
        let mut digests = std::mem::replace(&mut self.local, Group::new([])).finish();
        for handle in self.threads.drain(..) {
            match handle.join() {
                Ok(d) => digests.extend(d),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        digests
    }
}

fn run_lane(mut group: Group, rx: Receiver<Arc<Block>>) -> Vec<Digest> {
    for chunk in rx {
        group.update(&chunk);
    }
    group.finish()
}

/// What lanes receive: a pooled buffer, or a buffer the caller handed over (no copy).
enum Block {
    Pooled(Chunk),
    Shared(bytes::Bytes),
}

impl Deref for Block {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Block::Pooled(c) => c,
            Block::Shared(b) => b,
        }
    }
}

/// A fixed-size buffer that goes back to its pool when the last lane drops it.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
    home: Sender<Vec<u8>>,
}

impl Chunk {
    fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    fn fill_from(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }
}

impl Deref for Chunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // A full pool just lets the buffer go.
        let _ = self.home.try_send(std::mem::take(&mut self.buf));
    }
}

/// Reusable chunk buffers, so that a long input does not allocate (and fault in) fresh
/// memory for every chunk.
struct Pool {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    chunk_size: usize,
}

impl Pool {
    fn new(chunk_size: usize, capacity: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        Pool { tx, rx, chunk_size }
    }

    fn take(&self) -> Chunk {
        let buf = self
            .rx
            .try_recv()
            .unwrap_or_else(|_| vec![0u8; self.chunk_size]);
        Chunk {
            buf,
            len: 0,
            home: self.tx.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_balance_md5_against_the_shas() {
        let set: AlgorithmSet = "md5,sha1,sha256".parse().unwrap();
        let plan = plan_lanes(set, 2);
        assert_eq!(
            plan,
            vec![
                vec![Algorithm::Md5],
                vec![Algorithm::Sha1, Algorithm::Sha256]
            ]
        );
    }

    #[test]
    fn a_slice_hashed_on_scoped_threads_matches_one_thread() {
        let set = AlgorithmSet::all();
        for len in [0usize, 1, 65_537, (1 << 20) + 3, 3 << 20] {
            let data: Vec<u8> = (0..len as u32).map(|i| (i * 31 % 257) as u8).collect();
            let want = crate::hash_bytes(set, &data);
            for lanes in [0, 1, 2, 3, 16] {
                assert_eq!(
                    hash_slice(set, &data, lanes),
                    want,
                    "{len} bytes, {lanes} lanes"
                );
            }
        }
        let abc = hash_slice("md5,sha256".parse().unwrap(), b"abc", 2);
        assert_eq!(
            abc.get(Algorithm::Md5).unwrap().to_hex(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn no_more_lanes_than_algorithms() {
        let plan = plan_lanes(AlgorithmSet::one(Algorithm::Sha256), 8);
        assert_eq!(plan, vec![vec![Algorithm::Sha256]]);
        assert_eq!(plan_lanes(AlgorithmSet::all(), 3).len(), 3);
    }

    #[test]
    fn shared_and_copied_buffers_interleave_in_order() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let set = AlgorithmSet::all();
        let want = crate::hash_bytes(set, &data);
        let mut h = Hasher::with_options(set, &Options::new().lanes(3).chunk_size(4096));
        let mut rest = &data[..];
        for (i, size) in [10usize, 100_000, 70_000, 5, 1 << 20, 65_536, 3]
            .iter()
            .cycle()
            .enumerate()
        {
            if rest.is_empty() {
                break;
            }
            let n = (*size).min(rest.len());
            if i % 2 == 0 {
                h.update(&rest[..n]);
            } else {
                h.update_bytes(bytes::Bytes::copy_from_slice(&rest[..n]));
            }
            rest = &rest[n..];
        }
        assert_eq!(h.finish(), want);
    }

    #[test]
    fn one_algorithm_gets_a_thread_and_the_caller_reads() {
        let set = AlgorithmSet::one(Algorithm::Md5);
        let h = Hasher::with_options(set, &Options::new().lanes(2).size_hint(1 << 30));
        assert!(matches!(&h.engine, Engine::Lanes(l) if l.threads.len() == 1));
        let h = Hasher::with_options(set, &Options::new().lanes(1).size_hint(1 << 30));
        assert!(matches!(h.engine, Engine::Inline { .. }));
        let h = Hasher::with_options(set, &Options::new().lanes(2).size_hint(4096));
        assert!(matches!(h.engine, Engine::Inline { buf_len: 8192, .. }));
    }

    #[test]
    fn small_inputs_stay_on_the_calling_thread() {
        let set = AlgorithmSet::all();
        assert_eq!(Options::new().lanes(4).size_hint(1000).lane_count(set), 1);
        assert_eq!(
            Options::new().lanes(4).size_hint(1 << 30).lane_count(set),
            4
        );
    }

    #[test]
    fn a_caller_buffer_serves_many_inputs_without_lanes_and_is_ignored_with_them() {
        let set = AlgorithmSet::all();
        let mut buf = vec![0u8; 1000];
        for len in [0usize, 1, 999, 1000, 1001, 250_000] {
            let data: Vec<u8> = (0..len as u32).map(|i| (i * 13 % 251) as u8).collect();
            let want = crate::hash_bytes(set, &data);
            for lanes in [1, 3] {
                let mut h = Hasher::with_options(set, &Options::new().lanes(lanes));
                let n = h.update_from_reader_with(&mut &data[..], &mut buf).unwrap();
                assert_eq!(n, len as u64);
                assert_eq!(h.finish(), want, "{len} bytes, {lanes} lanes");
            }
            // An empty buffer reads as update_from_reader.
            let mut h = Hasher::with_options(set, &Options::new().lanes(1));
            h.update_from_reader_with(&mut &data[..], &mut []).unwrap();
            assert_eq!(h.finish(), want);
        }
    }
}
