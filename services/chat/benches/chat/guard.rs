//! The guard's part: one connection's `send` frames against its bucket (10/s, burst 20), counted
//! from the acks and `rate_limited` errors it gets back, and the 1008 close that repeated abuse
//! earns.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use uuid::Uuid;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What came back for the frames of one phase.
#[derive(Default)]
struct Tally {
    acked: u32,
    refused: u32,
    /// Frames sent before the first refusal, and when it came (s after the phase began).
    first_refusal: Option<(u32, f64)>,
    /// The close code, and when (s after the phase began).
    closed: Option<(u16, f64)>,
    /// When the last answer came (s after the phase began).
    last_answer: f64,
}

async fn connect(port: u16, token: &str) -> Socket {
    let mut request = format!("ws://127.0.0.1:{port}/chat/ws")
        .into_client_request()
        .unwrap();
    let h = request.headers_mut();
    h.insert("Authorization", format!("Bearer {token}").parse().unwrap());
    h.insert("Sec-WebSocket-Protocol", "gewebe.chat.v1".parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Sends `count` frames at `per_sec` (0: all at once) and reads the answers until all are in (or
/// the socket closed).
async fn phase(ws: &mut Socket, room: Uuid, per_sec: f64, count: u32) -> Tally {
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut sent = 0u32;
    let mut answered = 0u32;
    while answered < count && tally.closed.is_none() {
        let due = if per_sec > 0.0 {
            started + Duration::from_secs_f64(f64::from(sent) / per_sec)
        } else {
            started
        };
        tokio::select! {
            () = tokio::time::sleep_until(due.into()), if sent < count => {
                let frame = json!({"type": "send", "conversation_id": room, "client_msg_id": Uuid::now_v7(), "body": "guard"});
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    break;
                }
                sent += 1;
            }
            frame = tokio::time::timeout(Duration::from_secs(10), ws.next()) => {
                let t = started.elapsed().as_secs_f64();
                tally.last_answer = t;
                match frame {
                    Ok(Some(Ok(Message::Text(text)))) => {
                        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                        match v["type"].as_str() {
                            Some("ack") => { tally.acked += 1; answered += 1; }
                            Some("error") if v["code"] == "rate_limited" => {
                                tally.refused += 1;
                                answered += 1;
                                tally.first_refusal.get_or_insert((sent, t));
                            }
                            Some("error") => panic!("the guard's phase got {text}"),
                            _ => {}
                        }
                    }
                    Ok(Some(Ok(Message::Close(c)))) => {
                        tally.closed = Some((c.map_or(0, |c| c.code.into()), t));
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(_)) | None) => tally.closed = Some((0, t)),
                    Err(elapsed) => panic!("no answer: {elapsed}"),
                }
            }
        }
    }
    tally
}

/// Markdown rows for the results table.
pub async fn bench(port: u16, token: &str, room: Uuid) -> String {
    let mut md = String::new();
    let mut ws = connect(port, token).await;
    let first = json!({"type": "subscribe", "conversation_id": room}).to_string();
    ws.send(Message::text(first)).await.unwrap();
    // The subscribe took a token: let the bucket fill up again.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The server reads the 25 one after the other (each send is a transaction), and the bucket
    // refills meanwhile: 20 + 10 t of them pass, t being how long the 25 took.
    let burst = phase(&mut ws, room, 0.0, 25).await;
    let t = burst.last_answer;
    let pass = (20.0 + 10.0 * t).floor().min(25.0);
    println!(
        "guard: 25 sends at once: {} acked, {} refused in {t:.3} s",
        burst.acked, burst.refused
    );
    writeln!(md, "| guard: 25 `send` frames at once on one connection: acked / refused (all answered within {t:.3} s) | {} / {} | — | — | {pass} / {} (20 + 10 t pass) |", burst.acked, burst.refused, 25.0 - pass).unwrap();

    // The bucket refills (20 tokens at 10/s), then a steady 10/s must pass whole.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let steady = phase(&mut ws, room, 10.0, 100).await;
    println!(
        "guard: 10/s for 10 s: {} acked, {} refused",
        steady.acked, steady.refused
    );
    writeln!(
        md,
        "| guard: `send` at 10/s for 10 s: acked / refused | {} / {} | — | — | 100 / 0 |",
        steady.acked, steady.refused
    )
    .unwrap();

    tokio::time::sleep(Duration::from_secs(2)).await;
    // 12.5/s drains the full bucket by 2.5 tokens a second: the first refusal after about 8 s
    // (about 100 frames); then 2.5 refusals a second, and the 21st within the abuse window closes.
    let over = phase(&mut ws, room, 12.5, 400).await;
    let (n, t) = over.first_refusal.unwrap_or((0, 0.0));
    let (code, closed_at) = over.closed.unwrap_or((0, 0.0));
    println!(
        "guard: 12.5/s: first refusal at frame {n} after {t:.2} s; {} acked, {} refused; closed with {code} after {closed_at:.1} s",
        over.acked, over.refused
    );
    writeln!(md, "| guard: `send` at 12.5/s from a full bucket: frames before the first refusal, and when | {n} frames, {t:.2} s | — | — | ≈ 100 frames, ≈ 8 s (20 + 10 t = 12.5 t) |").unwrap();
    writeln!(md, "| guard: the same, kept up: close code and when; refusals before it | {code} after {closed_at:.1} s; {} refused, {} acked | — | — | 1008 at the 21st refusal in 10 s (≈ 8.4 s after the first) |", over.refused, over.acked).unwrap();
    md
}
