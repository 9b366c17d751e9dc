//! SQL for nodes; every function takes the caller's transaction.
//!
//! Which position a row carries is decided here, in SQL: `lat`/`lon` are the exact position only
//! when the viewer is the owner, the public one otherwise; lists pass no viewer at all. So no handler
//! can hand out an exact `home` position by forgetting a check.

use gewebe_platform::sql;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changes;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub kind: String,
    pub title: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Exact for the owner, public for everyone else.
    pub lat: f64,
    pub lon: f64,
    pub public_lat: f64,
    pub public_lon: f64,
    pub h3: i64,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The owner uses role-without-name, or was forgotten: public views show no owner.
    pub owner_ron: bool,
    /// Only in radius queries.
    #[sqlx(default)]
    pub distance_m: Option<f64>,
}

/// What a create writes; positions already validated, the public one already computed.
pub struct NewNode<'a> {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub kind: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub tags: &'a [String],
    pub location: (f64, f64),
    pub public_location: (f64, f64),
    pub h3: i64,
    /// The privacy-settings version of the owner's token: the insert refuses while geo knows an
    /// older one, so the event does not name an owner who asked for role-without-name meanwhile.
    pub privacy_version: i64,
}

/// `node.created` for a node about to be inserted, rendered twice under one event id (see
/// `events::node_created`): with its owner, and without. The insert stores the one the owner's
/// role-without-name setting asks for, which it reads itself.
pub struct Created {
    pub id: Uuid,
    pub with_owner: Vec<u8>,
    pub without_owner: Vec<u8>,
}

/// `Ok(None)` when the owner already has a `home` node, was deleted, or has privacy settings newer
/// than geo knows (see [`refusal`]). The tile change log and the
/// outbox get their rows in the same statement: two statements (four round trips through
/// PgBouncer) less on the busiest write.
pub async fn insert(
    conn: &mut PgConnection,
    n: &NewNode<'_>,
    event: &Created,
) -> sqlx::Result<Option<NodeRow>> {
    let row: Option<NodeRow> = sqlx::query_as(sql!("nodes/insert"))
        .bind(n.id)
        .bind(n.owner_id)
        .bind(n.kind)
        .bind(n.title)
        .bind(n.description)
        .bind(n.tags)
        .bind(n.location.0)
        .bind(n.location.1)
        .bind(n.public_location.0)
        .bind(n.public_location.1)
        .bind(n.h3)
        .bind(event.id)
        .bind(&event.with_owner)
        .bind(&event.without_owner)
        .bind(n.privacy_version)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row)
}

/// One node as `viewer` may see it.
pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
    viewer: Option<Uuid>,
) -> sqlx::Result<Option<NodeRow>> {
    sqlx::query_as(sql!("nodes/get"))
        .bind(id)
        .bind(viewer)
        .fetch_optional(conn)
        .await
}

/// What a write needs to know before changing a node, with the row locked.
#[derive(Debug, sqlx::FromRow)]
pub struct Locked {
    pub owner_id: Option<Uuid>,
    pub kind: String,
    pub version: i64,
    pub lat: f64,
    pub lon: f64,
    /// The owner uses role-without-name (or is gone): its events must not name who acted.
    pub owner_ron: bool,
    /// The version of the owner's settings geo knows (`None`: no account event yet).
    pub owner_version: Option<i64>,
}

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Locked>> {
    sqlx::query_as(sql!("nodes/lock"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A node's owner and kind, unlocked: a home write must lock its owner's settings before the node
/// (the order the account consumer takes them in), so it looks first and locks after.
pub async fn owner_and_kind(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<(Option<Uuid>, String)>> {
    sqlx::query_as(sql!("nodes/owner_and_kind"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A new position: (exact, public, stored H3 cell of the public one).
pub type Moved = ((f64, f64), (f64, f64), i64);

/// The changes of a PATCH, validated; `None` keeps a field. `description: Some(None)` clears it.
#[derive(Debug, Default)]
pub struct Changes {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub location: Option<Moved>,
}

/// Applies `changes` to a locked node and bumps its version; records the tile areas it touched
/// (old and new position, and the edges that moved with it).
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    changes: &Changes,
    viewer: Uuid,
) -> sqlx::Result<NodeRow> {
    // A move changes the tiles it leaves as well as those it enters; other changes only the latter.
    if changes.location.is_some() {
        changes::record_node(conn, id).await?;
        changes::record_edges_of(conn, id).await?;
    }
    let (exact, public, h3) = match changes.location {
        Some((e, p, h)) => (Some(e), Some(p), Some(h)),
        None => (None, None, None),
    };
    let row: NodeRow = sqlx::query_as(sql!("nodes/update"))
        .bind(id)
        .bind(changes.title.as_deref())
        .bind(changes.description.is_some())
        .bind(changes.description.clone().flatten())
        .bind(changes.tags.as_deref())
        .bind(exact.map(|p| p.0))
        .bind(exact.map(|p| p.1))
        .bind(public.map(|p| p.0))
        .bind(public.map(|p| p.1))
        .bind(h3)
        .bind(viewer)
        .fetch_one(&mut *conn)
        .await?;
    if changes.location.is_some() {
        crate::edges::store::refresh_lines(conn, id).await?;
        changes::record_edges_of(conn, id).await?;
    }
    changes::record_node(conn, id).await?;
    Ok(row)
}

/// Deletes a node whose edges are already gone; returns its last public position and version.
pub async fn delete(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<(f64, f64, i64, i64)>> {
    changes::record_node(conn, id).await?;
    sqlx::query_as(sql!("nodes/delete"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Filters of the bbox list.
pub struct BboxQuery<'a> {
    pub bbox: crate::validate::Bbox,
    pub kind: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Public nodes in a box, by id (UUIDv7: creation order), `limit + 1` rows to tell a next page.
pub async fn in_bbox(conn: &mut PgConnection, q: &BboxQuery<'_>) -> sqlx::Result<Vec<NodeRow>> {
    sqlx::query_as(sql!("nodes/in_bbox"))
        .bind(q.bbox.min_lon)
        .bind(q.bbox.min_lat)
        .bind(q.bbox.max_lon)
        .bind(q.bbox.max_lat)
        .bind(q.kind)
        .bind(q.tag)
        .bind(q.after)
        .bind(q.limit + 1)
        .fetch_all(conn)
        .await
}

/// Public nodes within `radius_m` of a point, nearest first, after the (distance, id) cursor.
pub async fn near(
    conn: &mut PgConnection,
    lat: f64,
    lon: f64,
    radius_m: f64,
    after: Option<(f64, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<NodeRow>> {
    let mercator = mercator_radius(lat, lon, radius_m);
    let sql = match mercator {
        Some(_) => sql!("nodes/near"),
        None => sql!("nodes/near_sphere"),
    };
    sqlx::query_as(sql)
        .bind(lat)
        .bind(lon)
        .bind(radius_m)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit + 1)
        .bind(mercator.unwrap_or(0.0))
        .fetch_all(conn)
        .await
}

/// A Mercator distance that covers `radius_m` on the sphere around (`lat`, `lon`): Mercator
/// stretches by 1/cos(latitude), most at the point of the circle nearest the pole. `None` where
/// Mercator cannot answer: the circle reaches past 80° of latitude or across the antimeridian.
fn mercator_radius(lat: f64, lon: f64, radius_m: f64) -> Option<f64> {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let reach = (radius_m / EARTH_RADIUS_M).to_degrees();
    let poleward = lat.abs() + reach;
    if poleward > 80.0 || lon.abs() + reach / poleward.to_radians().cos() >= 180.0 {
        return None;
    }
    Some(radius_m / poleward.to_radians().cos() * 1.001 + 1.0)
}

/// Public nodes whose stored cell lies in [`lo`, `hi`] (one H3 cell of any resolution), by id.
pub async fn in_cell(
    conn: &mut PgConnection,
    (lo, hi): (i64, i64),
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<NodeRow>> {
    sqlx::query_as(sql!("nodes/in_cell"))
        .bind(lo)
        .bind(hi)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(conn)
        .await
}

/// Why [`insert`] wrote nothing, asked only then.
pub enum Refusal {
    Forgotten,
    SettingsPending,
    HomeExists,
}

pub async fn refusal(
    conn: &mut PgConnection,
    owner: Uuid,
    privacy_version: i64,
) -> sqlx::Result<Refusal> {
    let known = known_account(conn, owner).await?;
    Ok(match known {
        Some((true, _)) => Refusal::Forgotten,
        Some((false, version)) if version >= privacy_version => Refusal::HomeExists,
        None if privacy_version == 0 => Refusal::HomeExists,
        _ => Refusal::SettingsPending,
    })
}

/// What geo knows of an account: (forgotten, settings version); (false, 0) before any event.
pub async fn account_state(conn: &mut PgConnection, owner: Uuid) -> sqlx::Result<(bool, i64)> {
    Ok(known_account(conn, owner).await?.unwrap_or((false, 0)))
}

async fn known_account(conn: &mut PgConnection, owner: Uuid) -> sqlx::Result<Option<(bool, i64)>> {
    sqlx::query_as(sql!("nodes/account_state"))
        .bind(owner)
        .fetch_optional(conn)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn mercator_radius_covers_the_circle_and_knows_its_limits() {
        let r = super::mercator_radius(0.0, 0.0, 1000.0).unwrap_or_default();
        assert!((1000.0..1003.0).contains(&r), "{r}");
        let r = super::mercator_radius(60.0, 10.0, 1000.0).unwrap_or_default();
        assert!((2000.0..2010.0).contains(&r), "{r}");
        assert_eq!(super::mercator_radius(79.9, 0.0, 50_000.0), None);
        assert_eq!(super::mercator_radius(0.0, 179.9, 50_000.0), None);
        assert_eq!(super::mercator_radius(0.0, -179.9, 50_000.0), None);
        assert!(super::mercator_radius(0.0, 179.0, 50_000.0).is_some());
    }
}
