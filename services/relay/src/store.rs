//! The relay's SQL, one set per relayed schema. Each function takes the caller's connection: the
//! leader's own session for [`SchemaSql::claim`], a pooled transaction from `Db::begin` for the rest.

use gewebe_events::outbox::{OutboxError, sql_for};
use sqlx::{AssertSqlSafe, FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Row {
    pub seq: i64,
    pub id: Uuid,
    pub event_type: String,
    pub aggregate_id: Uuid,
    pub payload: Vec<u8>,
    /// From the claim: a later version of this aggregate is pending too, so the leader reads again
    /// at once instead of waiting for the next notification.
    #[sqlx(default)]
    pub queued_behind: bool,
}

/// The SQL of `sql/*.sql` with one schema filled in (identifiers cannot be bind parameters).
#[derive(Debug, Clone)]
pub struct SchemaSql {
    pub schema: String,
    claim: String,
    mark_published: String,
    note_failure: String,
    quarantine: String,
    prune: String,
    replay: String,
    stats: String,
}

impl SchemaSql {
    pub fn new(schema: &str) -> Result<Self, OutboxError> {
        Ok(Self {
            schema: schema.to_owned(),
            claim: sql_for(include_str!("../sql/claim.sql"), schema)?,
            mark_published: sql_for(include_str!("../sql/mark_published.sql"), schema)?,
            note_failure: sql_for(include_str!("../sql/note_failure.sql"), schema)?,
            quarantine: sql_for(include_str!("../sql/quarantine.sql"), schema)?,
            prune: sql_for(include_str!("../sql/prune.sql"), schema)?,
            replay: sql_for(include_str!("../sql/replay.sql"), schema)?,
            stats: sql_for(include_str!("../sql/stats.sql"), schema)?,
        })
    }

    /// Marks `acked` published and reads up to `limit` pending rows after them, in one statement.
    pub async fn claim(
        &self,
        conn: &mut PgConnection,
        acked: &[i64],
        limit: i64,
    ) -> sqlx::Result<Vec<Row>> {
        sqlx::query_as(AssertSqlSafe(self.claim.as_str()))
            .bind(acked)
            .bind(limit)
            .fetch_all(conn)
            .await
    }

    pub async fn mark_published(&self, conn: &mut PgConnection, seqs: &[i64]) -> sqlx::Result<u64> {
        let done = sqlx::query(AssertSqlSafe(self.mark_published.as_str()))
            .bind(seqs)
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn note_failure(
        &self,
        conn: &mut PgConnection,
        seqs: &[i64],
        error: &str,
    ) -> sqlx::Result<()> {
        sqlx::query(AssertSqlSafe(self.note_failure.as_str()))
            .bind(seqs)
            .bind(error)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn quarantine(
        &self,
        conn: &mut PgConnection,
        seq: i64,
        reason: &str,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(AssertSqlSafe(self.quarantine.as_str()))
            .bind(seq)
            .bind(reason)
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn prune(&self, conn: &mut PgConnection, retention_secs: f64) -> sqlx::Result<u64> {
        let done = sqlx::query(AssertSqlSafe(self.prune.as_str()))
            .bind(retention_secs)
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn replay_page(
        &self,
        conn: &mut PgConnection,
        since: OffsetDateTime,
        after_seq: i64,
        limit: i64,
    ) -> sqlx::Result<Vec<Row>> {
        sqlx::query_as(AssertSqlSafe(self.replay.as_str()))
            .bind(since)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(conn)
            .await
    }

    /// (pending rows, age of the oldest pending row in seconds)
    pub async fn stats(&self, conn: &mut PgConnection) -> sqlx::Result<(i64, f64)> {
        sqlx::query_as(AssertSqlSafe(self.stats.as_str()))
            .fetch_one(conn)
            .await
    }
}
