//! Other services' events: a forget takes the account out of every room at once and leaves
//! tombstones (direct, group) or authorless messages (node rooms); a deleted node archives its room.

use std::time::Duration;

use gewebe_events::{
    Envelope,
    types::{AccountForgotten, NodeDeleted},
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::{Chat, close_code, next_of, put, spawn_many};

async fn publish(chat: &Chat, envelope: &Envelope) {
    let client = async_nats::connect(gewebe_testkit::TestEnv::from_env().nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", envelope.id.to_string().as_str());
    js.publish_with_headers(
        gewebe_events::subjects::event(&chat.prefix, &envelope.event_type),
        headers,
        envelope.to_vec().unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test]
async fn a_forget_cuts_the_account_out_of_every_room_and_leaves_no_body_of_theirs_in_private_rooms()
{
    let chat = spawn_many(1, |c| c.consume_events = true).await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    chat.send(&bob, &room, "Bobs Geheimnis").await;
    chat.send(&ada, &room, "Adas Antwort").await;
    let mut bobs = chat.socket(0, &bob).await;
    put(
        &mut bobs,
        json!({"type": "subscribe", "conversation_id": room}),
    )
    .await;
    next_of(&mut bobs, "subscribed").await;

    let forget = Envelope::new(
        "gewebe-auth",
        bob.id,
        9,
        &AccountForgotten { account_id: bob.id },
    )
    .unwrap();
    publish(&chat, &forget).await;
    // Cut at once: the connection closes (a `removed` frame may come first).
    assert_eq!(close_code(&mut bobs).await, Some(4004));
    let path = format!("/chat/conversations/{room}/messages");
    eventually("the tombstone", async || {
        let (_, page) = chat.call(Method::GET, &path, Some(&ada), None).await;
        page["items"][0]["deleted"] == true
    })
    .await;
    let (_, page) = chat.call(Method::GET, &path, Some(&ada), None).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items[0]["body"], Value::Null);
    assert_eq!(items[0]["author"], Value::Null);
    assert_eq!(
        items[1]["body"], "Adas Antwort",
        "the other side's messages stay"
    );
    let (_, members) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{room}/members"),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(members["members"], json!([ada.id]));
    // Applied once: a redelivery changes nothing (and does not fail).
    publish(
        &chat,
        &Envelope {
            id: uuid::Uuid::now_v7(),
            ..forget
        },
    )
    .await;
    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(&chat.db.direct_url)
        .await
        .unwrap();
    let bodies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM chat.messages WHERE body LIKE '%Geheimnis%'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(
        bodies, 0,
        "the body is gone from the table, not only from the answers"
    );
}

#[tokio::test]
async fn a_forgotten_account_is_closed_on_every_instance_and_its_valid_token_opens_no_room() {
    let chat = spawn_many(2, |c| c.consume_events = true).await;
    let (ada, bob, carl) = (chat.user().await, chat.user().await, chat.user().await);
    let (s, group) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&bob),
            Some(json!({"kind": "group", "participants": [ada.id], "title": "Bobs Runde"})),
        )
        .await;
    assert_eq!(s, 201, "{group}");
    let group = group["id"].as_str().unwrap().to_owned();
    chat.send(&bob, &group, "Bobs Nachricht").await;
    // A direct room Bob made: both his creator field and the pair name him.
    let bobs_direct = chat.direct(&bob, &carl).await;
    let mut adas = chat.socket(0, &ada).await;
    put(
        &mut adas,
        json!({"type": "subscribe", "conversation_id": group}),
    )
    .await;
    next_of(&mut adas, "subscribed").await;
    // Bob holds a connection on each instance, one of them in no room at all.
    let mut bobs = chat.socket(1, &bob).await;
    put(
        &mut bobs,
        json!({"type": "subscribe", "conversation_id": group}),
    )
    .await;
    next_of(&mut bobs, "subscribed").await;
    let mut bobs_idle = chat.socket(0, &bob).await;

    let forget = Envelope::new(
        "gewebe-auth",
        bob.id,
        9,
        &AccountForgotten { account_id: bob.id },
    )
    .unwrap();
    publish(&chat, &forget).await;
    assert_eq!(
        close_code(&mut bobs).await,
        Some(4004),
        "closed on instance 1"
    );
    assert_eq!(
        close_code(&mut bobs_idle).await,
        Some(4004),
        "closed on instance 0"
    );
    let gone = next_of(&mut adas, "message_deleted").await;
    assert_eq!(gone["message"]["body"], Value::Null, "{gone}");
    assert_eq!(gone["message"]["author"], Value::Null);

    // Bob's access token is still valid for minutes: it opens nothing.
    eventually("the forget applied", async || {
        let (s, _) = chat
            .call(
                Method::POST,
                "/chat/conversations",
                Some(&bob),
                Some(json!({"kind": "direct", "participants": [carl.id]})),
            )
            .await;
        s == 401
    })
    .await;
    let (s, body) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&bob),
            Some(json!({"kind": "group", "participants": [carl.id], "title": "Neu"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), body["code"].as_str()),
        (401, Some("account_forgotten"))
    );
    let (s, _) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&ada),
            Some(json!({"kind": "direct", "participants": [bob.id]})),
        )
        .await;
    assert_eq!(s, 404, "nobody opens a direct room with a deleted account");
    let (_, room) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{group}"),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(room["creator"], Value::Null, "{room}");
    let (_, direct) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{bobs_direct}"),
            Some(&carl),
            None,
        )
        .await;
    assert_eq!(direct["creator"], Value::Null, "{direct}");
    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(&chat.db.direct_url)
        .await
        .unwrap();
    let named: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM chat.conversations WHERE creator_id = $1 OR direct_pair @> ARRAY[$1]",
    )
    .bind(bob.id)
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!(named, 0, "no room names the forgotten account");
    // Nor does a socket open with the token.
    let mut request = chat
        .url("/chat/ws")
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", bob.token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(4004), "closed at once");
    let (s, _) = chat
        .call(
            Method::POST,
            &format!("/chat/conversations/{group}/members"),
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 401, "no way back in");
}

#[tokio::test]
async fn a_deleted_node_archives_its_room() {
    let chat = spawn_many(1, |c| c.consume_events = true).await;
    let ada = chat.user().await;
    let node: Value = chat
        .http
        .post(chat.geo.url("/geo/nodes"))
        .bearer_auth(&ada.token)
        .json(&json!({"kind": "idea", "title": "Gemeinschaftsgarten", "location": {"lat": 48.1, "lon": 11.5}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let node_id: uuid::Uuid = node["id"].as_str().unwrap().parse().unwrap();
    let (s, room) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&ada),
            Some(json!({"kind": "node", "node_id": node_id})),
        )
        .await;
    assert_eq!(s, 201);
    let id = room["id"].as_str().unwrap();
    chat.send(&ada, id, "vor dem Löschen").await;
    publish(
        &chat,
        &Envelope::new("gewebe-geo", node_id, 2, &NodeDeleted { node_id }).unwrap(),
    )
    .await;
    eventually("the archive", async || {
        let (_, room) = chat
            .call(
                Method::GET,
                &format!("/chat/conversations/{id}"),
                None,
                None,
            )
            .await;
        room["archived"] == true
    })
    .await;
    let send = json!({"client_msg_id": uuid::Uuid::now_v7(), "body": "danach"});
    let (s, problem) = chat
        .call(
            Method::POST,
            &format!("/chat/conversations/{id}/messages"),
            Some(&ada),
            Some(send),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(problem["code"], "archived");
    let (_, page) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{id}/messages"),
            None,
            None,
        )
        .await;
    assert_eq!(
        page["items"][0]["body"], "vor dem Löschen",
        "still readable"
    );
}
