//! Accumulates entries from several lists, then builds a [`HashDb`].

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::db::{HashDb, Table};
use crate::format::unsupported_extension;
use crate::intern::{Interner, Label};
use crate::parse::{load, validate_name};
use crate::{Format, HashDbError, HashValue, ListKind, LoadReport};

/// An entry waiting for [`Builder::build`].
#[derive(Clone, Copy)]
pub(crate) struct Pending<const N: usize> {
    pub(crate) key: [u8; N],
    pub(crate) size: u64,
    pub(crate) label: u32,
    pub(crate) sized: bool,
}

/// Collects list entries; [`Builder::build`] turns them into a [`HashDb`].
///
/// Names are interned as they are read, so memory while loading is about 48 bytes per
/// SHA-256 entry (32 per MD5) plus each distinct name once.
#[derive(Default)]
pub struct Builder {
    md5: Vec<Pending<16>>,
    sha1: Vec<Pending<20>>,
    sha256: Vec<Pending<32>>,
    labels: Interner,
    sources: Vec<String>,
    source_ids: HashMap<String, u16>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("md5", &self.md5.len())
            .field("sha1", &self.sha1.len())
            .field("sha256", &self.sha256.len())
            .field("labels", &self.labels.len())
            .field("sources", &self.sources)
            .finish()
    }
}

impl Builder {
    /// An empty builder (same as [`HashDb::builder`]).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Loads a list file. The format comes from the extension ([`Format::from_path`]), else
    /// from the content ([`Format::sniff`]). `kind_for_plain` applies to plain hash lists and
    /// CSV; ClamAV formats decide for themselves (`.fp`/`.sfp` are good, the rest bad).
    ///
    /// The path, as displayed, becomes the entries' [`Hit::source`](crate::Hit::source).
    pub fn load_path(
        &mut self,
        path: impl AsRef<Path>,
        kind_for_plain: ListKind,
    ) -> Result<LoadReport, HashDbError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        if let Some(what) = unsupported_extension(path) {
            return Err(HashDbError::Unsupported { path: name, what });
        }
        let io_err = |err| HashDbError::Io {
            path: name.clone(),
            err,
        };
        let file = File::open(path).map_err(io_err)?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let format = match Format::from_path(path) {
            Some(format) => format,
            None => {
                let head = reader.fill_buf().map_err(io_err)?;
                Format::sniff(head)
                    .ok_or_else(|| HashDbError::UnknownFormat { path: name.clone() })?
            }
        };
        self.load_reader(reader, format, kind_for_plain, &name)
    }

    /// Loads a list in a known format from any reader. `kind` applies to
    /// [`Format::HashList`] and [`Format::Csv`] only; `source_name` is reported in hits and
    /// names plain-list entries (`hashlist:<stem of source_name>`).
    ///
    /// Malformed lines are counted in the report, never fatal. On an error (I/O, a CSV
    /// without a hash column) nothing from this reader stays in the builder.
    pub fn load_reader<R: BufRead>(
        &mut self,
        reader: R,
        format: Format,
        kind: ListKind,
        source_name: &str,
    ) -> Result<LoadReport, HashDbError> {
        let marks = (self.md5.len(), self.sha1.len(), self.sha256.len());
        let result = load(self, reader, format, kind, source_name);
        if result.is_err() {
            self.md5.truncate(marks.0);
            self.sha1.truncate(marks.1);
            self.sha256.truncate(marks.2);
        }
        result
    }

    /// Adds one entry. `size` is the exact file size the entry requires (`None`: any size).
    pub fn insert(
        &mut self,
        hash: HashValue,
        size: Option<u64>,
        kind: ListKind,
        name: &str,
        source: &str,
    ) -> Result<(), HashDbError> {
        let name = validate_name(name.as_bytes()).map_err(HashDbError::InvalidName)?;
        let source = self.intern_source(source)?;
        let label = self.label(name, source, kind)?;
        self.push(hash, size, label)
    }

    /// Number of entries added so far, before de-duplication.
    pub fn pending(&self) -> usize {
        self.md5.len() + self.sha1.len() + self.sha256.len()
    }

    /// Sorts and de-duplicates everything into a [`HashDb`].
    ///
    /// For a hash listed more than once, one entry is kept: the first known-good one if any
    /// (allow-lists override block-lists, whatever the size constraints), else the first one
    /// loaded.
    pub fn build(self) -> HashDb {
        let Builder {
            md5,
            sha1,
            sha256,
            labels,
            sources,
            ..
        } = self;
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
        HashDb::new(md5, sha1, sha256, labels, names, sources)
    }

    pub(crate) fn intern_source(&mut self, source: &str) -> Result<u16, HashDbError> {
        if let Some(&id) = self.source_ids.get(source) {
            return Ok(id);
        }
        let id = u16::try_from(self.sources.len())
            .map_err(|_| HashDbError::Capacity("more than 65536 list sources"))?;
        self.sources.push(source.to_owned());
        self.source_ids.insert(source.to_owned(), id);
        Ok(id)
    }

    /// The label id for (name, source, kind); `name` must be validated.
    pub(crate) fn label(
        &mut self,
        name: &str,
        source: u16,
        kind: ListKind,
    ) -> Result<u32, HashDbError> {
        self.labels.intern(name, source, kind)
    }

    pub(crate) fn push(
        &mut self,
        hash: HashValue,
        size: Option<u64>,
        label: u32,
    ) -> Result<(), HashDbError> {
        fn add<const N: usize>(
            v: &mut Vec<Pending<N>>,
            key: [u8; N],
            size: Option<u64>,
            label: u32,
        ) -> Result<(), HashDbError> {
            // Positions are stored as u32 in the built tables.
            if v.len() >= (u32::MAX - 1) as usize {
                return Err(HashDbError::Capacity(
                    "more than 2^32 entries of one algorithm",
                ));
            }
            v.push(Pending {
                key,
                size: size.unwrap_or(0),
                label,
                sized: size.is_some(),
            });
            Ok(())
        }
        match hash {
            HashValue::Md5(k) => add(&mut self.md5, k, size, label),
            HashValue::Sha1(k) => add(&mut self.sha1, k, size, label),
            HashValue::Sha256(k) => add(&mut self.sha256, k, size, label),
        }
    }
}
