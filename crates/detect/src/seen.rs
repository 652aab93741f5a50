//! What YARA found in content already scanned, by SHA-256 and size: a tree or an archive
//! that holds the same file many times (vendored libraries, one jar in every war, a kit zipped
//! beside its own files) is searched once per content, as clamd keeps the hashes of clean
//! files. The rules decide alone what matches the same bytes (no external variables, no file
//! names), so a hit list is the content's under one ruleset; entries belong to the ruleset
//! they were made with, and a reload empties the cache. Scans that timed out or were cut are
//! never kept. Bounded: the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::rules::Ruleset;
use crate::verdict::Hit;

/// Content: its SHA-256 and size.
pub(crate) type Key = ([u8; 32], u64);

pub(crate) struct Seen {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rules: Option<Arc<Ruleset>>,
    hits: HashMap<Key, Vec<Hit>>,
    order: VecDeque<Key>,
}

impl Inner {
    /// Empties the cache if it holds another ruleset's results.
    fn follow(&mut self, rules: &Arc<Ruleset>) {
        if !self.rules.as_ref().is_some_and(|r| Arc::ptr_eq(r, rules)) {
            self.rules = Some(rules.clone());
            self.hits.clear();
            self.order.clear();
        }
    }
}

impl Seen {
    /// A cache of at most `capacity` contents (0: nothing is kept).
    pub(crate) fn new(capacity: usize) -> Seen {
        Seen {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The hits of `key` under `rules`, if that content was scanned with them.
    pub(crate) fn get(&self, rules: &Arc<Ruleset>, key: &Key) -> Option<Vec<Hit>> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.lock();
        inner.follow(rules);
        inner.hits.get(key).cloned()
    }

    /// Keeps the hits of `key` under `rules`.
    pub(crate) fn put(&self, rules: &Arc<Ruleset>, key: Key, hits: &[Hit]) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.follow(rules);
        if inner.hits.insert(key, hits.to_vec()).is_none() {
            inner.order.push_back(key);
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.hits.remove(&old);
            }
        }
    }
}
