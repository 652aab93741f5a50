//! The entries collected while loading lists, not yet sorted: one vector per algorithm,
//! the interned labels, and the list sources. `parse` and `Builder::insert` add to it;
//! `db` builds it into a `HashDb`.

use std::collections::HashMap;

use crate::error::HashDbError;
use crate::intern::Interner;
use crate::types::{HashValue, ListKind};

/// An entry waiting to be built into a table.
#[derive(Clone, Copy)]
pub(crate) struct Pending<const N: usize> {
    pub(crate) key: [u8; N],
    pub(crate) size: u64,
    pub(crate) label: u32,
    pub(crate) sized: bool,
}

/// Everything loaded so far; names are interned as they are read.
#[derive(Default)]
pub(crate) struct Entries {
    pub(crate) md5: Vec<Pending<16>>,
    pub(crate) sha1: Vec<Pending<20>>,
    pub(crate) sha256: Vec<Pending<32>>,
    pub(crate) labels: Interner,
    pub(crate) sources: Vec<String>,
    source_ids: HashMap<String, u16>,
}

/// The entry counts at some point, to roll back to with [`Entries::truncate`].
#[derive(Clone, Copy)]
pub(crate) struct Mark(usize, usize, usize);

impl Entries {
    /// Number of entries, before de-duplication.
    pub(crate) fn len(&self) -> usize {
        self.md5.len() + self.sha1.len() + self.sha256.len()
    }

    /// The current entry counts.
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.md5.len(), self.sha1.len(), self.sha256.len())
    }

    /// Drops the entries added since `mark` (sources and labels stay).
    pub(crate) fn truncate(&mut self, mark: Mark) {
        self.md5.truncate(mark.0);
        self.sha1.truncate(mark.1);
        self.sha256.truncate(mark.2);
    }

    /// The id of a list source, adding it if new.
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

    /// Adds one entry. `size` is the exact file size it requires (`None`: any size).
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
