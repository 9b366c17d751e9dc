//! Messages over REST: seq, idempotency, validation, history in both directions, edit and delete,
//! and what the events carry.

use reqwest::Method;
use serde_json::json;

use crate::spawn;

#[tokio::test]
async fn seqs_are_gapless_and_a_retry_returns_the_same_message() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let path = format!("/chat/conversations/{room}/messages");
    let client_msg_id = uuid::Uuid::now_v7();
    let send = json!({"client_msg_id": client_msg_id, "body": "  erste Nachricht  "});
    let (s, first) = chat
        .call(Method::POST, &path, Some(&ada), Some(send.clone()))
        .await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["body"], "erste Nachricht", "trimmed");
    // Retried concurrently and later: always the same message, never a second one.
    let retries = futures::future::join_all(
        (0..5).map(|_| chat.call(Method::POST, &path, Some(&ada), Some(send.clone()))),
    )
    .await;
    for (s, again) in retries {
        assert_eq!(s, 200);
        assert_eq!(again["id"], first["id"]);
    }
    for i in 2..=5 {
        assert_eq!(chat.send(&bob, &room, &format!("m{i}")).await["seq"], i);
    }
    let (_, page) = chat
        .call(
            Method::GET,
            &format!("{path}?after=1&limit=2"),
            Some(&ada),
            None,
        )
        .await;
    let seqs: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(page["next_cursor"], "3");
    let (_, page) = chat
        .call(
            Method::GET,
            &format!("{path}?before=5&limit=2"),
            Some(&ada),
            None,
        )
        .await;
    let seqs: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4], "paging back still lists oldest first");
    assert_eq!(page["next_cursor"], "3");
    let (_, latest) = chat.call(Method::GET, &path, Some(&bob), None).await;
    assert_eq!(latest["items"].as_array().unwrap().len(), 5);
    let (s, _) = chat
        .call(
            Method::GET,
            &format!("{path}?after=1&before=3"),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn bodies_are_validated() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let path = format!("/chat/conversations/{room}/messages");
    for body in ["", "   ", "tab\there", "bell\u{7}", &"x".repeat(4_001)] {
        let send = json!({"client_msg_id": uuid::Uuid::now_v7(), "body": body});
        let (s, problem) = chat.call(Method::POST, &path, Some(&ada), Some(send)).await;
        assert_eq!(s, 422, "{body:?}");
        assert_eq!(problem["code"], "validation_failed");
    }
    let multi = json!({"client_msg_id": uuid::Uuid::now_v7(), "body": "zwei\nZeilen"});
    let (s, _) = chat
        .call(Method::POST, &path, Some(&ada), Some(multi))
        .await;
    assert_eq!(s, 201);
    let (s, _) = chat
        .call(
            Method::POST,
            &path,
            Some(&ada),
            Some(json!({"client_msg_id": "nope", "body": "x"})),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn authors_edit_with_if_match_and_deletes_leave_tombstones() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let m = chat.send(&ada, &room, "original").await;
    let id = m["id"].as_str().unwrap();
    let edit = |who, version: &str| {
        let mut req = chat
            .http
            .patch(chat.url(&format!("/chat/messages/{id}")))
            .bearer_auth(who)
            .json(&json!({"body": "edited"}));
        if !version.is_empty() {
            req = req.header("If-Match", version);
        }
        req.send()
    };
    assert_eq!(edit(&bob.token, "").await.unwrap().status(), 403);
    assert_eq!(edit(&ada.token, "\"7\"").await.unwrap().status(), 412);
    let edited = edit(&ada.token, "\"1\"").await.unwrap();
    assert_eq!(edited.status(), 200);
    assert_eq!(edited.headers()["etag"], "\"2\"");
    let (s, _) = chat
        .call(
            Method::DELETE,
            &format!("/chat/messages/{id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = chat
        .call(
            Method::DELETE,
            &format!("/chat/messages/{id}"),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, history) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{room}/messages"),
            Some(&bob),
            None,
        )
        .await;
    let tomb = &history["items"][0];
    assert_eq!(tomb["deleted"], true);
    assert_eq!(tomb["body"], serde_json::Value::Null);
    assert_eq!(tomb["seq"], 1, "the tombstone keeps its place");
}

#[tokio::test]
async fn events_carry_ids_and_seqs_never_bodies() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let secret = "meine geheime Nachricht";
    chat.send(&ada, &room, secret).await;
    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(&chat.db.direct_url)
        .await
        .unwrap();
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT event_type, payload FROM chat.outbox ORDER BY seq")
            .fetch_all(&mut pg)
            .await
            .unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        types,
        [
            "conversation.created",
            "member.joined",
            "member.joined",
            "message.created"
        ]
    );
    for (_, payload) in &rows {
        let text = String::from_utf8_lossy(payload);
        assert!(!text.contains(secret), "a body in an event: {text}");
        let event: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(
            event["visibility"], "internal",
            "a direct room's activity is no one's feed"
        );
    }
    let created: serde_json::Value = serde_json::from_slice(&rows[3].1).unwrap();
    assert_eq!(created["data"]["seq"], 1);
}

#[tokio::test]
async fn an_account_that_floods_a_room_over_rest_gets_429_with_retry_after() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    let path = format!("/chat/conversations/{room}/messages");
    // Forty at once: far faster than the bucket refills (10/s).
    let sends = (0..40).map(|i| {
        let send = json!({"client_msg_id": uuid::Uuid::now_v7(), "body": format!("flood {i}")});
        chat.http
            .post(chat.url(&path))
            .bearer_auth(&ada.token)
            .json(&send)
            .send()
    });
    let mut accepted = 0;
    let mut limited = 0;
    for resp in futures::future::join_all(sends).await {
        let resp = resp.unwrap();
        match resp.status().as_u16() {
            201 => accepted += 1,
            429 => {
                assert!(resp.headers().contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("{other}"),
        }
    }
    // The burst of 30 less the room's creation (every write draws on the same bucket), and what
    // refilled meanwhile.
    assert!((29..=31).contains(&accepted), "{accepted}");
    assert_eq!(accepted + limited, 40);
    // Another account is not affected.
    let (s, _) = chat
        .call(
            Method::POST,
            &path,
            Some(&bob),
            Some(json!({"client_msg_id": uuid::Uuid::now_v7(), "body": "hi"})),
        )
        .await;
    assert_eq!(s, 201);
}

/// A send that waits for the room's lock while someone removes its author must not land: the
/// membership it read before the wait is stale.
#[tokio::test]
async fn a_send_that_waited_for_the_room_while_its_author_was_removed_is_refused() {
    use sqlx::Connection;
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let (s, group) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&ada),
            Some(json!({"kind": "group", "participants": [bob.id], "title": "Runde"})),
        )
        .await;
    assert_eq!(s, 201, "{group}");
    let room: uuid::Uuid = group["id"].as_str().unwrap().parse().unwrap();
    // What a removal does: the room locked, the membership gone, then the commit.
    let mut pg = sqlx::PgConnection::connect(&chat.db.direct_url)
        .await
        .unwrap();
    let mut removal = pg.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM chat.conversations WHERE id = $1 FOR UPDATE")
        .bind(room)
        .execute(&mut *removal)
        .await
        .unwrap();
    let send = {
        let (http, url, token) = (
            chat.http.clone(),
            chat.url(&format!("/chat/conversations/{room}/messages")),
            bob.token.clone(),
        );
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"client_msg_id": uuid::Uuid::now_v7(), "body": "zu spät"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The send is now waiting for the lock, having read its membership.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    sqlx::query("DELETE FROM chat.members WHERE conversation_id = $1 AND account_id = $2")
        .bind(room)
        .bind(bob.id)
        .execute(&mut *removal)
        .await
        .unwrap();
    removal.commit().await.unwrap();
    assert_eq!(
        send.await.unwrap(),
        404,
        "a removed member's send is refused"
    );
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM chat.messages WHERE conversation_id = $1")
            .bind(room)
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(written, 0);
}
