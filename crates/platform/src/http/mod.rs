//! The HTTP stack every service runs behind, and the server loop with graceful shutdown.

pub mod client_ip;
mod coalesce;
pub mod context;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod problem;
mod serve;

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;
use tower::{BoxError, ServiceBuilder};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
};

pub use health::Readiness;
pub use metrics::MetricsRegistry;

use crate::{ConfigError, Env, Problem, Shutdown};

/// HTTP settings shared by all services.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `BIND_ADDR` — where the service listens (port 0 picks a free port).
    pub bind: SocketAddr,
    /// `HTTP_BODY_LIMIT_BYTES` — larger request bodies get 413 (default 64 KiB).
    pub body_limit: usize,
    /// `HTTP_REQUEST_TIMEOUT_MS` — a handler that takes longer gets 503 `timeout` (default 10 s).
    pub request_timeout: Duration,
    /// `HTTP_CONCURRENCY_LIMIT` — requests handled at once; beyond it 503 + Retry-After at once.
    pub concurrency_limit: usize,
    /// `HTTP_RETRY_AFTER_SECS` — the Retry-After sent with overload answers (default 1).
    pub retry_after_secs: u32,
    /// `CORS_ALLOWED_ORIGINS` — comma-separated origins allowed to call with credentials.
    pub cors_origins: Vec<HeaderValue>,
    /// `SHUTDOWN_DEADLINE_SECS` — how long in-flight work may drain after SIGTERM (default 25 s,
    /// below Nomad's default 30 s kill timeout).
    pub shutdown_deadline: Duration,
    /// `READY_CHECK_TIMEOUT_MS` — per-dependency timeout of `/health/ready` (default 1 s).
    pub ready_timeout: Duration,
    /// `TRUSTED_PROXIES` — comma-separated addresses or CIDR ranges of proxies (Caddy) whose
    /// `X-Forwarded-For` is believed (default `127.0.0.1/32,::1/128`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl HttpConfig {
    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        let cors_origins = env
            .list("CORS_ALLOWED_ORIGINS")
            .into_iter()
            .map(|o| {
                if o == "*" {
                    return Err(ConfigError::new(
                        "CORS_ALLOWED_ORIGINS",
                        "\"*\" is not allowed with credentials; list the origins",
                    ));
                }
                HeaderValue::from_str(&o).map_err(|_| {
                    ConfigError::new("CORS_ALLOWED_ORIGINS", format!("invalid origin {o:?}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            bind: env.or(
                "BIND_ADDR",
                SocketAddr::from(([127, 0, 0, 1], default_port)),
            )?,
            body_limit: env.in_range("HTTP_BODY_LIMIT_BYTES", 64 * 1024, 1..=64 * 1024 * 1024)?,
            request_timeout: Duration::from_millis(env.in_range(
                "HTTP_REQUEST_TIMEOUT_MS",
                10_000,
                1..=600_000,
            )?),
            concurrency_limit: env.in_range("HTTP_CONCURRENCY_LIMIT", 512, 1..=1_000_000)?,
            retry_after_secs: env.in_range("HTTP_RETRY_AFTER_SECS", 1, 1..=3600)?,
            cors_origins,
            shutdown_deadline: env.secs("SHUTDOWN_DEADLINE_SECS", 25)?,
            ready_timeout: env.millis("READY_CHECK_TIMEOUT_MS", 1_000)?,
            trusted_proxies: client_ip::trusted_proxies_from_env(env)?,
        })
    }

    /// Defaults for tests and tools: loopback, port 0.
    pub fn local() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            concurrency_limit: 512,
            retry_after_secs: 1,
            cors_origins: Vec::new(),
            shutdown_deadline: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(1),
            trusted_proxies: client_ip::loopback(),
        }
    }
}

/// Wraps a service's API router in the shared stack and adds health and metrics routes.
///
/// Health and metrics sit outside load shedding and the body limit: an overloaded instance must
/// still answer its liveness probe, or the scheduler would restart it exactly when it is busiest.
pub fn stack(
    api: Router,
    config: &HttpConfig,
    readiness: Readiness,
    registry: MetricsRegistry,
) -> Router {
    stack_with_streams(api, Router::new(), config, readiness, registry)
}

/// [`stack`] for a service that also holds long-lived responses (SSE, WebSockets): `streams` get
/// every layer except compression. tower-http's compressed body keeps room for its encoders
/// (about 6 KiB) in every response it wraps, even one it does not compress, and a stream keeps
/// its response for hours; event streams are not compressed anyway.
pub fn stack_with_streams(
    api: Router,
    streams: Router,
    config: &HttpConfig,
    readiness: Readiness,
    registry: MetricsRegistry,
) -> Router {
    let http_metrics = metrics::HttpMetrics::register(&registry);
    let retry_after = config.retry_after_secs;

    let guard = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |err: BoxError| async move {
            overload_response(&err, retry_after)
        }))
        .load_shed()
        // Global: `Router::layer` clones the layer per route, and the limit must be per instance
        // (the clone for `streams` shares it too).
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            config.concurrency_limit,
        ))
        .timeout(config.request_timeout)
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(DefaultBodyLimit::max(config.body_limit));

    let ops = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready).with_state(readiness))
        .route("/metrics", get(metrics::handler).with_state(registry));

    let request_id = HeaderName::from_static(context::REQUEST_ID_HEADER);
    let mut router = api
        .layer(guard.clone())
        .merge(ops)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CompressionLayer::new())
        .merge(streams.layer(guard))
        .layer(CatchPanicLayer::custom(context::panic_response))
        .layer(axum::Extension(client_ip::TrustedProxies::new(
            config.trusted_proxies.clone(),
        )));
    if let Some(cors) = cors_layer(&config.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            context::middleware,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(
            request_id,
            context::MakeRequestUuidV7,
        ))
        .layer(axum::middleware::map_request(
            |mut req: axum::extract::Request| async move {
                context::sanitize_incoming(&mut req);
                req
            },
        ))
}

fn overload_response(err: &BoxError, retry_after: u32) -> Response {
    if err.is::<tower::load_shed::error::Overloaded>() {
        Problem::unavailable(
            "overloaded",
            "the service is at its concurrency limit",
            retry_after,
        )
        .into_response()
    } else if err.is::<tower::timeout::error::Elapsed>() {
        Problem::unavailable(
            "timeout",
            "the request took longer than the server allows",
            retry_after,
        )
        .into_response()
    } else {
        tracing::error!(error = %err, "unexpected middleware error");
        Problem::internal().into_response()
    }
}

async fn not_found() -> Problem {
    Problem::not_found("no route matches this path")
}

async fn method_not_allowed() -> Problem {
    Problem::from_status(axum::http::StatusCode::METHOD_NOT_ALLOWED)
        .with_detail("this path does not support the request method")
}

fn cors_layer(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static(context::REQUEST_ID_HEADER),
                HeaderName::from_static("traceparent"),
            ])
            .expose_headers([
                HeaderName::from_static(context::REQUEST_ID_HEADER),
                header::ETAG,
                header::RETRY_AFTER,
                header::LOCATION,
            ])
            .max_age(Duration::from_mins(10)),
    )
}

/// A bound listener and the router to serve on it (zero-to-production's `Application`):
/// binding happens before `run`, so tests can bind port 0 and read the port back.
pub struct Server {
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    deadline: Duration,
}

/// A server running on a background task, for tests and tools.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Triggers shutdown and waits for the drain.
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.trigger();
        self.handle.await.map_err(std::io::Error::other)?
    }
}

impl Server {
    pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    pub fn new(
        listener: TcpListener,
        router: Router,
        shutdown: Shutdown,
        deadline: Duration,
    ) -> Self {
        Self {
            listener,
            router,
            shutdown,
            deadline,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    pub fn spawn(self) -> std::io::Result<RunningServer> {
        let addr = self.local_addr()?;
        let shutdown = self.shutdown.clone();
        let handle = tokio::spawn(self.run());
        Ok(RunningServer {
            addr,
            shutdown,
            handle,
        })
    }

    /// Serves until shutdown is triggered, then stops accepting and lets in-flight requests and
    /// tracked tasks finish until the deadline. Returns `Ok` after a clean or deadline-cut drain.
    pub async fn run(self) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            shutdown,
            deadline,
        } = self;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening");
        let serve = serve::serve(listener, router, shutdown.token());
        let mut serve = std::pin::pin!(serve);

        // `serve` only ends once the signal fired; it must keep being polled until then, and must
        // not be polled again once it has ended.
        let drained = tokio::select! {
            () = &mut serve => true,
            () = shutdown.cancelled() => false,
        };
        let started = tokio::time::Instant::now();
        if !drained && tokio::time::timeout(deadline, &mut serve).await.is_err() {
            tracing::warn!(
                deadline_secs = deadline.as_secs(),
                "drain deadline passed; closing remaining connections"
            );
        }
        let left = deadline.saturating_sub(started.elapsed());
        let unfinished = shutdown.drain_tasks(left).await;
        if unfinished > 0 {
            tracing::warn!(unfinished, "background tasks still running at the deadline");
        }
        tracing::info!("shutdown complete");
        Ok(())
    }
}
