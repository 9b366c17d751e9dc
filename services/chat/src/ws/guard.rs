//! Each connection's frame budget: a token bucket (`CHAT_FRAMES_PER_SEC`, burst `CHAT_FRAME_BURST`)
//! that answers an over-budget frame with `error {code: rate_limited}`, and a count of such answers
//! within `CHAT_ABUSE_WINDOW_SECS` that closes the connection (1008) past `CHAT_ABUSE_LIMIT`.
//! Written here rather than taken from a crate (governor): it is a dozen lines per connection and
//! must also count the abuse that follows.

use std::time::Duration;

use tokio::time::Instant;

pub struct Guard {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    abuse: u32,
    abuse_limit: u32,
    abuse_window: Duration,
    abuse_since: Instant,
}

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Take,
    Refuse,
    Close,
}

impl Guard {
    pub fn new(per_sec: u32, burst: u32, abuse_limit: u32, abuse_window: Duration) -> Self {
        let now = Instant::now();
        Self {
            tokens: f64::from(burst),
            rate: f64::from(per_sec),
            burst: f64::from(burst),
            last: now,
            abuse: 0,
            abuse_limit,
            abuse_window,
            abuse_since: now,
        }
    }

    pub fn check(&mut self) -> Verdict {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Take;
        }
        if now.duration_since(self.abuse_since) > self.abuse_window {
            self.abuse = 0;
            self.abuse_since = now;
        }
        self.abuse += 1;
        if self.abuse > self.abuse_limit {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_takes_its_burst_then_its_rate_and_closes_on_abuse() {
        let mut g = Guard::new(10, 20, 3, Duration::from_secs(10));
        assert!((0..20).all(|_| g.check() == Verdict::Take));
        assert_eq!(g.check(), Verdict::Refuse);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(g.check(), Verdict::Take);
        assert_eq!(g.check(), Verdict::Refuse);
        assert_eq!(g.check(), Verdict::Refuse);
        assert_eq!(g.check(), Verdict::Close);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!((0..10).all(|_| g.check() == Verdict::Take));
    }
}
