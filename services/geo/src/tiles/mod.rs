//! Vector tiles for MapLibre GL: `GET /geo/tiles/{z}/{x}/{y}.mvt` (layers `nodes` and `edges`) and
//! the TileJSON at `GET /geo/tiles.json`. Fresh after every write, 304 when nothing changed: see
//! `crate::changes` for how the ETag is made.

mod cache;
pub(crate) mod routes;
pub mod store;

use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use cache::TileCache;

use crate::AppState;

/// Documents the tile route, which the router cannot take from the document: axum matches a
/// parameter only up to the next `/`, so it routes `{y}` and the handler strips the `.mvt` that the
/// document names.
#[derive(OpenApi)]
#[openapi(paths(routes::tile))]
struct TileDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(TileDoc::openapi())
        .route("/geo/tiles/{z}/{x}/{y}", get(routes::tile))
        .routes(routes!(routes::tilejson))
}
