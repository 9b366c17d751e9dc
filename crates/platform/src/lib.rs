//! What every gewebe service shares, so that a service crate holds only its own domain.
//!
//! A service's `main.rs` is [`main_loop::main`] over its subcommands; its `lib.rs` has a `build()`
//! that binds with [`Startup::bind`], builds its `App` behind an [`AppState`], starts its background
//! work on the [`Shutdown`] signal, and hands its routers and readiness checks to
//! [`Startup::serve`]. Everything else (request ids, problem+json errors, limits, load shedding,
//! metrics, health, graceful shutdown) comes from here.

pub mod auth;
pub mod config;
pub mod db;
pub mod http;
pub mod limit;
pub mod main_loop;
pub mod nats;
pub mod redis;
pub mod shutdown;
pub mod slots;
pub mod startup;
pub mod telemetry;
pub mod tickets;

pub use config::{ConfigError, Env};
pub use http::problem::{FieldError, Problem};
pub use shutdown::Shutdown;
pub use startup::{AppState, StartError, Startup};

/// An HTTP client for service-to-service calls: rustls (ring), short timeouts.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("gewebe/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// rustls needs one process-wide crypto provider; we use ring everywhere (no C toolchain for
/// aws-lc). Installing twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
