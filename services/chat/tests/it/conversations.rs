//! Rooms: kinds, one room per node and per pair, membership, privacy of private rooms.

use reqwest::Method;
use serde_json::json;

use crate::spawn;

#[tokio::test]
async fn a_direct_room_is_one_per_pair_and_invisible_to_others() {
    let chat = spawn().await;
    let (ada, bob, eve) = (chat.user().await, chat.user().await, chat.user().await);
    let room = chat.direct(&ada, &bob).await;
    // The other side opening it again gets the same room.
    assert_eq!(chat.direct(&bob, &ada).await, room);
    let (s, body) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{room}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["kind"], "direct");
    for who in [Some(&eve), None] {
        let (s, _) = chat
            .call(
                Method::GET,
                &format!("/chat/conversations/{room}"),
                who,
                None,
            )
            .await;
        assert_eq!(s, 404, "a private room does not exist for outsiders");
        let (s, _) = chat
            .call(
                Method::GET,
                &format!("/chat/conversations/{room}/messages"),
                who,
                None,
            )
            .await;
        assert_eq!(s, 404);
    }
    let (s, mine) = chat
        .call(Method::GET, "/chat/conversations", Some(&ada), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(mine["items"][0]["id"], room.as_str());
    let (_, theirs) = chat
        .call(Method::GET, "/chat/conversations", Some(&eve), None)
        .await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_node_has_one_room_that_anyone_reads_and_members_write() {
    let chat = spawn().await;
    let (ada, bob) = (chat.user().await, chat.user().await);
    let node = chat
        .http
        .post(chat.geo.url("/geo/nodes"))
        .bearer_auth(&ada.token)
        .json(&json!({"kind": "place", "title": "Brunnen", "location": {"lat": 52.5, "lon": 13.4}}))
        .send()
        .await
        .unwrap();
    assert_eq!(node.status(), 201);
    let node: serde_json::Value = node.json().await.unwrap();
    let node_id = node["id"].as_str().unwrap().to_owned();
    let create = json!({"kind": "node", "node_id": node_id});
    let (s, room) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&ada),
            Some(create.clone()),
        )
        .await;
    assert_eq!(s, 201, "{room}");
    let (s, again) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&bob),
            Some(create),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(again["id"], room["id"]);
    let id = room["id"].as_str().unwrap();

    // Bob is not a member yet: he reads, but must join to write.
    let (s, _) = chat
        .call(
            Method::GET,
            &format!("/chat/conversations/{id}/messages"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "anyone reads a node room");
    let send = json!({"client_msg_id": uuid::Uuid::now_v7(), "body": "hallo"});
    let (s, body) = chat
        .call(
            Method::POST,
            &format!("/chat/conversations/{id}/messages"),
            Some(&bob),
            Some(send.clone()),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let (s, members) = chat
        .call(
            Method::POST,
            &format!("/chat/conversations/{id}/members"),
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200, "{members}");
    let (s, _) = chat
        .call(
            Method::POST,
            &format!("/chat/conversations/{id}/messages"),
            Some(&bob),
            Some(send),
        )
        .await;
    assert_eq!(s, 201);

    let unknown = json!({"kind": "node", "node_id": uuid::Uuid::now_v7()});
    let (s, _) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            Some(&ada),
            Some(unknown),
        )
        .await;
    assert_eq!(s, 404, "a room for a node geo does not know is refused");
}

#[tokio::test]
async fn bad_rooms_are_refused_with_field_errors() {
    let chat = spawn().await;
    let ada = chat.user().await;
    for body in [
        json!({"kind": "direct", "participants": []}),
        json!({"kind": "direct", "participants": [ada.id]}),
        json!({"kind": "group", "participants": []}),
        json!({"kind": "group", "participants": (0..101).map(|_| uuid::Uuid::now_v7()).collect::<Vec<_>>()}),
        json!({"kind": "node"}),
        json!({"kind": "lounge"}),
    ] {
        let (s, problem) = chat
            .call(
                Method::POST,
                "/chat/conversations",
                Some(&ada),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body} → {problem}");
        assert_eq!(problem["code"], "validation_failed");
    }
    let (s, _) = chat
        .call(
            Method::POST,
            "/chat/conversations",
            None,
            Some(json!({"kind": "group"})),
        )
        .await;
    assert_eq!(s, 401);
}
