//! Integration tests of the shared platform against real servers: HTTP on port 0, PostgreSQL
//! through the real PgBouncer, NATS JetStream, Redis, and a JWKS endpoint the tests run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(clippy::items_after_statements)]

mod backends;
mod jwt;
mod shutdown;
mod stack;

use std::time::Duration;

use axum::Router;
use gewebe_platform::{
    Shutdown,
    http::{HttpConfig, MetricsRegistry, Readiness, RunningServer, Server, stack},
};

/// Runs `api` behind the full stack on port 0.
pub async fn serve(api: Router, config: HttpConfig, readiness: Option<Readiness>) -> RunningServer {
    let shutdown = Shutdown::new();
    let readiness =
        readiness.unwrap_or_else(|| Readiness::new(Duration::from_millis(300), shutdown.clone()));
    let deadline = config.shutdown_deadline;
    let router = stack(api, &config, readiness, MetricsRegistry::new());
    let listener = Server::bind(config.bind).await.unwrap();
    Server::new(listener, router, shutdown, deadline)
        .spawn()
        .unwrap()
}
