use std::time::Duration;

use axum::{Router, routing::get};
use gewebe_platform::http::HttpConfig;

use crate::serve;

fn slow_api() -> Router {
    Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "finished"
        }),
    )
}

/// SIGTERM (sent to this very process, as Nomad would) while requests are in flight: they finish,
/// new connections are refused, and the server returns cleanly within the deadline.
#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_stops() {
    let config = HttpConfig {
        shutdown_deadline: Duration::from_secs(5),
        ..HttpConfig::local()
    };
    let server = serve(slow_api(), config, None).await;
    server.shutdown.trigger_on_signals();
    tokio::time::sleep(Duration::from_millis(50)).await; // let the signal handler install

    let http = gewebe_testkit::http();
    let in_flight: Vec<_> = (0..5)
        .map(|_| {
            let req = http.get(server.url("/slow")).send();
            tokio::spawn(async move { req.await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());

    let addr = server.addr;
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(5), server.handle).await;
    assert!(
        result
            .expect("drain finishes before the deadline")
            .unwrap()
            .is_ok()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    for request in in_flight {
        assert_eq!(
            request.await.unwrap().expect("in-flight request completed"),
            200
        );
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// A request that outlives the deadline is cut; the server still returns (and the process exits).
#[tokio::test]
async fn drain_stops_at_the_deadline() {
    let config = HttpConfig {
        shutdown_deadline: Duration::from_millis(200),
        ..HttpConfig::local()
    };
    let server = serve(slow_api(), config, None).await;
    let http = gewebe_testkit::http();
    let req = tokio::spawn(http.get(server.url("/slow")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    server.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let _ = req.await;
}

/// Long-lived tasks (SSE, WebSocket, relay) observe the shared signal and are waited for.
#[tokio::test]
async fn tracked_tasks_hear_the_signal_and_are_awaited() {
    let server = serve(slow_api(), HttpConfig::local(), None).await;
    let shutdown = server.shutdown.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_shutdown = shutdown.clone();
    shutdown.spawn(async move {
        task_shutdown.cancelled().await;
        tokio::time::sleep(Duration::from_millis(100)).await; // e.g. flushing a final SSE event
        tx.send("closed cleanly").unwrap();
    });
    server.stop().await.unwrap();
    assert_eq!(rx.await.unwrap(), "closed cleanly");
}
