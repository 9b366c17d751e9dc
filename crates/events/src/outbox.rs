//! The transactional outbox: [`Outbox::record`] writes an event inside the caller's transaction, so
//! the change and its event commit or roll back together — no event without the write, no write
//! without the event.

use sqlx::{
    AssertSqlSafe, PgConnection, SqlSafeStr,
    migrate::{Migration, MigrationType, Migrator},
};

use crate::{Envelope, subjects};

pub const NOTIFY_CHANNEL: &str = "gewebe_outbox";

const TEMPLATE: &str = include_str!("../sql/outbox.sql");

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

/// The outbox tables of `schema`, as migrations kept in `<schema>._outbox_migrations` (apart from
/// the service's own, so both evolve independently). Run with `Db::migrate` after the service's own.
pub fn migrator(schema: &str) -> Result<Migrator, OutboxError> {
    let sql = sql_for(TEMPLATE, schema)?;
    let migration = Migration::new(
        1,
        "outbox".into(),
        MigrationType::Simple,
        AssertSqlSafe(sql).into_sql_str(),
        false,
    );
    let mut migrator = Migrator::with_migrations(vec![migration]);
    migrator.create_schema(schema.to_owned());
    migrator.dangerous_set_table_name(format!("{schema}._outbox_migrations"));
    Ok(migrator)
}

/// A service's outbox writer.
#[derive(Debug, Clone)]
pub struct Outbox {
    insert: String,
    insert_many: String,
}

impl Outbox {
    pub fn new(schema: &str) -> Result<Self, OutboxError> {
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
        Ok(Self {
            insert,
            insert_many,
        })
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
