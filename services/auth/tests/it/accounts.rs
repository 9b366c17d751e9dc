//! Register, login and /auth/me over HTTP, against real PostgreSQL (through PgBouncer).

use serde_json::{Value, json};
use sqlx::Connection;

use crate::spawn;

async fn post(
    server: &gewebe_platform::http::RunningServer,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let resp = gewebe_testkit::http()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn register_login_and_me() {
    let (server, db) = spawn().await;
    let (status, account) = post(
        &server,
        "/auth/register",
        json!({"email": "  Ada.L@Example.ORG ", "password": "correct horse battery", "display_name": "Ada"}),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["email"], "Ada.L@example.org", "normalised");
    assert_eq!(account["roles"], json!(["user"]));
    assert_eq!(
        account["privacy"],
        json!({"fuzz_radius_m": 0, "ron": false, "version": 0})
    );

    let (status, token) = post(
        &server,
        "/auth/login",
        json!({"email": "Ada.L@EXAMPLE.org", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 900);
    let access = token["access_token"].as_str().unwrap();

    let me = gewebe_testkit::http()
        .get(server.url("/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], account["id"]);
    assert_eq!(me["display_name"], "Ada");
    let unauthenticated = gewebe_testkit::http()
        .get(server.url("/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    // The password is stored as an argon2id PHC string with at least OWASP's parameters, and the
    // registration event carries the id only.
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM auth.accounts")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let payload: Vec<u8> = sqlx::query_scalar(
        "SELECT payload FROM auth.outbox WHERE event_type = 'account.registered'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let event = String::from_utf8(payload).unwrap();
    assert!(event.contains(account["id"].as_str().unwrap()));
    assert!(
        !event.contains("Ada") && !event.contains("example.org"),
        "no PII in events: {event}"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let (server, _db) = spawn().await;
    post(
        &server,
        "/auth/register",
        json!({"email": "bo@example.org", "password": "12345678", "display_name": "Bo"}),
    )
    .await;
    let (s1, wrong) = post(
        &server,
        "/auth/login",
        json!({"email": "bo@example.org", "password": "87654321"}),
    )
    .await;
    let (s2, unknown) = post(
        &server,
        "/auth/login",
        json!({"email": "nobody@example.org", "password": "87654321"}),
    )
    .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong["code"], "invalid_credentials");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    assert_eq!(
        strip(wrong),
        strip(unknown),
        "one message that does not say which"
    );
}

#[tokio::test]
async fn duplicate_and_invalid_registrations_are_problems_not_500s() {
    let (server, _db) = spawn().await;
    let body =
        json!({"email": "cy@example.org", "password": "secret-enough", "display_name": "Cy"});
    assert_eq!(post(&server, "/auth/register", body.clone()).await.0, 201);
    let (status, dup) = post(&server, "/auth/register", body).await;
    assert_eq!((status, dup["code"].as_str()), (409, Some("email_taken")));

    let (status, bad) = post(
        &server,
        "/auth/register",
        json!({"email": "nope", "password": "short", "display_name": ""}),
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "password", "display_name"]);

    let (status, wrong_type) = post(
        &server,
        "/auth/register",
        json!({"email": 5, "password": [], "display_name": null}),
    )
    .await;
    assert_eq!(
        (status, wrong_type["code"].as_str()),
        (422, Some("validation_failed"))
    );

    let http = gewebe_testkit::http();
    let resp = http
        .post(server.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http
        .post(server.url("/auth/register"))
        .header("content-type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await;
    // Either a 413 problem, or the server closing the oversized upload early; never a 500.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }

    // SQL and HTML in fields are stored and returned as plain text.
    let name = "<script>alert(1)</script>'; DROP TABLE auth.accounts; --";
    let (status, account) = post(
        &server,
        "/auth/register",
        json!({"email": "dy@example.org", "password": "secret-enough", "display_name": name}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(account["display_name"], name);
    assert_eq!(
        post(
            &server,
            "/auth/login",
            json!({"email": "dy@example.org", "password": "secret-enough"})
        )
        .await
        .0,
        200
    );
}

/// A login with the configured argon2 costs leaves the stored hash alone; raised costs rehash it
/// at the next successful login.
#[tokio::test]
async fn hashes_are_upgraded_when_the_costs_rise_and_only_then() {
    let (server, db) = spawn().await;
    let creds = json!({"email": "cost@example.org", "password": "correct horse battery"});
    let (status, _) = post(
        &server,
        "/auth/register",
        json!({"email": "cost@example.org", "password": "correct horse battery", "display_name": "C"}),
    )
    .await;
    assert_eq!(status, 201);
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    let before = stored(&mut conn).await;
    for _ in 0..2 {
        assert_eq!(post(&server, "/auth/login", creds.clone()).await.0, 200);
    }
    assert_eq!(stored(&mut conn).await, before, "same costs: no rehash");

    let mut raised = crate::config(&db);
    raised.accounts.argon2_m_kib = 20_480;
    let stronger = gewebe_auth::build(raised, gewebe_platform::Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    assert_eq!(post(&stronger, "/auth/login", creds.clone()).await.0, 200);
    let after = stored(&mut conn).await;
    assert!(
        after.starts_with("$argon2id$v=19$m=20480,t=2,p=1$"),
        "{after}"
    );
    // The old server still accepts the stronger hash (the costs travel with it).
    assert_eq!(post(&server, "/auth/login", creds).await.0, 200);
}

async fn stored(conn: &mut sqlx::PgConnection) -> String {
    sqlx::query_scalar("SELECT password_hash FROM auth.accounts")
        .fetch_one(conn)
        .await
        .unwrap()
}
