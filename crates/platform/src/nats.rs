//! NATS with JetStream. Reconnects forever (async-nats' default backoff); readiness reports the
//! connection state and a round trip.

use std::time::Duration;

use async_nats::{ConnectOptions, connection::State, jetstream};

use crate::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// `NATS_URL` (default `nats://127.0.0.1:4222`).
    pub url: String,
    /// `NATS_SUBJECT_PREFIX` — first token of every subject and stream name (default `gewebe`);
    /// tests use their own so they can share one server.
    pub subject_prefix: String,
}

impl NatsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let subject_prefix = env
            .raw("NATS_SUBJECT_PREFIX")
            .unwrap_or_else(|| "gewebe".to_owned());
        if !subject_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::new(
                "NATS_SUBJECT_PREFIX",
                "may only contain ASCII letters, digits, '_' and '-'",
            ));
        }
        Ok(Self {
            url: env
                .raw("NATS_URL")
                .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned()),
            subject_prefix,
        })
    }
}

#[derive(Clone)]
pub struct Nats {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub subject_prefix: String,
}

impl Nats {
    /// Connects in the background if the server is not there yet, so the service starts and
    /// reports not-ready instead of crash-looping.
    pub async fn connect(
        config: &NatsConfig,
        name: &str,
    ) -> Result<Self, async_nats::ConnectError> {
        let client = ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .event_callback(|event| async move {
                tracing::info!(%event, "nats connection event");
            })
            .connect(&config.url)
            .await?;
        let jetstream = jetstream::new(client.clone());
        Ok(Self {
            client,
            jetstream,
            subject_prefix: config.subject_prefix.clone(),
        })
    }

    /// `<prefix>.<rest>`
    pub fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.subject_prefix)
    }

    pub async fn check(&self) -> Result<(), String> {
        if self.client.connection_state() != State::Connected {
            return Err("not connected".to_owned());
        }
        self.client
            .flush()
            .await
            .map_err(|e| format!("flush failed: {e}"))
    }
}
