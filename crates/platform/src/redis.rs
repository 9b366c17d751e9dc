//! Redis/KeyDB through fred, with exponential reconnect and a key prefix per deployment (tests use
//! their own prefix so they can share one server).

use std::time::Duration;

use fred::prelude::{ClientLike, Config, ReconnectPolicy};
use secrecy::{ExposeSecret, SecretString};

use crate::{ConfigError, Env};

#[derive(Clone)]
pub struct RedisConfig {
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`); may carry a password, so it is a secret.
    pub url: SecretString,
    /// `REDIS_KEY_PREFIX` (default `gewebe:`).
    pub key_prefix: String,
}

impl RedisConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.secret_or("REDIS_URL", "redis://127.0.0.1:6379");
        Config::from_url(url.expose_secret())
            .map_err(|_| ConfigError::new("REDIS_URL", "is not a valid redis:// URL"))?;
        Ok(Self {
            url,
            key_prefix: env
                .raw("REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "gewebe:".to_owned()),
        })
    }
}

#[derive(Clone)]
pub struct Redis {
    pub client: fred::clients::Client,
    key_prefix: String,
}

impl Redis {
    /// Starts connecting and waits briefly; if the server is not there the client keeps
    /// reconnecting in the background and readiness reports it.
    pub async fn connect(config: &RedisConfig) -> Result<Self, fred::error::Error> {
        let redis_config = Config::from_url(config.url.expose_secret())?;
        let client = fred::types::Builder::from_config(redis_config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
            })
            // 0 = retry forever, 100 ms doubling up to 5 s.
            // Commands are queued while reconnecting; without a timeout a request would wait for
            // Redis to come back instead of failing (closed) at once.
            .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(1))
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()?;
        let _task = client.connect();
        if tokio::time::timeout(Duration::from_secs(2), client.wait_for_connect())
            .await
            .is_err()
        {
            tracing::warn!("redis not reachable yet; reconnecting in the background");
        }
        Ok(Self {
            client,
            key_prefix: config.key_prefix.clone(),
        })
    }

    /// A namespaced key: `<prefix><rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.key_prefix)
    }

    pub async fn check(&self) -> Result<(), String> {
        use fred::interfaces::ClientLike as _;
        let pong: String = self
            .client
            .ping(None)
            .await
            .map_err(|e| format!("ping failed: {:?}", e.kind()))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(format!("unexpected ping answer {pong:?}"))
        }
    }
}

pub use fred::error::Error as RedisError;
