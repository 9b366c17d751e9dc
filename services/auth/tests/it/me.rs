//! `PATCH /auth/me` (optimistic concurrency, account.updated), public profiles, and forget.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::{api::Api, spawn};

const PASSWORD: &str = "correct horse battery";

async fn events(conn: &mut PgConnection, event_type: &str) -> Vec<Value> {
    let payloads: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT payload FROM auth.outbox WHERE event_type = $1 ORDER BY seq")
            .bind(event_type)
            .fetch_all(conn)
            .await
            .unwrap();
    payloads
        .iter()
        .map(|p| serde_json::from_slice(p).unwrap())
        .collect()
}

#[tokio::test]
async fn patch_me_is_conditional_validated_and_announced() {
    let (server, db) = spawn().await;
    let api = Api::new(server);
    api.register("pat@example.org", PASSWORD, "Pat").await;
    let token = api.token("pat@example.org", PASSWORD).await;
    let me = api
        .call(Method::GET, "/auth/me", Some(&token), None, &[])
        .await;
    let etag = me.header("etag").unwrap().to_owned();
    assert_eq!(etag, "\"1\"");

    let change = json!({"display_name": "Pat Q.", "privacy": {"fuzz_radius_m": 1500, "ron": true}});
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&token),
            Some(change.clone()),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"], "Pat Q.");
    assert_eq!(
        r.body["privacy"],
        json!({"fuzz_radius_m": 1500, "ron": true, "version": 2})
    );
    assert_eq!(r.header("etag"), Some("\"2\""));

    // The version read before is stale now.
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&token),
            Some(change),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!((r.status, r.code()), (412, Some("version_mismatch")));

    // Bad input: 422/400 problems, never 500.
    for (body, field) in [
        (
            json!({"privacy": {"fuzz_radius_m": 5001}}),
            "privacy.fuzz_radius_m",
        ),
        (
            json!({"privacy": {"fuzz_radius_m": -1}}),
            "privacy.fuzz_radius_m",
        ),
        (json!({"display_name": ""}), "display_name"),
        (json!({"display_name": "x".repeat(101)}), "display_name"),
        (json!({}), ""),
    ] {
        let r = api
            .call(
                Method::PATCH,
                "/auth/me",
                Some(&token),
                Some(body.clone()),
                &[],
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, Some("validation_failed")),
            "{body}"
        );
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&token),
            Some(json!({"fuzz_radius": 3})),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "unknown fields are refused: {}", r.body);
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&token),
            Some(json!({"privacy": {"ron": "yes"}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&token),
            Some(json!({"display_name": "Y"})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some("invalid_if_match")));
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            None,
            Some(json!({"display_name": "Y"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 401);

    // Without If-Match the write is unconditional.
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&token),
            Some(json!({"privacy": {"ron": false}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"], "Pat Q.", "fields not sent are kept");

    // Each change is an account.updated event with the privacy settings and no name.
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let updated = events(&mut conn, "account.updated").await;
    assert_eq!(updated.len(), 2);
    assert_eq!(updated[0]["data"]["fuzz_radius_m"], 1500);
    assert_eq!(updated[0]["data"]["ron"], true);
    assert_eq!(updated[1]["data"]["ron"], false);
    assert_eq!(updated[0]["visibility"], "private");
    assert_eq!(updated[1]["aggregate"]["version"], 3);
    for e in &updated {
        assert!(!e.to_string().contains("Pat"), "no name in events: {e}");
    }
}

#[tokio::test]
async fn concurrent_patches_with_one_version_give_one_200_and_one_412() {
    let (server, _db) = spawn().await;
    let api = Api::new(server);
    api.register("race@example.org", PASSWORD, "Race").await;
    let token = api.token("race@example.org", PASSWORD).await;
    let patch = |name: &'static str| {
        let (api, token) = (&api, &token);
        async move {
            api.call(
                Method::PATCH,
                "/auth/me",
                Some(token),
                Some(json!({"display_name": name})),
                &[("if-match", "\"1\"")],
            )
            .await
            .status
        }
    };
    let (a, b) = tokio::join!(patch("A"), patch("B"));
    let mut got = [a, b];
    got.sort_unstable();
    assert_eq!(got, [200, 412]);
}

#[tokio::test]
async fn profiles_show_the_name_or_the_ron_placeholder() {
    let (server, _db) = spawn().await;
    let api = Api::new(server);
    let account = api.register("pro@example.org", PASSWORD, "Profi").await;
    let id = account["id"].as_str().unwrap();
    let r = api
        .call(
            Method::GET,
            &format!("/auth/profiles/{id}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"id": id, "display_name": "Profi", "ron": false})
    );
    assert!(r.body.get("email").is_none());

    let token = api.token("pro@example.org", PASSWORD).await;
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&token),
            Some(json!({"privacy": {"ron": true}})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = api
        .call(
            Method::GET,
            &format!("/auth/profiles/{id}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(
        r.body,
        json!({"id": id, "display_name": "Rolle ohne Namen", "ron": true})
    );

    let r = api
        .call(
            Method::GET,
            &format!("/auth/profiles/{}", uuid::Uuid::now_v7()),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, Some("not_found")));
    let r = api
        .call(Method::GET, "/auth/profiles/not-a-uuid", None, None, &[])
        .await;
    assert_eq!((r.status, r.code()), (400, Some("invalid_path")));
}

/// Every text, JSON, array and bytea cell of every table in the database that contains `needle`.
async fn cells_containing(conn: &mut PgConnection, needle: &[u8]) -> Vec<String> {
    let columns: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
           AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea')",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(columns.len() > 10, "the scan sees the tables: {columns:?}");
    let mut hits = Vec::new();
    for (schema, table, column, ty) in columns {
        let cell = if ty == "bytea" {
            format!("\"{column}\"")
        } else {
            format!("convert_to(\"{column}\"::text, 'UTF8')")
        };
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE position($1::bytea in {cell}) > 0"
        )))
        .bind(needle)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if n > 0 {
            hits.push(format!("{schema}.{table}.{column}"));
        }
    }
    hits
}

#[tokio::test]
async fn forget_erases_the_person_ends_every_session_and_announces_it() {
    let (server, db) = spawn().await;
    let api = Api::new(server);
    let email = "forget-me@example.org";
    let name = "Vergissmeinnicht";
    let account = api.register(email, PASSWORD, name).await;
    let id = account["id"].as_str().unwrap().to_owned();
    let first = api.login_from(email, PASSWORD, "192.0.2.1").await;
    let second = api.login_from(email, PASSWORD, "192.0.2.2").await;
    let token = first.body["access_token"].as_str().unwrap().to_owned();
    let refresh = second.body["refresh_token"].as_str().unwrap().to_owned();

    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM auth.accounts")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // The scan finds the data while it is there (so an empty result below means something).
    assert!(
        !cells_containing(&mut conn, email.as_bytes())
            .await
            .is_empty()
    );
    assert!(
        !cells_containing(&mut conn, name.as_bytes())
            .await
            .is_empty()
    );

    let r = api
        .call(Method::DELETE, "/auth/me", Some(&token), None, &[])
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, json!({"account_id": id, "status": "accepted"}));
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));

    for needle in [email.as_bytes(), name.as_bytes(), hash.as_bytes()] {
        let hits = cells_containing(&mut conn, needle).await;
        assert!(
            hits.is_empty(),
            "{} still in {hits:?}",
            String::from_utf8_lossy(needle)
        );
    }
    // Login is blocked, every session is over, the account is gone for its own token too.
    let r = api.login_from(email, PASSWORD, "192.0.2.3").await;
    assert_eq!((r.status, r.code()), (401, Some("invalid_credentials")));
    let r = api
        .call(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (401, Some("invalid_refresh_token")));
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth.sessions WHERE revoked_at IS NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(open, 0);
    assert_eq!(
        api.call(Method::GET, "/auth/me", Some(&token), None, &[])
            .await
            .status,
        404
    );
    let r = api
        .call(Method::DELETE, "/auth/me", Some(&token), None, &[])
        .await;
    assert_eq!(r.status, 404, "a second forget finds nothing to do");
    let r = api
        .call(
            Method::GET,
            &format!("/auth/profiles/{id}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.body["display_name"], "Rolle ohne Namen");

    // The event that makes every other service follow, ids only.
    let forgotten = events(&mut conn, "account.forgotten").await;
    assert_eq!(forgotten.len(), 1);
    assert_eq!(forgotten[0]["data"], json!({"account_id": id}));
    // The same address may register again: a new, unrelated account.
    let again = api.register(email, PASSWORD, "Neu").await;
    assert_ne!(again["id"], account["id"]);
}
