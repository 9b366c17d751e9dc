//! The relay in process and as its binary: order, poison rows, replay, two instances, stream policy.

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;
use gewebe_events::{Envelope, subjects, types::NodeDeleted};
use gewebe_platform::Shutdown;
use serde_json::Value;
use uuid::Uuid;

use crate::{assert_exactly_once_in_order, env};

#[tokio::test]
async fn relays_concurrent_writes_exactly_once_in_aggregate_order() {
    let env = env().await;
    let server = gewebe_relay::build(env.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let expected = env.write_many(4, 10, 150).await;
    env.wait_for(600, Duration::from_secs(30)).await;
    assert_exactly_once_in_order(&env.read_stream().await, &expected);

    let http = gewebe_testkit::http();
    let status: Value = http
        .get(server.url("/relay/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["leader"], true);
    assert_eq!(status["schemas"][0]["pending"], 0);
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"relay_published_events_total{schema="w"} 600"#),
        "{metrics}"
    );
    let ready = http.get(server.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn poison_rows_are_quarantined_and_the_rows_behind_them_published() {
    let env = env().await;
    let js = env.jetstream().await;
    let mut dlq = js
        .client()
        .subscribe(subjects::dlq(&env.prefix, ">"))
        .await
        .unwrap();

    let first = env.write(Uuid::now_v7(), 1).await;
    // Too large for NATS (1 MiB max payload), but a valid envelope.
    let big_id = Uuid::now_v7();
    let mut big =
        Envelope::new("test-writer", big_id, 1, &NodeDeleted { node_id: big_id }).unwrap();
    big.data = serde_json::json!({ "node_id": big_id, "blob": "x".repeat(2 * 1024 * 1024) });
    let mut tx = env.pool.begin().await.unwrap();
    env.outbox.record(&mut tx, &big).await.unwrap();
    // Not an envelope at all (a writer bug or a hand-edited row).
    sqlx::query(
        "INSERT INTO w.outbox (id, event_type, aggregate_type, aggregate_id, aggregate_version, payload) \
         VALUES ($1, 'node.deleted', 'node', $2, 1, '\\x00ff'::bytea)",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let last = env.write(Uuid::now_v7(), 1).await;

    let server = gewebe_relay::build(env.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    env.wait_for(2, Duration::from_secs(20)).await;
    let ids: Vec<Uuid> = env.read_stream().await.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![first.id, last.id]);

    let mut conn = env.direct().await;
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM w.outbox_quarantine ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("larger than NATS accepts"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("not an event envelope"), "{reasons:?}");
    for _ in 0..2 {
        let msg = tokio::time::timeout(Duration::from_secs(5), dlq.next())
            .await
            .unwrap()
            .unwrap();
        let report: Value = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(report["schema"], "w");
    }
    let metrics = gewebe_testkit::http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"relay_quarantined_events_total{schema="w"} 2"#),
        "{metrics}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn replay_after_a_purge_restores_every_event_exactly_once() {
    let env = env().await;
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let server = gewebe_relay::build(env.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let expected = env.write_many(3, 5, 100).await;
    env.wait_for(300, Duration::from_secs(30)).await;
    server.stop().await.unwrap();

    let js = env.jetstream().await;
    js.get_stream(subjects::stream(&env.prefix))
        .await
        .unwrap()
        .purge()
        .await
        .unwrap();
    assert_eq!(env.stream_len().await, 0);

    let since = before
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let run = |args: Vec<String>| {
        let out = env
            .binary(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Logs are JSON lines on stdout too; the report is the last line.
        let stdout = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str::<Value>(stdout.lines().last().unwrap()).unwrap()
    };
    let report = run(vec!["replay".into(), "--since".into(), since.clone()]);
    assert_eq!(report["republished"], 300, "{report}");
    assert_exactly_once_in_order(&env.read_stream().await, &expected);

    // A second replay finds everything in the stream again and adds nothing.
    let report = run(vec!["replay".into(), "--since".into(), since]);
    assert_eq!(
        (report["republished"].as_u64(), report["present"].as_u64()),
        (Some(0), Some(300)),
        "{report}"
    );
    assert_eq!(env.stream_len().await, 300);
}

#[tokio::test]
async fn two_relays_at_once_publish_exactly_once_in_order_and_fail_over() {
    let env = env().await;
    let mut a = env.binary(&["serve"]).spawn().unwrap();
    let mut b = env.binary(&["serve"]).spawn().unwrap();
    let expected = env.write_many(4, 20, 500).await;
    env.wait_for(2000, Duration::from_mins(1)).await;
    assert_exactly_once_in_order(&env.read_stream().await, &expected);

    // Kill whichever leads; the other takes over and relays what comes next.
    a.kill().unwrap();
    a.wait().unwrap();
    let more: HashMap<Uuid, i64> = env.write_many(2, 5, 50).await;
    env.wait_for(2100, Duration::from_secs(30)).await;
    let events = env.read_stream().await;
    assert_eq!(events.len(), 2100);
    assert!(
        more.keys()
            .all(|id| events.iter().any(|e| e.aggregate.id == *id))
    );
    b.kill().unwrap();
    b.wait().unwrap();
}

/// Waits (up to 10 s) until `server` says it leads; returns its `/relay/status`.
async fn leading(server: &gewebe_platform::http::RunningServer) -> Value {
    let http = gewebe_testkit::http();
    gewebe_testkit::eventually(Duration::from_secs(10), || async {
        let status: Value = http
            .get(server.url("/relay/status"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (status["leader"] == true).then_some(status)
    })
    .await
    .expect("the relay leads")
}

/// `Outbox::commit` wakes the relay after the commit: the event is in the stream long before the
/// relay's next poll would have found it.
#[tokio::test]
async fn a_commit_wakes_the_relay_at_once() {
    let env = env().await;
    let mut config = env.config();
    config.relay.poll_interval = Duration::from_mins(1);
    let server = gewebe_relay::build(config, Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    leading(&server).await;
    // Past its first round: from now on only a notification (or the 60 s poll) starts a batch.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 1..=3 {
        let started = std::time::Instant::now();
        env.write(Uuid::now_v7(), 1).await;
        let arrived = gewebe_testkit::eventually(Duration::from_secs(10), || async {
            (env.stream_len().await >= n).then_some(())
        })
        .await;
        assert!(arrived.is_some(), "event {n} never arrived");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "event {n} took {:?}: the commit did not wake the relay",
            started.elapsed()
        );
    }
    server.stop().await.unwrap();
}

/// The leader reads its batches on the session that holds the lock. When PostgreSQL ends that
/// session (an operator's `pg_terminate_backend`, a failover), the relay must take the lock again
/// before it goes on, and lose or repeat nothing.
#[tokio::test]
async fn a_leader_whose_session_is_terminated_leads_again_and_loses_nothing() {
    let env = env().await;
    let server = gewebe_relay::build(env.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let db_name = env.db.name.clone();
    let terminate = async {
        let mut admin = env.direct().await;
        let mut terminated = 0;
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let n: i64 = sqlx::query_scalar(
                "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l \
                 JOIN pg_database d ON d.oid = l.database \
                 WHERE l.locktype = 'advisory' AND d.datname = $1",
            )
            .bind(&db_name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
            terminated += n;
        }
        terminated
    };
    let (expected, terminated) = tokio::join!(env.write_many(4, 10, 150), terminate);
    assert!(terminated >= 1, "the leader's session was never found");
    env.wait_for(600, Duration::from_secs(30)).await;
    assert_exactly_once_in_order(&env.read_stream().await, &expected);
    let status = leading(&server).await;
    assert_eq!(status["schemas"][0]["pending"], 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_stream_with_other_settings_is_reported_not_changed() {
    let env = env().await;
    let js = env.jetstream().await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: subjects::stream(&env.prefix),
        subjects: vec![subjects::all_events(&env.prefix)],
        max_age: Duration::from_hours(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let out = env.binary(&["provision"]).output().unwrap();
    assert!(!out.status.success());
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(
        logs.contains("different settings") && logs.contains("max_age"),
        "{logs}"
    );
    let mut stream = js.get_stream(subjects::stream(&env.prefix)).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(
        info.config.max_age,
        Duration::from_hours(1),
        "left as it was"
    );
}

/// A node `PATCHed` in a loop must not hold back everyone else's events (forget and privacy events
/// among them): each round sends the oldest pending row of every aggregate, not the oldest rows.
#[tokio::test]
async fn a_hot_aggregate_does_not_starve_the_others() {
    let env = env().await;
    let hot = Uuid::now_v7();
    for v in 1..=600 {
        env.write(hot, v).await;
    }
    let others: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();
    for id in &others {
        env.write(*id, 1).await;
    }
    let mut config = env.config();
    config.relay.batch_size = 100;
    let server = gewebe_relay::build(config, Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    env.wait_for(640, Duration::from_mins(1)).await;
    let events = env.read_stream().await;
    let mut expected: HashMap<Uuid, i64> = others.iter().map(|id| (*id, 1)).collect();
    expected.insert(hot, 600);
    assert_exactly_once_in_order(&events, &expected);
    // Every other aggregate went out in the first round, beside the hot one's first version
    // (reading the oldest 100 rows instead would have sent them after 500 hot versions).
    let last_other = events.iter().rposition(|e| e.aggregate.id != hot).unwrap();
    assert!(
        last_other <= others.len(),
        "the last other aggregate's event was #{last_other} in the stream"
    );
    server.stop().await.unwrap();
}
