//! How long the leader waits before retrying after a failure.

use std::time::Duration;

/// Capped exponential backoff with "equal jitter" (AWS architecture blog): each delay lies between
/// half and all of the capped exponential step. Not "full jitter" (anywhere from zero): a relay
/// that cannot reach NATS should not retry at once by chance, while the jitter still keeps
/// instances that failed together from retrying together.
pub struct Backoff {
    attempt: u32,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self { attempt: 0, max }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = Duration::from_millis(100).saturating_mul(1 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        let cap = base.min(self.max);
        // Jitter from a random UUID's bits: no extra RNG dependency for one number per retry.
        let fraction = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        cap.mul_f64(0.5 + fraction / 2.0)
    }
}
