//! Label interning for the loaded entries: (name, source, kind) -> dense id, names in one
//! arena.
//!
//! The map is keyed by a precomputed 64-bit hash, so growing it never re-reads the names;
//! the rare hash collision between different labels is resolved by probing `hash + 1`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::HashDbError;
use crate::types::ListKind;

/// What an entry says: its name (`arena[start..start + len]`), source id and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Label {
    pub(crate) start: u32,
    pub(crate) len: u32,
    pub(crate) source: u16,
    pub(crate) kind: ListKind,
}

impl Label {
    /// The label's name within `arena`.
    pub(crate) fn name_in<'a>(&self, arena: &'a str) -> &'a str {
        let start = self.start as usize;
        arena.get(start..start + self.len as usize).unwrap_or("")
    }
}

/// Passes an already well-mixed `u64` through.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in anyway.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A fast non-cryptographic hash of a label (the names come from list files, and a
/// flood of colliding names only slows loading down).
fn label_hash(name: &[u8], source: u16, kind: ListKind) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = ((u64::from(source) << 1) | u64::from(kind == ListKind::Good)) ^ name.len() as u64;
    let mut chunks = name.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    w[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    // murmur3 fmix64: spread entropy to every bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[derive(Default)]
pub(crate) struct Interner {
    pub(crate) arena: String,
    pub(crate) labels: Vec<Label>,
    ids: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    last: Option<(Label, u32)>,
}

impl Interner {
    pub(crate) fn name(&self, label: &Label) -> &str {
        label.name_in(&self.arena)
    }

    /// The labels and the name arena; the lookup map is dropped.
    pub(crate) fn into_parts(self) -> (Vec<Label>, String) {
        (self.labels, self.arena)
    }

    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }

    /// The id of (name, source, kind), adding it if new.
    pub(crate) fn intern(
        &mut self,
        name: &str,
        source: u16,
        kind: ListKind,
    ) -> Result<u32, HashDbError> {
        // Consecutive lines mostly share a label.
        if let Some((last, id)) = self.last
            && last.source == source
            && last.kind == kind
            && self.name(&last) == name
        {
            return Ok(id);
        }
        let mut h = label_hash(name.as_bytes(), source, kind);
        while let Some(&id) = self.ids.get(&h) {
            let existing = self.labels.get(id as usize).copied().unwrap_or_default();
            if existing.source == source && existing.kind == kind && self.name(&existing) == name {
                self.last = Some((existing, id));
                return Ok(id);
            }
            h = h.wrapping_add(1);
        }
        // Ids stay below 2^31: the built tables keep a flag in bit 31.
        let id = u32::try_from(self.labels.len())
            .ok()
            .filter(|&id| id < 1 << 31)
            .ok_or(HashDbError::Capacity("more than 2^31 distinct names"))?;
        let start = u32::try_from(self.arena.len())
            .ok()
            .filter(|s| u32::try_from(name.len()).is_ok_and(|l| s.checked_add(l).is_some()))
            .ok_or(HashDbError::Capacity("more than 4 GiB of names"))?;
        self.arena.push_str(name);
        let label = Label {
            start,
            len: name.len() as u32,
            source,
            kind,
        };
        self.labels.push(label);
        self.ids.insert(h, id);
        self.last = Some((label, id));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_by_name_source_and_kind() {
        let mut i = Interner::default();
        let a = i.intern("A", 0, ListKind::Bad).unwrap();
        let b = i.intern("B", 0, ListKind::Bad).unwrap();
        assert_eq!(i.intern("A", 0, ListKind::Bad).unwrap(), a);
        assert_ne!(i.intern("A", 1, ListKind::Bad).unwrap(), a);
        assert_ne!(i.intern("A", 0, ListKind::Good).unwrap(), a);
        assert_eq!(i.intern("B", 0, ListKind::Bad).unwrap(), b);
        assert_eq!(i.len(), 4);
        assert_eq!(i.name(&i.labels[b as usize]), "B");
    }

    #[test]
    fn colliding_hashes_are_probed() {
        let mut i = Interner::default();
        // Force a collision: occupy the slot "B" will hash to with "A"'s id.
        let a = i.intern("A", 0, ListKind::Bad).unwrap();
        i.ids.insert(label_hash(b"B", 0, ListKind::Bad), a);
        i.last = None;
        let b = i.intern("B", 0, ListKind::Bad).unwrap();
        assert_ne!(a, b);
        i.last = None;
        assert_eq!(i.intern("B", 0, ListKind::Bad).unwrap(), b);
        assert_eq!(i.intern("A", 0, ListKind::Bad).unwrap(), a);
    }
}
