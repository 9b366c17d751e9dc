//! A forgotten account's events leave the public feed: not replayed (on any instance, also one
//! started after the forget), and not sent live once the forget is known.

use std::time::Duration;

use fred::prelude::SortedSetsInterface;
use gewebe_events::{Envelope, types::AccountForgotten};
use uuid::Uuid;

use crate::{Feed, Stream, node_at, node_by, spawn};

/// Waits (bounded) until the feed's consumer recorded the forget where every instance reads it.
async fn wait_recorded(feed: &Feed, account: Uuid) {
    let redis = gewebe_platform::redis::Redis::connect(&feed.config.redis)
        .await
        .unwrap();
    let key = redis.key("feed:forgotten");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let score: Option<f64> = redis
            .client
            .zscore(&key, account.to_string())
            .await
            .unwrap();
        if score.is_some() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the forget was not recorded within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ids of the events `s` sends until (and with) `last`.
async fn ids_until(s: &mut Stream, last: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    while let Some(e) = s.next().await {
        assert_eq!(e.event, "node.created", "{e:?}");
        let id: u64 = e.id.unwrap().parse().unwrap();
        ids.push(id);
        if id >= last {
            break;
        }
    }
    ids
}

#[tokio::test]
async fn a_forgotten_accounts_events_are_neither_replayed_nor_sent_live() {
    let feed = spawn().await;
    let ada = Uuid::now_v7();
    let mut live = feed.open("topics=nodes", None, None).await.unwrap();
    let adas = feed.publish(&node_by(52.5, 13.4, "Ada's home", ada)).await;
    let others = feed.publish(&node_at(52.5, 13.4, "a bakery")).await;
    assert_eq!(ids_until(&mut live, others).await, [adas, others]);

    let forgotten =
        Envelope::new("gewebe-auth", ada, 3, &AccountForgotten { account_id: ada }).unwrap();
    feed.publish(&forgotten).await;
    // A write with Ada's still-valid access token lands after the forget.
    let late = feed.publish(&node_by(52.5, 13.4, "Ada, late", ada)).await;
    let after = feed.publish(&node_at(52.5, 13.4, "a library")).await;
    assert_eq!(
        ids_until(&mut live, after).await,
        [after],
        "{late} not live"
    );

    wait_recorded(&feed, ada).await;
    // An instance started after the forget knows it too, live and in replays.
    let second = feed.another_instance().await;
    let mut live_there = feed
        .open_on(&second, "topics=nodes", None, None)
        .await
        .unwrap();
    for server in [&feed.server, &second] {
        let mut replay = feed
            .open_on(server, "topics=nodes", Some("0"), None)
            .await
            .unwrap();
        assert_eq!(ids_until(&mut replay, after).await, [others, after]);
    }
    feed.publish(&node_by(52.5, 13.4, "Ada, later", ada)).await;
    let last = feed.publish(&node_at(52.5, 13.4, "a park")).await;
    assert_eq!(ids_until(&mut live_there, last).await, [last]);
}

#[tokio::test]
async fn a_home_is_sent_without_its_owner_live_and_replayed() {
    let feed = spawn().await;
    let ada = Uuid::now_v7();
    let mut live = feed.open("topics=nodes", None, None).await.unwrap();
    // As geo wrote homes before it dropped the owner from their events; 30 days of them remain.
    let mut home = node_by(52.5, 13.4, "Garnrolle", ada);
    home.data["kind"] = "home".into();
    let seq = feed.publish(&home).await;
    let place = feed.publish(&node_by(52.5, 13.4, "Ada's café", ada)).await;
    let mut replay = feed.open("topics=nodes", Some("0"), None).await.unwrap();
    for s in [&mut live, &mut replay] {
        let e = s.next().await.unwrap();
        assert_eq!(e.id, Some(seq.to_string()));
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(data["data"]["kind"], "home");
        assert!(data["data"].get("owner").is_none(), "{data}");
        // Other nodes keep their owner (unless geo left it out for role-without-name).
        let e = s.next().await.unwrap();
        assert_eq!(e.id, Some(place.to_string()));
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(data["data"]["owner"], ada.to_string());
    }
}
