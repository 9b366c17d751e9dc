//! What one client may hold and take: open streams per account and per address (in memory, per
//! instance: a slot is held by a connection to this instance, and a crashed instance's slots
//! vanish with it), and resumes per address or account (in Redis, across instances: a client that
//! spreads its reconnects over the instances behind Caddy gets no more).

use std::{
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};

pub use gewebe_platform::slots::{Slot, Slots};

use fred::prelude::KeysInterface;
use uuid::Uuid;

use crate::AppState;

/// The address a limit counts: an IPv4 address, or an IPv6 address's /64 — one subscriber gets a
/// whole /64 and may rotate through it freely.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

/// Who a resume counts against.
pub enum Resumer {
    Address(IpAddr),
    Account(Uuid),
}

/// Whether a resume may replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Granted,
    Exhausted,
    /// Redis did not answer: the feed cannot tell, and replays nothing.
    Unknown,
}

/// Counts one resume in the current fixed window of `FEED_REPLAY_WINDOW_SECS`.
pub async fn spend_replay(app: &AppState, who: &Resumer) -> Budget {
    let window = app.config.feed.replay_window.as_secs().max(1);
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    let who = match who {
        Resumer::Address(ip) => format!("ip:{ip}"),
        Resumer::Account(id) => format!("account:{id}"),
    };
    // The window's number in the key: every window starts from zero without a reset, and the
    // expiry (set again on every count) only clears keys that are done.
    let key = app
        .redis
        .key(&format!("feed:replays:{who}:{}", now / window));
    let pipeline = app.redis.client.pipeline();
    let counted = async {
        let () = pipeline.incr(&key).await?;
        let () = pipeline
            .expire(&key, i64::try_from(window * 2).unwrap_or(i64::MAX), None)
            .await?;
        pipeline.all::<(u64, i64)>().await
    };
    match tokio::time::timeout(Duration::from_secs(2), counted).await {
        Ok(Ok((n, _))) if n <= app.config.feed.replay_budget => Budget::Granted,
        Ok(Ok(_)) => Budget::Exhausted,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "replay budget unavailable; resuming without replay");
            Budget::Unknown
        }
        Err(_) => {
            tracing::warn!("replay budget timed out; resuming without replay");
            Budget::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ipv6_counts_by_64_and_ipv4_by_address() {
        let k = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("198.51.100.7"), "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_ne!(k("198.51.100.7"), k("198.51.100.8"));
    }
}
