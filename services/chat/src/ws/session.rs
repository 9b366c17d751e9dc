//! One WebSocket connection's reading side: the frames a client sends, the guards (rate, idle,
//! token expiry) and the room subscriptions. Writes go through the connection's queue to its
//! writer (`writer`), so a slow client never holds this task or the hub up.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures::StreamExt;
use tokio::{sync::mpsc, time::Instant};
use uuid::Uuid;

use super::{
    guard::{Guard, Verdict},
    peer::{Kill, Outbound, Peer, close},
    protocol::{self, ClientFrame},
};
use crate::{
    AppState,
    error::Error,
    live::{self, Live},
    messages,
};

/// At most one typing frame per account and room this often (the rest are coalesced away).
const TYPING_EVERY: Duration = Duration::from_secs(3);
/// Rooms one connection may be subscribed to at once: each costs the hub a room task.
const MAX_ROOMS: usize = 100;
/// A token that claims to live longer is treated as living this long (arithmetic stays in range).
const MAX_TOKEN_LIFE: Duration = Duration::from_hours(24);

/// Who is connected, until when.
pub struct Holder {
    pub account: Uuid,
    pub expires_at: i64,
}

struct Session {
    app: AppState,
    peer: Peer,
    expires_at: i64,
    reauth_sent: bool,
    guard: Guard,
    rooms: HashSet<Uuid>,
    typing: HashMap<Uuid, Instant>,
}

/// Runs the connection until it closes; `permits` (connection slots) are held until then.
pub async fn run<P: Send + 'static>(app: AppState, socket: WebSocket, holder: Holder, permits: P) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let c = &app.config.chat;
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(c.outbound_queue);
    let kill = Arc::new(Kill::default());
    let peer = Peer {
        id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        account: holder.account,
        tx,
        kill: kill.clone(),
        revoked: Arc::default(),
    };
    let writer = app.shutdown.spawn(super::writer::run(
        sink,
        rx,
        kill.clone(),
        c.outbound_queue,
        c.idle / 3,
    ));
    app.metrics.connections.inc();
    let mut session = Session {
        guard: Guard::new(
            c.frames_per_sec,
            c.frame_burst,
            c.abuse_limit,
            c.abuse_window,
        ),
        app: app.clone(),
        peer,
        expires_at: holder.expires_at,
        reauth_sent: false,
        rooms: HashSet::new(),
        typing: HashMap::new(),
    };
    let mut idle_until = Instant::now() + c.idle;
    let mut forgotten = app.forgotten.subscribe();
    // A forgotten account's token may still be valid: its connection ends at once, as its open
    // ones did. Checked here rather than at the upgrade, so that a burst of upgrades does not wait
    // for the database with every request's state held (it showed in the memory per connection).
    if Box::pin(was_forgotten(&app, holder.account)).await {
        kill.kill(close::FORGOTTEN);
    }
    loop {
        let (reauth_at, expired_at) = session.deadlines();
        tokio::select! {
            _ = kill.killed() => break,
            () = app.shutdown.cancelled() => kill.kill(close::GOING_AWAY),
            () = tokio::time::sleep_until(idle_until) => kill.kill(close::IDLE),
            () = tokio::time::sleep_until(reauth_at), if !session.reauth_sent => {
                session.reauth_sent = true;
                session.frame(protocol::reauth(session.expires_at));
            }
            () = tokio::time::sleep_until(expired_at) => kill.kill(close::EXPIRED),
            // A receiver that lagged (more than 1,024 forgets at once) may miss its own; the forget
            // took the account out of every room and no room takes it again, so such a connection
            // reads and writes nothing, and it ends with its token at the latest.
            Ok(account) = forgotten.recv() => if account == session.peer.account {
                kill.kill(close::FORGOTTEN);
            },
            frame = stream.next() => match frame {
                None => break,
                Some(Err(e)) => {
                    // tungstenite refuses a frame over the size limit; anything else is the
                    // client going away mid-frame.
                    let code = if e.to_string().contains("too long") { close::TOO_BIG } else { 0 };
                    if code == 0 { break }
                    kill.kill(code);
                }
                Some(Ok(message)) => {
                    idle_until = Instant::now() + app.config.chat.idle;
                    match message {
                        // Boxed: a frame's handling (a send's transaction, a subscribe's history)
                        // is the largest state this task has, and only while a frame is handled;
                        // inline, every idle connection would hold room for it.
                        WsMessage::Text(text) => Box::pin(session.text(text.as_str())).await,
                        WsMessage::Binary(_) => kill.kill(close::UNSUPPORTED),
                        WsMessage::Close(_) => break,
                        WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                    }
                }
            },
        }
    }
    if kill.code() == close::SLOW {
        app.metrics.slow_disconnects.inc();
    }
    for room in std::mem::take(&mut session.rooms) {
        app.hub.leave(&app, room, session.peer.id);
    }
    // Ends the writer: with the close frame of the code set before, or none (0) when the client
    // went away or closed itself.
    kill.kill(0);
    drop(session);
    let _ = writer.await;
    // The closing handshake: keep reading (and dropping) until the client answers the close, so
    // that it reads ours rather than a reset connection.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    app.metrics.connections.dec();
    drop(permits);
}

/// Whether the account was forgotten; a database that does not answer says no (the account can
/// join no room then either: every way in checks again).
async fn was_forgotten(app: &AppState, account: uuid::Uuid) -> bool {
    let check = async {
        let mut tx = app.db.begin().await?;
        let forgotten = crate::messages::store::is_forgotten(&mut tx, account).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(forgotten)
    };
    check.await.unwrap_or(false)
}

impl Session {
    /// When to send `reauth`, and when the connection ends unless a fresh token came.
    fn deadlines(&self) -> (Instant, Instant) {
        let now_unix = time::OffsetDateTime::now_utc().unix_timestamp();
        let left = Duration::from_secs(
            u64::try_from(self.expires_at.saturating_sub(now_unix)).unwrap_or(0),
        )
        .min(MAX_TOKEN_LIFE);
        let c = &self.app.config.chat;
        let now = Instant::now();
        (
            now + left.saturating_sub(c.reauth_before),
            now + left + c.reauth_grace,
        )
    }

    fn frame(&self, frame: String) {
        self.peer.offer(Outbound::Frame(frame.into()));
    }

    /// An `error` frame; what went wrong inside (the database, the outbox) is logged, not sent.
    fn error(&self, e: &Error, room: Option<Uuid>, reference: Option<Uuid>) {
        let detail = match e.code() {
            "internal" | "database_busy" => {
                tracing::warn!(error = %e, "a frame failed");
                "the server could not do this right now; retry shortly".to_owned()
            }
            _ => e.to_string(),
        };
        self.frame(protocol::error(e.code(), &detail, room, reference));
    }

    /// Forgets the rooms the hub says this account was removed from.
    fn sync_revoked(&mut self) {
        let revoked: Vec<Uuid> = self
            .peer
            .revoked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .collect();
        for room in revoked {
            self.rooms.remove(&room);
            self.typing.remove(&room);
        }
    }

    async fn text(&mut self, text: &str) {
        match self.guard.check() {
            Verdict::Take => {}
            Verdict::Refuse => {
                self.app.metrics.rate_limited.inc();
                self.frame(protocol::error(
                    "rate_limited",
                    "too many frames; slow down",
                    None,
                    None,
                ));
                return;
            }
            Verdict::Close => {
                self.app.metrics.rate_limited.inc();
                self.peer.kill.kill(close::POLICY);
                return;
            }
        }
        self.sync_revoked();
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.frame(protocol::error("bad_frame", &e.to_string(), None, None));
                return;
            }
        };
        match frame {
            ClientFrame::Ping => self.frame(protocol::pong()),
            ClientFrame::Subscribe {
                conversation_id,
                after,
            } => {
                if let Err(e) = self.subscribe(conversation_id, after).await {
                    self.error(&e, Some(conversation_id), None);
                }
            }
            ClientFrame::Unsubscribe { conversation_id } => {
                self.typing.remove(&conversation_id);
                if self.rooms.remove(&conversation_id) {
                    self.app.hub.leave(&self.app, conversation_id, self.peer.id);
                    self.peer.offer(Outbound::Closed {
                        room: conversation_id,
                    });
                }
            }
            ClientFrame::Send {
                conversation_id,
                client_msg_id,
                body,
            } => {
                let account = self.peer.account;
                match messages::send(&self.app, account, conversation_id, client_msg_id, &body)
                    .await
                {
                    Ok(sent) => self.frame(protocol::ack(
                        client_msg_id,
                        sent.message.id,
                        sent.message.seq,
                    )),
                    Err(e) => self.error(&e, Some(conversation_id), Some(client_msg_id)),
                }
            }
            ClientFrame::Typing { conversation_id } => self.typing(conversation_id),
            ClientFrame::Read {
                conversation_id,
                seq,
            } => {
                if let Err(e) = self.read(conversation_id, seq).await {
                    self.error(&e, Some(conversation_id), None);
                }
            }
            ClientFrame::Auth { access_token } => {
                match self.app.verifier.verify(&access_token).await {
                    Ok(claims) if claims.sub == self.peer.account => {
                        self.expires_at = claims.exp;
                        self.reauth_sent = false;
                    }
                    Ok(_) => self.frame(protocol::error(
                        "invalid_token",
                        "the token is of another account",
                        None,
                        None,
                    )),
                    Err(e) => {
                        self.frame(protocol::error("invalid_token", &e.to_string(), None, None));
                    }
                }
            }
        }
    }

    /// Membership first; then the room's live messages are joined before its history is read, so
    /// nothing committed in between is missed (the writer drops what both bring).
    async fn subscribe(&mut self, room: Uuid, after: Option<i64>) -> Result<(), Error> {
        if self.rooms.contains(&room) {
            return Err(Error::bad_request(
                "already_subscribed",
                "unsubscribe first to read the room's history again",
            ));
        }
        if self.rooms.len() >= MAX_ROOMS {
            return Err(Error::bad_request(
                "too_many_rooms",
                format!("a connection subscribes to at most {MAX_ROOMS} rooms"),
            ));
        }
        let app = self.app.clone();
        let last_seq = {
            let mut tx = app.db.begin().await?;
            let found = crate::conversations::store::get(&mut tx, room).await?;
            let member =
                crate::conversations::store::is_member(&mut tx, room, self.peer.account).await?;
            tx.commit().await?;
            match found {
                Some(c) if member => c.last_seq,
                Some(c) if c.is_public() => {
                    return Err(Error::Forbidden("join the conversation before subscribing"));
                }
                _ => return Err(Error::NotFound("no such conversation")),
            }
        };
        let after = after.unwrap_or(last_seq).clamp(0, last_seq);
        if last_seq - after > app.config.chat.resume_max_messages {
            return Err(Error::bad_request(
                "resync",
                "too far behind to resume: reload the conversation by REST, then subscribe",
            ));
        }
        self.rooms.insert(room);
        app.hub.join(&app, room, self.peer.clone(), last_seq);
        self.peer.offer(Outbound::Open { room, after });
        self.frame(protocol::subscribed(room, last_seq));
        let history = async {
            let mut tx = app.db.begin().await?;
            let rows =
                messages::store::after(&mut tx, room, after, app.config.chat.resume_max_messages)
                    .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        };
        let history = history.await;
        match history {
            Ok(rows) => {
                for row in rows {
                    let message: messages::model::Message = row.into();
                    // Paced by the client's reading: half the queue stays free for live frames, so
                    // a resume longer than the queue does not close the connection as too slow.
                    let queue = app.config.chat.outbound_queue;
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while self.peer.tx.capacity() < queue / 2 && !self.peer.kill.is_killed() {
                        if Instant::now() > deadline {
                            self.peer.kill.kill(close::SLOW);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    self.peer.offer(Outbound::History {
                        room,
                        seq: message.seq,
                        frame: protocol::message(&message).into(),
                    });
                }
                self.peer.offer(Outbound::Loaded { room });
                Ok(())
            }
            Err(e) => {
                self.rooms.remove(&room);
                app.hub.leave(&app, room, self.peer.id);
                self.peer.offer(Outbound::Closed { room });
                Err(e.into())
            }
        }
    }

    fn typing(&mut self, room: Uuid) {
        if !self.rooms.contains(&room) {
            self.frame(protocol::error(
                "not_subscribed",
                "subscribe to the conversation first",
                Some(room),
                None,
            ));
            return;
        }
        let now = Instant::now();
        if self
            .typing
            .get(&room)
            .is_some_and(|last| now.duration_since(*last) < TYPING_EVERY)
        {
            return;
        }
        self.typing.insert(room, now);
        live::publish(
            &self.app,
            Live::Typing {
                conversation_id: room,
                account_id: self.peer.account,
            },
        );
    }

    async fn read(&mut self, room: Uuid, seq: i64) -> Result<(), Error> {
        let mut tx = self.app.db.begin().await?;
        let marked =
            crate::conversations::store::mark_read(&mut tx, room, self.peer.account, seq).await?;
        tx.commit().await?;
        let Some((seq, moved)) = marked else {
            return Err(Error::NotFound("no such conversation"));
        };
        if !moved {
            // Nothing new to tell the room: a repeated or late `read` is not broadcast.
            return Ok(());
        }
        live::publish(
            &self.app,
            Live::Read {
                conversation_id: room,
                account_id: self.peer.account,
                seq,
            },
        );
        Ok(())
    }
}
