//! The built, immutable database: [`HashDb::from_entries`] sorts and de-duplicates the
//! loaded [`Entries`] into one compact table per algorithm; lookups and the content
//! version work on those tables.

use std::fmt;
use std::mem::size_of;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::entries::{Entries, Pending};
use crate::hex;
use crate::intern::Label;
use crate::types::{Algorithm, Digests, Hit, ListKind};

/// Per-entry data beside the key: label id with the known-good flag, and size code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Meta {
    /// Label id; bit 31 set for known-good entries, so that lookups can rank matches
    /// without touching the label table.
    label: u32,
    size: u32,
}

/// Known-good flag in [`Meta::label`]; label ids stay below it (see the interner).
const GOOD_FLAG: u32 = 1 << 31;

impl Meta {
    fn id(self) -> u32 {
        self.label & !GOOD_FLAG
    }

    fn is_good(self) -> bool {
        self.label & GOOD_FLAG != 0
    }
}

/// The per-entry [`Meta`] column, stored once when every entry has the same (as in a plain
/// hash list: one name, any size).
#[derive(Debug)]
enum Column {
    Uniform(Meta),
    PerEntry(Vec<Meta>),
}

impl Column {
    fn from_vec(mut v: Vec<Meta>) -> Column {
        match v.first() {
            Some(&first) if v.iter().all(|&x| x == first) => Column::Uniform(first),
            _ => {
                v.shrink_to_fit();
                Column::PerEntry(v)
            }
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Meta {
        match self {
            Column::Uniform(m) => *m,
            Column::PerEntry(v) => v.get(i).copied().unwrap_or_default(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Column::Uniform(_) => 0,
            Column::PerEntry(v) => v.capacity() * size_of::<Meta>(),
        }
    }
}

/// Size code: any size.
const SIZE_ANY: u32 = 0;
/// Size code: the size does not fit in a code; see `Table::big_sizes`.
const SIZE_BIG: u32 = u32::MAX;

/// Index buckets are keyed by the first `bits` bits of the key, with `bits` about
/// log2(entries) - `INDEX_SLACK`: about 2^INDEX_SLACK entries per bucket.
const INDEX_SLACK: u32 = 1;
/// At most 2^MAX_INDEX_BITS buckets (4 MiB of index).
const MAX_INDEX_BITS: u32 = 20;

/// Sorted keys of one algorithm with their side columns.
struct Table<const N: usize> {
    keys: Vec<[u8; N]>,
    /// Label id and size code (`SIZE_ANY`, `size + 1`, or `SIZE_BIG`) per entry.
    meta: Column,
    /// (entry, size) for entries whose size code is `SIZE_BIG`, sorted by entry.
    big_sizes: Vec<(u32, u64)>,
    /// `index[p]` is the first entry whose key prefix is >= p; `2^bits + 1` values.
    index: Vec<u32>,
    bits: u32,
}

impl<const N: usize> Table<N> {
    /// Sorts and de-duplicates pending entries (see [`HashDb::from_entries`]).
    fn build(mut pending: Vec<Pending<N>>, labels: &[Label]) -> Table<N> {
        let is_good = |label: u32| {
            labels
                .get(label as usize)
                .is_some_and(|l| l.kind == ListKind::Good)
        };
        // Stable: among equal keys, load order is kept, so "first loaded" is well defined.
        pending.sort_by_key(|p| p.key);
        let n = pending.len();
        let mut write = 0;
        let mut i = 0;
        while i < n {
            let mut winner = i;
            let mut good = is_good(pending[i].label);
            let mut j = i + 1;
            while j < n && pending[j].key == pending[i].key {
                if !good && is_good(pending[j].label) {
                    winner = j;
                    good = true;
                }
                j += 1;
            }
            // write <= i <= winner: slots before i are consumed, so swapping is safe.
            pending.swap(write, winner);
            write += 1;
            i = j;
        }
        pending.truncate(write);

        let keys: Vec<[u8; N]> = pending.iter().map(|p| p.key).collect();
        let mut big_sizes = Vec::new();
        let mut meta = Vec::with_capacity(pending.len());
        for (pos, p) in pending.iter().enumerate() {
            let size = match p.sized {
                false => SIZE_ANY,
                true if p.size < u64::from(SIZE_BIG - 1) => p.size as u32 + 1,
                true => {
                    big_sizes.push((pos as u32, p.size));
                    SIZE_BIG
                }
            };
            let good = if is_good(p.label) { GOOD_FLAG } else { 0 };
            meta.push(Meta {
                label: p.label | good,
                size,
            });
        }
        drop(pending);
        big_sizes.shrink_to_fit();
        let meta = Column::from_vec(meta);

        let bits = match keys.len() {
            0 => 0,
            n => n.ilog2().saturating_sub(INDEX_SLACK).min(MAX_INDEX_BITS),
        };
        let buckets = 1usize << bits;
        let mut index = Vec::with_capacity(buckets + 1);
        let mut pos = 0usize;
        for bucket in 0..=buckets {
            while pos < keys.len() && (prefix(&keys[pos], bits) as usize) < bucket {
                pos += 1;
            }
            index.push(pos as u32);
        }
        Table {
            keys,
            meta,
            big_sizes,
            index,
            bits,
        }
    }

    fn remap_labels(&mut self, f: &mut impl FnMut(&mut u32)) {
        if self.keys.is_empty() {
            return;
        }
        let mut apply = |m: &mut Meta| {
            let mut id = m.id();
            f(&mut id);
            m.label = id | (m.label & GOOD_FLAG);
        };
        match &mut self.meta {
            Column::Uniform(m) => apply(m),
            Column::PerEntry(v) => v.iter_mut().for_each(apply),
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    /// The range of entries whose key prefix equals `key`'s.
    #[inline]
    fn bucket(&self, key: &[u8; N]) -> (usize, usize) {
        let p = prefix(key, self.bits) as usize;
        match (self.index.get(p), self.index.get(p + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, 0),
        }
    }

    /// The size constraint of entry `pos` with size code `code` (`None`: any size).
    fn size(&self, pos: usize, code: u32) -> Option<u64> {
        match code {
            SIZE_ANY => None,
            SIZE_BIG => self
                .big_sizes
                .binary_search_by_key(&(pos as u32), |&(p, _)| p)
                .ok()
                .and_then(|i| self.big_sizes.get(i))
                .map(|&(_, s)| s),
            code => Some(u64::from(code - 1)),
        }
    }

    /// The entry for `key` if its size constraint admits `size` (`None`: unknown).
    #[inline]
    fn matching(&self, key: &[u8; N], size: Option<u64>) -> Option<Meta> {
        self.search(self.bucket(key), key, size)
    }

    /// [`Table::matching`] within a bucket found by [`Table::bucket`].
    #[inline]
    fn search(&self, (lo, hi): (usize, usize), key: &[u8; N], size: Option<u64>) -> Option<Meta> {
        let pos = lo + self.keys.get(lo..hi)?.binary_search(key).ok()?;
        let meta = self.meta.get(pos);
        let ok = match (meta.size, size) {
            (SIZE_ANY, _) | (_, None) => true,
            (code, Some(have)) => self.size(pos, code) == Some(have),
        };
        ok.then_some(meta)
    }

    fn heap_bytes(&self) -> usize {
        self.keys.capacity() * N
            + self.meta.heap_bytes()
            + self.big_sizes.capacity() * size_of::<(u32, u64)>()
            + self.index.capacity() * size_of::<u32>()
    }
}

/// The first `bits` bits of a key (`bits` <= 32).
#[inline]
fn prefix<const N: usize>(key: &[u8; N], bits: u32) -> u32 {
    let head = key.first_chunk::<4>().copied().unwrap_or_default();
    (u64::from(u32::from_be_bytes(head)) >> (32 - bits)) as u32
}

/// An immutable hash reputation database; see the crate documentation.
///
/// Layout: per algorithm a sorted `Vec<[u8; N]>` of keys, a `u32` label id and a `u32` size
/// code per entry (stored once when uniform, as for a plain hash list), and a prefix index
/// of up to 2^20 `u32` bucket starts. Labels (name, source id, kind) are interned, their
/// names kept in one string arena.
pub struct HashDb {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
    labels: Vec<Label>,
    names: String,
    sources: Vec<String>,
    version: OnceLock<String>,
}

impl fmt::Debug for HashDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashDb")
            .field("md5", &self.md5.len())
            .field("sha1", &self.sha1.len())
            .field("sha256", &self.sha256.len())
            .field("labels", &self.labels.len())
            .field("sources", &self.sources)
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl Default for HashDb {
    fn default() -> Self {
        HashDb::from_entries(Entries::default())
    }
}

impl HashDb {
    /// Sorts and de-duplicates everything loaded into a database (what `Builder::build`
    /// does).
    ///
    /// For a hash listed more than once, one entry is kept: the first known-good one if any,
    /// else the first one loaded.
    pub(crate) fn from_entries(entries: Entries) -> HashDb {
        let Entries {
            md5,
            sha1,
            sha256,
            labels,
            sources,
            ..
        } = entries;
        let (mut labels, mut names) = labels.into_parts();
        let mut md5 = Table::build(md5, &labels);
        let mut sha1 = Table::build(sha1, &labels);
        let mut sha256 = Table::build(sha256, &labels);

        // Drop the labels no entry uses any more (all their hashes lost to duplicates).
        let mut used = vec![false; labels.len()];
        let mut mark = |id: &mut u32| {
            if let Some(u) = used.get_mut(*id as usize) {
                *u = true;
            }
        };
        md5.remap_labels(&mut mark);
        sha1.remap_labels(&mut mark);
        sha256.remap_labels(&mut mark);
        if !used.iter().all(|&u| u) {
            let mut map = vec![0u32; labels.len()];
            let mut kept = Vec::new();
            let mut arena = String::new();
            for ((label, &used), new_id) in labels.iter().zip(&used).zip(&mut map) {
                if used {
                    *new_id = kept.len() as u32;
                    // Fits in u32: the interner caps its arena, and this one is no larger.
                    let start = arena.len() as u32;
                    arena.push_str(label.name_in(&names));
                    kept.push(Label { start, ..*label });
                }
            }
            let mut remap = |id: &mut u32| *id = map.get(*id as usize).copied().unwrap_or(0);
            md5.remap_labels(&mut remap);
            sha1.remap_labels(&mut remap);
            sha256.remap_labels(&mut remap);
            (labels, names) = (kept, arena);
        }
        labels.shrink_to_fit();
        names.shrink_to_fit();
        HashDb {
            md5,
            sha1,
            sha256,
            labels,
            names,
            sources,
            version: OnceLock::new(),
        }
    }

    /// Looks up a file by its three digests. A known-good match wins over a known-bad one;
    /// among matches of the same kind, SHA-256 is reported before SHA-1 before MD5.
    pub fn lookup(&self, digests: &Digests, size: u64) -> Option<Hit<'_>> {
        let size = Some(size);
        let mut bad: Option<(u32, Algorithm)> = None;
        for (found, algorithm) in [
            (
                self.sha256.matching(&digests.sha256, size),
                Algorithm::Sha256,
            ),
            (self.sha1.matching(&digests.sha1, size), Algorithm::Sha1),
            (self.md5.matching(&digests.md5, size), Algorithm::Md5),
        ] {
            if let Some(meta) = found {
                if meta.is_good() {
                    return Some(self.hit(meta.id(), algorithm));
                }
                bad.get_or_insert((meta.id(), algorithm));
            }
        }
        bad.map(|(label, algorithm)| self.hit(label, algorithm))
    }

    /// Looks up an MD5. `size` is the file's size, or `None` to ignore size constraints.
    pub fn lookup_md5(&self, md5: &[u8; 16], size: Option<u64>) -> Option<Hit<'_>> {
        let meta = self.md5.matching(md5, size)?;
        Some(self.hit(meta.id(), Algorithm::Md5))
    }

    /// Looks up a SHA-1. `size` is the file's size, or `None` to ignore size constraints.
    pub fn lookup_sha1(&self, sha1: &[u8; 20], size: Option<u64>) -> Option<Hit<'_>> {
        let meta = self.sha1.matching(sha1, size)?;
        Some(self.hit(meta.id(), Algorithm::Sha1))
    }

    /// Looks up a SHA-256. `size` is the file's size, or `None` to ignore size constraints.
    pub fn lookup_sha256(&self, sha256: &[u8; 32], size: Option<u64>) -> Option<Hit<'_>> {
        let meta = self.sha256.matching(sha256, size)?;
        Some(self.hit(meta.id(), Algorithm::Sha256))
    }

    /// Number of distinct hashes (all algorithms).
    pub fn len(&self) -> usize {
        self.md5.len() + self.sha1.len() + self.sha256.len()
    }

    /// Whether the database has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of distinct hashes of one algorithm.
    pub fn len_of(&self, algorithm: Algorithm) -> usize {
        match algorithm {
            Algorithm::Md5 => self.md5.len(),
            Algorithm::Sha1 => self.sha1.len(),
            Algorithm::Sha256 => self.sha256.len(),
        }
    }

    /// Approximate heap use in bytes (allocated capacity of all tables and strings).
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.md5.heap_bytes()
            + self.sha1.heap_bytes()
            + self.sha256.heap_bytes()
            + self.labels.capacity() * size_of::<Label>()
            + self.names.capacity()
            + self.sources.capacity() * size_of::<String>()
            + self.sources.iter().map(String::capacity).sum::<usize>()
            + self.version.get().map_or(0, String::capacity)
    }

    /// A content version: 16 hex digits of a SHA-256 over every entry's algorithm, hash,
    /// kind, size constraint and name, in sorted order. Equal for equal content whatever
    /// the load order or file paths (source names are not included); computed on first
    /// call (tens of milliseconds per million entries).
    pub fn version(&self) -> &str {
        self.version.get_or_init(|| self.compute_version())
    }

    fn compute_version(&self) -> String {
        let mut hasher = Sha256::new();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(b"hashscan-hashdb/1\0");
        self.hash_table(&self.md5, 1, &mut hasher, &mut buf);
        self.hash_table(&self.sha1, 2, &mut hasher, &mut buf);
        self.hash_table(&self.sha256, 3, &mut hasher, &mut buf);
        hasher.update(&buf);
        let digest = hasher.finalize();
        hex::encode(digest.get(..8).unwrap_or_default())
    }

    fn hash_table<const N: usize>(
        &self,
        table: &Table<N>,
        tag: u8,
        hasher: &mut Sha256,
        buf: &mut Vec<u8>,
    ) {
        buf.push(tag);
        buf.extend_from_slice(&(table.len() as u64).to_le_bytes());
        for (pos, key) in table.keys.iter().enumerate() {
            let meta = table.meta.get(pos);
            let label = self.label(meta.id());
            let name = label.name_in(&self.names);
            buf.extend_from_slice(key);
            buf.push(match label.kind {
                ListKind::Bad => 0,
                ListKind::Good => 1,
            });
            match table.size(pos, meta.size) {
                None => buf.push(0),
                Some(s) => {
                    buf.push(1);
                    buf.extend_from_slice(&s.to_le_bytes());
                }
            }
            buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
            buf.extend_from_slice(name.as_bytes());
            if buf.len() >= (1 << 16) - 2048 {
                hasher.update(&buf);
                buf.clear();
            }
        }
    }

    fn label(&self, id: u32) -> Label {
        self.labels.get(id as usize).copied().unwrap_or_default()
    }

    fn hit(&self, label: u32, algorithm: Algorithm) -> Hit<'_> {
        let label = self.label(label);
        Hit {
            kind: label.kind,
            algorithm,
            name: label.name_in(&self.names),
            source: self
                .sources
                .get(usize::from(label.source))
                .map_or("", String::as_str),
        }
    }
}
