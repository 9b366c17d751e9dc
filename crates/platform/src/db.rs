//! PostgreSQL: a pool for request traffic that is safe behind PgBouncer in transaction mode, and
//! direct connections for what needs a session (migrations' advisory lock, LISTEN).
//!
//! Why pooled work must go through [`Db::begin`]: sqlx names its prepared statements (`sqlx_s_N`)
//! even with the statement cache off, and never closes them then. Behind PgBouncer 1.18 (no
//! `max_prepared_statements`) a named statement outlives the transaction on the server connection,
//! and the next client that lands there collides with it ("prepared statement `sqlx_s_1` already
//! exists"); outside a transaction the parse and the execute can even land on different server
//! connections. So: the cache is off (nothing relies on a statement surviving a transaction),
//! every pooled query runs in a transaction, and each transaction starts with
//! `BEGIN; DEALLOCATE ALL` in one simple-protocol round trip, which clears whatever an earlier
//! transaction left on the server connection it was given. Directly connected, the extra
//! statement is a no-op.
//!
//! The same round trip sets `statement_timeout` for the transaction (`SET LOCAL`, so it cannot
//! leak to the next client of a PgBouncer server connection): a request that is dropped (client
//! gone, request timeout) leaves its query running on the server, and without a limit a few cheap
//! anonymous requests with expensive queries could hold every server connection.

use std::{str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool, Postgres, Transaction,
    migrate::{MigrateError, Migrator},
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};

use crate::{ConfigError, Env};

pub type Tx = Transaction<'static, Postgres>;

const BEGIN: &str = "BEGIN; DEALLOCATE ALL";

#[derive(Clone)]
pub struct DbConfig {
    /// `DATABASE_URL` — the pooled URL (PgBouncer, transaction mode, in production).
    pub url: SecretString,
    /// `DATABASE_DIRECT_URL` — straight to PostgreSQL, for migrations and LISTEN (default: `DATABASE_URL`).
    pub direct_url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS` — client connections to PgBouncer (default 10).
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS` — waiting for a pooled connection longer than this is an
    /// overload and answers 503 (default 2000).
    pub acquire_timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT_MS` — a pooled statement running longer is cancelled by
    /// PostgreSQL (SQLSTATE 57014, answered as 503) (default 5000).
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl DbConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.secret("DATABASE_URL")?;
        check_url("DATABASE_URL", &url)?;
        let direct_url = match env.raw("DATABASE_DIRECT_URL") {
            Some(v) => SecretString::from(v),
            None => url.clone(),
        };
        check_url("DATABASE_DIRECT_URL", &direct_url)?;
        Ok(Self {
            url,
            direct_url,
            max_connections: env.in_range("DATABASE_MAX_CONNECTIONS", 10, 1..=1000)?,
            acquire_timeout: env.millis("DATABASE_ACQUIRE_TIMEOUT_MS", 2_000)?,
            statement_timeout: Duration::from_millis(env.in_range(
                "DATABASE_STATEMENT_TIMEOUT_MS",
                5_000,
                100..=3_600_000,
            )?),
        })
    }

    pub fn new(url: &str, direct_url: &str) -> Self {
        Self {
            url: SecretString::from(url.to_owned()),
            direct_url: SecretString::from(direct_url.to_owned()),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

fn check_url(var: &str, url: &SecretString) -> Result<(), ConfigError> {
    // The message must not echo the URL: it may carry a password.
    let raw = url.expose_secret();
    if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
        return Err(ConfigError::new(var, "must be a postgres:// URL"));
    }
    PgConnectOptions::from_str(raw)
        .map(|_| ())
        .map_err(|_| ConfigError::new(var, "is not a valid postgres:// URL"))
}

/// The database handle services keep in their `App`.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    direct: PgConnectOptions,
    /// `BEGIN; DEALLOCATE ALL; SET LOCAL statement_timeout = …`, built once.
    begin: std::sync::Arc<str>,
}

impl Db {
    /// Creates the pool without connecting, so a service starts (and reports not-ready) while
    /// the database is still coming up.
    pub fn connect_lazy(config: &DbConfig, application_name: &str) -> Result<Self, sqlx::Error> {
        let pooled = PgConnectOptions::from_str(config.url.expose_secret())?
            .application_name(application_name)
            .statement_cache_capacity(0)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let direct = PgConnectOptions::from_str(config.direct_url.expose_secret())?
            .application_name(application_name);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(Duration::from_mins(5))
            // No ping per checkout: the pool talks to PgBouncer, which survives database restarts
            // itself; a dead client connection shows as one failed query, and the ping would cost a
            // round trip on every transaction.
            .test_before_acquire(false)
            .connect_lazy_with(pooled);
        let begin = format!(
            "{BEGIN}; SET LOCAL statement_timeout = {}",
            config.statement_timeout.as_millis()
        );
        Ok(Self {
            pool,
            direct,
            begin: begin.into(),
        })
    }

    /// Starts a transaction on a pooled connection; see the module docs for why it must be used.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.pool
            .begin_with(sqlx::AssertSqlSafe(self.begin.clone()))
            .await
    }

    /// [`Db::begin`] plus transaction-scoped settings in the same round trip, e.g.
    /// `"SET LOCAL jit = off"`. Only `SET LOCAL`: it ends with the transaction, so it cannot leak to
    /// the next client of a PgBouncer server connection.
    pub async fn begin_with(&self, settings: &'static str) -> Result<Tx, sqlx::Error> {
        self.pool
            .begin_with(sqlx::AssertSqlSafe(format!("{}; {settings}", self.begin)))
            .await
    }

    /// The raw pool, for tools and tests that need it. Request code uses [`Db::begin`].
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A dedicated session straight to PostgreSQL (not through PgBouncer).
    pub async fn direct(&self) -> Result<PgConnection, sqlx::Error> {
        self.direct.connect().await
    }

    /// LISTEN/NOTIFY needs a session; PgBouncer in transaction mode would drop the subscription.
    pub async fn listener(&self) -> Result<PgListener, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(self.direct.clone());
        PgListener::connect_with(&pool).await
    }

    /// Runs migrations on a direct connection: sqlx takes a session advisory lock for them.
    pub async fn migrate(&self, migrator: &Migrator) -> Result<(), MigrateError> {
        let mut conn = self.direct().await?;
        migrator.run(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    /// Readiness: a pooled round trip that also proves the service's schema is migrated.
    pub async fn check_schema(&self, schema: &str) -> Result<(), String> {
        let mut tx = self.begin().await.map_err(describe)?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
        )
        .bind(schema)
        .fetch_one(&mut *tx)
        .await
        .map_err(describe)?;
        tx.commit().await.map_err(describe)?;
        if exists {
            Ok(())
        } else {
            Err(format!(
                "schema {schema:?} is missing; run the service's `migrate` subcommand"
            ))
        }
    }
}

/// A service's migrations, kept in its own schema with its own bookkeeping table, so several
/// services can share one database without their `_sqlx_migrations` rows colliding.
///
/// Migrations the binary does not carry are tolerated: a newer release applied them, and under the
/// expand/contract rule an older binary still runs on that schema, so a rollback is not stopped in
/// its `migrate` prestart task (runbooks/release.md).
pub fn schema_migrator(mut migrator: Migrator, schema: &'static str) -> Migrator {
    migrator.create_schema(schema);
    migrator.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    migrator.set_ignore_missing(true);
    migrator
}

/// The answer to a request whose database work failed: 503 with `Retry-After` when the database is
/// only overloaded (no pooled connection in time: `database_busy`; cancelled by the transaction's
/// `statement_timeout`: `query_timeout`), else 500 with the error logged and nothing of it sent.
pub fn problem(e: &sqlx::Error) -> crate::Problem {
    match e {
        sqlx::Error::PoolTimedOut => {
            tracing::warn!("database pool exhausted");
            crate::Problem::unavailable("database_busy", "the database is busy; retry shortly", 1)
        }
        // SQLSTATE 57014 query_canceled: `DATABASE_STATEMENT_TIMEOUT_MS` ended the statement.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => {
            tracing::warn!("query cancelled by the statement timeout");
            crate::Problem::unavailable(
                "query_timeout",
                "the query took too long; retry shortly",
                1,
            )
        }
        other => {
            tracing::error!(error = %other, "request failed");
            crate::Problem::internal()
        }
    }
}

/// A short, credential-free description of a database error for readiness answers and logs.
pub fn describe(e: sqlx::Error) -> String {
    match e {
        sqlx::Error::PoolTimedOut => "no pooled connection available in time".to_owned(),
        sqlx::Error::Io(io) => format!("connection failed: {}", io.kind()),
        sqlx::Error::Database(db) => format!("database error {}", db.code().unwrap_or_default()),
        sqlx::Error::Tls(_) => "TLS handshake failed".to_owned(),
        other => other.to_string(),
    }
}

/// The text of `<crate>/sql/<name>.sql`, compiled in. Every query of a service lives in such a file
/// (the fleet's SQL convention): it reads as SQL, with an editor's highlighting, and each service's
/// test suite prepares every file against its migrated schema, so a renamed column fails the suite
/// rather than a user's request (`gewebe_testkit::sql`). The relay's files are templates over a
/// schema name and are loaded with `include_str!` and `gewebe_events::outbox::sql_for` instead.
#[macro_export]
macro_rules! sql {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/", $name, ".sql"))
    };
}
