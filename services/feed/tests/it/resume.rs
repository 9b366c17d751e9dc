//! Resuming: every event once and in order across many reconnects; tokens the stream cannot
//! continue from get `reset`; a reader that stops reading is cut with `lagged`.

use std::time::Duration;

use crate::{node_at, spawn, spawn_with};

#[tokio::test]
async fn ten_thousand_events_across_fifty_reconnects_arrive_once_in_order() {
    // Far more resumes from one address than a client makes: this is about order, not budget.
    let feed = spawn_with(|c| c.replay_budget = 10_000).await;
    let total = 10_000u64;
    let publisher = {
        let (js, prefix) = (feed.js.clone(), feed.prefix.clone());
        tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..total {
                let e = node_at(50.0 + (i % 100) as f64 * 0.001, 8.0, &format!("n{i}"));
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", e.id.to_string().as_str());
                acks.push(
                    js.publish_with_headers(
                        gewebe_events::subjects::event(&prefix, &e.event_type),
                        headers,
                        e.to_vec().unwrap().into(),
                    )
                    .await
                    .unwrap(),
                );
                if i % 500 == 499 {
                    for ack in acks.drain(..) {
                        ack.await.unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            for ack in acks {
                ack.await.unwrap();
            }
        })
    };
    let mut received: Vec<u64> = Vec::new();
    // From the stream's start: the publisher is already running.
    let mut last: Option<String> = Some("0".to_owned());
    let mut reconnects = 0;
    let mut rng_state = 0x9e37_79b9_u64;
    while (received.len() as u64) < total {
        let mut stream = feed
            .open("topics=nodes", last.as_deref(), None)
            .await
            .unwrap();
        // Read a pseudo-random number of events, then drop the connection.
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let take = 1 + (rng_state % 300) as usize;
        for _ in 0..take {
            let Some(e) = stream.within(Duration::from_secs(5)).await else {
                panic!(
                    "stalled after {} events (last id {last:?}, reconnect {reconnects})",
                    received.len()
                );
            };
            // A client that fell too far behind is cut and resumes, like any other disconnect.
            if e.event == "lagged" {
                break;
            }
            assert_eq!(e.event, "node.created", "{e:?}");
            let id = e.id.clone().unwrap();
            received.push(id.parse().unwrap());
            last = Some(id);
            if received.len() as u64 == total {
                break;
            }
        }
        reconnects += 1;
    }
    publisher.await.unwrap();
    assert!(reconnects >= 50, "only {reconnects} reconnects");
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(received.len(), expected.len());
    assert!(received == expected, "every event once, in order");
}

#[tokio::test]
async fn tokens_the_stream_cannot_continue_from_get_reset() {
    let feed = spawn().await;
    let seq = feed.publish(&node_at(1.0, 1.0, "a")).await;
    // From before everything: the whole stream.
    let mut all = feed.open("", Some("0"), None).await.unwrap();
    assert_eq!(all.next().await.unwrap().id, Some(seq.to_string()));
    // From the future (another stream, or one purged and recreated): reset, then live.
    let mut stream = feed.open("", Some("999999"), None).await.unwrap();
    assert_eq!(stream.next().await.unwrap().event, "reset");
    let next = feed.publish(&node_at(1.0, 1.0, "b")).await;
    assert_eq!(stream.next().await.unwrap().id, Some(next.to_string()));
    // After a purge, the old tokens are older than the stream keeps.
    let s = feed
        .js
        .get_stream(gewebe_events::subjects::stream(&feed.prefix))
        .await
        .unwrap();
    s.purge().await.unwrap();
    // Empty after the purge: older tokens cannot continue.
    let mut stale = feed.open("", Some(&seq.to_string()), None).await.unwrap();
    assert_eq!(stale.next().await.unwrap().event, "reset");
    feed.publish(&node_at(1.0, 1.0, "c")).await;
    let mut stale = feed.open("", Some(&seq.to_string()), None).await.unwrap();
    assert_eq!(stale.next().await.unwrap().event, "reset");
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_cut_with_lagged_and_others_carry_on() {
    let feed = spawn_with(|c| c.buffer = 64).await;
    let stalled = feed.open("topics=nodes", None, None).await.unwrap();
    let mut reader = feed.open("topics=nodes", None, None).await.unwrap();
    let big = "x".repeat(4000);
    let mut last = 0;
    let mut rss_after_warm_up = 0;
    // 3,000 events to reach a steady state, then 10,000 more (40 MB) with the stalled stream open.
    for i in 0..13_000 {
        if i == 3000 {
            rss_after_warm_up = rss_kib();
        }
        last = feed.publish(&node_at(1.0, 1.0, &format!("{big}{i}"))).await;
        if i % 10 == 0 {
            // The reader keeps up (well inside the 64-event buffer).
            while let Some(e) = reader.within(Duration::from_millis(1)).await {
                assert_eq!(e.event, "node.created");
            }
        }
    }
    let growth = rss_kib().saturating_sub(rss_after_warm_up);
    assert!(
        growth < 16 * 1024,
        "the process grew by {growth} KiB while 40 MB flowed past a stalled stream"
    );
    let mut seen_last = false;
    while let Some(e) = reader.within(Duration::from_secs(2)).await {
        if e.id == Some(last.to_string()) {
            seen_last = true;
            break;
        }
    }
    assert!(seen_last, "the reader that keeps up gets everything");
    // The stalled one, read at last: what was queued, then `lagged`, then the end.
    let mut stalled = stalled;
    let mut events = 0;
    let mut lagged = false;
    while let Some(e) = stalled.within(Duration::from_secs(5)).await {
        if e.event == "lagged" {
            lagged = true;
            break;
        }
        events += 1;
    }
    assert!(lagged, "cut after {events} events");
    assert!(
        stalled.within(Duration::from_secs(2)).await.is_none(),
        "closed after lagged"
    );
}

/// This test process's resident memory (server and clients), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
