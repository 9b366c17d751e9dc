//! Issue 13, item 1: login guesses are counted before hashing (so concurrency buys nothing),
//! IPv6 addresses count by their /64, one account failing from many addresses slows down without
//! keeping its owner out, and failed logins reach the audit log aggregated.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;

use crate::{api::Api, spawn_with};

const PASSWORD: &str = "correct horse battery";

/// Writes every open window of failed logins to the audit log (as housekeeping does once they
/// close) and returns the `login.failed` entries' data for `account`.
pub async fn flushed_failures(db: &gewebe_testkit::TestDb, account: &str) -> Vec<Value> {
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let far_future = OffsetDateTime::now_utc() + Duration::from_hours(24);
    gewebe_auth::accounts::failures::flush(&mut tx, Duration::from_mins(15), far_future, 10_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query_scalar(
        "SELECT data FROM auth.audit_log WHERE kind = 'login.failed' AND account_id = $1::uuid ORDER BY seq",
    )
    .bind(account)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn three_hundred_concurrent_guesses_from_one_address_get_five_evaluations() {
    // Hashing slots for all of them, so that only the throttle can hold them back.
    let (server, db) = spawn_with(|c| c.accounts.hash_concurrency = 1024).await;
    let api = Arc::new(Api::new(server));
    let account = api.register("target@example.org", PASSWORD, "Target").await;
    let id = account["id"].as_str().unwrap();

    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..300 {
        let api = Arc::clone(&api);
        guesses.spawn(async move {
            api.login_from("target@example.org", &format!("guess {i}"), "198.51.100.20")
                .await
                .status
        });
    }
    let statuses = guesses.join_all().await;
    // A 401 is only ever sent after the password was checked; a 429 before.
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(evaluated + refused, 300, "{statuses:?}");
    assert_eq!(evaluated, 5, "{statuses:?}");

    // The audit log agrees, in one entry for the account and window.
    let entries = flushed_failures(&db, id).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["failures"], 5, "{entries:?}");
    assert_eq!(entries[0]["locks"], 1, "{entries:?}");
}

#[tokio::test]
async fn rotating_addresses_inside_one_ipv6_64_hits_the_same_limit() {
    let (server, _db) = spawn_with(|_| {}).await;
    let api = Api::new(server);
    api.register("six@example.org", PASSWORD, "Six").await;
    let mut statuses = Vec::new();
    for i in 1..=7 {
        let ip = format!("2001:db8:7:7:{i:x}:{i:x}:{i:x}:{i:x}");
        statuses.push(
            api.login_from("six@example.org", "wrong password", &ip)
                .await
                .status,
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    // The right password from the same /64 is locked out too; the next /64 is another address.
    let r = api
        .login_from("six@example.org", PASSWORD, "2001:db8:7:7::99")
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    let r = api
        .login_from("six@example.org", PASSWORD, "2001:db8:7:8::1")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn rotating_ipv4_addresses_hits_the_account_limit_and_the_owner_still_gets_in() {
    let max_delay = 4;
    let (server, _db) = spawn_with(|c| {
        c.throttle.account_free_failures = 3;
        c.throttle.account_max_delay = Duration::from_secs(max_delay);
    })
    .await;
    let api = Api::new(server);
    api.register("owner@example.org", PASSWORD, "Owner").await;
    // The owner's usual address: logged in from there before.
    let home = "192.0.2.77";
    assert_eq!(
        api.login_from("owner@example.org", PASSWORD, home)
            .await
            .status,
        200
    );

    // An attacker with a fresh address for every guess, obeying Retry-After.
    let mut retry_afters: Vec<u64> = Vec::new();
    let mut evaluated = 0;
    for i in 0..60 {
        let ip = format!("198.18.{}.{}", i / 200, i % 200 + 1);
        let r = api
            .login_from("owner@example.org", "wrong password", &ip)
            .await;
        match r.status {
            401 => evaluated += 1,
            429 => {
                let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=max_delay).contains(&secs), "{secs}");
                retry_afters.push(secs);
                if secs + 1 >= max_delay {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    assert!(
        !retry_afters.is_empty(),
        "never slowed down ({evaluated} guesses evaluated)"
    );
    assert!(
        retry_afters.last() > retry_afters.first(),
        "Retry-After grows: {retry_afters:?}"
    );
    // Each guess past the free ones had to wait for the gate.
    assert!(
        evaluated <= 3 + retry_afters.len(),
        "{evaluated} {retry_afters:?}"
    );

    // While the account is slowed down, its owner at home is not.
    let r = api.login_from("owner@example.org", PASSWORD, home).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // From a new address the owner waits at most the maximum delay, then gets in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(max_delay + 2);
    loop {
        let r = api
            .login_from("owner@example.org", PASSWORD, "203.0.113.200")
            .await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 429, "{}", r.body);
        let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(secs <= max_delay, "{secs}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the owner is still locked out"
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

/// An owner who keeps retrying the right password while the database is down is not locked out
/// once it is back: attempts whose password was never judged are refunded.
#[tokio::test]
async fn retries_through_a_database_outage_do_not_lock_the_owner_out() {
    let (server, db) = spawn_with(|c| c.db.acquire_timeout = Duration::from_millis(500)).await;
    let api = Api::new(server);
    api.register("outage@example.org", PASSWORD, "Outage").await;
    let ip = "198.51.100.77";
    gewebe_testkit::database_available(&db, false).await;
    for attempt in 1..=8 {
        let r = api.login_from("outage@example.org", PASSWORD, ip).await;
        assert!(
            r.status >= 500,
            "attempt {attempt}: {} {}",
            r.status,
            r.body
        );
    }
    gewebe_testkit::database_available(&db, true).await;
    // PgBouncer retries a refused server login after `server_login_retry` (15 s by default).
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let r = api.login_from("outage@example.org", PASSWORD, ip).await;
        if r.status == 200 {
            break;
        }
        assert!(
            r.status >= 500,
            "locked out after the outage: {} {}",
            r.status,
            r.body
        );
        assert!(
            std::time::Instant::now() < deadline,
            "{} {}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn redis_cli(args: &[&str]) -> String {
    let url = gewebe_testkit::TestEnv::from_env().redis_url;
    let out = std::process::Command::new("redis-cli")
        .args(["-u", &url])
        .args(args)
        .output()
        .expect("redis-cli (Debian redis-tools) runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Redis's key names hold keyed digests only: a dump does not tell, by trying candidate e-mail
/// addresses and the 2^32 IPv4 addresses, where an account logs in from.
#[tokio::test]
async fn redis_keys_cannot_be_matched_without_the_key() {
    use sha2::{Digest, Sha256};
    let prefix = gewebe_testkit::redis_prefix();
    let (server, _db) = spawn_with(|c| c.redis.key_prefix = prefix.clone()).await;
    let api = Api::new(server);
    let email = "where@example.org";
    api.register(email, PASSWORD, "Where").await;
    let r = api.login_from(email, PASSWORD, "203.0.113.99").await;
    assert_eq!(r.status, 200, "{}", r.body);

    let known = redis_cli(&[
        "--scan",
        "--pattern",
        &format!("{prefix}auth:login:known:*"),
    ]);
    assert_eq!(
        known.lines().count(),
        1,
        "one known-address marker: {known}"
    );
    // What anyone could compute from a candidate address and e-mail (the unkeyed digests).
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let account = hex(&Sha256::digest(format!("gewebe-login:{email}").as_bytes())[..16]);
    let marker =
        hex(&Sha256::digest(format!("gewebe-known:{account}:203.0.113.99").as_bytes())[..16]);
    assert_eq!(
        redis_cli(&["EXISTS", &format!("{prefix}auth:login:known:{marker}")]),
        "0"
    );
    let all = redis_cli(&["--scan", "--pattern", &format!("{prefix}*")]);
    assert!(!all.contains(&account), "{all}");
}
