//! Who is online in a room: accounts with a subscribed connection on any instance. Ephemeral —
//! never persisted, never in the outbox — and shared over core NATS: each instance announces its
//! own subscribers of a room when they come and go, and again every [`HEARTBEAT`], and forgets
//! another instance's announcement after [`EXPIRY`] (an instance that died without saying so).
//! Subscribers get the room's online list in one `presence` frame, at most once per second, only
//! when it changed — so presence costs a frame per room and second at most, however busy the room
//! is, and never has to be switched off under load.

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use tokio::time::Instant;
use uuid::Uuid;

pub const HEARTBEAT: Duration = Duration::from_secs(10);
pub const EXPIRY: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Presence {
    /// Other instances' online accounts, by instance, with when they said so.
    remote: HashMap<Uuid, (BTreeSet<Uuid>, Instant)>,
    /// The list last sent to subscribers.
    sent: Option<BTreeSet<Uuid>>,
    last_heartbeat: Option<Instant>,
}

impl Presence {
    /// Another instance's online accounts in the room (all of them: announcements are whole lists).
    pub fn heard(&mut self, instance: Uuid, online: BTreeSet<Uuid>) {
        self.remote.insert(instance, (online, Instant::now()));
    }

    /// The room's online accounts, if they changed since the last call; `local` are this
    /// instance's subscribers.
    pub fn changed(&mut self, local: &BTreeSet<Uuid>) -> Option<BTreeSet<Uuid>> {
        let now = Instant::now();
        self.remote
            .retain(|_, (_, at)| now.duration_since(*at) < EXPIRY);
        let mut online = local.clone();
        for (accounts, _) in self.remote.values() {
            online.extend(accounts.iter().copied());
        }
        if self.sent.as_ref() == Some(&online) {
            return None;
        }
        self.sent = Some(online.clone());
        Some(online)
    }

    /// Whether this instance should announce its list again.
    pub fn heartbeat_due(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .last_heartbeat
            .is_none_or(|at| now.duration_since(at) >= HEARTBEAT);
        if due {
            self.last_heartbeat = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lists_merge_change_once_and_expire() {
        let mut p = Presence::default();
        let (ada, bob, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let local = BTreeSet::from([ada]);
        assert_eq!(p.changed(&local), Some(BTreeSet::from([ada])));
        assert_eq!(p.changed(&local), None, "unchanged: no frame");
        p.heard(b, BTreeSet::from([bob]));
        assert_eq!(p.changed(&local), Some(BTreeSet::from([ada, bob])));
        tokio::time::advance(EXPIRY).await;
        assert_eq!(
            p.changed(&local),
            Some(BTreeSet::from([ada])),
            "a silent instance expires"
        );
        assert!(p.heartbeat_due());
        assert!(!p.heartbeat_due());
    }
}
