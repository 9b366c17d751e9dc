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

use std::sync::Arc;

use axum::Router;
use gewebe_platform::{
    Shutdown, StartError, Startup, auth::JwtVerifier, http::Server, nats::Nats, redis::Redis,
    tickets::Tickets,
};

pub use config::Config;

pub type AppState = gewebe_platform::AppState<App>;

pub struct App {
    pub nats: Nats,
    pub redis: Redis,
    pub tickets: Tickets,
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

impl AsRef<JwtVerifier> for App {
    fn as_ref(&self) -> &JwtVerifier {
        &self.verifier
    }
}

/// Binds, connects, starts the hub and the forget consumer, and returns the server; `run()` it.
pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let start = Startup::bind(&config.http, shutdown).await?;
    let nats = Nats::connect(&config.nats, config::SERVICE).await?;
    let redis = Redis::connect(&config.redis).await?;
    let verifier = JwtVerifier::new(config.jwt.clone())?;
    let forgotten = Arc::new(forgotten::Forgotten::new(config.feed.replay_horizon));
    let tickets = Tickets::new(redis.clone(), "feed:ticket", config.feed.ticket_ttl);
    let state = AppState::new(App {
        nats,
        redis,
        tickets,
        verifier,
        hub: Arc::new(hub::Hub::new(config.feed.buffer, forgotten.clone())),
        connections: Arc::new(tokio::sync::Semaphore::new(config.feed.max_connections)),
        accounts: Arc::default(),
        addresses: Arc::default(),
        forgotten,
        metrics: metrics::FeedMetrics::register(&start.registry),
        shutdown: start.shutdown.clone(),
        config,
    });
    let shutdown = &start.shutdown;
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
        consumer.clone(),
        shutdown.clone(),
    ));
    let readiness = start
        .readiness()
        .flag("consumer", move || consumer.check())
        .nats(&state.nats)
        .redis(&state.redis);
    let (api, streams) = routers(state);
    Ok(start.serve_with_streams(api, streams, readiness))
}

/// gewebe-feed's routes: the requests that end (tickets, the OpenAPI document), and the responses
/// that stay open (the event stream), which the stack serves without compression.
pub fn routers(state: AppState) -> (Router, Router) {
    let (api, streams) = openapi::routers(tickets::router(), stream::router());
    (api.with_state(state.clone()), streams.with_state(state))
}
