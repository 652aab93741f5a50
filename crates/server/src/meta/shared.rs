//! The state several nodes must agree on per request: nonces of signed requests already
//! accepted (a replay is refused) and request counters. [`SharedState`] is the interface;
//! [`LocalShared`] the embedded implementation, in this process's memory — one node owns
//! its data directory, so no other node needs to see it. A shared backend keeps both in
//! its database (a logged table: a crash must not reopen the replay window).

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use futures_util::future::BoxFuture;

use super::BackendError;

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceRefused {
    /// The pair was accepted before and its request is still within its time window.
    #[error("the signature nonce was used before")]
    Replayed,
    /// No more pairs can be remembered until some expire.
    #[error("too many nonces to remember; try again later")]
    Full,
}

/// Why a nonce check could not be made or was refused.
#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    #[error(transparent)]
    Refused(#[from] NonceRefused),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl NonceError {
    /// Whether the shared state cannot be reached just now (try again). A full nonce
    /// cache is a refusal, not this.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, NonceError::Backend(b) if b.is_unavailable())
    }
}

/// The shared per-request state interface.
pub trait SharedState: Send + Sync + 'static {
    /// Accepts the (access key, nonce) pair of a request valid until `expires_at` (Unix
    /// seconds) once: a second request with the pair before then is refused.
    fn remember_nonce<'a>(
        &'a self,
        access_key: &'a str,
        nonce: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), NonceError>>;
    /// Adds `by` to the counter `name`.
    fn count<'a>(&'a self, name: &'a str, by: u64) -> BoxFuture<'a, Result<(), BackendError>>;
    /// The counter `name` (0 when never counted).
    fn counter<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<u64, BackendError>>;
    /// Records that `beat.node` is alive with its ruleset version (making that version the
    /// active one when `beat.rules_loaded` says it was just loaded), forgets nodes silent
    /// for longer than `beat.live_ms`, and answers what the nodes agree on.
    fn heartbeat<'a>(&'a self, beat: &'a Heartbeat)
    -> BoxFuture<'a, Result<Cluster, BackendError>>;
    /// Removes a node that stops (its share of the rate limits goes back to the others).
    fn leave<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Takes or renews the lease `name` for `owner` for `ttl_ms`: true while `owner` holds
    /// it (one node at a time does the work it guards, such as sweeping blobs).
    fn lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<bool, BackendError>>;
}

/// A node's heartbeat.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    /// The node's id: host, pid and a boot nonce.
    pub node: String,
    /// The version of the ruleset the node scans with.
    pub ruleset: String,
    /// The node (re)loaded its rules since its last heartbeat: its version becomes the
    /// active one.
    pub rules_loaded: bool,
    /// A node not heard from for this long is gone.
    pub live_ms: i64,
}

/// What the nodes agree on, as a heartbeat answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Nodes alive (at least 1: the caller).
    pub nodes: u32,
    /// The ruleset version detections must be made with.
    pub active_ruleset: String,
}

/// The embedded shared state: a [`NonceCache`] and counters in memory.
#[derive(Default)]
pub struct LocalShared {
    pub nonces: NonceCache,
    counters: Mutex<HashMap<String, u64>>,
}

impl SharedState for LocalShared {
    fn remember_nonce<'a>(
        &'a self,
        access_key: &'a str,
        nonce: &'a str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), NonceError>> {
        let checked = self
            .nonces
            .check_and_remember(access_key, nonce, expires_at, now);
        Box::pin(async move { Ok(checked?) })
    }

    fn count<'a>(&'a self, name: &'a str, by: u64) -> BoxFuture<'a, Result<(), BackendError>> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let c = counters.entry(name.to_string()).or_default();
        *c = c.saturating_add(by);
        Box::pin(async { Ok(()) })
    }

    fn counter<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<u64, BackendError>> {
        let value = self
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
            .unwrap_or(0);
        Box::pin(async move { Ok(value) })
    }

    /// One node: itself, and its rules are the active ones.
    fn heartbeat<'a>(
        &'a self,
        beat: &'a Heartbeat,
    ) -> BoxFuture<'a, Result<Cluster, BackendError>> {
        Box::pin(async move {
            Ok(Cluster {
                nodes: 1,
                active_ruleset: beat.ruleset.clone(),
            })
        })
    }

    fn leave<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async { Ok(()) })
    }

    /// The only node holds every lease.
    fn lease<'a>(
        &'a self,
        _name: &'a str,
        _owner: &'a str,
        _ttl_ms: i64,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async { Ok(true) })
    }
}

/// Default [`NonceCache`] capacity.
pub const DEFAULT_NONCE_CAPACITY: usize = 1_000_000;

/// The (access key, nonce) pairs of accepted requests, each remembered until the last second
/// at which its request would still pass the time check ([`hashscan_auth::Verified::expires_at`]):
/// after that a replay fails the time check anyway.
///
/// Memory is bounded: a pair is stored as a 128-bit keyed hash (two SipHash instances with
/// random per-process keys, so a client cannot choose colliding nonces), about 80 bytes per
/// entry with the expiry heap; expired entries are evicted on every call; and at most
/// `capacity` entries are kept. When the cache is full of unexpired entries, a new request is
/// **refused** ([`NonceRefused::Full`]; Alibaba's 500 `SystemBusy`) rather than accepted unremembered: accepting would open a
/// replay window, refusing only delays honest clients (at the default capacity this needs more
/// than 500 requests per second sustained over the 31-minute V2 window).
pub struct NonceCache {
    inner: Mutex<Inner>,
    capacity: usize,
    hashers: (RandomState, RandomState),
}

#[derive(Default)]
struct Inner {
    /// Pair hash → expiry (Unix seconds).
    seen: HashMap<u128, i64>,
    /// (expiry, pair hash), earliest first.
    expiry: BinaryHeap<Reverse<(i64, u128)>>,
}

impl Default for NonceCache {
    fn default() -> Self {
        Self::new(DEFAULT_NONCE_CAPACITY)
    }
}

impl NonceCache {
    /// A cache of at most `capacity` pairs.
    pub fn new(capacity: usize) -> Self {
        NonceCache {
            inner: Mutex::new(Inner::default()),
            capacity,
            hashers: (RandomState::new(), RandomState::new()),
        }
    }

    fn key(&self, access_key: &str, nonce: &str) -> u128 {
        let a = self.hashers.0.hash_one((access_key, nonce));
        let b = self.hashers.1.hash_one((access_key, nonce));
        (u128::from(a) << 64) | u128::from(b)
    }

    /// Remembers `nonce` of `access_key` until `expires_at`; `Replayed` when it is already
    /// remembered, `Full` when the cache is full. `now` is Unix seconds.
    pub fn check_and_remember(
        &self,
        access_key: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), NonceRefused> {
        let key = self.key(access_key, nonce);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.evict(now);
        if inner.seen.contains_key(&key) {
            return Err(NonceRefused::Replayed);
        }
        if expires_at < now {
            // Already outside its window: it cannot be accepted again, nothing to remember.
            return Ok(());
        }
        if inner.seen.len() >= self.capacity {
            tracing::warn!(
                capacity = self.capacity,
                "nonce cache full: refusing requests until entries expire"
            );
            return Err(NonceRefused::Full);
        }
        inner.seen.insert(key, expires_at);
        inner.expiry.push(Reverse((expires_at, key)));
        Ok(())
    }

    /// Drops the entries expired at `now`.
    pub fn purge(&self, now: i64) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .evict(now);
    }

    /// Number of remembered pairs.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn evict(&mut self, now: i64) {
        while let Some(Reverse((at, key))) = self.expiry.peek().copied() {
            if at >= now {
                break;
            }
            self.expiry.pop();
            if self.seen.get(&key) == Some(&at) {
                self.seen.remove(&key);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_nonce_is_refused_until_its_request_expires() {
        let c = NonceCache::default();
        c.check_and_remember("ak", "n1", 1_000, 100).unwrap();
        let e = c.check_and_remember("ak", "n1", 1_000, 500).unwrap_err();
        assert_eq!(e, NonceRefused::Replayed);
        // The same nonce under another key is another pair.
        c.check_and_remember("other", "n1", 1_000, 500).unwrap();
        // Still refused at the last valid second, forgotten after it.
        assert!(c.check_and_remember("ak", "n1", 1_000, 1_000).is_err());
        c.check_and_remember("ak", "n1", 2_000, 1_001).unwrap();
        assert!(c.check_and_remember("ak", "n1", 2_000, 1_002).is_err());
    }

    #[test]
    fn pairs_are_not_ambiguous() {
        let c = NonceCache::default();
        c.check_and_remember("ab", "c", 10, 0).unwrap();
        c.check_and_remember("a", "bc", 10, 0).unwrap();
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn expired_entries_are_evicted() {
        let c = NonceCache::default();
        for i in 0..100 {
            c.check_and_remember("ak", &format!("n{i}"), 10 + i, 0)
                .unwrap();
        }
        assert_eq!(c.len(), 100);
        c.purge(60);
        assert_eq!(c.len(), 50);
        c.purge(1_000);
        assert!(c.is_empty());
        assert!(c.inner.lock().unwrap().expiry.is_empty());
    }

    #[test]
    fn an_already_expired_request_is_not_remembered() {
        let c = NonceCache::default();
        c.check_and_remember("ak", "n", 5, 10).unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn a_full_cache_refuses_until_entries_expire() {
        let c = NonceCache::new(3);
        for n in ["a", "b", "c"] {
            c.check_and_remember("ak", n, 100, 0).unwrap();
        }
        let e = c.check_and_remember("ak", "d", 100, 1).unwrap_err();
        assert_eq!(e, NonceRefused::Full);
        // A replay is still told apart from a full cache.
        assert_eq!(
            c.check_and_remember("ak", "a", 100, 1).unwrap_err(),
            NonceRefused::Replayed
        );
        c.check_and_remember("ak", "d", 200, 101).unwrap();
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn concurrent_use_accepts_each_pair_once() {
        let c = Arc::new(NonceCache::default());
        let accepted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let c = c.clone();
                    s.spawn(move || {
                        (0..500)
                            .filter(|i| c.check_and_remember("ak", &i.to_string(), 100, 0).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(accepted, 500);
    }

    #[tokio::test]
    async fn counters_add_up_per_name() {
        let s = LocalShared::default();
        assert_eq!(s.counter("calls").await.unwrap(), 0);
        s.count("calls", 2).await.unwrap();
        s.count("calls", 1).await.unwrap();
        s.count("other", 5).await.unwrap();
        assert_eq!(s.counter("calls").await.unwrap(), 3);
        assert!(matches!(s.remember_nonce("ak", "n", 100, 0).await, Ok(())));
        assert!(matches!(
            s.remember_nonce("ak", "n", 100, 1).await,
            Err(NonceError::Refused(NonceRefused::Replayed))
        ));
    }
}
