use std::time::{Duration, Instant};

use axum::{
    Router,
    http::StatusCode,
    routing::{get, post},
};
use gewebe_platform::{
    Shutdown,
    http::{HttpConfig, Readiness, extract::Json},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serve;

#[derive(Debug, Serialize, Deserialize)]
struct Point {
    lat: f64,
    lon: f64,
}

fn api() -> Router {
    Router::new()
        .route("/echo", post(|Json(p): Json<Point>| async move { Json(p) }))
        .route(
            "/panic",
            get(|| async { panic!("secret internals: SELECT * FROM accounts") as &'static str }),
        )
        .route(
            "/leak",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "db error: SELECT password_hash FROM auth.accounts",
                )
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "done"
            }),
        )
}

async fn problem(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let header_id = resp
        .headers()
        .get("x-request-id")
        .expect("x-request-id echoed")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(
        body["request_id"],
        header_id.as_str(),
        "problem carries the request id: {body}"
    );
    assert_eq!(body["type"], format!("urn:gewebe:problem:{code}"));
    body
}

#[tokio::test]
async fn error_answers_are_problems_with_code_and_request_id() {
    let server = serve(api(), HttpConfig::local(), None).await;
    let http = gewebe_testkit::http();

    problem(
        http.get(server.url("/nope")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;

    let resp = http.delete(server.url("/echo")).send().await.unwrap();
    assert!(
        resp.headers().contains_key("allow"),
        "405 keeps its Allow header"
    );
    problem(resp, 405, "method_not_allowed").await;

    let big = vec![b'x'; 70 * 1024];
    let resp = http
        .post(server.url("/echo"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    problem(resp, 413, "payload_too_large").await;

    let resp = http
        .post(server.url("/echo"))
        .body(r#"{"lat":1,"lon":2}"#)
        .send()
        .await
        .unwrap();
    problem(resp, 415, "unsupported_media_type").await;

    let resp = http
        .post(server.url("/echo"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    problem(resp, 400, "malformed_json").await;

    let resp = http
        .post(server.url("/echo"))
        .json(&serde_json::json!({"lat": "north", "lon": 2}))
        .send()
        .await
        .unwrap();
    let body = problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "lat", "{body}");

    let resp = http
        .post(server.url("/echo"))
        .json(&serde_json::json!({"lat": 1.5, "lon": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["lat"], 1.5);
}

#[tokio::test]
async fn no_internals_in_any_5xx() {
    let server = serve(api(), HttpConfig::local(), None).await;
    let http = gewebe_testkit::http();
    for path in ["/panic", "/leak"] {
        let resp = http.get(server.url(path)).send().await.unwrap();
        let body = problem(resp, 500, "internal").await;
        let text = body.to_string();
        assert!(
            !text.contains("SELECT") && !text.contains("secret"),
            "leaked: {text}"
        );
    }
    // The server survives a panicking handler.
    assert_eq!(
        http.get(server.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn request_id_is_kept_or_generated() {
    let server = serve(api(), HttpConfig::local(), None).await;
    let http = gewebe_testkit::http();
    let resp = http
        .get(server.url("/health/live"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let resp = http.get(server.url("/health/live")).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    // A hostile id (too long) is replaced, not echoed.
    let resp = http
        .get(server.url("/health/live"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"].len(), 36);
}

#[tokio::test]
async fn load_shedding_answers_503_at_once_while_admitted_requests_complete() {
    const N: usize = 4;
    let config = HttpConfig {
        concurrency_limit: N,
        retry_after_secs: 2,
        ..HttpConfig::local()
    };
    let server = serve(api(), config, None).await;
    let http = gewebe_testkit::http();
    let url = server.url("/slow");

    let requests = (0..4 * N).map(|_| {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = http.get(&url).send().await.unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let code = if status == 503 {
                resp.json::<Value>().await.unwrap()["code"].clone()
            } else {
                Value::Null
            };
            (status, started.elapsed(), retry_after, code)
        })
    });
    let results: Vec<_> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let ok: Vec<_> = results.iter().filter(|r| r.0 == 200).collect();
    let shed: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert_eq!(ok.len(), N, "{results:?}");
    assert_eq!(shed.len(), 3 * N, "{results:?}");
    for (_, elapsed, retry_after, code) in shed {
        assert!(
            *elapsed < Duration::from_millis(50),
            "shed after {elapsed:?}"
        );
        assert_eq!(retry_after.as_deref(), Some("2"));
        assert_eq!(code, "overloaded");
    }
    // Health stays outside the limit.
    assert_eq!(
        http.get(server.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn request_timeout_is_a_503_problem() {
    let config = HttpConfig {
        request_timeout: Duration::from_millis(100),
        ..HttpConfig::local()
    };
    let server = serve(api(), config, None).await;
    let resp = gewebe_testkit::http()
        .get(server.url("/slow"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 503, "timeout").await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let server = serve(api(), HttpConfig::local(), None).await;
    let http = gewebe_testkit::http();
    http.post(server.url("/echo"))
        .json(&serde_json::json!({"lat": 1, "lon": 2}))
        .send()
        .await
        .unwrap();
    http.get(server.url("/nope/123")).send().await.unwrap();
    let text = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/echo",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="<unmatched>",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("http_requests_in_flight"), "{text}");
}

#[tokio::test]
async fn readiness_names_the_failing_dependency_within_its_timeout() {
    let shutdown = Shutdown::new();
    let readiness = Readiness::new(Duration::from_millis(200), shutdown)
        .check("fine", || async { Ok(()) })
        .check("stuck", || async {
            std::future::pending::<()>().await;
            Ok(())
        })
        .check("broken", || async { Err("connection refused".to_owned()) });
    let server = serve(api(), HttpConfig::local(), Some(readiness)).await;
    let started = Instant::now();
    let resp = gewebe_testkit::http()
        .get(server.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    let body = problem(resp, 503, "not_ready").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("stuck: no answer within 200 ms")
            && detail.contains("broken: connection refused"),
        "{detail}"
    );
    assert_eq!(body["checks"]["fine"], "ok");
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let config = HttpConfig {
        cors_origins: vec!["https://app.example".parse().unwrap()],
        ..HttpConfig::local()
    };
    let server = serve(api(), config, None).await;
    let http = gewebe_testkit::http();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, server.url("/echo"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// One port speaks HTTP/1.1 to browsers and tools and h2c to Caddy (`versions h2c`), and either
/// way the handler learns who called.
#[tokio::test]
async fn http1_and_h2c_on_one_port_both_with_the_peer_address() {
    use gewebe_platform::http::client_ip::ClientIp;
    let api = Router::new().route(
        "/whoami",
        get(
            |ClientIp(ip): ClientIp, version: axum::http::Version| async move {
                format!("{ip} {version:?}")
            },
        ),
    );
    let server = serve(api, HttpConfig::local(), None).await;
    let h1 = gewebe_testkit::http()
        .get(server.url("/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.text().await.unwrap(), "127.0.0.1 HTTP/1.1");

    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    // Several streams on the one connection at once.
    let answers = futures::future::join_all((0..8).map(|_| {
        h2c.get(server.url("/whoami"))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
    }))
    .await;
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.version(), reqwest::Version::HTTP_2);
        // Loopback is a trusted proxy by default, so its X-Forwarded-For counts.
        assert_eq!(answer.text().await.unwrap(), "203.0.113.7 HTTP/2.0");
    }
}

/// Stream routes get the whole stack (request id, problems, limits) except compression, whose
/// body would sit in every open stream; the other routes are still compressed.
#[tokio::test]
async fn stream_routes_get_the_stack_without_compression() {
    use gewebe_platform::http::{MetricsRegistry, RunningServer, Server, stack_with_streams};
    let text = || async { "gewebe ".repeat(2_000) };
    let shutdown = Shutdown::new();
    let config = HttpConfig::local();
    let router = stack_with_streams(
        Router::new().route("/api", get(text)),
        Router::new().route("/stream", get(text)),
        &config,
        Readiness::new(Duration::from_millis(300), shutdown.clone()),
        MetricsRegistry::new(),
    );
    let listener = Server::bind(config.bind).await.unwrap();
    let server: RunningServer = Server::new(listener, router, shutdown, config.shutdown_deadline)
        .spawn()
        .unwrap();
    let http = gewebe_testkit::http();
    let get = |path: &'static str| {
        http.get(server.url(path))
            .header("accept-encoding", "gzip")
            .send()
    };
    let api = get("/api").await.unwrap();
    assert_eq!(api.headers()["content-encoding"], "gzip");
    let stream = get("/stream").await.unwrap();
    assert!(stream.headers().get("content-encoding").is_none());
    assert!(stream.headers().contains_key("x-request-id"));
    assert_eq!(stream.text().await.unwrap().len(), 14_000);
    let missing = http.get(server.url("/nothing")).send().await.unwrap();
    problem(missing, 404, "not_found").await;
}
