//! Writes per account: a token bucket per account id, in this instance's memory. Why in memory
//! and not in Redis: the limit has to bound, not meter — with N instances behind the proxy an
//! account gets at most N times the rate, which still bounds a flood — and a shared counter would
//! put a round trip on every write. A bucket rather than a fixed window: a person doing a handful
//! of things at once is never refused, and there is no window edge at which twice the limit passes.
//! geo limits node and edge writes with it, chat message sends.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use hashlink::LruCache;
use uuid::Uuid;

/// How many accounts' buckets are remembered. An evicted bucket comes back full, which only the
/// least recently active accounts ever see; 100,000 entries are a few MB.
const ACCOUNTS: usize = 100_000;

/// The limit: `per_sec` writes per second sustained, up to `burst` at once. `per_sec == 0` turns it
/// off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimit {
    pub per_sec: u32,
    pub burst: u32,
}

impl WriteLimit {
    pub const OFF: Self = Self {
        per_sec: 0,
        burst: 0,
    };
}

impl Default for WriteLimit {
    /// Generous for people (a burst of 30, then 5 a second), small against a script.
    fn default() -> Self {
        Self {
            per_sec: 5,
            burst: 30,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct WriteLimiter {
    limit: WriteLimit,
    buckets: Mutex<LruCache<Uuid, Bucket>>,
}

impl WriteLimiter {
    pub fn new(limit: WriteLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(LruCache::new(ACCOUNTS)),
        }
    }

    /// Takes one write from `account`'s bucket; `Err(wait)` when it is empty, with the time until
    /// the next token.
    pub fn take(&self, account: Uuid) -> Result<(), Duration> {
        self.take_at(account, Instant::now())
    }

    fn take_at(&self, account: Uuid, now: Instant) -> Result<(), Duration> {
        if self.limit.per_sec == 0 {
            return Ok(());
        }
        let rate = f64::from(self.limit.per_sec);
        let burst = f64::from(self.limit.burst.max(1));
        // A poisoned lock only means another request panicked mid-update; the buckets are still
        // usable numbers.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(&account) {
            buckets.insert(
                account,
                Bucket {
                    tokens: burst,
                    at: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(&account) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_accounts_apart() {
        let limiter = WriteLimiter::new(WriteLimit {
            per_sec: 2,
            burst: 3,
        });
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take_at(ada, t0).is_ok());
        }
        let wait = limiter.take_at(ada, t0).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert!(limiter.take_at(bob, t0).is_ok(), "another account is apart");
        // Half a second gives one token back, and no more than the burst accrues.
        assert!(
            limiter
                .take_at(ada, t0 + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .take_at(ada, t0 + Duration::from_millis(500))
                .is_err()
        );
        let later = t0 + Duration::from_hours(1);
        for _ in 0..3 {
            assert!(limiter.take_at(ada, later).is_ok());
        }
        assert!(limiter.take_at(ada, later).is_err());
    }

    #[test]
    fn off_means_off() {
        let limiter = WriteLimiter::new(WriteLimit::OFF);
        let ada = Uuid::now_v7();
        for _ in 0..10_000 {
            assert!(limiter.take(ada).is_ok());
        }
    }
}
