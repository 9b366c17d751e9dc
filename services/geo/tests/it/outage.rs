//! A database outage while forget requests arrive delays them; it never dead-letters them.

use std::time::{Duration, Instant};

use futures::StreamExt;
use gewebe_events::{Envelope, types::AccountForgotten};

use crate::accounts::{create_home, publish, spawn_consuming};

/// As long as the drill: far past the old consumer's five deliveries (about 11 s).
const OUTAGE: Duration = Duration::from_mins(1);

#[tokio::test]
async fn forgets_that_arrive_while_postgres_is_down_are_all_applied_after_it_returns() {
    let geo = spawn_consuming().await;
    let mut people = Vec::new();
    for _ in 0..5 {
        let user = geo.user().await;
        let home = create_home(&geo, &user).await;
        people.push((user, home["id"].as_str().unwrap().to_owned()));
    }
    let client = async_nats::connect(gewebe_testkit::TestEnv::from_env().nats_url)
        .await
        .unwrap();
    let mut dlq = client
        .subscribe(gewebe_events::subjects::dlq(&geo.prefix, ">"))
        .await
        .unwrap();

    gewebe_testkit::database_available(&geo.db, false).await;
    let started = Instant::now();
    for (user, _) in &people {
        let forgotten = Envelope::new(
            "gewebe-auth",
            user.id,
            9,
            &AccountForgotten {
                account_id: user.id,
            },
        )
        .unwrap();
        publish(&geo, &forgotten).await;
    }
    // Meanwhile the consumer holds the first event and says so in readiness.
    let mut paused = false;
    while started.elapsed() < OUTAGE {
        let ready = geo
            .http
            .get(geo.server.url("/health/ready"))
            .send()
            .await
            .unwrap();
        let status = ready.status();
        let body = ready.text().await.unwrap();
        if status == 503 && body.contains("paused") {
            paused = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(paused, "readiness never reported the paused consumer");
    gewebe_testkit::database_available(&geo.db, true).await;

    // PgBouncer retries a failed server login after `server_login_retry` (15 s by default).
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let mut left = 0;
        for (_, home) in &people {
            let (status, _) = geo.get(&format!("/geo/nodes/{home}"), None).await;
            if status != 404 {
                left += 1;
            }
        }
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} of {} homes still there after the database returned",
            people.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut conn = geo.pg().await;
    let forgotten: i64 =
        sqlx::query_scalar("SELECT count(*) FROM geo.accounts WHERE forgotten AND id = ANY($1)")
            .bind(people.iter().map(|(u, _)| u.id).collect::<Vec<_>>())
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(forgotten, people.len() as i64);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), dlq.next())
            .await
            .is_err(),
        "nothing was dead-lettered"
    );
    let ready = geo
        .http
        .get(geo.server.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
}
