//! SQL for edges; every function takes the caller's transaction.

use gewebe_platform::sql;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changes;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EdgeRow {
    pub id: Uuid,
    pub from_node: Uuid,
    pub to_node: Uuid,
    pub kind: String,
    pub owner_id: Option<Uuid>,
    pub owner_ron: bool,
    /// One end is a `home`: the edge's events must not name who drew it (nearly always the person
    /// who lives there).
    pub touches_home: bool,
    /// The endpoints' public positions.
    pub from_lat: f64,
    pub from_lon: f64,
    pub to_lat: f64,
    pub to_lon: f64,
    pub version: i64,
    pub created_at: OffsetDateTime,
}

/// Which endpoints exist, locked against a concurrent delete until the edge is written.
pub async fn lock_endpoints(
    conn: &mut PgConnection,
    from: Uuid,
    to: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(sql!("edges/lock_endpoints"))
        .bind([from, to].as_slice())
        .fetch_all(conn)
        .await
}

/// `Ok(None)` when the same edge (from, to, kind) exists.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    from: Uuid,
    to: Uuid,
    kind: &str,
    owner: Uuid,
) -> sqlx::Result<Option<EdgeRow>> {
    let inserted: Option<Uuid> = sqlx::query_scalar(sql!("edges/insert"))
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(kind)
        .bind(owner)
        .fetch_optional(&mut *conn)
        .await?;
    if inserted.is_none() {
        return Ok(None);
    }
    changes::record_edge(conn, id).await?;
    get(conn, id).await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<EdgeRow>> {
    sqlx::query_as(sql!("edges/get"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Edges at `node` (either end), by id, after the cursor; `limit + 1` rows to tell a next page.
pub async fn of_node(
    conn: &mut PgConnection,
    node: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<EdgeRow>> {
    sqlx::query_as(sql!("edges/of_node"))
        .bind(node)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(conn)
        .await
}

/// Locks one edge for a delete: (owner, version, the version of the owner's settings geo knows).
pub async fn lock(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<(Option<Uuid>, i64, Option<i64>)>> {
    sqlx::query_as(sql!("edges/lock"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Deletes edges (by id, or every edge at a node) and returns them as they were, for their events.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<EdgeRow>> {
    let Some(row) = get(&mut *conn, id).await? else {
        return Ok(None);
    };
    changes::record_edge(conn, id).await?;
    sqlx::query(sql!("edges/delete"))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(Some(row))
}

pub async fn delete_at_node(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<Vec<EdgeRow>> {
    let rows: Vec<EdgeRow> = sqlx::query_as(sql!("edges/lock_at_node"))
        .bind(node)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Ok(rows);
    }
    changes::record_edges_of(conn, node).await?;
    sqlx::query(sql!("edges/delete_at_node"))
        .bind(node)
        .execute(conn)
        .await?;
    Ok(rows)
}

/// Redraws the lines of the edges at `node` after it moved.
pub async fn refresh_lines(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<()> {
    sqlx::query(sql!("edges/refresh_lines"))
        .bind(node)
        .execute(conn)
        .await?;
    Ok(())
}
