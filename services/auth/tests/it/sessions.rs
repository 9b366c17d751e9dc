//! Refresh-token rotation, reuse detection with a grace window for a second tab, logout.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::spawn_with;

struct Client {
    server: gewebe_platform::http::RunningServer,
    http: reqwest::Client,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> (u16, Value, Option<String>) {
        let resp = self
            .http
            .post(self.server.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = if status == 204 {
            Value::Null
        } else {
            resp.json().await.unwrap()
        };
        (status, body, cookie)
    }

    async fn refresh(&self, token: &str) -> (u16, Value) {
        let (status, body, _) = self
            .post("/auth/refresh", json!({"refresh_token": token}))
            .await;
        (status, body)
    }
}

async fn logged_in(grace: Duration) -> (Client, String, gewebe_testkit::TestDb) {
    logged_in_with(grace, Duration::from_hours(1)).await
}

async fn logged_in_with(
    grace: Duration,
    housekeeping: Duration,
) -> (Client, String, gewebe_testkit::TestDb) {
    let (server, db) = spawn_with(|c| {
        c.accounts.refresh_grace = grace;
        c.accounts.housekeeping_interval = housekeeping;
    })
    .await;
    let client = Client {
        server,
        http: gewebe_testkit::http(),
    };
    let creds =
        json!({"email": "tab@example.org", "password": "two tabs open", "display_name": "Tab"});
    assert_eq!(client.post("/auth/register", creds.clone()).await.0, 201);
    let (status, body, cookie) = client
        .post("/auth/login", json!({"email": "tab@example.org", "password": "two tabs open", "refresh_token_in_body": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.expect("refresh cookie");
    assert!(cookie.starts_with("gewebe_refresh="), "{cookie}");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/auth"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(cookie.contains(&token));
    (client, token, db)
}

#[tokio::test]
async fn refresh_rotates_and_reuse_after_the_grace_revokes_the_family() {
    let (client, first, db) = logged_in(Duration::from_secs(1)).await;
    let (status, body) = client.refresh(&first).await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        client
            .http
            .get(client.server.url("/auth/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Replaying the first token after the grace window: theft is assumed, the family ends.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = client.refresh(&first).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("refresh_token_reused"))
    );
    let (status, body) = client.refresh(&second).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_refresh_token")),
        "the successor is dead too"
    );

    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    let reason: String = sqlx::query_scalar("SELECT revoked_reason FROM auth.sessions")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(reason, "refresh_token_reuse");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.refresh_tokens WHERE token_hash = convert_to($1, 'UTF8')",
    )
    .bind(&first)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(stored, 0, "tokens are stored as hashes only");
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_get_the_same_successor() {
    let (client, first, _db) = logged_in(Duration::from_secs(10)).await;
    let (a, b) = tokio::join!(client.refresh(&first), client.refresh(&first));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    assert_eq!(a.1["refresh_token"], b.1["refresh_token"]);
    // And the session lives on.
    let (status, _) = client.refresh(a.1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_cookie_works_without_a_body_and_logout_ends_the_session() {
    let (client, token, _db) = logged_in(Duration::from_secs(10)).await;
    let resp = client
        .http
        .post(client.server.url("/auth/refresh"))
        .header("cookie", format!("other=1; gewebe_refresh={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "browsers get the cookie only"
    );
    let next = cookie
        .trim_start_matches("gewebe_refresh=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let (status, _, cleared) = client
        .post("/auth/logout", json!({"refresh_token": next}))
        .await;
    assert_eq!(status, 204);
    assert!(cleared.unwrap().contains("Max-Age=0"));
    let (status, body) = client.refresh(&next).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_refresh_token"))
    );

    // No token at all, or garbage: a 401 problem, not a 500.
    let (status, body, _) = client.post("/auth/refresh", json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_refresh_token"))
    );
    assert_eq!(client.refresh("garbage").await.0, 401);
}

async fn sealed_successors(db: &gewebe_testkit::TestDb) -> i64 {
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM auth.refresh_tokens WHERE successor_sealed IS NOT NULL OR successor_nonce IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Issue 13, item 10a: a sealed successor is a live refresh token at rest; it goes once the grace
/// window has passed, also when nobody ever presents the old token again.
#[tokio::test]
async fn housekeeping_erases_sealed_successors_after_the_grace_window() {
    let (client, first, db) =
        logged_in_with(Duration::from_secs(1), Duration::from_millis(200)).await;
    let (status, body) = client.refresh(&first).await;
    assert_eq!(status, 200, "{body}");
    let erased = gewebe_testkit::eventually(Duration::from_secs(10), || async {
        (sealed_successors(&db).await == 0).then_some(())
    })
    .await;
    assert!(erased.is_some(), "the sealed successor is still there");
    // Reuse detection does not depend on it: the old token still ends the family.
    let (status, body) = client.refresh(&first).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("refresh_token_reused"))
    );
}

#[tokio::test]
async fn the_next_rotation_erases_successors_past_the_grace_window() {
    // Housekeeping effectively off: the refresh itself must do it.
    let (client, first, db) = logged_in(Duration::from_secs(1)).await;
    let (_, body) = client.refresh(&first).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(sealed_successors(&db).await, 1);
    // Inside the window a second tab still gets the same successor...
    let (status, again) = client.refresh(&first).await;
    assert_eq!(
        (status, &again["refresh_token"]),
        (200, &body["refresh_token"])
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = client.refresh(&second).await;
    assert_eq!(status, 200, "{body}");
    // ...after it, only the newest rotation's successor is kept.
    assert_eq!(sealed_successors(&db).await, 1);
}
