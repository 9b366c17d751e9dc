//! Forgotten accounts leave the public feed: an event whose actor, owner or account is forgotten
//! is neither replayed nor sent live (runbooks/forget.md).
//!
//! The durable consumer `feed-forgotten` (one event goes to one instance) records each
//! `account.forgotten` in a Redis sorted set scored by when it was recorded; every instance reads
//! the whole set at start and every [`REFRESH`], and its hub adds what it sees in the live stream
//! (so a live event that comes after the forget in the stream is withheld at once, Redis or not).
//!
//! An id is kept for twice the replay horizon: a replay reaches back one horizon, and geo may
//! still publish events about the account for a while after the forget (after an outage of its
//! own); older events are never replayed, so an older id can go. Replays need a list read within
//! [`STALE_AFTER`]; without one they are refused (`reset`), never sent unfiltered.

use std::{
    collections::HashMap,
    sync::{
        Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use fred::prelude::{KeysInterface, SortedSetsInterface};
use gewebe_events::{
    Envelope, Event,
    consumer::{self, ConsumerConfig, ConsumerHealth, HandlerError},
    types::AccountForgotten,
};
use gewebe_platform::Shutdown;
use tokio::time::Instant;
use uuid::Uuid;

use crate::AppState;

pub const DURABLE: &str = "feed-forgotten";
/// How often an instance reads the whole list again.
pub const REFRESH: Duration = Duration::from_secs(10);
/// How old the last full read may be for replays to go on.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// This instance's copy of the forgotten accounts.
pub struct Forgotten {
    /// Each id with when this instance learned it.
    ids: RwLock<HashMap<Uuid, Instant>>,
    /// Lets the hub skip the lock while nobody was forgotten.
    any: AtomicBool,
    /// When the whole list was last read from Redis.
    loaded_at: Mutex<Option<Instant>>,
    keep: Duration,
}

impl Forgotten {
    /// Keeps ids for twice `horizon` (see the module docs).
    pub fn new(horizon: Duration) -> Self {
        Self {
            ids: RwLock::new(HashMap::new()),
            any: AtomicBool::new(false),
            loaded_at: Mutex::new(None),
            keep: horizon.saturating_mul(2),
        }
    }

    pub fn learn(&self, id: Uuid) {
        self.ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Instant::now());
        self.any.store(true, Ordering::Release);
    }

    /// Whether any of `people` is forgotten.
    pub fn any(&self, people: &[Option<Uuid>]) -> bool {
        if !self.any.load(Ordering::Acquire) || people.iter().all(Option::is_none) {
            return false;
        }
        let ids = self.ids.read().unwrap_or_else(PoisonError::into_inner);
        people.iter().flatten().any(|p| ids.contains_key(p))
    }

    /// Whether the list was read from Redis recently enough to filter a replay.
    pub fn fresh(&self) -> bool {
        self.loaded_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < STALE_AFTER)
    }

    /// Takes the list read from Redis; ids learned live stay for `keep` even if Redis lost them.
    fn replace(&self, listed: Vec<Uuid>) {
        let now = Instant::now();
        let mut ids = self.ids.write().unwrap_or_else(PoisonError::into_inner);
        let listed: std::collections::HashSet<Uuid> = listed.into_iter().collect();
        ids.retain(|id, at| listed.contains(id) || now.duration_since(*at) < self.keep);
        for id in listed {
            ids.entry(id).or_insert(now);
        }
        self.any.store(!ids.is_empty(), Ordering::Release);
        drop(ids);
        *self
            .loaded_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
    }
}

fn key(app: &AppState) -> String {
    app.redis.key("feed:forgotten")
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn keep_secs(app: &AppState) -> i64 {
    i64::try_from(app.forgotten.keep.as_secs()).unwrap_or(i64::MAX)
}

/// Records one forgotten account for every instance, and drops ids older than the keep.
pub async fn record(app: &AppState, account: Uuid) -> Result<(), fred::error::Error> {
    let now = unix_now();
    let key = key(app);
    #[allow(clippy::cast_precision_loss)] // Unix seconds fit an f64 exactly.
    let score = now as f64;
    let _: i64 = app
        .redis
        .client
        .zadd(&key, None, None, false, false, (score, account.to_string()))
        .await?;
    let _: i64 = app
        .redis
        .client
        .zremrangebyscore(&key, "-inf", now.saturating_sub(keep_secs(app)))
        .await?;
    // Every id in the set is at most `keep` old once no forget came for `keep`: then the set goes.
    let _: bool = app.redis.client.expire(&key, keep_secs(app), None).await?;
    app.forgotten.learn(account);
    Ok(())
}

/// Reads the whole list from Redis into this instance's copy.
pub async fn load(app: &AppState) -> Result<(), fred::error::Error> {
    let since = unix_now().saturating_sub(keep_secs(app));
    let listed: Vec<String> = app
        .redis
        .client
        .zrangebyscore(key(app), since, "+inf", false, None)
        .await?;
    app.forgotten
        .replace(listed.iter().filter_map(|id| id.parse().ok()).collect());
    Ok(())
}

/// Reads the list every [`REFRESH`] until shutdown.
pub async fn refresh(app: AppState, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(REFRESH) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = load(&app).await {
            tracing::warn!(error = %e, "forgotten accounts not read; replays wait for the next read");
        }
    }
}

/// Consumes `account.forgotten` until shutdown; retries the setup while the stream does not
/// exist yet (the relay creates it) or NATS is away.
pub async fn consume(app: AppState, health: ConsumerHealth, shutdown: Shutdown) {
    // A forget is never dead-lettered because Redis was away: the consumer pauses and retries it
    // (and `health` turns readiness red) until Redis takes it.
    let mut config =
        ConsumerConfig::new(&app.nats.subject_prefix, DURABLE, &[AccountForgotten::TYPE]);
    config.health = health;
    let handler = |envelope: Envelope| {
        let app = app.clone();
        async move {
            let e = envelope.decode::<AccountForgotten>()?;
            record(&app, e.account_id)
                .await
                .map_err(|e| -> HandlerError { Box::new(e) })
        }
    };
    consumer::run_until_shutdown(&app.nats.jetstream, &config, &shutdown, handler).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_learned_live_outlast_a_list_that_lacks_them_until_the_keep() {
        let f = Forgotten::new(Duration::from_mins(1));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(!f.any(&[Some(a)]) && !f.fresh());
        f.learn(a);
        f.replace(vec![b]);
        assert!(f.any(&[None, Some(a)]) && f.any(&[Some(b)]) && f.fresh());
        assert!(!f.any(&[Some(Uuid::now_v7()), None]));
    }
}
