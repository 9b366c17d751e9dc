//! gewebe-feed: the live feed over Server-Sent Events. One JetStream consumer per instance fans out
//! to the open streams whose topic and area filters match ([`hub`]); each stream resumes without
//! gaps from JetStream ([`stream`]) but no further back than the replay horizon; browsers
//! authenticate with single-use tickets ([`tickets`]); what one client may hold and take is in
//! [`limits`]; forgotten accounts' events are withheld ([`forgotten`]).

pub mod config;
pub mod error;
pub mod event;
pub mod filter;
pub mod forgotten;
pub mod hub;
pub mod limits;
pub mod metrics;
mod openapi;
pub mod pump;
pub mod stream;
pub mod tickets;

use std::{ops::Deref, sync::Arc};

use axum::Router;
use gewebe_platform::{
    Shutdown,
    auth::JwtVerifier,
    http::{MetricsRegistry, Readiness, Server},
    nats::Nats,
    redis::Redis,
};

pub use config::Config;

pub struct App {
    pub nats: Nats,
    pub redis: Redis,
    pub verifier: JwtVerifier,
    pub hub: Arc<hub::Hub>,
    /// Streams this instance may still open.
    pub connections: Arc<tokio::sync::Semaphore>,
    pub accounts: Arc<limits::Slots<uuid::Uuid>>,
    /// Open anonymous streams per address (IPv6 by /64).
    pub addresses: Arc<limits::Slots<std::net::IpAddr>>,
    pub forgotten: Arc<forgotten::Forgotten>,
    pub metrics: metrics::FeedMetrics,
    /// Streams watch it: on shutdown they end with a short retry hint.
    pub shutdown: Shutdown,
    pub config: Config,
}

impl axum::extract::FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("NATS: {0}")]
    Nats(#[from] async_nats::ConnectError),
    #[error("redis settings: {0}")]
    Redis(#[from] gewebe_platform::redis::RedisError),
    #[error("binding the listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("JWKS client: {0}")]
    Http(String),
}

pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let nats = Nats::connect(&config.nats, config::SERVICE).await?;
    let redis = Redis::connect(&config.redis).await?;
    let verifier =
        JwtVerifier::new(config.jwt.clone()).map_err(|e| StartError::Http(e.to_string()))?;
    let registry = MetricsRegistry::new();
    let forgotten = Arc::new(forgotten::Forgotten::new(config.feed.replay_horizon));
    let state = AppState(Arc::new(App {
        nats,
        redis,
        verifier,
        hub: Arc::new(hub::Hub::new(config.feed.buffer, forgotten.clone())),
        connections: Arc::new(tokio::sync::Semaphore::new(config.feed.max_connections)),
        accounts: Arc::default(),
        addresses: Arc::default(),
        forgotten,
        metrics: metrics::FeedMetrics::register(&registry),
        shutdown: shutdown.clone(),
        config,
    }));
    {
        let (app, stop) = (state.clone(), shutdown.clone());
        let js = state.nats.jetstream.clone();
        let name = gewebe_events::subjects::stream(&state.nats.subject_prefix);
        shutdown.spawn(async move { app.hub.run(js, name, stop).await });
    }
    // Start knowing who was forgotten; if Redis is away, replays are refused until a read works.
    if let Err(e) = forgotten::load(&state).await {
        tracing::warn!(error = %e, "forgotten accounts not read at start; replays refused until they are");
    }
    shutdown.spawn(forgotten::refresh(state.clone(), shutdown.clone()));
    let consumer = gewebe_events::consumer::ConsumerHealth::default();
    shutdown.spawn(forgotten::consume(
        state.clone(),
        state.nats.jetstream.clone(),
        state.nats.subject_prefix.clone(),
        consumer.clone(),
        shutdown.clone(),
    ));
    let readiness = Readiness::new(state.config.http.ready_timeout, shutdown.clone())
        .check("consumer", move || {
            let consumer = consumer.clone();
            async move { consumer.check() }
        })
        .check("nats", {
            let nats = state.nats.clone();
            move || {
                let nats = nats.clone();
                async move { nats.check().await }
            }
        })
        .check("redis", {
            let redis = state.redis.clone();
            move || {
                let redis = redis.clone();
                async move { redis.check().await }
            }
        });
    let listener = Server::bind(state.config.http.bind).await?;
    let router = gewebe_platform::http::stack_with_streams(
        router(state.clone()),
        streams(state.clone()),
        &state.config.http,
        readiness,
        registry,
    );
    Ok(Server::new(
        listener,
        router,
        shutdown,
        state.config.http.shutdown_deadline,
    ))
}

/// The requests that end: tickets and the OpenAPI document.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(openapi::router())
        .merge(tickets::router())
        .with_state(state)
}

/// The responses that stay open: the event stream.
pub fn streams(state: AppState) -> Router {
    stream::router().with_state(state)
}
