//! Issue 13, item 9: one account hammering one node gets 429 with Retry-After once its burst is
//! spent, so it cannot flood the outbox; other accounts write on.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{assert_problem, spawn};

#[tokio::test]
async fn a_burst_beyond_the_limit_gets_429_and_other_accounts_write_on() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let bob = geo.user().await;
    let node = geo.node(&ada, "place", "Heiß", 48.1, 11.5).await;
    let path = format!("/geo/nodes/{}", node["id"].as_str().unwrap());

    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..80).map(|i| {
        let (http, url, token) = (geo.http.clone(), geo.url(&path), ada.token.clone());
        async move {
            let resp = http
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"title": format!("Heiß {i}")}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, retry_after, body)
        }
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();

    let ok = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    let limited: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok + limited.len(), answers.len(), "only 200 or 429");
    // The default bucket: a burst of 30 (the create took one), then 5 a second.
    assert!(ok >= 25, "{ok} succeeded");
    assert!(
        (ok as f64) <= 29.0 + 5.0 * elapsed + 1.0,
        "{ok} succeeded in {elapsed:.2} s"
    );
    for (status, retry_after, body) in &limited {
        assert_problem(*status, body, 429, "rate_limited");
        let secs: u32 = retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=1).contains(&secs), "Retry-After {secs}");
    }
    // Only the accepted writes reached the outbox.
    assert_eq!(geo.outbox("node.updated").await.len(), ok);

    // Another account is not held back by Ada's empty bucket.
    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&bob),
            Some(json!({"kind": "idea", "title": "Bob", "location": {"lat": 48.2, "lon": 11.6}})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn the_openapi_document_names_the_new_answers() {
    let geo = spawn().await;
    let (status, doc) = geo.get("/geo/openapi.json", None).await;
    assert_eq!(status, 200);
    for (path, method) in [
        ("/geo/nodes", "post"),
        ("/geo/nodes/{id}", "patch"),
        ("/geo/nodes/{id}", "delete"),
        ("/geo/edges", "post"),
        ("/geo/edges/{id}", "delete"),
    ] {
        let limited = &doc["paths"][path][method]["responses"]["429"];
        assert!(
            limited["content"]["application/problem+json"].is_object(),
            "{method} {path}: {limited}"
        );
        assert!(
            limited["headers"]["Retry-After"].is_object(),
            "{method} {path}"
        );
        assert!(
            limited["description"]
                .as_str()
                .unwrap()
                .contains("rate_limited")
        );
    }
    for (path, method) in [
        ("/geo/nodes", "post"),
        ("/geo/nodes/{id}", "patch"),
        ("/geo/nodes/{id}", "delete"),
        ("/geo/edges", "post"),
        ("/geo/edges/{id}", "delete"),
    ] {
        let pending = &doc["paths"][path][method]["responses"]["409"];
        assert!(
            pending["description"]
                .as_str()
                .unwrap()
                .contains("privacy_pending"),
            "{method} {path}: {pending}"
        );
        assert!(pending["headers"]["Retry-After"].is_object());
    }
}
