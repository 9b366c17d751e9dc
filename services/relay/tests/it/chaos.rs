//! 20,000 events from concurrent writers while the relay is `SIGKILLed` and restarted at random, at
//! least ten times, and nats-server is restarted once: every event is in the stream exactly once,
//! and per aggregate in version order.

use std::{process::Child, time::Duration};

use crate::{assert_exactly_once_in_order, env_with_nats};

fn kill9(child: &mut Child) {
    let _ = child.kill(); // SIGKILL: no drain, no chance to mark anything
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_relay_sigkilled_and_nats_restarted_loses_and_duplicates_nothing() {
    let mut nats = gewebe_testkit::NatsServer::start().unwrap();
    let env = env_with_nats(nats.url()).await;

    let writers = tokio::spawn({
        let env = env.clone();
        async move { env.write_many(8, 50, 2500).await }
    });

    let mut relay = env.binary(&["serve"]).spawn().unwrap();
    let mut kills = 0;
    let mut nats_restarted = false;
    let mut round: u64 = 0;
    while !writers.is_finished() || kills < 10 {
        round += 1;
        // 150..650 ms between kills, varied without an RNG: a multiplicative hash of the round.
        let pause = 150 + (round.wrapping_mul(2_654_435_761) % 500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        kill9(&mut relay);
        kills += 1;
        if kills == 5 && !nats_restarted {
            nats.restart().unwrap();
            nats_restarted = true;
        }
        relay = env.binary(&["serve"]).spawn().unwrap();
    }
    let expected = writers.await.unwrap();
    assert!(kills >= 10 && nats_restarted);

    env.wait_for(20_000, Duration::from_mins(2)).await;
    let events = env.read_stream().await;
    assert_exactly_once_in_order(&events, &expected);
    kill9(&mut relay);
}
