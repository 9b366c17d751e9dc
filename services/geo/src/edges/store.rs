//! SQL for edges; every function takes the caller's transaction.

use sqlx::{AssertSqlSafe, PgConnection};
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

/// Columns of [`EdgeRow`] for `e` in `geo.edges`, `f`/`t` its endpoint nodes, `a` the owner account.
const COLUMNS: &str = "e.id, e.from_node, e.to_node, e.kind, e.owner_id, \
    (e.owner_id IS NULL OR coalesce(a.ron, false)) AS owner_ron, \
    (f.kind = 'home' OR t.kind = 'home') AS touches_home, \
    ST_Y(f.public_location) AS from_lat, ST_X(f.public_location) AS from_lon, \
    ST_Y(t.public_location) AS to_lat, ST_X(t.public_location) AS to_lon, \
    e.version, e.created_at";

const FROM: &str = "geo.edges e JOIN geo.nodes f ON f.id = e.from_node \
    JOIN geo.nodes t ON t.id = e.to_node LEFT JOIN geo.accounts a ON a.id = e.owner_id";

/// Which endpoints exist, locked against a concurrent delete until the edge is written.
pub async fn lock_endpoints(
    conn: &mut PgConnection,
    from: Uuid,
    to: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM geo.nodes WHERE id = ANY($1) FOR SHARE")
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
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO geo.edges (id, from_node, to_node, kind, owner_id, line_3857) \
         SELECT $1, $2, $3, $4, $5, ST_MakeLine(f.public_3857, t.public_3857) \
         FROM geo.nodes f, geo.nodes t WHERE f.id = $2 AND t.id = $3 \
         ON CONFLICT ON CONSTRAINT edges_unique DO NOTHING RETURNING id",
    )
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
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE e.id = $1"
    )))
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
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} \
         WHERE (e.from_node = $1 OR e.to_node = $1) AND ($2::uuid IS NULL OR e.id > $2) \
         ORDER BY e.id LIMIT $3"
    )))
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
    sqlx::query_as(
        "SELECT e.owner_id, e.version, a.version FROM geo.edges e \
         LEFT JOIN geo.accounts a ON a.id = e.owner_id WHERE e.id = $1 FOR UPDATE OF e",
    )
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
    sqlx::query("DELETE FROM geo.edges WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(Some(row))
}

pub async fn delete_at_node(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<Vec<EdgeRow>> {
    let rows: Vec<EdgeRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE e.from_node = $1 OR e.to_node = $1 ORDER BY e.id FOR UPDATE OF e"
    )))
    .bind(node)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(rows);
    }
    changes::record_edges_of(conn, node).await?;
    sqlx::query("DELETE FROM geo.edges WHERE from_node = $1 OR to_node = $1")
        .bind(node)
        .execute(conn)
        .await?;
    Ok(rows)
}

/// Redraws the lines of the edges at `node` after it moved.
pub async fn refresh_lines(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE geo.edges e SET line_3857 = ST_MakeLine(f.public_3857, t.public_3857) \
         FROM geo.nodes f, geo.nodes t \
         WHERE (e.from_node = $1 OR e.to_node = $1) AND f.id = e.from_node AND t.id = e.to_node",
    )
    .bind(node)
    .execute(conn)
    .await?;
    Ok(())
}
