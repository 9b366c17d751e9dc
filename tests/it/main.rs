//! End-to-end through Caddy: what a browser on the one origin sees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(clippy::assigning_clones)]

mod chat;

use serde_json::Value;

struct Stack {
    url: String,
    services: Vec<String>,
    http: reqwest::Client,
}

/// The stack `cargo xtask test` started. Missing variables fail the test: it must not pass
/// vacuously.
fn stack() -> Stack {
    let url = std::env::var("GEWEBE_STACK_URL")
        .expect("GEWEBE_STACK_URL is not set: run these tests through `cargo xtask test`");
    let ca = std::env::var("GEWEBE_STACK_CA").expect("GEWEBE_STACK_CA is not set");
    let services = std::env::var("GEWEBE_STACK_SERVICES").unwrap_or_default();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem =
        std::fs::read(&ca).unwrap_or_else(|e| panic!("reading Caddy's root certificate {ca}: {e}"));
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(std::time::Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap();
    Stack {
        url,
        services: services
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        http,
    }
}

impl Stack {
    /// Registers and logs in a new account through Caddy; returns its access token.
    async fn new_account(&self, tag: &str) -> String {
        let email = format!("e2e-{tag}-{}@example.org", uuid::Uuid::now_v7().simple());
        let password = "correct horse battery";
        let resp = self
            .http
            .post(format!("{}/auth/register", self.url))
            .json(&serde_json::json!({"email": email, "password": password, "display_name": tag}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let token: Value = self
            .http
            .post(format!("{}/auth/login", self.url))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn every_service_serves_its_openapi_through_caddy_over_http2_advertising_http3() {
    let stack = stack();
    assert!(!stack.services.is_empty(), "no services were started");
    for service in &stack.services {
        let resp = stack
            .http
            .get(format!("{}/{service}/openapi.json", stack.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{service}");
        assert_eq!(
            resp.version(),
            reqwest::Version::HTTP_2,
            "{service} over HTTP/2"
        );
        let alt_svc = resp
            .headers()
            .get("alt-svc")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            alt_svc.contains("h3=\":"),
            "{service}: HTTP/3 advertised, got alt-svc {alt_svc:?}"
        );
        assert!(
            resp.headers().contains_key("x-request-id"),
            "{service}: request id echoed"
        );
        let doc: Value = resp.json().await.unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{service}: OpenAPI 3.1"
        );
        assert_eq!(doc["info"]["title"], format!("gewebe-{service}"));
    }
}

#[tokio::test]
async fn errors_through_caddy_are_problems_and_internal_routes_are_hidden() {
    let stack = stack();
    let resp = stack
        .http
        .get(format!("{}/auth/no-such-thing", stack.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str());

    // A caller-supplied request id survives the proxy hop.
    let resp = stack
        .http
        .get(format!("{}/auth/openapi.json", stack.url))
        .header("x-request-id", "e2e-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "e2e-trace-1");

    // The JWKS is served on the one origin, at the well-known path and under /auth.
    for path in ["/.well-known/jwks.json", "/auth/.well-known/jwks.json"] {
        let resp = stack
            .http
            .get(format!("{}{path}", stack.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let jwks: Value = resp.json().await.unwrap();
        assert_eq!(jwks["keys"][0]["kty"], "OKP", "{path}: {jwks}");
    }

    for path in ["/metrics", "/health/ready", "/nowhere"] {
        let resp = stack
            .http
            .get(format!("{}{path}", stack.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
}

/// Every service of the stack is ready at its direct (not public) address, and the relay leads.
#[tokio::test]
async fn every_service_is_ready_and_the_relay_leads() {
    let direct = std::env::var("GEWEBE_STACK_DIRECT").expect("GEWEBE_STACK_DIRECT is not set");
    let http = stack().http;
    for entry in direct.split(',').filter(|e| !e.is_empty()) {
        let (service, base) = entry.split_once('=').unwrap();
        // Readiness may take a moment after start (e.g. the relay provisioning its stream).
        let mut status = 0;
        for _ in 0..50 {
            status = http
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(status, 200, "{service} ready");
        if service == "relay" {
            let body: Value = http
                .get(format!("{base}/relay/status"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body["leader"], true, "{body}");
        }
    }
}

/// A browser's account life through Caddy: register, log in (refresh cookie), read and change the
/// account, refresh, and the lockout keyed to the real client address — a forged
/// `X-Forwarded-For` does not get around it, because Caddy does not pass it on from clients.
#[tokio::test]
async fn an_account_through_caddy_and_a_lockout_that_forged_headers_do_not_escape() {
    let stack = stack();
    assert!(
        stack.services.iter().any(|s| s == "auth"),
        "auth is not part of the stack"
    );
    let url = |p: &str| format!("{}{p}", stack.url);
    let email = format!("e2e-{}@example.org", uuid::Uuid::now_v7().simple());
    let resp = stack
        .http
        .post(url("/auth/register"))
        .json(&serde_json::json!({"email": email, "password": "correct horse battery", "display_name": "E2E"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let resp = stack
        .http
        .post(url("/auth/login"))
        .json(&serde_json::json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/auth"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let token: Value = resp.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap();

    let resp = stack
        .http
        .patch(url("/auth/me"))
        .bearer_auth(access)
        .header("if-match", "\"1\"")
        .json(&serde_json::json!({"privacy": {"fuzz_radius_m": 250}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], "\"2\"");
    let resp = stack
        .http
        .post(url("/auth/refresh"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the cookie works through Caddy");

    let mut statuses = Vec::new();
    for i in 0..7 {
        let resp = stack
            .http
            .post(url("/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&serde_json::json!({"email": email, "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
}

/// The map through Caddy, across every service hop: a person places their home, sets a fuzz radius
/// in auth, and auth's `account.updated` travels auth outbox → relay → JetStream → geo's consumer,
/// which moves the public position of the home; tiles are served fresh and revalidate with 304.
#[tokio::test]
async fn a_home_on_the_map_is_fuzzed_after_the_privacy_change_travels_through_the_event_spine() {
    let stack = stack();
    assert!(
        stack.services.iter().any(|s| s == "geo"),
        "geo is not part of the stack"
    );
    let url = |p: &str| format!("{}{p}", stack.url);
    let access = stack.new_account("geo").await;

    let exact = serde_json::json!({"lat": 48.208_765_4, "lon": 16.372_345_6});
    let resp = stack
        .http
        .post(url("/geo/nodes"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"kind": "home", "title": "Zuhause", "location": exact}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let home: Value = resp.json().await.unwrap();
    let id = home["id"].as_str().unwrap().to_owned();

    let resp = stack
        .http
        .patch(url("/auth/me"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"privacy": {"fuzz_radius_m": 1500}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Public view (no token) until the event has arrived and been applied.
    let mut public = exact.clone();
    for _ in 0..100 {
        let node: Value = stack
            .http
            .get(url(&format!("/geo/nodes/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        public = node["location"].clone();
        if public != exact {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(
        public, exact,
        "the home never moved: the event did not arrive"
    );
    let owner_view: Value = stack
        .http
        .get(url(&format!("/geo/nodes/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(owner_view["location"], exact);
    assert_eq!(owner_view["public_location"], public);

    // A tile through Caddy, then its revalidation.
    let resp = stack
        .http
        .get(url("/geo/tiles/10/558/355.mvt"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.mapbox-vector-tile"
    );
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let resp = stack
        .http
        .get(url("/geo/tiles/10/558/355.mvt"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
}

/// Reads Server-Sent Events from a response, for as long as `wait` allows each one.
async fn next_event(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    wait: std::time::Duration,
) -> Option<(String, String, String)> {
    use futures::StreamExt;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !event.is_empty() {
                return Some((id, event, data));
            }
            continue;
        }
        match tokio::time::timeout(wait, body.next()).await {
            Ok(Some(Ok(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return None,
        }
    }
}

/// The live map through Caddy: a node placed through geo travels geo outbox → relay → JetStream →
/// feed → Caddy (unbuffered) to the stream whose area holds it, and never to one elsewhere.
#[tokio::test]
async fn a_new_node_appears_on_the_open_map_that_shows_its_area_and_on_no_other() {
    let stack = stack();
    assert!(
        stack.services.iter().any(|s| s == "feed"),
        "feed is not part of the stack"
    );
    let url = |p: &str| format!("{}{p}", stack.url);
    let access = stack.new_account("feed").await;

    let open = |bbox: &str| {
        let http = stack.http.clone();
        let u = url(&format!("/feed/stream?topics=nodes&bbox={bbox}"));
        async move {
            let resp = http
                .get(u)
                .timeout(std::time::Duration::from_mins(2))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], "text/event-stream");
            resp.bytes_stream()
        }
    };
    let mut here = Box::pin(open("2.2,48.8,2.5,48.9").await);
    let mut elsewhere = Box::pin(open("-0.2,51.4,0.1,51.6").await);
    let (mut here_buf, mut elsewhere_buf) = (String::new(), String::new());
    // The feed's consumer may still be starting after `up`: place nodes until one arrives.
    let mut arrived = None;
    for attempt in 0..20 {
        let resp = stack
            .http
            .post(url("/geo/nodes"))
            .bearer_auth(&access)
            .json(&serde_json::json!({"kind": "place", "title": format!("Paris {attempt}"), "location": {"lat": 48.8566, "lon": 2.3522}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let node: Value = resp.json().await.unwrap();
        if let Some((id, event, data)) =
            next_event(&mut here, &mut here_buf, std::time::Duration::from_secs(2)).await
        {
            assert_eq!(event, "node.created");
            assert!(!id.is_empty(), "a resume token");
            let data: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(data["data"]["node_id"], node["id"]);
            arrived = Some(id);
            break;
        }
    }
    assert!(
        arrived.is_some(),
        "the node never reached the stream showing Paris"
    );
    assert!(
        next_event(
            &mut elsewhere,
            &mut elsewhere_buf,
            std::time::Duration::from_secs(1)
        )
        .await
        .is_none(),
        "the stream showing London got a Paris node"
    );
}
