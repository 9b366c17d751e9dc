//! The WebSocket: subscribe and resume, send and ack, guards and their close codes.

use std::time::Duration;

use futures::SinkExt;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::{close_code, next, next_of, put, spawn, spawn_many};

#[tokio::test]
async fn subscribe_with_after_sends_the_history_then_live_without_gap_or_duplicate() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    for i in 1..=5 {
        chat.send(&ada, &room, &format!("m{i}")).await;
    }
    let mut ws = chat.socket(0, &bob).await;
    put(
        &mut ws,
        json!({"type": "subscribe", "conversation_id": room, "after": 2}),
    )
    .await;
    let subscribed = next_of(&mut ws, "subscribed").await;
    assert_eq!(subscribed["seq"], 5);
    // Live messages while the history is delivered.
    let sender = {
        let chat_url = chat.url("");
        let http = chat.http.clone();
        let (token, room) = (ada.token.clone(), room.clone());
        tokio::spawn(async move {
            for i in 6..=15 {
                let r = http
                    .post(format!("{chat_url}/chat/conversations/{room}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"client_msg_id": uuid::Uuid::now_v7(), "body": format!("m{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        })
    };
    let mut seqs = Vec::new();
    while seqs.len() < 13 {
        let frame = next_of(&mut ws, "message").await;
        seqs.push(frame["message"]["seq"].as_i64().unwrap());
    }
    sender.await.unwrap();
    assert_eq!(seqs, (3..=15).collect::<Vec<_>>());
    put(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(
        next(&mut ws).await.unwrap()["type"],
        "pong",
        "no duplicate came after 15"
    );
}

#[tokio::test]
async fn send_is_acked_and_idempotent_over_the_socket() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let mut ws = chat.socket(0, &ada).await;
    let client_msg_id = uuid::Uuid::now_v7();
    let send = json!({"type": "send", "conversation_id": room, "client_msg_id": client_msg_id, "body": "hi"});
    put(&mut ws, send.clone()).await;
    let ack = next_of(&mut ws, "ack").await;
    assert_eq!(ack["client_msg_id"], client_msg_id.to_string());
    assert_eq!(ack["seq"], 1);
    put(&mut ws, send).await;
    let again = next_of(&mut ws, "ack").await;
    assert_eq!(again["id"], ack["id"]);
    put(&mut ws, json!({"type": "send", "conversation_id": room, "client_msg_id": uuid::Uuid::now_v7(), "body": "\u{7}"})).await;
    let error = next_of(&mut ws, "error").await;
    assert_eq!(error["code"], "validation_failed");
    assert!(error["ref"].is_string());
    let (_, history) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{room}/messages"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn outsiders_cannot_subscribe_and_a_removed_member_is_cut_at_once() {
    let chat = spawn().await;
    let (ada, bob, eve) = (chat.user().await, chat.user().await, chat.user().await);
    let (s, group) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&ada),
            Some(json!({"kind": "group", "participants": [bob.id], "title": "Team"})),
        )
        .await;
    assert_eq!(s, 201);
    let room = group["id"].as_str().unwrap();
    let mut outsider = chat.socket(0, &eve).await;
    put(
        &mut outsider,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    assert_eq!(next_of(&mut outsider, "error").await["code"], "not_found");
    put(
        &mut outsider,
        json!({"type": "typing", "conversation_id": room}),
    )
    .await;
    assert_eq!(
        next_of(&mut outsider, "error").await["code"],
        "not_subscribed"
    );

    let mut bobs = chat.socket(0, &bob).await;
    put(
        &mut bobs,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    next_of(&mut bobs, "subscribed").await;
    let (s, _) = chat
        .call(
            Method::DELETE,
            &format!("/chat/conversations/{room}/members/{}", bob.id),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let removed = next_of(&mut bobs, "error").await;
    assert_eq!(removed["code"], "removed");
    chat.send(&ada, room, "after bob left").await;
    put(&mut bobs, json!({"type": "ping"})).await;
    assert_eq!(
        next(&mut bobs).await.unwrap()["type"],
        "pong",
        "nothing of the room after removal"
    );
    put(
        &mut bobs,
        json!({"type": "typing", "conversation_id": room}),
    )
    .await;
    assert_eq!(
        next_of(&mut bobs, "error").await["code"],
        "not_subscribed",
        "a removed member types into the room no more"
    );
    put(
        &mut bobs,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    assert_eq!(next_of(&mut bobs, "error").await["code"], "not_found");
}

#[tokio::test]
async fn the_bucket_refuses_then_closes_with_1008() {
    let chat = spawn_many(1, |c| {
        c.abuse_limit = 5;
    })
    .await;
    let ada = chat.user().await;
    let mut ws = chat.socket(0, &ada).await;
    for _ in 0..40 {
        if ws
            .send(WsMessage::text(json!({"type": "ping"}).to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut pongs = 0;
    let mut limited = 0;
    loop {
        match next(&mut ws).await {
            Some(f) if f["type"] == "pong" => pongs += 1,
            Some(f) if f["code"] == "rate_limited" => limited += 1,
            Some(f) => panic!("{f}"),
            None => break,
        }
    }
    assert_eq!(
        pongs, 20,
        "the burst, no more (40 frames sent in far less than 100 ms)"
    );
    assert_eq!(limited, 5);
    let mut ws = chat.socket(0, &ada).await;
    for _ in 0..40 {
        let _ = ws
            .send(WsMessage::text(json!({"type": "ping"}).to_string()))
            .await;
    }
    assert_eq!(close_code(&mut ws).await, Some(1008));
}

#[tokio::test]
async fn idle_oversize_and_binary_frames_close_with_their_codes() {
    let chat = spawn_many(1, |c| c.idle = Duration::from_millis(600)).await;
    let ada = chat.user().await;
    // Not polled, the client answers none of the server's pings: to the server it is gone.
    let mut idle = chat.socket(0, &ada).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(close_code(&mut idle).await, Some(4002));
    // A client that answers the pings (as browsers do) is not idle.
    let mut alive = chat.socket(0, &ada).await;
    let quiet = tokio::time::timeout(Duration::from_secs(2), close_code(&mut alive)).await;
    assert!(quiet.is_err(), "closed although it answered every ping");

    let mut big = chat.socket(0, &ada).await;
    let _ = big.send(WsMessage::text("x".repeat(17 * 1024))).await;
    assert_eq!(close_code(&mut big).await, Some(1009));

    let mut binary = chat.socket(0, &ada).await;
    let _ = binary.send(WsMessage::binary(vec![1, 2, 3])).await;
    assert_eq!(close_code(&mut binary).await, Some(1003));
}

#[tokio::test]
async fn a_fresh_token_in_band_keeps_the_connection_past_the_old_expiry() {
    let chat = spawn_many(1, |c| {
        // Every token is "about to expire": reauth at once; closed 2 s after expiry without one.
        c.reauth_before = Duration::from_hours(1);
        c.reauth_grace = Duration::from_secs(2);
    })
    .await;
    let ada = chat.user().await;
    let mut ws = chat.socket(0, &ada).await;
    let reauth = next_of(&mut ws, "reauth").await;
    assert!(reauth["expires_at"].as_i64().unwrap() > 0);
    let fresh = gewebe_testkit::account(&chat.http, &chat.auth.url("")).await;
    // Another account's token is refused and changes nothing.
    put(
        &mut ws,
        json!({"type": "auth", "access_token": fresh.token}),
    )
    .await;
    assert_eq!(next_of(&mut ws, "error").await["code"], "invalid_token");
    put(&mut ws, json!({"type": "auth", "access_token": ada.token})).await;
    put(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next_of(&mut ws, "pong").await["type"], "pong");
}

#[tokio::test]
async fn a_reader_too_slow_is_closed_and_server_memory_stays_bounded() {
    let chat = spawn_many(1, |c| {
        c.outbound_queue = 16;
        c.send_limit = crate::UNLIMITED;
        // Bob reads nothing (no pongs either) while the test sends: that is not idleness here.
        c.idle = std::time::Duration::from_mins(10);
    })
    .await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let mut slow = chat.slow_socket(0, &bob).await;
    slow.send(WsMessage::text(
        json!({"type": "subscribe", "conversation_id": room}).to_string(),
    ))
    .await
    .unwrap();
    // Bob stops reading; big messages fill his socket, then his queue of 16 frames.
    let body = "x".repeat(3_900);
    // Until the server has closed it as too slow (its metric says so): at most 2,000 (8 MB, more
    // than the kernel's socket buffers take, however it sizes them).
    let mut sent = 0;
    let mut closed = false;
    while sent < 2_000 && !closed {
        let sends = (0..20).map(|_| chat.send(&ada, &room, &body));
        futures::future::join_all(sends).await;
        sent += 20;
        let metrics = chat
            .http
            .get(chat.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        closed = metrics.contains("chat_slow_disconnects_total 1");
    }
    assert!(
        closed,
        "the server never closed a reader that took nothing for {sent} messages"
    );
    // When Bob reads again: what was in flight, then the end. The close frame (4003) reaches him
    // if the server could still write it; a client that stopped reading altogether may find the
    // connection dropped instead (PROTOCOL.md).
    let mut received = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut slow))
            .await
        {
            Ok(Some(Ok(WsMessage::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(WsMessage::Text(_)))) => received += 1,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break None,
            Err(elapsed) => {
                panic!("the connection stayed open after {received} frames ({elapsed})")
            }
        }
    };
    assert!(matches!(code, Some(4003) | None), "{code:?}");
    assert!(
        received < sent,
        "{received} frames: the queue did not bound what the server held"
    );
}
