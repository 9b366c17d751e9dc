//! This instance's rooms: one task per room with local subscribers, which hands every live event to
//! them in the room's order. Live events come from any instance over core NATS (`live`), and from
//! this instance directly; each is seen once per room task whichever way it arrives first, because
//! a message is delivered only when its seq is the next one. A missing seq (a core-NATS message
//! lost, or one that reached this instance late) is read from PostgreSQL before the later ones go
//! out, so subscribers see every message once, in order.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    AppState,
    live::Live,
    messages::{model::Message, store},
    presence::Presence,
    ws::peer::{Outbound, Peer},
};

/// Commands a room task takes.
enum Cmd {
    /// A subscriber, with the room's last seq it read before joining: it reads everything up to
    /// there itself, so the room hands out what comes after (the first joiner sets where a new
    /// room task starts; a baseline read later than the messages in flight would skip them).
    Join(Peer, i64),
    Leave(u64),
    Live(Arc<Live>),
}

#[derive(Default)]
pub struct Hub {
    rooms: Mutex<HashMap<Uuid, mpsc::UnboundedSender<Cmd>>>,
}

impl Hub {
    /// Starts delivering `room`'s live events after `seen` to `peer`.
    pub fn join(&self, app: &AppState, room: Uuid, peer: Peer, seen: i64) {
        self.send(app, room, Cmd::Join(peer, seen), true);
    }

    /// Whether this instance has subscribers in `room` (a room task runs for it).
    pub fn has(&self, room: Uuid) -> bool {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&room)
    }

    pub fn leave(&self, app: &AppState, room: Uuid, peer: u64) {
        self.send(app, room, Cmd::Leave(peer), false);
    }

    /// Hands a live event to its room's task, if this instance has subscribers there.
    pub fn dispatch(&self, app: &AppState, live: Live) {
        let room = live.room();
        self.send(app, room, Cmd::Live(Arc::new(live)), false);
    }

    fn send(&self, app: &AppState, room: Uuid, cmd: Cmd, start: bool) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let cmd = match rooms.get(&room) {
            Some(tx) => match tx.send(cmd) {
                Ok(()) => return,
                // The task ended (its last subscriber left); the command comes back.
                Err(mpsc::error::SendError(cmd)) => cmd,
            },
            None => cmd,
        };
        rooms.remove(&room);
        if !start {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        if tx.send(cmd).is_ok() {
            rooms.insert(room, tx);
            app.shutdown.spawn(run(app.clone(), room, rx));
        }
    }

    fn ended(&self, room: Uuid, rx: &mpsc::UnboundedReceiver<Cmd>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        // Only if no command is waiting: a join that raced the end starts a new task instead.
        if rx.is_empty() {
            rooms.remove(&room);
        }
    }
}

struct Room {
    id: Uuid,
    /// The last seq handed out here; set by the first subscriber.
    delivered: Option<i64>,
    /// Messages that came before a missing one.
    waiting: BTreeMap<i64, Message>,
    /// The newest version of each edited or deleted message handed out, so the copy that arrives
    /// the other way (core NATS, the event stream) is not sent twice. Bounded: cleared when large.
    versions: HashMap<Uuid, i64>,
    peers: HashMap<u64, Peer>,
    presence: Presence,
    /// This instance's subscribers changed since the last announcement.
    local_changed: bool,
}

async fn run(app: AppState, id: Uuid, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut room = Room {
        id,
        delivered: None,
        waiting: BTreeMap::new(),
        versions: HashMap::new(),
        peers: HashMap::new(),
        presence: Presence::default(),
        local_changed: true,
    };
    app.metrics.rooms.inc();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let cmd = tokio::select! {
            cmd = rx.recv() => cmd,
            _ = tick.tick() => {
                Box::pin(room.presence_tick(&app)).await;
                continue;
            }
        };
        let Some(cmd) = cmd else { break };
        if matches!(cmd, Cmd::Join(..) | Cmd::Leave(_)) {
            room.local_changed = true;
        }
        match cmd {
            Cmd::Join(peer, seen) => {
                room.delivered.get_or_insert(seen);
                room.peers.insert(peer.id, peer);
            }
            Cmd::Leave(peer) => {
                room.peers.remove(&peer);
            }
            // Boxed, like every await below: reading a gap from the database is the largest state
            // a room task has, and only while it reads; inline, every idle room would hold room
            // for it (16 KiB a room, measured with heaptrack in the chat benchmark).
            Cmd::Live(live) => Box::pin(room.apply(&app, &live)).await,
        }
        if room.peers.is_empty() {
            app.hub.ended(id, &rx);
            if rx.is_empty() {
                // The last subscriber here left: say so, so the other instances need not wait
                // for the announcement to expire.
                Box::pin(room.announce(&app)).await;
                break;
            }
        }
    }
    app.metrics.rooms.dec();
}

impl Room {
    fn local_online(&self) -> BTreeSet<Uuid> {
        self.peers.values().map(|p| p.account).collect()
    }

    /// This instance's subscribers, to the other instances.
    async fn announce(&mut self, app: &AppState) {
        self.local_changed = false;
        let live = Live::Presence {
            conversation_id: self.id,
            instance: app.instance,
            online: self.local_online().into_iter().collect(),
        };
        crate::live::announce(app, &live).await;
    }

    /// Once a second: announce a change (or the heartbeat), and send the online list if it changed.
    async fn presence_tick(&mut self, app: &AppState) {
        if self.local_changed || self.presence.heartbeat_due() {
            self.announce(app).await;
        }
        if let Some(online) = self.presence.changed(&self.local_online()) {
            let frame = crate::ws::protocol::presence(self.id, &online);
            self.broadcast_frame(&frame);
        }
    }

    async fn apply(&mut self, app: &AppState, live: &Live) {
        match live {
            Live::Presence {
                instance, online, ..
            } => {
                if *instance != app.instance {
                    self.presence
                        .heard(*instance, online.iter().copied().collect());
                }
            }
            Live::Message { message } => self.message(app, message.clone()).await,
            Live::Committed { seq, .. } => self.committed(app, *seq).await,
            Live::MemberLeft { account_id, .. } => {
                let frame = crate::ws::protocol::removed(self.id);
                self.peers.retain(|_, p| {
                    if p.account != *account_id {
                        return true;
                    }
                    p.offer(Outbound::Frame(frame.clone()));
                    p.offer(Outbound::Closed { room: self.id });
                    p.revoked
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(self.id);
                    false
                });
            }
            Live::Typing { account_id, .. } => {
                let frame: Arc<str> = live.frame().into();
                for p in self.peers.values().filter(|p| p.account != *account_id) {
                    p.offer(Outbound::Frame(frame.clone()));
                }
            }
            Live::MessageEdited { message } | Live::MessageDeleted { message } => {
                if self.versions.len() > 4096 {
                    self.versions.clear();
                }
                let seen = self.versions.entry(message.id).or_default();
                if message.version > *seen {
                    *seen = message.version;
                    self.broadcast_frame(&live.frame());
                }
            }
            Live::Read { .. } => self.broadcast_frame(&live.frame()),
        }
    }

    fn broadcast_frame(&self, frame: &str) {
        let frame: Arc<str> = frame.into();
        for p in self.peers.values() {
            p.offer(Outbound::Frame(frame.clone()));
        }
    }

    async fn message(&mut self, app: &AppState, message: Message) {
        if message.seq <= 0 {
            return;
        }
        let Some(delivered) = self.delivered else {
            self.delivered = Some(message.seq);
            self.deliver(app, &message);
            return;
        };
        if message.seq <= delivered || self.waiting.contains_key(&message.seq) {
            return;
        }
        self.waiting.insert(message.seq, message);
        self.drain(app, true).await;
    }

    /// A seq known to be committed (from the event stream): whatever is missing up to it is read.
    async fn committed(&mut self, app: &AppState, seq: i64) {
        if self.delivered.is_some_and(|d| d < seq) && !self.waiting.contains_key(&seq) {
            self.fill(app, seq.saturating_add(1)).await;
            self.drain(app, false).await;
        }
    }

    /// Hands out waiting messages while they are the next ones. With `fill_gaps`, a gap is read
    /// from the database first and, if that fails, skipped rather than stalling the room (a client
    /// that sees a seq jump reads the gap by REST); without, a gap waits for the next event.
    async fn drain(&mut self, app: &AppState, fill_gaps: bool) {
        while let Some(first) = self.waiting.first_key_value().map(|(seq, _)| *seq) {
            let next = self.delivered.map_or(first, |d| d + 1);
            if first > next {
                if !fill_gaps {
                    return;
                }
                let read = self.fill(app, first).await;
                let now_first = self
                    .waiting
                    .first_key_value()
                    .map_or(first, |(seq, _)| *seq);
                if now_first > next && read {
                    // The database answered and has nothing between: seqs commit in order, so a
                    // message beyond the gap was never committed (a forged live message).
                    self.waiting.remove(&now_first);
                    tracing::warn!(room = %self.id, seq = now_first, "live message beyond the committed seqs dropped");
                    continue;
                } else if now_first > next {
                    app.metrics.gaps_skipped.inc();
                    tracing::warn!(room = %self.id, from = next, to = now_first, "messages skipped in live delivery");
                }
            }
            if let Some((seq, message)) = self.waiting.pop_first() {
                self.delivered = Some(seq);
                self.deliver(app, &message);
            }
        }
    }

    /// Reads the room's messages from the one after the last delivered up to (not including) `to`
    /// into `waiting`.
    /// `false` when the database did not answer.
    async fn fill(&mut self, app: &AppState, to: i64) -> bool {
        let Some(from) = self.delivered else {
            return true;
        };
        // At most a resume's worth: a room further behind is for its clients to reload.
        let wanted = to
            .saturating_sub(from)
            .saturating_sub(1)
            .min(app.config.chat.resume_max_messages);
        if wanted <= 0 {
            return true;
        }
        let read = async {
            let mut tx = app.db.begin().await?;
            let rows = store::after(&mut tx, self.id, from, wanted).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        };
        match read.await {
            Ok(rows) => {
                app.metrics.gaps_filled.inc();
                for row in rows {
                    self.waiting.entry(row.seq).or_insert_with(|| row.into());
                }
                true
            }
            Err(e) => {
                tracing::warn!(room = %self.id, error = %e, "reading missing messages failed");
                false
            }
        }
    }

    fn deliver(&self, app: &AppState, message: &Message) {
        let frame: Arc<str> = crate::ws::protocol::message(message).into();
        for p in self.peers.values() {
            if p.offer(Outbound::Message {
                room: self.id,
                seq: message.seq,
                frame: frame.clone(),
            }) {
                app.metrics.delivered.inc();
            }
        }
    }
}
