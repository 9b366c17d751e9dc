//! gewebe-chat: conversations (a node's room, direct talks, groups) with messages that are
//! persisted, ordered by a gapless per-room seq, and live over WebSocket across instances. Every
//! route lives in a feature module that exports `router()`; they are merged in [`router`]. The live
//! path is `live` (between instances) and `hub` (to this instance's connections); `ws` is the
//! WebSocket; `consumer` applies other services' events.

pub mod config;
pub mod consumer;
pub mod conversations;
pub mod cursor;
pub mod error;
pub mod events;
pub mod hub;
pub mod live;
pub mod messages;
pub mod metrics;
mod openapi;
pub mod presence;
pub mod tickets;
pub mod validate;
pub mod ws;

use std::{sync::Arc, time::Duration};

use axum::Router;
use gewebe_events::{consumer::ConsumerHealth, outbox::Outbox};
use gewebe_platform::{
    Shutdown, StartError, Startup,
    auth::JwtVerifier,
    db::{Db, schema_migrator},
    http::Server,
    nats::Nats,
    redis::Redis,
    slots::Slots,
    tickets::Tickets,
};
use sqlx::migrate::Migrator;

pub use config::Config;

/// The schema gewebe-chat owns.
pub const SCHEMA: &str = "chat";

pub type AppState = gewebe_platform::AppState<App>;

/// Everything a handler and a connection may need, built once at start-up.
pub struct App {
    pub db: Db,
    pub nats: Nats,
    pub outbox: Outbox,
    pub verifier: JwtVerifier,
    pub tickets: Tickets,
    pub hub: hub::Hub,
    /// Connections this instance may still take.
    pub connections: Arc<tokio::sync::Semaphore>,
    pub accounts: Arc<Slots<uuid::Uuid>>,
    /// Messages per account (REST and sockets together).
    pub sends: gewebe_platform::limit::WriteLimiter,
    /// Asks geo whether a node exists before its room is made.
    pub geo_http: reqwest::Client,
    pub metrics: metrics::ChatMetrics,
    /// Forgotten accounts, as the event stream announces them: their connections close (4004).
    pub forgotten: tokio::sync::broadcast::Sender<uuid::Uuid>,
    /// Connections watch it: on shutdown they close with 1001.
    pub shutdown: Shutdown,
    /// This process among the chat instances (presence announcements name it).
    pub instance: uuid::Uuid,
    pub config: Config,
}

impl AsRef<JwtVerifier> for App {
    fn as_ref(&self) -> &JwtVerifier {
        &self.verifier
    }
}

/// Everything `migrate` applies, in order: the service's own tables, then its outbox.
pub fn migrators() -> Result<Vec<Migrator>, gewebe_events::outbox::OutboxError> {
    let own = schema_migrator(sqlx::migrate!("./migrations"), SCHEMA);
    gewebe_events::outbox::with_outbox(own, SCHEMA)
}

/// Binds, connects, starts the live subscription, the event-stream repair and the consumer, and
/// returns the server; `run()` it.
pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
    let start = Startup::bind(&config.http, shutdown).await?;
    let db = Db::connect_lazy(&config.db, config::SERVICE)?;
    let nats = Nats::connect(&config.nats, config::SERVICE).await?;
    let redis = Redis::connect(&config.redis).await?;
    let state = AppState::new(App {
        outbox: Outbox::new(SCHEMA, db.pool().clone())?,
        verifier: JwtVerifier::new(config.jwt.clone())?,
        tickets: Tickets::new(redis.clone(), "chat:ticket", config.chat.ticket_ttl),
        hub: hub::Hub::default(),
        connections: Arc::new(tokio::sync::Semaphore::new(config.chat.max_connections)),
        accounts: Arc::default(),
        sends: gewebe_platform::limit::WriteLimiter::new(config.chat.send_limit),
        geo_http: gewebe_platform::http_client(Duration::from_secs(2))?,
        metrics: metrics::ChatMetrics::register(&start.registry),
        forgotten: tokio::sync::broadcast::channel(1024).0,
        shutdown: start.shutdown.clone(),
        instance: uuid::Uuid::now_v7(),
        db,
        nats,
        config,
    });
    let shutdown = &start.shutdown;
    shutdown.spawn(live::subscribe(state.clone(), shutdown.clone()));
    shutdown.spawn(live::repair(state.clone(), "message.>", shutdown.clone()));
    shutdown.spawn(live::repair(state.clone(), "member.>", shutdown.clone()));
    shutdown.spawn(live::repair(
        state.clone(),
        "account.forgotten",
        shutdown.clone(),
    ));
    let consumer = ConsumerHealth::default();
    if state.config.chat.consume_events {
        shutdown.spawn(consumer::run(
            state.clone(),
            consumer.clone(),
            shutdown.clone(),
        ));
    }
    let readiness = start
        .readiness()
        .flag("consumer", move || consumer.check())
        .postgres(&state.db, &[SCHEMA])
        .nats(&state.nats)
        .redis(&redis);
    let (api, streams) = routers(state);
    Ok(start.serve_with_streams(api, streams, readiness))
}

/// gewebe-chat's routes: the requests that end, and the WebSocket, which the stack serves without
/// compression.
pub fn routers(state: AppState) -> (Router, Router) {
    let features = conversations::router()
        .merge(messages::router())
        .merge(tickets::router());
    let (api, streams) = openapi::routers(features, ws::router());
    (api.with_state(state.clone()), streams.with_state(state))
}
