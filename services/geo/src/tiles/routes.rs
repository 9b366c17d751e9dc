//! `GET /geo/tiles/{z}/{x}/{y}.mvt` and `GET /geo/tiles.json`.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use gewebe_platform::http::extract::Path;
use serde_json::json;

use super::store::{self, Version};
use crate::{AppState, error::Error};

pub const MAX_ZOOM: i32 = 22;
/// Features per layer and tile; beyond it a tile is cut (low zooms over dense areas).
pub const MAX_FEATURES: i64 = 20_000;
/// Bump when the tile's content rules change, so clients drop tiles cached under the old ones.
const FORMAT: u32 = 3;
const MVT: &str = "application/vnd.mapbox-vector-tile";

fn etag(v: Version) -> HeaderValue {
    // Weak: the same tile may travel gzip-encoded or not.
    HeaderValue::from_str(&format!("W/\"t{FORMAT}-{}-{}\"", v.epoch, v.changes))
        .unwrap_or_else(|_| HeaderValue::from_static("W/\"t0\""))
}

/// `If-None-Match` matches by weak comparison, as RFC 9110 says for GET.
fn matches(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    let Ok(tag) = tag.to_str() else { return false };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = opaque(tag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || opaque(t) == want)
}

fn parse(z: &str, x: &str, y: &str) -> Result<(i32, i32, i32), Error> {
    let bad = |detail: &str| Error::bad_request("invalid_tile", detail.to_owned());
    let y = y
        .strip_suffix(".mvt")
        .ok_or_else(|| bad("tiles are addressed as /geo/tiles/{z}/{x}/{y}.mvt"))?;
    let z: i32 = z
        .parse()
        .ok()
        .filter(|z| (0..=MAX_ZOOM).contains(z))
        .ok_or_else(|| bad("z must be 0 to 22"))?;
    let n = 1i64 << z;
    let coord = |v: &str| v.parse::<i64>().ok().filter(|v| (0..n).contains(v));
    match (coord(x), coord(y)) {
        (Some(x), Some(y)) => Ok((
            z,
            i32::try_from(x).unwrap_or(0),
            i32::try_from(y).unwrap_or(0),
        )),
        _ => Err(bad("x and y must be 0 to 2^z - 1")),
    }
}

fn tile_response(tag: HeaderValue, tile: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(MVT)),
            // Revalidate on every use: a write is visible at once, an unchanged tile costs a 304.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, tag),
        ],
        tile,
    )
        .into_response()
}

/// A Mapbox Vector Tile with the layers `nodes` (id, kind, title) and `edges` (id, kind, `from_node`,
/// `to_node`) at public positions. Below zoom 13 `nodes` holds clusters instead: one point per occupied
/// H3 cell (resolution 5 to 9 by zoom) at its nodes' mean position, with `count` and `cell` (list them
/// with `GET /geo/cells/{cell}/nodes`); edges shorter than 1/64 of the tile are left out there.
/// Send `If-None-Match` to get 304 when nothing in the tile changed.
#[utoipa::path(get, path = "/geo/tiles/{z}/{x}/{y}.mvt", tag = "tiles",
    params(("z" = u8, Path, description = "0–22"), ("x" = u32, Path), ("y" = u32, Path, description = "y, then `.mvt`"),
        ("If-None-Match" = Option<String>, Header, description = "the ETag of the copy you hold")),
    responses(
        (status = 200, description = "the tile (may be empty); `ETag`, `Cache-Control: no-cache`", content_type = "application/vnd.mapbox-vector-tile"),
        (status = 304, description = "your copy is current"),
        (status = 400, description = "`invalid_tile`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn tile(
    State(app): State<AppState>,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (z, x, y) = parse(&z, &x, &y)?;
    let mut tx = app.db.begin().await?;
    // Revalidation and cache hits cost only the version query; a miss renders (one statement that
    // also returns the version it rendered, from the same snapshot).
    if headers.contains_key(header::IF_NONE_MATCH) || app.tiles.enabled() {
        let version = store::version(&mut tx, z, x, y).await?;
        let tag = etag(version);
        if matches(&headers, &tag) {
            tx.commit().await?;
            app.metrics.tile("not_modified");
            return Ok(crate::error::not_modified(tag));
        }
        if let Some(tile) = app.tiles.get((z, x, y), version) {
            tx.commit().await?;
            app.metrics.tile("cached");
            return Ok(tile_response(tag, tile));
        }
    }
    let (version, tile) = store::render(&mut tx, z, x, y, MAX_FEATURES).await?;
    tx.commit().await?;
    let tile = Bytes::from(tile);
    app.tiles.put((z, x, y), version, tile.clone());
    app.metrics.tile("rendered");
    Ok(tile_response(etag(version), tile))
}

/// TileJSON 3.0 for MapLibre GL: `"source": {"type": "vector", "url": ".../geo/tiles.json"}`.
#[utoipa::path(get, path = "/geo/tiles.json", tag = "tiles",
    responses((status = 200, description = "TileJSON 3.0.0", content_type = "application/json")))]
pub async fn tilejson(headers: HeaderMap) -> Response {
    // Absolute tile URLs on the origin the client used (Caddy passes Host and X-Forwarded-Proto).
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    let body = json!({
        "tilejson": "3.0.0",
        "name": "gewebe",
        "description": "gewebe nodes and edges at their public positions",
        "tiles": [format!("{scheme}://{host}/geo/tiles/{{z}}/{{x}}/{{y}}.mvt")],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": [-180.0, -85.051_128_78, 180.0, 85.051_128_78],
        "vector_layers": [
            {"id": "nodes", "description": "places, ideas, resources and homes; below zoom 13 clusters per H3 cell with `count` and `cell` instead",
             "fields": {"id": "String", "kind": "String", "title": "String", "count": "Number", "cell": "String"}},
            {"id": "edges", "description": "threads between nodes",
             "fields": {"id": "String", "kind": "String", "from_node": "String", "to_node": "String"}}
        ]
    });
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_addresses() {
        assert_eq!(parse("0", "0", "0.mvt").ok(), Some((0, 0, 0)));
        assert_eq!(parse("14", "8800", "5373.mvt").ok(), Some((14, 8800, 5373)));
        for (z, x, y) in [
            ("23", "0", "0.mvt"),
            ("1", "2", "0.mvt"),
            ("1", "0", "-1.mvt"),
            ("a", "0", "0.mvt"),
            ("3", "1", "1.png"),
            ("3", "1", "1"),
        ] {
            assert!(parse(z, x, y).is_err(), "{z}/{x}/{y}");
        }
    }

    #[test]
    fn weak_comparison() {
        let tag = etag(Version {
            epoch: 2,
            changes: 5,
        });
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", \"t3-2-5\""),
        );
        assert!(matches(&h, &tag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("W/\"t3-2-6\""),
        );
        assert!(!matches(&h, &tag));
    }
}
