//! The one task that writes to a connection's socket. It keeps every room's order: a room's
//! history (read by the session) and its live messages (from the hub) meet here, and each message
//! goes out once, in seq order. It also pings, and sends the close frame when the connection ends.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, stream::SplitSink};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::peer::{Kill, Outbound, close};

/// A send that takes longer: the client stopped reading; the connection is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

struct Order {
    /// The newest seq sent (or the `after` the room was opened with).
    cursor: i64,
    /// While the history is read, live messages wait here.
    held: Option<Vec<(i64, Arc<str>)>>,
}

/// Runs until the connection ends. The close (rarely run, and with sends of its own) is boxed, so
/// an idle connection's task does not hold room for it.
pub async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    kill: Arc<Kill>,
    hold_limit: usize,
    ping_every: Duration,
) {
    let mut rooms: HashMap<Uuid, Order> = HashMap::new();
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    loop {
        let out = tokio::select! {
            // The close first: the session drops its end of the queue right after asking for it.
            biased;
            code = kill.killed() => {
                Box::pin(close(&mut sink, &mut rx, &mut rooms, hold_limit, code)).await;
                return;
            }
            _ = ping.tick() => vec![Message::Ping(Vec::new().into())],
            out = rx.recv() => match out {
                None => return,
                Some(out) => next(&mut rooms, out, hold_limit, &kill),
            },
        };
        for message in out {
            // A close asked for while a send waits on a full socket is not left waiting: the frame
            // is abandoned (what of it was written stays in tungstenite's buffer and goes out
            // before the close frame).
            let sent = tokio::select! {
                biased;
                code = kill.killed() => {
                    Box::pin(close(&mut sink, &mut rx, &mut rooms, hold_limit, code)).await;
                    return;
                }
                sent = tokio::time::timeout(SEND_TIMEOUT, sink.send(message)) => sent,
            };
            if !matches!(sent, Ok(Ok(()))) {
                kill.kill(close::SLOW);
                Box::pin(close(
                    &mut sink,
                    &mut rx,
                    &mut rooms,
                    hold_limit,
                    close::SLOW,
                ))
                .await;
                return;
            }
        }
    }
}

/// Ends the connection: what is queued goes out first (the answers to the frames that led to the
/// close), except for a client too slow to take it; then the close frame, if there is a code. A
/// client that has stopped reading altogether gets none: the connection is dropped after
/// [`SEND_TIMEOUT`].
async fn close(
    sink: &mut SplitSink<WebSocket, Message>,
    rx: &mut mpsc::Receiver<Outbound>,
    rooms: &mut HashMap<Uuid, Order>,
    hold_limit: usize,
    code: u16,
) {
    if code == 0 {
        return;
    }
    if code != close::SLOW {
        let unused = Kill::default();
        while let Ok(out) = rx.try_recv() {
            for message in next(rooms, out, hold_limit, &unused) {
                if !matches!(
                    tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await,
                    Ok(Ok(()))
                ) {
                    return;
                }
            }
        }
    }
    let frame = CloseFrame {
        code,
        reason: reason(code).into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

/// What to send for one queued item (nothing, one frame, or a room's held messages).
fn next(
    rooms: &mut HashMap<Uuid, Order>,
    out: Outbound,
    hold_limit: usize,
    kill: &Kill,
) -> Vec<Message> {
    let text = |f: &Arc<str>| Message::Text(f.as_ref().into());
    match out {
        Outbound::Frame(frame) => vec![text(&frame)],
        Outbound::Open { room, after } => {
            rooms.insert(
                room,
                Order {
                    cursor: after,
                    held: Some(Vec::new()),
                },
            );
            Vec::new()
        }
        Outbound::Closed { room } => {
            rooms.remove(&room);
            Vec::new()
        }
        Outbound::History { room, seq, frame } => match rooms.get_mut(&room) {
            Some(order) if seq > order.cursor => {
                order.cursor = seq;
                vec![text(&frame)]
            }
            _ => Vec::new(),
        },
        Outbound::Message { room, seq, frame } => match rooms.get_mut(&room) {
            Some(Order {
                held: Some(held), ..
            }) => {
                held.push((seq, frame));
                if held.len() > hold_limit {
                    kill.kill(close::SLOW);
                }
                Vec::new()
            }
            Some(order) if seq > order.cursor => {
                order.cursor = seq;
                vec![text(&frame)]
            }
            _ => Vec::new(),
        },
        Outbound::Loaded { room } => {
            let Some(order) = rooms.get_mut(&room) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for (seq, frame) in order.held.take().unwrap_or_default() {
                if seq > order.cursor {
                    order.cursor = seq;
                    out.push(text(&frame));
                }
            }
            out
        }
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "server shutting down; reconnect",
        close::UNSUPPORTED => "binary frames are not part of gewebe.chat.v1",
        close::POLICY => "rate limit exceeded repeatedly",
        close::TOO_BIG => "frame too large",
        close::EXPIRED => "access token expired; reconnect with a fresh one",
        close::IDLE => "idle",
        close::SLOW => "client too slow; resume with after",
        close::FORGOTTEN => "account deleted",
        _ => "",
    }
}
