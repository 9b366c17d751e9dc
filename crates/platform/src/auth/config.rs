//! Where the verifier finds the keys and what it accepts, from the environment.

use std::time::Duration;

use crate::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// `JWKS_URL` — the auth service's key set.
    pub jwks_url: String,
    /// `JWT_ISSUER` (default `gewebe-auth`).
    pub issuer: String,
    /// `JWT_AUDIENCE` (default `gewebe`).
    pub audience: String,
    /// `JWKS_REFRESH_MIN_INTERVAL_SECS` — at most one refetch per interval (default 30).
    pub refresh_min_interval: Duration,
    /// `JWKS_CACHE_TTL_SECS` — keys are refetched when older than this (default 300).
    pub cache_ttl: Duration,
    /// `JWT_LEEWAY_SECS` — clock skew tolerated on `exp` (default 30).
    pub leeway_secs: u64,
}

impl JwtConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let jwks_url: String = env.required("JWKS_URL")?;
        if jwks_url.is_empty() {
            return Err(ConfigError::new("JWKS_URL", "must not be empty"));
        }
        Self::parse(env, jwks_url, 30)
    }

    /// For gewebe-auth, which verifies its own tokens: `JWKS_URL` may be unset (the URL stays
    /// empty until the service knows its port; see [`JwtConfig::or_local`]), and an unknown key id
    /// may be refetched after 5 s rather than 30, because a key that auth rotated itself must
    /// verify soon on every instance.
    pub fn for_issuer_from_env(env: &Env) -> Result<Self, ConfigError> {
        let jwks_url: Option<String> = env.optional("JWKS_URL")?;
        Self::parse(env, jwks_url.unwrap_or_default(), 5)
    }

    /// Fills in an unset JWKS URL with the service's own route at `addr`.
    #[must_use]
    pub fn or_local(mut self, addr: std::net::SocketAddr) -> Self {
        if self.jwks_url.is_empty() {
            self.jwks_url = format!("http://127.0.0.1:{}/.well-known/jwks.json", addr.port());
        }
        self
    }

    fn parse(env: &Env, jwks_url: String, refresh_default_secs: u64) -> Result<Self, ConfigError> {
        if !(jwks_url.is_empty()
            || jwks_url.starts_with("http://")
            || jwks_url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "JWKS_URL",
                "must be an http:// or https:// URL",
            ));
        }
        Ok(Self {
            jwks_url,
            issuer: env
                .raw("JWT_ISSUER")
                .unwrap_or_else(|| "gewebe-auth".to_owned()),
            audience: env
                .raw("JWT_AUDIENCE")
                .unwrap_or_else(|| "gewebe".to_owned()),
            // At least a second: an unknown `kid` must not make every request fetch the JWKS.
            refresh_min_interval: Duration::from_secs(env.in_range(
                "JWKS_REFRESH_MIN_INTERVAL_SECS",
                refresh_default_secs,
                1..=3600,
            )?),
            cache_ttl: Duration::from_secs(env.in_range("JWKS_CACHE_TTL_SECS", 300, 1..=86_400)?),
            leeway_secs: env.in_range("JWT_LEEWAY_SECS", 30, 0..=300)?,
        })
    }
}
