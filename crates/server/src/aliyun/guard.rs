//! The per-key call-rate limit of the Sas API ([`RateLimiter`], `RequestTooFrequently`,
//! spec §1.8), on an injectable clock so that it is tested without sleeping. (Replayed
//! nonces are refused by the shared state, [`crate::meta::shared`].)

use std::num::NonZeroU32;

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use super::error::SasError;

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
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

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
