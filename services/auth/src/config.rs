//! gewebe-auth's configuration, from the environment (see the README's table).

use std::time::Duration;

use gewebe_platform::{
    ConfigError, Env, auth::JwtConfig, db::DbConfig, http::HttpConfig, main_loop::ServiceConfig,
    redis::RedisConfig, telemetry::TelemetryConfig,
};

pub const SERVICE: &str = "gewebe-auth";
pub const DEFAULT_PORT: u16 = 8081;

#[derive(Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub db: DbConfig,
    pub redis: RedisConfig,
    pub telemetry: TelemetryConfig,
    /// The tokens auth issues and verifies (`JWT_ISSUER`, `JWT_AUDIENCE`, ...); `JWKS_URL`
    /// defaults to auth's own JWKS route (see [`JwtConfig::for_issuer_from_env`]).
    pub jwt: JwtConfig,
    pub keys: KeysConfig,
    pub accounts: AccountsConfig,
    pub throttle: ThrottleConfig,
    pub audit: AuditConfig,
}

/// Anchors of the audit chain outside the database (see `audit::anchor`).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `AUTH_AUDIT_ANCHOR_PATH` — file `serve` appends signed anchors to and `audit verify` checks
    /// against (default: none, no anchoring).
    pub anchor_path: Option<std::path::PathBuf>,
    /// `AUTH_AUDIT_ANCHOR_INTERVAL_SECS` (300): how often `serve` anchors the head when it moved.
    pub anchor_interval: Duration,
}

impl AuditConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            anchor_path: env.raw("AUTH_AUDIT_ANCHOR_PATH").map(Into::into),
            anchor_interval: Duration::from_secs(env.in_range(
                "AUTH_AUDIT_ANCHOR_INTERVAL_SECS",
                300,
                1..=86_400,
            )?),
        })
    }
}

/// Brute-force limits (see `throttle`).
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// `AUTH_LOGIN_MAX_FAILURES` (5): attempts per account and address (IPv6: /64) tolerated within
    /// the window; counted before hashing, refunded on success.
    pub login_max_failures: u32,
    /// `AUTH_LOGIN_WINDOW_SECS` (60).
    pub login_window: Duration,
    /// `AUTH_LOGIN_BLOCK_SECS` (300): how long a pair stays locked after too many failures.
    pub login_block: Duration,
    /// `AUTH_LOGIN_IP_MAX_FAILURES` (50): attempts per address across all accounts within the window.
    pub login_ip_max_failures: u32,
    /// `AUTH_LOGIN_ACCOUNT_FREE_FAILURES` (10): attempts per account across all addresses within
    /// `AUTH_LOGIN_ACCOUNT_WINDOW_SECS` (900, sliding) before its progressive delay starts.
    pub account_free_failures: u32,
    pub account_window: Duration,
    /// `AUTH_LOGIN_ACCOUNT_MAX_DELAY_SECS` (60): the delay doubles from 1 s up to this.
    pub account_max_delay: Duration,
    /// `AUTH_LOGIN_KNOWN_ADDRESS_DAYS` (30): an address an account logged in from stays exempt
    /// from the account's delay this long after the last success there.
    pub known_address_ttl: Duration,
    /// `AUTH_LOGIN_AUDIT_WINDOW_SECS` (900): failed logins are audited as one entry per account
    /// and window, with their count.
    pub audit_window: Duration,
    /// `AUTH_REGISTER_MAX_PER_IP` (10) registrations per IP per `AUTH_REGISTER_WINDOW_SECS` (3600).
    pub register_max_per_ip: u32,
    pub register_window: Duration,
}

impl ThrottleConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            login_max_failures: env.in_range("AUTH_LOGIN_MAX_FAILURES", 5, 1..=1000)?,
            login_window: Duration::from_secs(env.in_range(
                "AUTH_LOGIN_WINDOW_SECS",
                60,
                1..=86_400,
            )?),
            login_block: Duration::from_secs(env.in_range(
                "AUTH_LOGIN_BLOCK_SECS",
                300,
                1..=86_400,
            )?),
            login_ip_max_failures: env.in_range("AUTH_LOGIN_IP_MAX_FAILURES", 50, 1..=1_000_000)?,
            account_free_failures: env.in_range(
                "AUTH_LOGIN_ACCOUNT_FREE_FAILURES",
                10,
                1..=100_000,
            )?,
            account_window: Duration::from_secs(env.in_range(
                "AUTH_LOGIN_ACCOUNT_WINDOW_SECS",
                900,
                1..=86_400,
            )?),
            account_max_delay: Duration::from_secs(env.in_range(
                "AUTH_LOGIN_ACCOUNT_MAX_DELAY_SECS",
                60,
                1..=3600,
            )?),
            known_address_ttl: Duration::from_secs(
                86_400 * env.in_range("AUTH_LOGIN_KNOWN_ADDRESS_DAYS", 30, 1..=365)?,
            ),
            audit_window: Duration::from_secs(env.in_range(
                "AUTH_LOGIN_AUDIT_WINDOW_SECS",
                900,
                1..=86_400,
            )?),
            register_max_per_ip: env.in_range("AUTH_REGISTER_MAX_PER_IP", 10, 1..=1_000_000)?,
            register_window: Duration::from_secs(env.in_range(
                "AUTH_REGISTER_WINDOW_SECS",
                3600,
                1..=604_800,
            )?),
        })
    }
}

/// Passwords and access tokens.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// `AUTH_ARGON2_M_KIB`, `AUTH_ARGON2_T`, `AUTH_ARGON2_P` — argon2id cost; at least OWASP's
    /// m = 19 MiB, t = 2, p = 1 (the defaults). Raising them rehashes at the next login.
    pub argon2_m_kib: u32,
    pub argon2_t: u32,
    pub argon2_p: u32,
    /// `ACCESS_TOKEN_TTL_SECS` — access-token lifetime (default 900 = 15 minutes).
    pub access_ttl: Duration,
    /// `AUTH_REFRESH_TTL_DAYS` — refresh-token lifetime (default 30).
    pub refresh_ttl: Duration,
    /// `AUTH_REFRESH_GRACE_SECS` — a concurrent refresh within this window gets the same successor
    /// instead of revoking the session (default 10, at most 10).
    pub refresh_grace: Duration,
    /// `AUTH_HASH_CONCURRENCY` — argon2 hashes running at once (default 2 × the cores); beyond it
    /// logins and registrations get `503 overloaded` at once.
    pub hash_concurrency: usize,
    /// `AUTH_HOUSEKEEPING_INTERVAL_SECS` (60) — how often sealed refresh successors past the grace
    /// window are erased and closed windows of failed logins are written to the audit log.
    pub housekeeping_interval: Duration,
}

impl AccountsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            argon2_m_kib: env.in_range("AUTH_ARGON2_M_KIB", 19_456, 19_456..=4 * 1024 * 1024)?,
            argon2_t: env.in_range("AUTH_ARGON2_T", 2, 2..=100)?,
            argon2_p: env.in_range("AUTH_ARGON2_P", 1, 1..=64)?,
            access_ttl: Duration::from_secs(env.in_range(
                "ACCESS_TOKEN_TTL_SECS",
                900,
                60..=86_400,
            )?),
            refresh_ttl: Duration::from_secs(
                86_400 * env.in_range("AUTH_REFRESH_TTL_DAYS", 30, 1..=365)?,
            ),
            refresh_grace: Duration::from_secs(env.in_range(
                "AUTH_REFRESH_GRACE_SECS",
                10,
                0..=10,
            )?),
            hash_concurrency: env.in_range(
                "AUTH_HASH_CONCURRENCY",
                default_hash_concurrency(),
                1..=4096,
            )?,
            housekeeping_interval: Duration::from_secs(env.in_range(
                "AUTH_HOUSEKEEPING_INTERVAL_SECS",
                60,
                1..=3600,
            )?),
        })
    }
}

/// Two hashes per core keep the cores busy while one waits to be scheduled, and cap memory at
/// `2 × cores × AUTH_ARGON2_M_KIB`.
fn default_hash_concurrency() -> usize {
    2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Signing keys and the tokens they sign.
#[derive(Clone)]
pub struct KeysConfig {
    /// `AUTH_KEK` — base64 of 32 random bytes; seals the private signing keys (AES-256-GCM).
    pub kek: std::sync::Arc<secrecy::SecretBox<[u8; 32]>>,
    /// `AUTH_KEY_ROTATION_DAYS` — a key older than this is replaced automatically (default 180).
    pub rotate_after: Duration,
    /// `AUTH_KEY_OVERLAP_DAYS` — a superseded key stays in the JWKS this long (default 14).
    pub overlap: Duration,
}

impl KeysConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            kek: env.key32("AUTH_KEK")?,
            rotate_after: Duration::from_secs(
                86_400 * env.in_range("AUTH_KEY_ROTATION_DAYS", 180, 1..=3650)?,
            ),
            overlap: Duration::from_secs(
                86_400 * env.in_range("AUTH_KEY_OVERLAP_DAYS", 14, 1..=365)?,
            ),
        })
    }
}

impl ServiceConfig for Config {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            db: DbConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            jwt: JwtConfig::for_issuer_from_env(env)?,
            keys: KeysConfig::from_env(env)?,
            accounts: AccountsConfig::from_env(env)?,
            throttle: ThrottleConfig::from_env(env)?,
            audit: AuditConfig::from_env(env)?,
        })
    }
}
