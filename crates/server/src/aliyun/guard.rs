//! What stands between an authenticated Sas request and the core: refusal of replayed nonces
//! ([`NonceCache`]) and the per-key call-rate limit ([`RateLimiter`], `RequestTooFrequently`,
//! spec §1.8). Both take the time from the caller (or an injected clock), so they are tested
//! without sleeping.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use super::error::SasError;

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
/// **refused** with 500 `SystemBusy` rather than accepted unremembered: accepting would open a
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

    /// Remembers `nonce` of `access_key` until `expires_at`; 400 `SignatureNonceUsed` when it
    /// is already remembered, 500 `SystemBusy` when the cache is full. `now` is Unix seconds.
    pub fn check_and_remember(
        &self,
        access_key: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), SasError> {
        let key = self.key(access_key, nonce);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.evict(now);
        if inner.seen.contains_key(&key) {
            return Err(SasError::signature_nonce_used());
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
            return Err(SasError::system_busy());
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

/// Above this many tracked keys, idle ones are dropped on the next check.
const PRUNE_ABOVE: usize = 10_000;

type Keyed<C> = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// A per-access-key rate limit: `per_second` requests per second on average, up to `burst` at
/// once (GCRA, `governor`'s keyed limiter). Keys are access key ids, checked after
/// authentication, so their number is bounded by the configured keys; idle keys are dropped
/// anyway once more than 10 000 are tracked.
pub struct RateLimiter<C: Clock = DefaultClock> {
    inner: Keyed<C>,
}

impl RateLimiter {
    /// A limiter on the monotonic clock.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_clock(per_second, burst, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter on `clock` (tests use `governor::clock::FakeRelativeClock`).
    pub fn with_clock(per_second: NonZeroU32, burst: NonZeroU32, clock: C) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        RateLimiter {
            inner: governor::RateLimiter::dashmap_with_clock(quota, clock),
        }
    }

    /// Counts one request of `access_key`; 400 `RequestTooFrequently` over the limit.
    pub fn check(&self, access_key: &str) -> Result<(), SasError> {
        let result = self
            .inner
            .check_key(&access_key.to_owned())
            .map(|_| ())
            .map_err(|_| SasError::request_too_frequently());
        if self.inner.len() > PRUNE_ABOVE {
            self.prune();
        }
        result
    }

    /// Drops the state of keys whose budget is full again.
    pub fn prune(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }

    /// Number of keys tracked.
    pub fn tracked(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_nonce_is_refused_until_its_request_expires() {
        let c = NonceCache::default();
        c.check_and_remember("ak", "n1", 1_000, 100).unwrap();
        let e = c.check_and_remember("ak", "n1", 1_000, 500).unwrap_err();
        assert_eq!(e.code(), "SignatureNonceUsed");
        assert_eq!(e.status().as_u16(), 400);
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
        assert_eq!((e.status().as_u16(), e.code()), (500, "SystemBusy"));
        // A replay is still told apart from a full cache.
        assert_eq!(
            c.check_and_remember("ak", "a", 100, 1).unwrap_err().code(),
            "SignatureNonceUsed"
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

    #[test]
    fn rate_limit_per_key_with_burst() {
        let clock = FakeRelativeClock::default();
        let per_second = NonZeroU32::new(10).unwrap();
        let burst = NonZeroU32::new(3).unwrap();
        let limiter = RateLimiter::with_clock(per_second, burst, clock.clone());
        for _ in 0..3 {
            limiter.check("ak").unwrap();
        }
        let e = limiter.check("ak").unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (400, "RequestTooFrequently")
        );
        // Another key has its own budget.
        limiter.check("other").unwrap();
        // One request per 100 ms comes back.
        clock.advance(Duration::from_millis(100));
        limiter.check("ak").unwrap();
        assert!(limiter.check("ak").is_err());
        // After a second the whole burst is back.
        clock.advance(Duration::from_secs(1));
        for _ in 0..3 {
            limiter.check("ak").unwrap();
        }
        assert!(limiter.check("ak").is_err());
        assert_eq!(limiter.tracked(), 2);
        clock.advance(Duration::from_secs(10));
        limiter.prune();
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn rate_limit_on_the_real_clock() {
        let limiter = RateLimiter::new(NonZeroU32::new(20).unwrap(), NonZeroU32::new(2).unwrap());
        limiter.check("ak").unwrap();
        limiter.check("ak").unwrap();
        assert!(limiter.check("ak").is_err());
    }
}
