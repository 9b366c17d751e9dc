//! What one client may take: anonymous streams per address (IPv6 by /64), and resumes per
//! address or account; and how far back a resume may reach.

use std::time::Duration;

use serde_json::Value;

use crate::{node_at, spawn_full, spawn_with};

fn code(data: &str) -> String {
    let v: Value = serde_json::from_str(data).unwrap();
    v["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn anonymous_streams_are_capped_per_address_with_ipv6_by_64() {
    let feed = spawn_with(|c| c.max_per_address = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            feed.open_from("198.51.100.7", "", None, None)
                .await
                .unwrap(),
        );
    }
    let (status, body) = feed
        .open_from("198.51.100.7", "", None, None)
        .await
        .err()
        .expect("the fourth stream from one address is refused");
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    assert!(body["retry_after_header"].as_str().is_some(), "{body}");
    // Another address is not affected, and neither is an account from the same address (it has
    // its own limit).
    held.push(
        feed.open_from("198.51.100.8", "", None, None)
            .await
            .unwrap(),
    );
    let (_, token) = feed.user().await;
    held.push(
        feed.open_from("198.51.100.7", "", None, Some(&token))
            .await
            .unwrap(),
    );

    // Rotating addresses inside one IPv6 /64 does not get more streams.
    for i in 1..=3 {
        held.push(
            feed.open_from(&format!("2001:db8:1:2::{i}"), "", None, None)
                .await
                .unwrap(),
        );
    }
    let (status, _) = feed
        .open_from("2001:db8:1:2:ffff:ffff:ffff:9", "", None, None)
        .await
        .err()
        .expect("the same /64");
    assert_eq!(status, 429);
    held.push(
        feed.open_from("2001:db8:1:3::1", "", None, None)
            .await
            .unwrap(),
    );

    // A closed stream gives its address's slot back once the server notices.
    drop(held.remove(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match feed.open_from("198.51.100.7", "", None, None).await {
            Ok(s) => {
                held.push(s);
                break;
            }
            Err((429, _)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the slot did not come back: {e:?}"),
        }
    }
}

#[tokio::test]
async fn resumes_beyond_the_budget_start_live_with_reset() {
    let feed = spawn_with(|c| {
        c.replay_budget = 2;
        c.replay_window = Duration::from_hours(1);
    })
    .await;
    let seq = feed.publish(&node_at(1.0, 1.0, "old")).await;
    for _ in 0..2 {
        let mut s = feed
            .open_from("203.0.113.5", "topics=nodes", Some("0"), None)
            .await
            .unwrap();
        assert_eq!(s.next().await.unwrap().id, Some(seq.to_string()));
    }
    // The third resume from the address replays nothing: `reset`, then live.
    let mut s = feed
        .open_from("203.0.113.5", "topics=nodes", Some("0"), None)
        .await
        .unwrap();
    let e = s.next().await.unwrap();
    assert_eq!(
        (e.event.as_str(), code(&e.data).as_str()),
        ("reset", "replay_budget_exhausted"),
        "{e:?}"
    );
    let live = feed.publish(&node_at(1.0, 1.0, "new")).await;
    assert_eq!(s.next().await.unwrap().id, Some(live.to_string()));

    // Another address, and an account (even from the same address), have budgets of their own.
    let mut other = feed
        .open_from("203.0.113.6", "topics=nodes", Some("0"), None)
        .await
        .unwrap();
    assert_eq!(other.next().await.unwrap().id, Some(seq.to_string()));
    let (_, token) = feed.user().await;
    let mut signed_in = feed
        .open_from("203.0.113.5", "topics=nodes", Some("0"), Some(&token))
        .await
        .unwrap();
    assert_eq!(signed_in.next().await.unwrap().id, Some(seq.to_string()));
    // The account's budget is its own across addresses: moving address does not refill it.
    let mut again = feed
        .open_from("192.0.2.44", "topics=nodes", Some("0"), Some(&token))
        .await
        .unwrap();
    assert_eq!(again.next().await.unwrap().id, Some(seq.to_string()));
    let mut third = feed
        .open_from("192.0.2.45", "topics=nodes", Some("0"), Some(&token))
        .await
        .unwrap();
    let e = third.next().await.unwrap();
    assert_eq!(
        (e.event.as_str(), code(&e.data).as_str()),
        ("reset", "replay_budget_exhausted")
    );
}

#[tokio::test]
async fn resumes_reach_no_further_back_than_the_horizon() {
    let feed = spawn_with(|c| c.replay_horizon = Duration::from_secs(2)).await;
    let old = feed.publish(&node_at(1.0, 1.0, "old")).await;
    let published = tokio::time::Instant::now();
    let mut s = feed.open("topics=nodes", Some("0"), None).await.unwrap();
    assert_eq!(s.next().await.unwrap().id, Some(old.to_string()), "inside");
    // Let the first event age past the horizon (time passing, not a wait for the server).
    tokio::time::sleep_until(published + Duration::from_millis(2500)).await;
    let fresh = feed.publish(&node_at(1.0, 1.0, "fresh")).await;

    // From the start, the first event to replay is older than the horizon: reset, then live.
    let mut s = feed.open("topics=nodes", Some("0"), None).await.unwrap();
    let e = s.next().await.unwrap();
    assert_eq!(
        (e.event.as_str(), code(&e.data).as_str()),
        ("reset", "beyond_horizon"),
        "{e:?}"
    );
    // The reset's id is where the next reconnect resumes: not from the refused token again. It is
    // the newest event the instance has seen (`fresh`, unless its hub is still behind), and nothing
    // up to it follows the reset.
    let reset_at: u64 = e.id.as_deref().unwrap().parse().unwrap();
    assert!((old..=fresh).contains(&reset_at), "{reset_at}");
    let live = feed.publish(&node_at(1.0, 1.0, "live")).await;
    let mut after_reset = Vec::new();
    while after_reset.last() != Some(&live) {
        after_reset.push(s.next().await.unwrap().id.unwrap().parse::<u64>().unwrap());
    }
    assert!(
        after_reset.iter().all(|seq| *seq > reset_at),
        "{after_reset:?} after {reset_at}"
    );
    let mut again = feed
        .open("topics=nodes", Some(&fresh.to_string()), None)
        .await
        .unwrap();
    assert_eq!(again.next().await.unwrap().id, Some(live.to_string()));

    // From `old`, everything to replay is inside the horizon.
    let mut s = feed
        .open("topics=nodes", Some(&old.to_string()), None)
        .await
        .unwrap();
    assert_eq!(s.next().await.unwrap().id, Some(fresh.to_string()));
    assert_eq!(s.next().await.unwrap().id, Some(live.to_string()));
}

#[tokio::test]
async fn without_redis_resumes_start_live_with_reset_rather_than_unfiltered() {
    // Nothing listens on port 1: the forgotten list and the replay budget cannot be read.
    let feed = spawn_full(
        |_| {},
        Duration::from_mins(15),
        |c| c.redis.url = "redis://127.0.0.1:1".to_owned().into(),
    )
    .await;
    feed.publish(&node_at(1.0, 1.0, "old")).await;
    let mut s = feed.open("topics=nodes", Some("0"), None).await.unwrap();
    let e = s.next().await.unwrap();
    assert_eq!(
        (e.event.as_str(), code(&e.data).as_str()),
        ("reset", "replay_unavailable"),
        "{e:?}"
    );
    // Nothing up to the reset's id follows it, even if the hub had that event still queued. (No
    // id at all while the instance's hub has not seen an event yet.)
    let reset_at: u64 = e.id.as_deref().map_or(0, |id| id.parse().unwrap());
    let live = feed.publish(&node_at(1.0, 1.0, "live")).await;
    let mut after_reset = Vec::new();
    while after_reset.last() != Some(&live) {
        after_reset.push(s.next().await.unwrap().id.unwrap().parse::<u64>().unwrap());
    }
    assert!(
        after_reset.iter().all(|seq| *seq > reset_at),
        "{after_reset:?} after {reset_at}"
    );
}

#[tokio::test]
async fn the_openapi_document_names_the_limits() {
    let feed = spawn_with(|_| {}).await;
    let doc: Value = feed
        .http
        .get(feed.server.url("/feed/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let responses = &doc["paths"]["/feed/stream"]["get"]["responses"];
    for status in ["200", "400", "401", "429", "503"] {
        assert!(responses.get(status).is_some(), "{status}: {responses}");
    }
    let too_many = responses["429"]["description"].as_str().unwrap();
    assert!(
        too_many.contains("FEED_MAX_CONNECTIONS_PER_ADDRESS"),
        "{too_many}"
    );
    let ok = responses["200"]["description"].as_str().unwrap();
    for code in [
        "beyond_horizon",
        "replay_budget_exhausted",
        "replay_unavailable",
    ] {
        assert!(ok.contains(code), "{code}: {ok}");
    }
    assert!(
        responses["429"]["content"]["application/problem+json"].is_object(),
        "{responses}"
    );
}
