//! How a service starts: its state handle, the one start error, and [`Startup`], which binds the
//! listener before anything else happens and puts the service's routers into the shared stack
//! (zero-to-production's `startup.rs`, crates.io's `AppState`).
//!
//! A service's `build()` reads the same everywhere:
//!
//! ```ignore
//! pub async fn build(config: Config, shutdown: Shutdown) -> Result<Server, StartError> {
//!     let start = Startup::bind(&config.http, shutdown).await?;   // a taken port fails here
//!     let state = AppState::new(App { .. });                      // connect, register metrics
//!     start.shutdown.every(PERIOD, ..);                           // background work
//!     let readiness = start.readiness().postgres(&state.db, &[SCHEMA]);
//!     Ok(start.serve(router(state), readiness))
//! }
//! ```

use std::{net::SocketAddr, ops::Deref, sync::Arc};

use axum::{Router, extract::FromRef};
use tokio::net::TcpListener;

use crate::{
    Shutdown,
    auth::JwtVerifier,
    http::{HttpConfig, MetricsRegistry, Readiness, Server},
};

/// The state of every router of a service: a cheap-to-clone handle on the service's `App`,
/// built once at start-up. Services name it `pub type AppState = gewebe_platform::AppState<App>;`.
pub struct AppState<A>(pub Arc<A>);

impl<A> AppState<A> {
    pub fn new(app: A) -> Self {
        Self(Arc::new(app))
    }
}

// Not derived: the derive would ask `A: Clone`, and the point is that the `App` is not cloned.
impl<A> Clone for AppState<A> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<A> Deref for AppState<A> {
    type Target = A;
    fn deref(&self) -> &A {
        &self.0
    }
}

/// Lets the auth extractors find the verifier in any service whose `App` holds one.
impl<A: AsRef<JwtVerifier>> FromRef<AppState<A>> for JwtVerifier {
    fn from_ref(state: &AppState<A>) -> Self {
        AsRef::<JwtVerifier>::as_ref(&*state.0).clone()
    }
}

/// Why a service could not start. Each is fatal and ends `serve` with its message; dependencies that
/// are merely not up yet are not start errors (the service starts and reports not-ready).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database settings: {0}")]
    Db(#[from] sqlx::Error),
    #[error("redis settings: {0}")]
    Redis(#[from] crate::redis::RedisError),
    #[error("NATS: {0}")]
    Nats(#[from] async_nats::ConnectError),
    #[error("binding the listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// Something only this service checks (the outbox schema, PostGIS, a hashing parameter).
    #[error("{what}: {source}")]
    Service {
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StartError {
    pub fn service(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Service {
            what,
            source: source.into(),
        }
    }
}

/// A service on its way up: the listener is bound first, so a port that is taken ends the start
/// before any task runs or any connection is opened; [`Startup::serve`] then wraps the service's
/// routers in the shared stack.
pub struct Startup {
    listener: TcpListener,
    http: HttpConfig,
    /// For the service's background tasks (`spawn`, `every`): they stop with the server.
    pub shutdown: Shutdown,
    /// Where the service registers its own metrics; served at `/metrics` with the HTTP ones.
    pub registry: MetricsRegistry,
}

impl Startup {
    pub async fn bind(http: &HttpConfig, shutdown: Shutdown) -> Result<Self, StartError> {
        let listener = Server::bind(http.bind).await?;
        Ok(Self {
            listener,
            http: http.clone(),
            shutdown,
            registry: MetricsRegistry::new(),
        })
    }

    /// Where the listener is bound (tests bind port 0 and read the port here).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// An empty readiness with the configured timeout; add the service's dependencies to it.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(self.http.ready_timeout, self.shutdown.clone())
    }

    /// The server for a service whose responses all end.
    pub fn serve(self, api: Router, readiness: Readiness) -> Server {
        self.serve_with_streams(api, Router::new(), readiness)
    }

    /// The server for a service that also holds long-lived responses (SSE, WebSockets); see
    /// [`crate::http::stack_with_streams`].
    pub fn serve_with_streams(self, api: Router, streams: Router, readiness: Readiness) -> Server {
        let router =
            crate::http::stack_with_streams(api, streams, &self.http, readiness, self.registry);
        Server::new(
            self.listener,
            router,
            self.shutdown,
            self.http.shutdown_deadline,
        )
    }
}
