//! SQL for vector tiles: the functions `geo.tile` and `geo.tile_version`
//! (`migrations/0003_tile_functions.sql`).

use gewebe_platform::sql;
use sqlx::PgConnection;

/// The buffer around each tile that `ST_AsMVTGeom` keeps (256 of 4096 units), as a fraction.
const BUFFER: f64 = 256.0 / 4096.0;
/// Below this zoom the `nodes` layer holds clusters (see the function's comment).
pub const CLUSTER_BELOW_ZOOM: i32 = 13;
/// Below [`CLUSTER_BELOW_ZOOM`], edges shorter than this fraction of the tile's width are left out
/// (4 pixels of a 256-pixel tile).
const CLUSTER_GRID: f64 = 1.0 / 64.0;

/// What a tile's ETag is made of: the change-log epoch and the number of changes touching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub epoch: i64,
    pub changes: i64,
}

pub async fn version(conn: &mut PgConnection, z: i32, x: i32, y: i32) -> sqlx::Result<Version> {
    let (epoch, changes): (i64, i64) = sqlx::query_as(sql!("tiles/version"))
        .bind(z)
        .bind(x)
        .bind(y)
        .bind(BUFFER)
        .fetch_one(conn)
        .await?;
    Ok(Version { epoch, changes })
}

/// The tile (layers `nodes` and `edges`, at most `max_features` each) and its version.
pub async fn render(
    conn: &mut PgConnection,
    z: i32,
    x: i32,
    y: i32,
    max_features: i64,
) -> sqlx::Result<(Version, Vec<u8>)> {
    let (epoch, changes, tile): (i64, i64, Vec<u8>) = sqlx::query_as(sql!("tiles/render"))
        .bind(z)
        .bind(x)
        .bind(y)
        .bind(BUFFER)
        .bind(max_features)
        .bind(CLUSTER_BELOW_ZOOM)
        .bind(CLUSTER_GRID)
        .fetch_one(conn)
        .await?;
    Ok((Version { epoch, changes }, tile))
}
