//! One WebSocket connection as the rest of the service sees it: a bounded queue of frames to send
//! and a way to close it. The queue is the connection's whole outbound memory: whoever finds it full
//! (the client reads too slowly) closes the connection with [`close::SLOW`], and the client resumes
//! with `after`.

use std::sync::{
    Arc,
    atomic::{AtomicU16, Ordering},
};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The close codes gewebe-chat uses; each means one thing (the service README lists them).
pub mod close {
    /// The server shuts down; reconnect (another instance takes it).
    pub const GOING_AWAY: u16 = 1001;
    /// A binary frame: the protocol is JSON text.
    pub const UNSUPPORTED: u16 = 1003;
    /// Rate limits exceeded again and again.
    pub const POLICY: u16 = 1008;
    /// A frame larger than `CHAT_MAX_FRAME_BYTES`.
    pub const TOO_BIG: u16 = 1009;
    /// The access token expired and no fresh one came in an `auth` frame.
    pub const EXPIRED: u16 = 4001;
    /// Nothing came from the client (no frame, no pong) for `CHAT_IDLE_SECS`.
    pub const IDLE: u16 = 4002;
    /// The client read too slowly and its queue filled up; resume with `after`.
    pub const SLOW: u16 = 4003;
    /// The account was deleted (forgotten); its tokens open nothing any more.
    pub const FORGOTTEN: u16 = 4004;
}

/// What the connection's writer sends, in order.
#[derive(Debug)]
pub enum Outbound {
    /// A `message` frame of a room: sent in seq order, once, after the room's history.
    Message {
        room: Uuid,
        seq: i64,
        frame: Arc<str>,
    },
    /// A `message` frame of a room's history, read by the session: sent past the room's hold.
    History {
        room: Uuid,
        seq: i64,
        frame: Arc<str>,
    },
    /// A room's history is being read: hold its live messages until [`Outbound::Loaded`]; none at
    /// or below `after` is sent.
    Open { room: Uuid, after: i64 },
    /// The room's history has been queued: its held live messages follow.
    Loaded { room: Uuid },
    /// Stop delivering the room.
    Closed { room: Uuid },
    /// Any other frame, as it is.
    Frame(Arc<str>),
}

/// Ends a connection once, with the first code asked for.
#[derive(Debug, Default)]
pub struct Kill {
    code: AtomicU16,
    token: CancellationToken,
}

impl Kill {
    pub fn kill(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    pub async fn killed(&self) -> u16 {
        self.token.cancelled().await;
        self.code.load(Ordering::Acquire)
    }

    pub fn is_killed(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The code asked for first (0: none, or none yet).
    pub fn code(&self) -> u16 {
        self.code.load(Ordering::Acquire)
    }
}

/// A connection's handle for the hub.
#[derive(Debug, Clone)]
pub struct Peer {
    pub id: u64,
    pub account: Uuid,
    pub tx: mpsc::Sender<Outbound>,
    pub kill: Arc<Kill>,
    /// Rooms the account was removed from while subscribed: the session drops them before it
    /// handles the next frame (no more typing there; a later subscribe joins afresh).
    pub revoked: Arc<std::sync::Mutex<std::collections::HashSet<Uuid>>>,
}

impl Peer {
    /// Queues a frame; a full queue closes the connection as too slow. `false` when not queued.
    pub fn offer(&self, out: Outbound) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kill.kill(close::SLOW);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
