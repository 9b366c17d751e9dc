//! Signing keys: JWKS, rotation with overlap, sealing at rest — verified with the platform's own
//! JWT extractor, as every other service will.

use std::time::Duration;

use axum::{Router, extract::FromRef, routing::get};
use gewebe_auth::keys::KeyStore;
use gewebe_platform::{
    Shutdown,
    auth::{AuthUser, Claims, JwtConfig, JwtVerifier, Role},
    db::{Db, DbConfig},
    http::{HttpConfig, MetricsRegistry, Readiness, RunningServer, Server},
};
use serde_json::Value;
use sqlx::Connection;
use uuid::Uuid;

use crate::{TEST_KEK, config, keys_config, spawn};

fn claims() -> Claims {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Claims {
        sub: Uuid::now_v7(),
        sid: Some(Uuid::now_v7()),
        roles: vec![Role::User],
        iat: now,
        exp: now + 900,
        iss: "gewebe-auth".into(),
        aud: "gewebe".into(),
        pv: None,
    }
}

fn store(db: &gewebe_testkit::TestDb, kek: &str) -> KeyStore {
    let pool =
        Db::connect_lazy(&DbConfig::new(&db.pooled_url, &db.direct_url), "keys-test").unwrap();
    let k = keys_config(kek);
    KeyStore::new(pool, k.kek, k.rotate_after, k.overlap)
}

#[derive(Clone, FromRef)]
struct Verifying {
    verifier: JwtVerifier,
}

/// A fresh "other service" that trusts auth's JWKS (fresh, so nothing is cached between checks).
async fn other_service(jwks_url: String) -> RunningServer {
    let verifier = JwtVerifier::new(JwtConfig {
        jwks_url,
        issuer: "gewebe-auth".into(),
        audience: "gewebe".into(),
        refresh_min_interval: Duration::from_secs(1),
        cache_ttl: Duration::from_mins(5),
        leeway_secs: 5,
    })
    .unwrap();
    let api = Router::new()
        .route("/me", get(|u: AuthUser| async move { u.id.to_string() }))
        .with_state(Verifying { verifier });
    let cfg = HttpConfig::local();
    let shutdown = Shutdown::new();
    let router = gewebe_platform::http::stack(
        api,
        &cfg,
        Readiness::new(Duration::from_secs(1), shutdown.clone()),
        MetricsRegistry::new(),
    );
    Server::new(
        Server::bind(cfg.bind).await.unwrap(),
        router,
        shutdown,
        cfg.shutdown_deadline,
    )
    .spawn()
    .unwrap()
}

async fn accepted(jwks_url: &str, token: &str) -> bool {
    let other = other_service(jwks_url.to_owned()).await;
    let status = gewebe_testkit::http()
        .get(other.url("/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status();
    status == 200
}

async fn jwks(server: &RunningServer, path: &str) -> Vec<String> {
    let body: Value = gewebe_testkit::http()
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn jwks_publishes_the_current_key_and_other_services_accept_its_tokens() {
    let (server, db) = spawn().await;
    let kids = jwks(&server, "/.well-known/jwks.json").await;
    assert_eq!(kids.len(), 1, "a first key is made at start-up");
    assert_eq!(jwks(&server, "/auth/.well-known/jwks.json").await, kids);
    let body: Value = gewebe_testkit::http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["keys"][0]["kty"], "OKP");
    assert_eq!(body["keys"][0]["crv"], "Ed25519");
    assert!(body["keys"][0].get("d").is_none(), "no private part");

    let token = store(&db, TEST_KEK).sign(&claims()).await.unwrap();
    assert!(accepted(&server.url("/.well-known/jwks.json"), &token).await);
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_through_the_overlap_and_not_after() {
    let (server, db) = spawn().await;
    let jwks_url = server.url("/.well-known/jwks.json");
    let keys = store(&db, TEST_KEK);
    let before = keys.sign(&claims()).await.unwrap();

    // `gewebe-auth keys rotate`, as an operator runs it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gewebe-auth"))
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &db.pooled_url)
        .env("DATABASE_DIRECT_URL", &db.direct_url)
        .env("AUTH_KEK", TEST_KEK)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(jwks(&server, "/.well-known/jwks.json").await.len(), 2);

    let after = store(&db, TEST_KEK).sign(&claims()).await.unwrap();
    assert_ne!(
        jsonwebtoken::decode_header(&before).unwrap().kid,
        jsonwebtoken::decode_header(&after).unwrap().kid
    );
    assert!(accepted(&jwks_url, &after).await, "new key");
    assert!(
        accepted(&jwks_url, &before).await,
        "old key inside the overlap"
    );

    // 15 days later (overlap 14): the old key has left the JWKS and its tokens are refused.
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    sqlx::query("UPDATE auth.signing_keys SET superseded_at = now() - interval '15 days' WHERE superseded_at IS NOT NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(jwks(&server, "/.well-known/jwks.json").await.len(), 1);
    assert!(
        !accepted(&jwks_url, &before).await,
        "old key after the overlap"
    );
    assert!(accepted(&jwks_url, &after).await);
}

#[tokio::test]
async fn private_keys_are_sealed_and_useless_without_the_kek() {
    let (_server, db) = spawn().await;
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    let (kid, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT kid, private_key_sealed FROM auth.signing_keys")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(sealed.len(), 32 + 16, "ciphertext and tag only");

    // The right KEK signs; the sealed seed is not the key itself.
    let token = store(&db, TEST_KEK).sign(&claims()).await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
        Some(kid.as_str())
    );
    // Another KEK cannot unseal it.
    let other_kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let err = store(&db, other_kek).sign(&claims()).await.unwrap_err();
    assert!(err.to_string().contains("cannot be unsealed"), "{err}");
}

#[tokio::test]
async fn a_key_past_its_rotation_age_is_replaced_at_start() {
    let (server, db) = spawn().await;
    let first = jwks(&server, "/.well-known/jwks.json").await;
    server.stop().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    sqlx::query("UPDATE auth.signing_keys SET created_at = now() - interval '181 days'")
        .execute(&mut conn)
        .await
        .unwrap();

    let restarted = gewebe_auth::build(config(&db), Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let now = jwks(&restarted, "/.well-known/jwks.json").await;
    assert_eq!(
        now.len(),
        2,
        "new current key plus the old one in its overlap"
    );
    assert_eq!(now[1], first[0]);
}
