//! The tile change log: every write records, in its own transaction, the area it changed (Web
//! Mercator). A tile's ETag is `epoch` plus the number of logged changes that touch the tile (with
//! its buffer); see `tiles::store`. Within one epoch rows are only ever added, so any committed
//! write that touches a tile raises that count — also one that commits after a later-numbered one,
//! which is why the ETag counts rows instead of taking their highest number. Folding old rows away
//! raises the epoch in the same statement, so an ETag never repeats for different content.

use std::time::Duration;

use gewebe_platform::sql;
use sqlx::PgConnection;
use uuid::Uuid;

/// The node's current public position.
pub async fn record_node(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<()> {
    sqlx::query(sql!("changes/record_node"))
        .bind(node)
        .execute(conn)
        .await?;
    Ok(())
}

/// The current lines of every edge at `node`.
pub async fn record_edges_of(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<()> {
    sqlx::query(sql!("changes/record_edges_of"))
        .bind(node)
        .execute(conn)
        .await?;
    Ok(())
}

/// One edge's current line.
pub async fn record_edge(conn: &mut PgConnection, edge: Uuid) -> sqlx::Result<()> {
    sqlx::query(sql!("changes/record_edge"))
        .bind(edge)
        .execute(conn)
        .await?;
    Ok(())
}

/// Folds changes older than `retention` into a new epoch. Returns how many rows were folded.
pub async fn fold(conn: &mut PgConnection, retention: Duration) -> sqlx::Result<u64> {
    let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let folded: i64 = sqlx::query_scalar(sql!("changes/fold"))
        .bind(secs as f64)
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(folded).unwrap_or(0))
}
