//! The consumer helper from `gewebe-events`, on events the relay published.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use gewebe_events::{
    Envelope,
    consumer::{self, ConsumerConfig, HandlerError, Permanent},
    subjects,
};
use gewebe_platform::Shutdown;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{SCHEMA, env};

#[tokio::test]
async fn acks_retries_transient_failures_dead_letters_poison_and_applies_each_event_once() {
    let env = env().await;
    let server = gewebe_relay::build(env.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let expected = env.write_many(2, 5, 10).await;
    env.wait_for(20, Duration::from_secs(20)).await;
    let events = env.read_stream().await;
    let flaky = events[3].id;
    let poison = events[7].id;

    let js = env.jetstream().await;
    let mut dlq = js
        .client()
        .subscribe(subjects::dlq(&env.prefix, ">"))
        .await
        .unwrap();
    let deliveries: Arc<Mutex<HashMap<Uuid, u32>>> = Arc::default();
    let applied: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let stop = CancellationToken::new();
    let mut config = ConsumerConfig::new(&env.prefix, "it-consumer", &["node.updated"]);
    config.retry_initial = Duration::from_millis(50);
    config.retry_max = Duration::from_millis(200);
    let health = config.health.clone();
    let paused_seen: Arc<Mutex<bool>> = Arc::default();

    let run = {
        let (js, config, stop, pool) = (js.clone(), config.clone(), stop.clone(), env.pool.clone());
        let (deliveries, applied) = (deliveries.clone(), applied.clone());
        let (health, paused_seen) = (health.clone(), paused_seen.clone());
        tokio::spawn(async move {
            consumer::run(&js, &config, stop, move |event: Envelope| {
                let (deliveries, applied, pool) =
                    (deliveries.clone(), applied.clone(), pool.clone());
                let (health, paused_seen) = (health.clone(), paused_seen.clone());
                async move {
                    let n = {
                        let mut d = deliveries.lock().unwrap();
                        let n = d.entry(event.id).or_insert(0);
                        *n += 1;
                        *n
                    };
                    if event.id == flaky && n > 1 && health.is_paused() {
                        *paused_seen.lock().unwrap() = true;
                    }
                    if event.id == poison {
                        return Err::<(), HandlerError>(Box::new(Permanent(
                            "can never apply".to_owned(),
                        )));
                    }
                    if event.id == flaky && n <= 2 {
                        // Transient (a dependency down): retried, never dead-lettered.
                        return Err::<(), HandlerError>("database unavailable".into());
                    }
                    let mut tx = pool.begin().await?;
                    if consumer::first_time(&mut tx, SCHEMA, "it-consumer", event.id).await? {
                        applied.lock().unwrap().push(event.id);
                    }
                    tx.commit().await?;
                    Ok(())
                }
            })
            .await
        })
    };

    let all_but_poison = expected.values().sum::<i64>() as usize - 1;
    let done = gewebe_testkit::eventually(Duration::from_secs(20), || async {
        (applied.lock().unwrap().len() == all_but_poison).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "applied {} of {all_but_poison}",
        applied.lock().unwrap().len()
    );
    let dead = tokio::time::timeout(Duration::from_secs(10), dlq.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Envelope::from_slice(&dead.payload).unwrap().id, poison);
    assert_eq!(
        dead.headers
            .as_ref()
            .unwrap()
            .get("Gewebe-Dlq-Consumer")
            .unwrap()
            .as_str(),
        "it-consumer"
    );
    assert_eq!(
        deliveries.lock().unwrap()[&flaky],
        3,
        "retried after two failures"
    );
    assert_eq!(
        deliveries.lock().unwrap()[&poison],
        1,
        "a permanent failure is not retried"
    );
    assert!(
        *paused_seen.lock().unwrap(),
        "readiness was red while the flaky event was retried"
    );
    assert!(health.check().is_ok(), "green again after it applied");
    // Nothing but the poison event reached the DLQ.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), dlq.next())
            .await
            .is_err()
    );

    stop.cancel();
    run.await.unwrap().unwrap();

    // A redelivered or replayed event is recognised and skipped.
    let mut tx = env.pool.begin().await.unwrap();
    assert!(
        !consumer::first_time(&mut tx, SCHEMA, "it-consumer", flaky)
            .await
            .unwrap()
    );
    assert!(
        consumer::first_time(&mut tx, SCHEMA, "another-consumer", flaky)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    server.stop().await.unwrap();
}

/// A durable created by an earlier build gave up after five deliveries; JetStream then never
/// delivers that event again. Starting the consumer updates it to unlimited deliveries.
#[tokio::test]
async fn a_durable_with_a_delivery_limit_is_updated_to_none() {
    let env = env().await;
    let server = gewebe_relay::build(env.config(), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    env.write(Uuid::now_v7(), 1).await;
    env.wait_for(1, Duration::from_secs(20)).await;
    let js = env.jetstream().await;
    let stream = js.get_stream(subjects::stream(&env.prefix)).await.unwrap();
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("old-build".to_owned()),
            max_deliver: 5,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();

    let stop = CancellationToken::new();
    let config = ConsumerConfig::new(&env.prefix, "old-build", &[]);
    let applied = Arc::new(Mutex::new(0));
    let run = {
        let (js, stop, applied) = (js.clone(), stop.clone(), applied.clone());
        tokio::spawn(async move {
            consumer::run(&js, &config, stop, move |_event: Envelope| {
                let applied = applied.clone();
                async move {
                    *applied.lock().unwrap() += 1;
                    Ok::<(), HandlerError>(())
                }
            })
            .await
        })
    };
    let done = gewebe_testkit::eventually(Duration::from_secs(10), || async {
        (*applied.lock().unwrap() == 1).then_some(())
    })
    .await;
    assert!(done.is_some());
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("old-build").await.unwrap();
    assert_eq!(consumer.info().await.unwrap().config.max_deliver, -1);
    stop.cancel();
    run.await.unwrap().unwrap();
    server.stop().await.unwrap();
}
