//! The transactional outbox: [`Outbox::record`] writes an event inside the caller's transaction, so
//! the change and its event commit or roll back together — no event without the write, no write
//! without the event. [`Outbox::commit`] commits and then wakes the relay.
//!
//! Why the relay is woken after the commit and not by a trigger inside the transaction: a
//! transaction that issued NOTIFY takes one lock for the whole PostgreSQL cluster at commit and holds
//! it until its commit record is flushed (PostgreSQL keeps notifications in commit order that way).
//! Every write with an event then committed one after the other, each waiting for its own WAL flush
//! under that lock: in `cargo xtask bench feed` at 500 node writes/s it doubled the median
//! `POST /geo/nodes` and tripled its 99th percentile. A `pg_notify` of its own writes nothing to the
//! WAL, so it holds the lock only for a moment. The notification is only a wake-up: if it is lost
//! (the process dies right after the commit), the relay's poll interval picks the rows up.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use sqlx::{
    AssertSqlSafe, PgConnection, PgPool, Postgres, SqlSafeStr, Transaction,
    migrate::{Migration, MigrationType, Migrator},
};
use tokio::sync::Notify;

use crate::{Envelope, subjects};

pub const NOTIFY_CHANNEL: &str = "gewebe_outbox";

const TEMPLATE: &str = include_str!("../sql/outbox.sql");
const NOTIFY_AFTER_COMMIT: &str = include_str!("../sql/outbox_notify_after_commit.sql");
const PENDING_AGGREGATE_IDX: &str = include_str!("../sql/outbox_pending_aggregate_idx.sql");
const RECORD_FUNCTION: &str = include_str!("../sql/outbox_record_function.sql");

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("schema name {0:?} must be lower-case ASCII letters, digits and '_'")]
    InvalidSchema(String),
    #[error("event type {0:?} cannot be a subject token")]
    InvalidEventType(String),
    #[error("serialising the envelope: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Schema names are spliced into SQL (identifiers cannot be bind parameters), so they are checked.
pub fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// SQL from a template with `__SCHEMA__` replaced by a validated schema name.
pub fn sql_for(template: &str, schema: &str) -> Result<String, OutboxError> {
    if !valid_schema(schema) {
        return Err(OutboxError::InvalidSchema(schema.to_owned()));
    }
    Ok(template.replace("__SCHEMA__", schema))
}

/// Everything a service's `migrate` applies, in order: its own migrations, then its outbox.
pub fn with_outbox(own: Migrator, schema: &str) -> Result<Vec<Migrator>, OutboxError> {
    Ok(vec![own, migrator(schema)?])
}

impl From<OutboxError> for gewebe_platform::StartError {
    fn from(e: OutboxError) -> Self {
        Self::service("outbox", e)
    }
}

/// The outbox tables of `schema`, as migrations kept in `<schema>._outbox_migrations` (apart from
/// the service's own, so both evolve independently). Run with `Db::migrate` after the service's own.
pub fn migrator(schema: &str) -> Result<Migrator, OutboxError> {
    let migration = |version, name: &str, template| -> Result<Migration, OutboxError> {
        Ok(Migration::new(
            version,
            name.to_owned().into(),
            MigrationType::Simple,
            AssertSqlSafe(sql_for(template, schema)?).into_sql_str(),
            false,
        ))
    };
    let mut migrator = Migrator::with_migrations(vec![
        migration(1, "outbox", TEMPLATE)?,
        migration(2, "notify after commit", NOTIFY_AFTER_COMMIT)?,
        migration(3, "pending aggregate index", PENDING_AGGREGATE_IDX)?,
        migration(4, "record function", RECORD_FUNCTION)?,
    ]);
    // As `gewebe_platform::db::schema_migrator`: an older binary tolerates newer outbox migrations.
    migrator.set_ignore_missing(true);
    migrator.create_schema(schema.to_owned());
    migrator.dangerous_set_table_name(format!("{schema}._outbox_migrations"));
    Ok(migrator)
}

/// A service's outbox writer.
#[derive(Debug, Clone)]
pub struct Outbox {
    insert: String,
    insert_many: String,
    wake: Arc<Wake>,
}

/// Wakes the relay after commits, from one task per outbox: commits in a burst share one
/// notification (a [`Notify`] holds at most one permit), and a request never waits for it.
#[derive(Debug)]
struct Wake {
    pool: PgPool,
    sql: String,
    notify: Arc<Notify>,
    closed: Arc<AtomicBool>,
    started: std::sync::Once,
}

impl Wake {
    fn nudge(&self) {
        self.started.call_once(|| {
            // Only ever called after an awaited commit, so inside a runtime; without one the relay
            // still finds the rows at its next poll.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let (pool, sql) = (self.pool.clone(), self.sql.clone());
            let (notify, closed) = (self.notify.clone(), self.closed.clone());
            runtime.spawn(async move {
                loop {
                    notify.notified().await;
                    if closed.load(Ordering::Acquire) {
                        return;
                    }
                    // A simple query on its own: no prepared statement is left on the PgBouncer
                    // server connection, and it needs no transaction of ours.
                    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql.as_str()))
                        .execute(&pool)
                        .await
                    {
                        tracing::warn!(error = %e, "waking the relay failed; it finds the rows at its next poll");
                    }
                }
            });
        });
        self.notify.notify_one();
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

impl Outbox {
    /// The writer for `schema`'s outbox; `pool` carries the wake-ups for the relay after commits.
    pub fn new(schema: &str, pool: PgPool) -> Result<Self, OutboxError> {
        let insert = sql_for(
            "INSERT INTO __SCHEMA__.outbox \
             (id, event_type, aggregate_type, aggregate_id, aggregate_version, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            schema,
        )?;
        // One round trip for many events, in the given order (ordinality keeps `seq` in that order).
        let insert_many = sql_for(
            "INSERT INTO __SCHEMA__.outbox \
             (id, event_type, aggregate_type, aggregate_id, aggregate_version, payload) \
             SELECT id, event_type, aggregate_type, aggregate_id, aggregate_version, payload \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::int8[], $6::bytea[]) \
             WITH ORDINALITY AS e(id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, n) \
             ORDER BY n",
            schema,
        )?;
        let sql = format!("SELECT pg_notify('{NOTIFY_CHANNEL}', '{schema}')");
        Ok(Self {
            insert,
            insert_many,
            wake: Arc::new(Wake {
                pool,
                sql,
                notify: Arc::new(Notify::new()),
                closed: Arc::new(AtomicBool::new(false)),
                started: std::sync::Once::new(),
            }),
        })
    }

    /// Commits a transaction that recorded events, then wakes the relay (without waiting for it).
    /// A plain `tx.commit()` loses nothing either: its events go out at the relay's next poll.
    pub async fn commit(&self, tx: Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.wake.nudge();
        Ok(())
    }

    /// Records several events in the caller's transaction with one statement, in slice order.
    pub async fn record_many(
        &self,
        conn: &mut PgConnection,
        envelopes: &[Envelope],
    ) -> Result<(), OutboxError> {
        let mut ids = Vec::with_capacity(envelopes.len());
        let mut types = Vec::with_capacity(envelopes.len());
        let mut kinds = Vec::with_capacity(envelopes.len());
        let mut aggregates = Vec::with_capacity(envelopes.len());
        let mut versions = Vec::with_capacity(envelopes.len());
        let mut payloads = Vec::with_capacity(envelopes.len());
        for e in envelopes {
            if !subjects::valid_event_type(&e.event_type) {
                return Err(OutboxError::InvalidEventType(e.event_type.clone()));
            }
            ids.push(e.id);
            types.push(e.event_type.clone());
            kinds.push(e.aggregate.kind.clone());
            aggregates.push(e.aggregate.id);
            versions.push(e.aggregate.version);
            payloads.push(e.to_vec()?);
        }
        sqlx::query(AssertSqlSafe(self.insert_many.as_str()))
            .bind(ids)
            .bind(types)
            .bind(kinds)
            .bind(aggregates)
            .bind(versions)
            .bind(payloads)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Records `envelope` in the caller's transaction (`&mut *tx`).
    pub async fn record(
        &self,
        conn: &mut PgConnection,
        envelope: &Envelope,
    ) -> Result<(), OutboxError> {
        if !subjects::valid_event_type(&envelope.event_type) {
            return Err(OutboxError::InvalidEventType(envelope.event_type.clone()));
        }
        let payload = envelope.to_vec()?;
        sqlx::query(AssertSqlSafe(self.insert.as_str()))
            .bind(envelope.id)
            .bind(&envelope.event_type)
            .bind(&envelope.aggregate.kind)
            .bind(envelope.aggregate.id)
            .bind(envelope.aggregate.version)
            .bind(payload)
            .execute(conn)
            .await?;
        Ok(())
    }
}
