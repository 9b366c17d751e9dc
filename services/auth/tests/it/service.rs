use gewebe_platform::Shutdown;
use serde_json::Value;

use crate::{config, spawn};

#[tokio::test]
async fn serves_its_openapi_document() {
    let (server, _db) = spawn().await;
    let resp = gewebe_testkit::http()
        .get(server.url("/auth/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "gewebe-auth");
    assert!(doc["paths"]["/health/ready"].is_object());
    assert!(doc["components"]["schemas"]["ProblemBody"].is_object());
}

#[tokio::test]
async fn ready_when_postgres_is_migrated_and_redis_answers() {
    let (server, _db) = spawn().await;
    let resp = gewebe_testkit::http()
        .get(server.url("/health/ready"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
}

#[tokio::test]
async fn not_ready_names_the_dependency_that_fails() {
    // A database without gewebe-auth's migrations, and a Redis nobody listens on.
    let db = gewebe_testkit::database(&[]).await.unwrap();
    let mut cfg = config(&db);
    cfg.redis.url = "redis://127.0.0.1:1".to_owned().into();
    let server = gewebe_auth::build(cfg, Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let resp = gewebe_testkit::http()
        .get(server.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("postgres: schema \"auth\" is missing"),
        "{detail}"
    );
    assert!(detail.contains("redis:"), "{detail}");
    // Liveness does not depend on them.
    let live = gewebe_testkit::http()
        .get(server.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}
