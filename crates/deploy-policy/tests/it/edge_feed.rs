//! The production edge in front of the real gewebe-feed (real NATS JetStream and Redis, h2c from
//! Caddy as in production): an event published to the stream reaches an open `/feed/stream`
//! through Caddy at once, uncompressed, with the security headers.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    time::{Duration, Instant},
};

use gewebe_events::{Envelope, Location, types::NodeCreated};
use gewebe_feed::config::{Config, FeedConfig};
use gewebe_platform::{
    Env, Shutdown, auth::JwtConfig, http::HttpConfig, nats::NatsConfig, redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use uuid::Uuid;

use crate::caddy::{Tmp, edge_dir, run_edge_until};

/// Reads into `buf` until it contains `needle` or `wait` passed.
fn read_until(stream: &mut TcpStream, buf: &mut String, needle: &str, wait: Duration) {
    let deadline = Instant::now() + wait;
    let mut chunk = [0u8; 4096];
    while !buf.contains(needle) && Instant::now() < deadline {
        if let Ok(n) = stream.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}

#[test]
fn the_edge_streams_the_real_feed_unbuffered() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let env = gewebe_testkit::TestEnv::from_env();
    let prefix = gewebe_testkit::nats_prefix();
    let js = rt.block_on(async {
        let client = async_nats::connect(&env.nats_url).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: gewebe_events::subjects::stream(&prefix),
            subjects: vec![gewebe_events::subjects::all_events(&prefix)],
            duplicate_window: Duration::from_mins(2),
            ..Default::default()
        })
        .await
        .expect("stream");
        js
    });
    let none = Env::from_pairs(Vec::<(String, String)>::new());
    let config = Config {
        http: HttpConfig::local(),
        nats: NatsConfig {
            url: env.nats_url.clone(),
            subject_prefix: prefix.clone(),
        },
        redis: RedisConfig {
            url: env.redis_url.clone().into(),
            key_prefix: gewebe_testkit::redis_prefix(),
        },
        // Anonymous public topics need no token, so no auth instance: the JWKS is never fetched.
        jwt: JwtConfig {
            jwks_url: "http://127.0.0.1:9/.well-known/jwks.json".into(),
            issuer: "gewebe-auth".into(),
            audience: "gewebe".into(),
            refresh_min_interval: Duration::from_secs(30),
            cache_ttl: Duration::from_mins(5),
            leeway_secs: 30,
        },
        telemetry: TelemetryConfig {
            service: "gewebe-feed",
            filter: "warn".into(),
            loki_url: None,
            otlp_endpoint: None,
        },
        feed: FeedConfig::from_env(&none).expect("feed defaults"),
    };
    let server = rt
        .block_on(async {
            gewebe_feed::build(config, Shutdown::new())
                .await
                .map(gewebe_platform::http::Server::spawn)
        })
        .expect("feed builds")
        .expect("feed starts");

    let tmp = Tmp::new("caddy-feed");
    // Every route but the feed points at the discard port; the feed at the real service.
    edge_dir(&tmp.0, 9, server.addr.port());
    let web = tmp.0.join("web");
    std::fs::create_dir_all(&web).expect("web dir");
    let (http, _caddy) = run_edge_until(&tmp.0, &web, "/feed/openapi.json");

    // The stream is open through Caddy once the `retry:` hint arrived (before any event) ...
    let mut stream = TcpStream::connect(("127.0.0.1", http)).expect("connect caddy");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    write!(stream, "GET /feed/stream?topics=nodes HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, zstd\r\n\r\n").expect("request");
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "retry:", Duration::from_secs(5));
    // ... then one node is created, as the relay would publish it.
    let sent = Instant::now();
    let id = Uuid::now_v7();
    let (lat, lon) = (53.55, 9.99);
    let cell = h3o::LatLng::new(lat, lon)
        .expect("coordinates")
        .to_cell(h3o::Resolution::Fifteen)
        .to_string();
    let envelope = Envelope::new(
        "gewebe-geo",
        id,
        1,
        &NodeCreated {
            node_id: id,
            kind: "place".into(),
            title: "Edge test".into(),
            location: Location { lat, lon },
            h3: cell.clone(),
            owner: None,
        },
    )
    .expect("envelope")
    .with_location(Location { lat, lon }, Some(cell));
    rt.block_on(async {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.id.to_string().as_str());
        js.publish_with_headers(
            gewebe_events::subjects::event(&prefix, &envelope.event_type),
            headers,
            envelope.to_vec().expect("json").into(),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
    });
    read_until(
        &mut stream,
        &mut seen,
        "event: node.created",
        Duration::from_secs(5),
    );
    let (head, body) = seen.split_once("\r\n\r\n").unwrap_or((&seen, ""));
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        body.contains("event: node.created") && body.contains(&id.to_string()),
        "the event did not pass Caddy: {body:?}"
    );
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "held back for {:?}",
        sent.elapsed()
    );
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(
        !head.contains("content-encoding"),
        "SSE must not be compressed: {head}"
    );
    assert!(
        head.contains("strict-transport-security")
            && head.contains("x-content-type-options: nosniff"),
        "{head}"
    );

    rt.block_on(async {
        let _ = js
            .delete_stream(gewebe_events::subjects::stream(&prefix))
            .await;
        let _ = server.stop().await;
    });
}
