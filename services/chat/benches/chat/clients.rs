//! The benchmark's WebSocket clients: a gewebe-chat client (Bearer token, subprotocol
//! `gewebe.chat.v1`, one room subscribed) and a NATS client on nats-server's WebSocket listener (one
//! subject subscribed). Both send what the driver hands them and time every `message` they read.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use uuid::Uuid;

pub enum Kind {
    Chat {
        port: u16,
        token: String,
        room: Uuid,
    },
    Nats {
        port: u16,
        room: usize,
    },
}

/// What the clients saw, for the measured phase only.
#[derive(Default)]
pub struct Stats {
    pub delivered: AtomicU64,
    pub acked: AtomicU64,
    pub refused: AtomicU64,
    /// Send → receive, ms: receivers on the other instance than the sender, and on the same one.
    cross: Mutex<Vec<f64>>,
    same: Mutex<Vec<f64>>,
}

impl Stats {
    pub fn reset(&self) {
        self.delivered.store(0, Ordering::Relaxed);
        self.acked.store(0, Ordering::Relaxed);
        self.refused.store(0, Ordering::Relaxed);
        self.cross.lock().unwrap().clear();
        self.same.lock().unwrap().clear();
    }

    pub fn take_latencies(&self) -> (Vec<f64>, Vec<f64>) {
        (
            std::mem::take(&mut *self.cross.lock().unwrap()),
            std::mem::take(&mut *self.same.lock().unwrap()),
        )
    }

    /// A message body `t=<µs> i=<instance> p=<phase> …` arrived at a client of `instance`.
    fn arrived(&self, body: &str, instance: usize) {
        let mut t = None;
        let mut from = None;
        let mut phase = None;
        for part in body.split(' ') {
            match part.split_once('=') {
                Some(("t", v)) => t = v.parse::<u128>().ok(),
                Some(("i", v)) => from = v.parse::<usize>().ok(),
                Some(("p", v)) => phase = v.parse::<u8>().ok(),
                _ => {}
            }
        }
        let (Some(t), Some(from), Some(1)) = (t, from, phase) else {
            return;
        };
        let ms = now_us().saturating_sub(t) as f64 / 1000.0;
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let list = if from == instance {
            &self.same
        } else {
            &self.cross
        };
        list.lock().unwrap().push(ms);
    }
}

pub fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
}

/// Waits until `counter` reaches `want` (or `limit` passes); returns when it got there.
pub async fn until(counter: &AtomicU64, want: u64, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    while counter.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Instant::now()
}

/// One client, until its task is aborted: connects, subscribes (then counts itself in `ready`),
/// sends what `outgoing` brings and reads everything.
pub async fn client(
    kind: Kind,
    instance: usize,
    mut outgoing: mpsc::Receiver<String>,
    stats: Arc<Stats>,
    ready: Arc<AtomicU64>,
) {
    let (url, bearer, hello) = match &kind {
        Kind::Chat { port, token, room } => (
            format!("ws://127.0.0.1:{port}/chat/ws"),
            Some(token.clone()),
            Message::text(
                serde_json::json!({"type": "subscribe", "conversation_id": room}).to_string(),
            ),
        ),
        Kind::Nats { port, room } => (
            format!("ws://127.0.0.1:{port}"),
            None,
            Message::binary(
                format!("CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nSUB room.{room} 1\r\nPING\r\n")
                    .into_bytes(),
            ),
        ),
    };
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = bearer {
        let h = request.headers_mut();
        h.insert("Authorization", format!("Bearer {token}").parse().unwrap());
        h.insert("Sec-WebSocket-Protocol", "gewebe.chat.v1".parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("connecting {e}"));
    ws.send(hello).await.unwrap();
    let chat = matches!(kind, Kind::Chat { .. });
    let mut nats_buf: Vec<u8> = Vec::new();
    let mut subscribed = false;
    loop {
        tokio::select! {
            out = outgoing.recv() => {
                let Some(out) = out else { return };
                let frame = if chat { Message::text(out) } else { Message::binary(out.into_bytes()) };
                if ws.send(frame).await.is_err() {
                    return;
                }
            }
            frame = ws.next() => {
                let Some(Ok(frame)) = frame else {
                    if subscribed {
                        eprintln!("a client's socket closed: {frame:?}");
                    }
                    return;
                };
                if chat {
                    let Message::Text(text) = frame else { continue };
                    chat_frame(&text, instance, &stats, &ready, &mut subscribed);
                } else {
                    nats_buf.extend_from_slice(&frame.into_data());
                    for reply in nats_frames(&mut nats_buf, instance, &stats, &ready, &mut subscribed) {
                        let _ = ws.send(Message::binary(reply.as_bytes().to_vec())).await;
                    }
                }
            }
        }
    }
}

fn chat_frame(
    text: &str,
    instance: usize,
    stats: &Stats,
    ready: &AtomicU64,
    subscribed: &mut bool,
) {
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    match v["type"].as_str() {
        Some("message") => stats.arrived(v["message"]["body"].as_str().unwrap_or(""), instance),
        // An ack does not say its phase; the warm-up's are in before the reset.
        Some("ack") => {
            stats.acked.fetch_add(1, Ordering::Relaxed);
        }
        Some("subscribed") if !*subscribed => {
            *subscribed = true;
            ready.fetch_add(1, Ordering::Relaxed);
        }
        Some("error") => {
            let n = stats.refused.fetch_add(1, Ordering::Relaxed);
            if n < 5 {
                eprintln!("chat error frame: {text}");
            }
        }
        _ => {}
    }
}

/// Parses NATS protocol lines out of `buf`; returns the replies owed (PONG).
fn nats_frames(
    buf: &mut Vec<u8>,
    instance: usize,
    stats: &Stats,
    ready: &AtomicU64,
    subscribed: &mut bool,
) -> Vec<&'static str> {
    let mut replies = Vec::new();
    while let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
        if let Some(rest) = line.strip_prefix("MSG ") {
            let len: usize = rest.rsplit(' ').next().unwrap().parse().unwrap();
            if buf.len() < eol + 2 + len + 2 {
                break;
            }
            let payload = &buf[eol + 2..eol + 2 + len];
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            stats.arrived(v["message"]["body"].as_str().unwrap_or(""), instance);
            buf.drain(..eol + 2 + len + 2);
        } else {
            buf.drain(..eol + 2);
            if line == "PONG" && !*subscribed {
                *subscribed = true;
                ready.fetch_add(1, Ordering::Relaxed);
            } else if line == "PING" {
                replies.push("PONG\r\n");
            }
        }
    }
    replies
}
