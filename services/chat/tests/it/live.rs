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

#[tokio::test]
async fn a_reader_that_drops_its_connection_50_times_while_5000_messages_flow_gets_each_once_in_order()
 {
    const MESSAGES: i64 = 5_000;
    let chat = spawn_many(2, |c| c.send_limit = crate::UNLIMITED).await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    // Four senders through instance A, as fast as they go.
    let url = chat.url(&format!("/chat/conversations/{room}/messages"));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, token) = (chat.http.clone(), url.clone(), ada.token.clone());
            tokio::spawn(async move {
                for i in 0..MESSAGES / 4 {
                    let r = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"client_msg_id": uuid::Uuid::now_v7(), "body": format!("m{i}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    // Bob reads on instance B, drops the connection 50 times at random points, and resumes with
    // the last seq he saw.
    let mut seen: Vec<i64> = Vec::new();
    let mut drops = 0;
    while seen.last().copied().unwrap_or(0) < MESSAGES {
        let mut ws = chat.socket(1, &bob).await;
        let after = seen.last().copied().unwrap_or(0);
        put(
            &mut ws,
            json!({"type": "subscribe", "conversation_id": room, "after": after}),
        )
        .await;
        next_of(&mut ws, "subscribed").await;
        let take = if drops < 50 {
            1 + (uuid::Uuid::now_v7().as_u128() % 150) as usize
        } else {
            usize::MAX
        };
        for _ in 0..take {
            if seen.last().copied().unwrap_or(0) >= MESSAGES {
                break;
            }
            let frame = next_of(&mut ws, "message").await;
            seen.push(frame["message"]["seq"].as_i64().unwrap());
        }
        drops += 1;
        drop(ws);
    }
    for s in senders {
        s.await.unwrap();
    }
    assert!(drops > 50, "{drops} connections");
    assert_eq!(
        seen,
        (1..=MESSAGES).collect::<Vec<_>>(),
        "each once, in order"
    );
}

#[tokio::test]
async fn nats_restarted_mid_stream_loses_nothing() {
    let mut nats = gewebe_testkit::NatsServer::start().unwrap();
    let chat = crate::spawn_on(&nats.url(), 2, |c| c.send_limit = crate::UNLIMITED).await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let mut on_b = chat.socket(1, &bob).await;
    put(
        &mut on_b,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    next_of(&mut on_b, "subscribed").await;
    for i in 0..20 {
        chat.send(&ada, &room, &format!("before {i}")).await;
    }
    // Messages accepted while NATS is gone cannot travel live; they are committed all the same.
    nats.stop();
    for i in 0..20 {
        chat.send(&ada, &room, &format!("during {i}")).await;
    }
    nats.restart().unwrap();
    // Once the instances are back on NATS, the next live message shows instance B the gap, which
    // it reads from PostgreSQL.
    let mut sent_after = 0;
    let mut seqs = Vec::new();
    while seqs.last().copied().unwrap_or(0) < 41 + sent_after - 1 || sent_after == 0 {
        chat.send(&ada, &room, "after").await;
        sent_after += 1;
        while let Ok(frame) = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            next_of(&mut on_b, "message"),
        )
        .await
        {
            seqs.push(frame["message"]["seq"].as_i64().unwrap());
        }
        assert!(sent_after < 40, "the stream never caught up: {seqs:?}");
    }
    assert_eq!(
        seqs,
        (1..=40 + sent_after).collect::<Vec<_>>(),
        "each once, in order"
    );
}

#[tokio::test]
async fn presence_is_shared_across_instances_and_follows_subscribers() {
    let chat = spawn_many(2, |_| {}).await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let mut on_a = chat.socket(0, &ada).await;
    put(
        &mut on_a,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    next_of(&mut on_a, "subscribed").await;
    let mut on_b = chat.socket(1, &bob).await;
    put(
        &mut on_b,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    next_of(&mut on_b, "subscribed").await;
    let both = json!(
        [ada.id, bob.id]
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
    );
    for ws in [&mut on_a, &mut on_b] {
        let mut last = serde_json::Value::Null;
        for _ in 0..5 {
            last = next_of(ws, "presence").await["online"].clone();
            if last == both {
                break;
            }
        }
        assert_eq!(last, both);
    }
    drop(on_b);
    let only_ada = json!([ada.id]);
    let mut last = serde_json::Value::Null;
    for _ in 0..5 {
        last = next_of(&mut on_a, "presence").await["online"].clone();
        if last == only_ada {
            break;
        }
    }
    assert_eq!(last, only_ada, "bob went offline");
}
