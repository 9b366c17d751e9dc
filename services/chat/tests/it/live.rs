//! Across instances: a message accepted by one instance reaches subscribers on another, once and
//! in order, and the live path survives a lost core-NATS message through the event stream.

use std::collections::HashSet;

use serde_json::json;

use crate::{next_of, put, spawn_many};

#[tokio::test]
async fn messages_sent_to_one_instance_reach_subscribers_on_another_in_order_once() {
    // The sender may send its 50 frames at once (the bucket is another test's subject).
    let chat = spawn_many(2, |c| {
        c.frames_per_sec = 1_000;
        c.frame_burst = 1_000;
        c.send_limit = crate::UNLIMITED;
    })
    .await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let mut on_b = chat.socket(1, &bob).await;
    put(
        &mut on_b,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    next_of(&mut on_b, "subscribed").await;
    let mut on_a = chat.socket(0, &ada).await;
    for i in 0..50 {
        let frame = json!({"type": "send", "conversation_id": room, "client_msg_id": uuid::Uuid::now_v7(), "body": format!("m{i}")});
        put(&mut on_a, frame).await;
    }
    let mut seen = HashSet::new();
    for expected in 1..=50 {
        let frame = next_of(&mut on_b, "message").await;
        let seq = frame["message"]["seq"].as_i64().unwrap();
        assert_eq!(seq, expected, "in order");
        assert!(seen.insert(seq), "once");
    }
}

#[tokio::test]
async fn a_live_message_lost_on_the_wire_is_read_from_the_database() {
    let chat = spawn_many(1, |_| {}).await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let mut ws = chat.socket(0, &bob).await;
    put(
        &mut ws,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    next_of(&mut ws, "subscribed").await;
    // A message committed without its live publication (as if core NATS had dropped it), then
    // one published normally: the room must fill seq 1 from PostgreSQL before handing out seq 2.
    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(&chat.db.direct_url)
        .await
        .unwrap();
    let room_id: uuid::Uuid = room.parse().unwrap();
    sqlx::query("UPDATE chat.conversations SET last_seq = 1 WHERE id = $1")
        .bind(room_id)
        .execute(&mut pg)
        .await
        .unwrap();
    sqlx::query("INSERT INTO chat.messages (id, conversation_id, seq, author_id, client_msg_id, body) VALUES ($1, $2, 1, $3, $4, 'lost')")
        .bind(uuid::Uuid::now_v7())
        .bind(room_id)
        .bind(ada.id)
        .bind(uuid::Uuid::now_v7())
        .execute(&mut pg)
        .await
        .unwrap();
    chat.send(&ada, &room, "published").await;
    let first = next_of(&mut ws, "message").await;
    assert_eq!(first["message"]["seq"], 1);
    assert_eq!(first["message"]["body"], "lost");
    assert_eq!(next_of(&mut ws, "message").await["message"]["seq"], 2);
}
