//! The public [`Builder`]: loads lists into [`Entries`] through `parse`, then builds a
//! [`HashDb`] through `db`. The only module that uses both sides.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::db::HashDb;
use crate::entries::Entries;
use crate::error::HashDbError;
use crate::format::{Format, unsupported_extension};
use crate::parse::{load, validate_name};
use crate::report::LoadReport;
use crate::types::{HashValue, ListKind};

/// Collects list entries; [`Builder::build`] turns them into a [`HashDb`].
///
/// Names are interned as they are read, so memory while loading is about 48 bytes per
/// SHA-256 entry (32 per MD5) plus each distinct name once.
#[derive(Default)]
pub struct Builder {
    entries: Entries,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.entries;
        f.debug_struct("Builder")
            .field("md5", &e.md5.len())
            .field("sha1", &e.sha1.len())
            .field("sha256", &e.sha256.len())
            .field("labels", &e.labels.len())
            .field("sources", &e.sources)
            .finish()
    }
}

impl HashDb {
    /// A new, empty [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
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
        self.load_path_as(path, kind_for_plain, &path.display().to_string())
    }

    /// [`load_path`](Self::load_path), with `name` as the entries' source instead of the
    /// path (an installed update's list is `updates/<source>/<file>` wherever it lies).
    pub fn load_path_as(
        &mut self,
        path: impl AsRef<Path>,
        kind_for_plain: ListKind,
        name: &str,
    ) -> Result<LoadReport, HashDbError> {
        let path = path.as_ref();
        let name = name.to_string();
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
        let mark = self.entries.mark();
        let result = load(&mut self.entries, reader, format, kind, source_name);
        if result.is_err() {
            self.entries.truncate(mark);
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
        let source = self.entries.intern_source(source)?;
        let label = self.entries.label(name, source, kind)?;
        self.entries.push(hash, size, label)
    }

    /// Number of entries added so far, before de-duplication.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Sorts and de-duplicates everything into a [`HashDb`].
    ///
    /// For a hash listed more than once, one entry is kept: the first known-good one if any
    /// (allow-lists override block-lists, whatever the size constraints), else the first one
    /// loaded.
    pub fn build(self) -> HashDb {
        HashDb::from_entries(self.entries)
    }
}
