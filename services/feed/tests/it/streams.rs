//! Live delivery: filters by area and topic, private events and tickets, limits, bad input.

use std::time::Duration;

use gewebe_events::{Envelope, types::AccountUpdated};
use serde_json::Value;

use crate::{node_at, spawn, spawn_with, spawn_with_token_ttl};

#[tokio::test]
async fn events_reach_the_streams_whose_area_holds_them_and_no_other() {
    let feed = spawn().await;
    let mut berlin = feed
        .open("topics=nodes&bbox=13.0,52.3,13.8,52.7", None, None)
        .await
        .unwrap();
    let mut munich = feed
        .open("topics=nodes&bbox=11.3,48.0,11.8,48.3", None, None)
        .await
        .unwrap();
    let cell = h3o::LatLng::new(52.52, 13.405)
        .unwrap()
        .to_cell(h3o::Resolution::Five);
    let mut by_cell = feed
        .open(&format!("cells={cell}"), None, None)
        .await
        .unwrap();
    let mut edges_only = feed.open("topics=edges", None, None).await.unwrap();

    let seq = feed.publish(&node_at(52.52, 13.405, "Berlin")).await;
    let e = berlin.next().await.unwrap();
    assert_eq!(e.event, "node.created");
    assert_eq!(e.id.as_deref(), Some(seq.to_string().as_str()));
    let data: Value = serde_json::from_str(&e.data).unwrap();
    assert_eq!(data["data"]["title"], "Berlin");
    assert_eq!(data["location"]["lat"], 52.52);
    assert!(
        data.get("actor").is_none() && data.get("traceparent").is_none(),
        "{data}"
    );
    assert_eq!(by_cell.next().await.unwrap().id, e.id);

    // Munich's stream sees its own event first: the Berlin one never reached it.
    let munich_seq = feed.publish(&node_at(48.137, 11.575, "München")).await;
    assert_eq!(
        munich.next().await.unwrap().id,
        Some(munich_seq.to_string())
    );
    assert!(
        edges_only
            .within(Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn private_events_reach_their_account_only_and_tickets_are_single_use() {
    let feed = spawn_with(|c| c.ticket_ttl = Duration::from_secs(1)).await;
    let (ada, ada_token) = feed.user().await;
    let (_bob, bob_token) = feed.user().await;
    let ticket = |token: String| {
        let http = feed.http.clone();
        let url = feed.server.url("/feed/tickets");
        async move {
            let resp = http.post(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let body: Value = resp.json().await.unwrap();
            body["ticket"].as_str().unwrap().to_owned()
        }
    };
    let t = ticket(ada_token.clone()).await;
    let mut ada_stream = feed
        .open(&format!("topics=account&ticket={t}"), None, None)
        .await
        .unwrap();
    let (status, body) = feed
        .open(&format!("topics=account&ticket={t}"), None, None)
        .await
        .err()
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_ticket")),
        "used once"
    );
    let mut bob_stream = feed
        .open("topics=account", None, Some(&bob_token))
        .await
        .unwrap();
    let mut anonymous = feed.open("topics=account", None, None).await.unwrap();

    let private = Envelope::new(
        "gewebe-auth",
        ada,
        2,
        &AccountUpdated {
            account_id: ada,
            fuzz_radius_m: 100,
            ron: false,
        },
    )
    .unwrap();
    let seq = feed.publish(&private).await;
    let e = ada_stream.next().await.unwrap();
    assert_eq!(
        (e.event.as_str(), e.id),
        ("account.updated", Some(seq.to_string()))
    );
    assert!(
        bob_stream
            .within(Duration::from_millis(300))
            .await
            .is_none()
    );
    assert!(anonymous.within(Duration::from_millis(100)).await.is_none());

    // An unused ticket expires.
    let late = ticket(ada_token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = feed
        .open(&format!("ticket={late}"), None, None)
        .await
        .err()
        .unwrap();
    assert_eq!(status, 401);
    let (status, _) = feed.open("ticket=forged", None, None).await.err().unwrap();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn bad_subscriptions_are_400_and_full_instances_503() {
    let feed = spawn_with(|c| {
        c.max_connections = 2;
        c.max_cells = 2;
    })
    .await;
    let cell = h3o::LatLng::new(1.0, 1.0)
        .unwrap()
        .to_cell(h3o::Resolution::Four)
        .to_string();
    for (query, code) in [
        ("topics=weather", "invalid_topics"),
        ("bbox=1,2,3", "invalid_bbox"),
        ("bbox=3,2,1,4", "invalid_bbox"),
        ("cells=zz", "invalid_cells"),
        (&format!("cells={cell},{cell},{cell}")[..], "invalid_cells"),
        (&format!("bbox=0,0,1,1&cells={cell}")[..], "invalid_area"),
        ("last_event_id=abc", "invalid_last_event_id"),
    ] {
        let (status, body) = feed.open(query, None, None).await.err().unwrap();
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{query}"
        );
    }
    let _a = feed.open("", None, None).await.unwrap();
    let _b = feed.open("", None, None).await.unwrap();
    let (status, body) = feed.open("", None, None).await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (503, Some("overloaded")));
    drop(_a);
    // The slot comes back once the server notices the client left.
    let mut reopened = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(s) = feed.open("", None, None).await {
            reopened = Some(s);
            break;
        }
    }
    assert!(reopened.is_some(), "a closed stream frees its slot");
}

#[tokio::test]
async fn two_instances_deliver_the_same_sequence() {
    let feed = spawn().await;
    let second = feed.another_instance().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = feed.open("topics=nodes", None, None).await.unwrap();
    let mut b = feed
        .open_on(&second, "topics=nodes", None, None)
        .await
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..50 {
        sent.push(Some(
            feed.publish(&node_at(10.0, 10.0 + f64::from(i) * 0.001, "x"))
                .await
                .to_string(),
        ));
    }
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    for _ in 0..50 {
        got_a.push(a.next().await.unwrap().id);
        got_b.push(b.next().await.unwrap().id);
    }
    assert_eq!(got_a, sent);
    assert_eq!(got_b, sent);
}

#[tokio::test]
async fn a_stream_ends_at_its_tokens_expiry_with_reauth_and_at_shutdown_with_a_retry_hint() {
    // Tokens that expire in 2 s: with the jitter the stream ends at once or within 2 s.
    let feed = spawn_with_token_ttl(|_| {}, Duration::from_secs(2)).await;
    let (_, token) = feed.user().await;
    let mut stream = feed.open("topics=nodes", None, Some(&token)).await.unwrap();
    let e = stream.within(Duration::from_secs(5)).await.expect("reauth");
    assert_eq!(e.event, "reauth");
    assert!(
        stream.within(Duration::from_secs(1)).await.is_none(),
        "then closed"
    );

    let mut anonymous = feed.open("topics=nodes", None, None).await.unwrap();
    let crate::Feed { server, .. } = feed;
    let stopping = tokio::spawn(server.stop());
    let e = anonymous
        .within(Duration::from_secs(5))
        .await
        .expect("shutdown");
    assert_eq!(e.event, "shutdown");
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_forgotten_accounts_streams_end_and_others_go_on() {
    let feed = spawn().await;
    let (ada, ada_token) = feed.user().await;
    let (_, bob_token) = feed.user().await;
    let mut ada_stream = feed
        .open("topics=nodes", None, Some(&ada_token))
        .await
        .unwrap();
    let mut bob_stream = feed
        .open("topics=nodes", None, Some(&bob_token))
        .await
        .unwrap();
    let forgotten = Envelope::new(
        "gewebe-auth",
        ada,
        3,
        &gewebe_events::types::AccountForgotten { account_id: ada },
    )
    .unwrap();
    feed.publish(&forgotten).await;
    let e = ada_stream
        .within(Duration::from_secs(5))
        .await
        .expect("an event");
    assert_eq!(e.event, "reauth");
    assert!(
        ada_stream.within(Duration::from_secs(1)).await.is_none(),
        "closed"
    );
    let seq = feed.publish(&node_at(1.0, 1.0, "still here")).await;
    assert_eq!(bob_stream.next().await.unwrap().id, Some(seq.to_string()));
}

#[tokio::test]
async fn quiet_streams_get_keep_alive_comments() {
    use futures::StreamExt;
    let feed = spawn_with(|c| c.keepalive = Duration::from_millis(300)).await;
    // Events elsewhere on the map flow past this stream all the while: it still sends nothing, so
    // it still needs its keep-alives.
    let resp = feed
        .http
        .get(
            feed.server
                .url("/feed/stream?topics=nodes&bbox=11.3,48.0,11.8,48.3"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let mut body = resp.bytes_stream();
    let publishing = std::sync::atomic::AtomicBool::new(true);
    let elsewhere = async {
        for i in 0..40 {
            feed.publish(&node_at(52.52, 13.405, &format!("Berlin {i}")))
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        publishing.store(false, std::sync::atomic::Ordering::SeqCst);
    };
    let read = async {
        let mut seen = String::new();
        let mut comments = 0;
        while comments < 2 {
            let chunk = tokio::time::timeout(Duration::from_secs(3), body.next())
                .await
                .expect("a keep-alive within 3 s")
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
            comments = seen.matches(": keep-alive\n\n").count();
        }
        assert!(
            publishing.load(std::sync::atomic::Ordering::SeqCst),
            "the keep-alives came only after the other events stopped"
        );
        seen
    };
    let ((), seen) = tokio::join!(elsewhere, read);
    assert!(seen.starts_with("retry: "), "{seen}");
    assert!(!seen.contains("Berlin"), "{seen}");

    // A stream that is written to more often than the keep-alive interval gets none.
    let resp = feed
        .http
        .get(feed.server.url("/feed/stream?topics=nodes"))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let publish = async {
        for i in 0..20 {
            feed.publish(&node_at(48.137, 11.575, &format!("München {i}")))
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let read = async {
        let mut seen = String::new();
        while seen.matches("event: node.created").count() < 20 {
            let chunk = tokio::time::timeout(Duration::from_secs(3), body.next())
                .await
                .expect("the next event within 3 s")
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        seen
    };
    let ((), seen) = tokio::join!(publish, read);
    assert!(!seen.contains("keep-alive"), "{seen}");
}
