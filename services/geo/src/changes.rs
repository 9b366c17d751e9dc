//! The tile change log: every write records, in its own transaction, the area it changed (Web
//! Mercator). A tile's ETag is `epoch` plus the number of logged changes that touch the tile (with
//! its buffer); see `tiles::store`. Within one epoch rows are only ever added, so any committed
//! write that touches a tile raises that count — also one that commits after a later-numbered one,
//! which is why the ETag counts rows instead of taking their highest number. Folding old rows away
//! raises the epoch in the same statement, so an ETag never repeats for different content.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

/// The node's current public position.
pub async fn record_node(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO geo.tile_changes (area) SELECT public_3857 FROM geo.nodes WHERE id = $1",
    )
    .bind(node)
    .execute(conn)
    .await?;
    Ok(())
}

/// The current lines of every edge at `node`.
pub async fn record_edges_of(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO geo.tile_changes (area) \
         SELECT line_3857 FROM geo.edges WHERE from_node = $1 OR to_node = $1",
    )
    .bind(node)
    .execute(conn)
    .await?;
    Ok(())
}

/// One edge's current line.
pub async fn record_edge(conn: &mut PgConnection, edge: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO geo.tile_changes (area) SELECT line_3857 FROM geo.edges WHERE id = $1",
    )
    .bind(edge)
    .execute(conn)
    .await?;
    Ok(())
}

/// Folds changes older than `retention` into a new epoch. Returns how many rows were folded.
pub async fn fold(conn: &mut PgConnection, retention: Duration) -> sqlx::Result<u64> {
    let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let folded: i64 = sqlx::query_scalar(
        "WITH old AS ( \
           DELETE FROM geo.tile_changes WHERE changed_at < now() - make_interval(secs => $1) RETURNING 1 \
         ), n AS (SELECT count(*) AS c FROM old), \
         bump AS (UPDATE geo.tile_floor SET epoch = epoch + 1 WHERE (SELECT c FROM n) > 0 RETURNING 1) \
         SELECT c FROM n",
    )
    .bind(secs as f64)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(folded).unwrap_or(0))
}
