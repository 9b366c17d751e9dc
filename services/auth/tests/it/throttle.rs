//! Brute-force protection against real Redis: lockout per account and IP, release after the
//! block, the per-IP limit, the registration limit, and failing closed when Redis is down.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::{api::Api, spawn_with};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn more_than_five_failures_lock_the_pair_until_the_block_ends() {
    let (server, db) = spawn_with(|c| c.throttle.login_block = Duration::from_secs(2)).await;
    let api = Api::new(server);
    let account = api.register("lock@example.org", PASSWORD, "Lock").await;
    let id = account["id"].as_str().unwrap();
    let ip = "198.51.100.7";

    for attempt in 1..=5 {
        let r = api
            .login_from("lock@example.org", "wrong password", ip)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (401, Some("invalid_credentials")),
            "attempt {attempt}"
        );
    }
    // The sixth failure within the minute locks the pair...
    let r = api
        .login_from("lock@example.org", "wrong password", ip)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (429, Some("rate_limited")),
        "{}",
        r.body
    );
    assert_eq!(r.header("retry-after"), Some("2"));
    // ...and the right password does not open it.
    let r = api.login_from("lock@example.org", PASSWORD, ip).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Only that pair: the same account from elsewhere still logs in.
    let r = api
        .login_from("lock@example.org", PASSWORD, "203.0.113.50")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // After the block the right password works again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = api.login_from("lock@example.org", PASSWORD, ip).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // One audit entry for the account and window, with the counts (refused attempts are not
    // logged one by one).
    let entries = crate::brute_force::flushed_failures(&db, id).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (&entries[0]["failures"], &entries[0]["locks"]),
        (&json!(5), &json!(1))
    );
}

#[tokio::test]
async fn unknown_addresses_are_locked_exactly_like_known_ones() {
    let (server, _db) = spawn_with(|c| c.throttle.login_max_failures = 2).await;
    let api = Api::new(server);
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..4 {
            s.push(
                api.login_from("nobody@example.org", "whatever1", "198.51.100.8")
                    .await
                    .status,
            );
        }
        s
    };
    assert_eq!(statuses, [401, 401, 429, 429]);
}

#[tokio::test]
async fn one_address_failing_across_many_accounts_is_limited() {
    let (server, _db) = spawn_with(|c| c.throttle.login_ip_max_failures = 3).await;
    let api = Api::new(server);
    api.register("victim@example.org", PASSWORD, "Victim").await;
    for i in 0..3 {
        let r = api
            .login_from(
                &format!("guess{i}@example.org"),
                "wrong password",
                "198.51.100.9",
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = api
        .login_from("victim@example.org", PASSWORD, "198.51.100.9")
        .await;
    assert_eq!((r.status, r.code()), (429, Some("rate_limited")));
    assert!(r.header("retry-after").is_some());
    let r = api
        .login_from("victim@example.org", PASSWORD, "198.51.100.10")
        .await;
    assert_eq!(r.status, 200, "other addresses are not affected");
}

#[tokio::test]
async fn registrations_per_address_are_limited() {
    let (server, _db) = spawn_with(|c| c.throttle.register_max_per_ip = 2).await;
    let api = Api::new(server);
    let register = |n: u32, ip: &'static str| {
        let api = &api;
        async move {
            api.call(
                Method::POST,
                "/auth/register",
                None,
                Some(json!({"email": format!("r{n}@example.org"), "password": PASSWORD, "display_name": "R"})),
                &[("x-forwarded-for", ip)],
            )
            .await
        }
    };
    assert_eq!(register(1, "198.51.100.11").await.status, 201);
    assert_eq!(register(2, "198.51.100.11").await.status, 201);
    let r = register(3, "198.51.100.11").await;
    assert_eq!((r.status, r.code()), (429, Some("rate_limited")));
    assert_eq!(register(4, "198.51.100.12").await.status, 201);
}

#[tokio::test]
async fn without_redis_logins_fail_closed_at_once() {
    let (server, _db) = spawn_with(|c| {
        c.redis.url = "redis://127.0.0.1:1".to_owned().into();
    })
    .await;
    let api = Api::new(server);
    let started = Instant::now();
    let r = api
        .login_from("someone@example.org", PASSWORD, "198.51.100.13")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (503, Some("throttle_unavailable")),
        "{}",
        r.body
    );
    assert!(r.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hanging request: {:?}",
        started.elapsed()
    );
    let r = api
        .call(
            Method::POST,
            "/auth/register",
            None,
            Some(json!({"email": "new@example.org", "password": PASSWORD, "display_name": "N"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
}
