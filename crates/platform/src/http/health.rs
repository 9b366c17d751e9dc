//! `/health/live` (the process answers) and `/health/ready` (every dependency answers in time).

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use crate::{Problem, Shutdown, db::Db, nats::Nats, redis::Redis};

pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The dependencies a service needs to take traffic, each checked with a short timeout.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
    timeout: Duration,
    shutdown: Shutdown,
}

impl Readiness {
    pub fn new(timeout: Duration, shutdown: Shutdown) -> Self {
        Self {
            checks: Vec::new(),
            timeout,
            shutdown,
        }
    }

    pub fn check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()))));
        self
    }

    /// A check that needs no I/O (a consumer's health flag, say).
    pub fn flag<F>(self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        let check = Arc::new(check);
        self.check(name, move || std::future::ready(check()))
    }

    /// A pooled round trip to PostgreSQL that also proves each schema is migrated.
    pub fn postgres(self, db: &Db, schemas: &[&str]) -> Self {
        let db = db.clone();
        let schemas: Arc<[String]> = schemas.iter().map(|s| (*s).to_owned()).collect();
        self.check("postgres", move || {
            let (db, schemas) = (db.clone(), schemas.clone());
            async move {
                for schema in schemas.iter() {
                    db.check_schema(schema).await?;
                }
                Ok(())
            }
        })
    }

    /// The NATS connection is up and answers a round trip.
    pub fn nats(self, nats: &Nats) -> Self {
        let nats = nats.clone();
        self.check("nats", move || {
            let nats = nats.clone();
            async move { nats.check().await }
        })
    }

    /// Redis (or KeyDB) answers a ping.
    pub fn redis(self, redis: &Redis) -> Self {
        let redis = redis.clone();
        self.check("redis", move || {
            let redis = redis.clone();
            async move { redis.check().await }
        })
    }

    /// Runs every check concurrently; returns `(name, Err(reason))` for those that failed.
    pub async fn run(&self) -> Vec<(&'static str, Result<(), String>)> {
        let timeout = self.timeout;
        let runs = self.checks.iter().map(|(name, check)| {
            let fut = check();
            async move {
                let result = match tokio::time::timeout(timeout, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                (*name, result)
            }
        });
        futures::future::join_all(runs).await
    }
}

pub async fn live() -> Json<Value> {
    Json(json!({ "status": "live" }))
}

pub async fn ready(State(readiness): State<Readiness>) -> Response {
    if readiness.shutdown.is_triggered() {
        // Load balancers must stop sending new work while in-flight requests drain.
        return Problem::unavailable("shutting_down", "the instance is draining", 1)
            .into_response();
    }
    let results = readiness.run().await;
    let mut checks = Map::new();
    let mut failed = Vec::new();
    for (name, result) in results {
        match result {
            Ok(()) => {
                checks.insert(name.to_owned(), json!("ok"));
            }
            Err(reason) => {
                tracing::warn!(dependency = name, %reason, "readiness check failed");
                checks.insert(name.to_owned(), json!(reason));
                failed.push(format!("{name}: {reason}"));
            }
        }
    }
    if failed.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": checks })),
        )
            .into_response()
    } else {
        Problem::unavailable("not_ready", failed.join("; "), 5)
            .with_extra(json!({ "checks": checks }))
            .into_response()
    }
}
