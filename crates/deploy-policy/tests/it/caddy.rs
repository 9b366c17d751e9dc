//! The production edge Caddyfile: `caddy validate` with a current Caddy and placeholder upstreams,
//! then served by that Caddy in front of real HTTP servers: SSE unbuffered and uncompressed, other
//! JSON compressed, the security headers, immutable caching, problem+json for a dead upstream.
//! The local Caddyfile still loads with the Debian Caddy the local stack uses.

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{current_caddy, root};

pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let p = std::env::temp_dir().join(format!("gewebe-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The edge files in `dir`, with upstreams.caddy as the Nomad template would render it and
/// tls.caddy replaced: the DNS-01 provider module is not in the stock build, so the placeholder
/// keeps the ACME issuer without it.
pub fn edge_dir(dir: &Path, h1: u16, h2c: u16) {
    for f in ["edge.Caddyfile", "common.caddy"] {
        std::fs::copy(root().join("caddy").join(f), dir.join(f)).expect("copy caddy file");
    }
    let mut ups = String::new();
    for (svc, port) in [
        ("auth", h1),
        ("geo", h1),
        ("chat", h1),
        ("feed", h2c),
        ("search", 9),
    ] {
        ups.push_str(&format!(
            "(upstreams_{svc}) {{\n\tto 127.0.0.1:{port}\n}}\n"
        ));
    }
    std::fs::write(dir.join("upstreams.caddy"), ups).expect("upstreams");
    std::fs::write(
        dir.join("tls.caddy"),
        "(acme_tls) {\n\ttls {\n\t\tissuer acme\n\t}\n}\n",
    )
    .expect("tls");
}

fn caddy_cmd(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("GEWEBE_CADDY_ADMIN", format!("127.0.0.1:{}", free_port()))
        .env("GEWEBE_METRICS_ADDR", format!("127.0.0.1:{}", free_port()));
    c
}

#[test]
fn the_edge_caddyfile_validates_and_routes_as_intended() {
    let tmp = Tmp::new("caddy-validate");
    edge_dir(&tmp.0, 1, 2);
    let bin = current_caddy();
    let out = caddy_cmd(&bin, &tmp.0)
        .args([
            "validate",
            "--config",
            "edge.Caddyfile",
            "--adapter",
            "caddyfile",
        ])
        .output()
        .expect("run caddy validate");
    assert!(
        out.status.success(),
        "caddy validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = caddy_cmd(&bin, &tmp.0)
        .args([
            "adapt",
            "--config",
            "edge.Caddyfile",
            "--adapter",
            "caddyfile",
        ])
        .output()
        .expect("run caddy adapt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("adapt output is JSON");
    let proxies = find_all(&json, &|v| {
        v.get("handler").and_then(|h| h.as_str()) == Some("reverse_proxy")
    });
    assert_eq!(proxies.len(), 6, "auth twice, geo, chat, search, feed");
    for p in &proxies {
        assert_eq!(
            p.pointer("/health_checks/active/uri")
                .and_then(|u| u.as_str()),
            Some("/health/ready"),
            "{p}"
        );
        assert!(
            p.get("stream_close_delay").is_some(),
            "a reload must not cut streams: {p}"
        );
        assert!(p.pointer("/load_balancing/retry_match").is_some(), "{p}");
    }
    let feed = proxies
        .iter()
        .find(|p| p.get("flush_interval").and_then(serde_json::Value::as_i64) == Some(-1))
        .expect("the feed route flushes at once");
    assert_eq!(
        feed.pointer("/transport/versions/0")
            .and_then(|v| v.as_str()),
        Some("h2c")
    );
}

#[test]
fn the_local_caddyfile_still_loads_with_the_local_stacks_caddy() {
    // The local stack runs Debian's Caddy (2.6) on caddy/Caddyfile; it imports common.caddy now.
    let out = Command::new("caddy")
        .args(["adapt", "--adapter", "caddyfile", "--config"])
        .arg(root().join("caddy/Caddyfile"))
        .current_dir(std::env::temp_dir())
        .output()
        .expect("Debian caddy is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("upstream_unavailable") && text.contains("/health/*"),
        "common.caddy was imported"
    );
    assert!(
        !text.contains("\"encode\""),
        "the local site has no encode (Caddy 2.6 holds SSE back with it)"
    );
}

fn find_all<'a>(
    v: &'a serde_json::Value,
    pred: &dyn Fn(&serde_json::Value) -> bool,
) -> Vec<&'a serde_json::Value> {
    let mut out = Vec::new();
    if pred(v) {
        out.push(v);
    }
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| out.extend(find_all(x, pred))),
        serde_json::Value::Object(o) => o.values().for_each(|x| out.extend(find_all(x, pred))),
        _ => {}
    }
    out
}

/// An upstream that speaks HTTP/1.1 and h2c: readiness, a compressible JSON body, and an event
/// stream that sends one event and then stays open (a buffering proxy would never pass it on).
fn upstream() -> (u16, tokio::runtime::Runtime) {
    use axum::{Router, body::Body, http::header, response::IntoResponse, routing::get};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind upstream");
    let port = listener.local_addr().map(|a| a.port()).expect("port");
    let big = format!(
        "{{\"items\":[{}]}}",
        vec!["{\"id\":\"0190\",\"kind\":\"place\"}"; 400].join(",")
    );
    let app = Router::new()
        .route("/health/ready", get(|| async { "ok" }))
        .route(
            "/geo/big",
            get(move || {
                let big = big.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], big) }
            }),
        )
        .route(
            "/feed/stream",
            get(|| async {
                let first = futures::stream::once(async {
                    Ok::<_, std::convert::Infallible>("id: 1\nevent: node.created\ndata: {}\n\n")
                });
                let stream = futures::StreamExt::chain(first, futures::stream::pending());
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    Body::from_stream(stream),
                )
                    .into_response()
            }),
        );
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, rt)
}

/// One HTTP/1.1 request; returns the head and whatever body arrived until `until` was seen or the
/// deadline passed.
pub fn get(port: u16, path: &str, until: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect caddy");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, zstd\r\nConnection: close\r\n\r\n").expect("write");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some((_, body)) = text.split_once("\r\n\r\n")
            && (until.is_empty() || body.contains(until))
        {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn served_by_caddy_sse_stays_unbuffered_and_uncompressed_and_headers_are_set() {
    let (up, _rt) = upstream();
    let tmp = Tmp::new("caddy-serve");
    edge_dir(&tmp.0, up, up);
    let web = tmp.0.join("web");
    std::fs::create_dir_all(web.join("_app/immutable")).expect("web dir");
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>gewebe</title>",
    )
    .expect("index");
    std::fs::write(web.join("_app/immutable/app.1234.js"), "console.log(1)").expect("asset");
    let (http, _caddy) = run_edge(&tmp.0, &web);

    let started = Instant::now();
    let (head, body) = get(http, "/feed/stream", "data:");
    assert!(
        body.contains("event: node.created"),
        "the first event must arrive while the stream stays open: {head}\n{body:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the event was held back {:?}",
        started.elapsed()
    );
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(
        !head.contains("content-encoding"),
        "SSE must not be compressed: {head}"
    );
    for h in [
        "strict-transport-security: max-age=63072000",
        "content-security-policy: default-src 'self'",
        "cross-origin-opener-policy: same-origin",
        "cross-origin-embedder-policy: require-corp",
        "referrer-policy: strict-origin-when-cross-origin",
        "x-content-type-options: nosniff",
    ] {
        assert!(head.contains(h), "missing {h:?} in\n{head}");
    }

    let (head, _) = get(http, "/geo/big", "");
    assert!(
        head.contains("content-encoding: zstd") || head.contains("content-encoding: gzip"),
        "JSON is compressed: {head}"
    );

    let (head, _) = get(http, "/_app/immutable/app.1234.js", "");
    assert!(
        head.contains("cache-control: public, max-age=31536000, immutable"),
        "{head}"
    );
    let (head, body) = get(http, "/map/somewhere", "</title>");
    assert!(
        head.contains("cache-control: no-cache") && body.contains("gewebe"),
        "{head}"
    );

    let (head, _) = get(http, "/health/ready", "");
    assert!(
        head.starts_with("http/1.1 404"),
        "health stays internal: {head}"
    );
    let (head, body) = get(http, "/search/nodes?q=x", "}");
    assert!(
        head.starts_with("http/1.1 503") && head.contains("application/problem+json"),
        "{head}"
    );
    assert!(body.contains("upstream_unavailable"), "{body}");
}

/// Caddy serving the edge files in `dir` on a free port (plain HTTP: the site address is
/// `http://127.0.0.1:<port>`), once it proxies `ready_path`.
pub fn run_edge(dir: &Path, web: &Path) -> (u16, Kill) {
    run_edge_until(dir, web, "/geo/big")
}

pub fn run_edge_until(dir: &Path, web: &Path, ready_path: &str) -> (u16, Kill) {
    let http = free_port();
    let mut cmd = caddy_cmd(&current_caddy(), dir);
    cmd.args([
        "run",
        "--config",
        "edge.Caddyfile",
        "--adapter",
        "caddyfile",
    ])
    .env("GEWEBE_SITE", format!("http://127.0.0.1:{http}"))
    .env("GEWEBE_HTTP_PORT", http.to_string())
    .env("GEWEBE_HTTPS_PORT", free_port().to_string())
    .env("GEWEBE_WEB_ROOT", web)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let caddy = Kill(cmd.spawn().expect("start caddy"));
    // Ready when it proxies (the first active health check has passed).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(("127.0.0.1", http)).is_ok()
            && get(http, ready_path, "").0.starts_with("http/1.1 200")
        {
            return (http, caddy);
        }
        assert!(
            Instant::now() < deadline,
            "caddy did not start proxying {ready_path} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `caddy validate` of the edge with the given upstreams.caddy (e.g. the rendered Nomad template).
pub fn validate_with_upstreams(upstreams: &str) {
    let tmp = Tmp::new("caddy-upstreams");
    edge_dir(&tmp.0, 1, 2);
    std::fs::write(tmp.0.join("upstreams.caddy"), upstreams).expect("upstreams");
    let out = caddy_cmd(&current_caddy(), &tmp.0)
        .args([
            "validate",
            "--config",
            "edge.Caddyfile",
            "--adapter",
            "caddyfile",
        ])
        .output()
        .expect("run caddy validate");
    assert!(
        out.status.success(),
        "caddy validate with\n{upstreams}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
