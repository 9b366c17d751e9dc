//! gewebe-geo's OpenAPI 3.1 document, served at `/geo/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi::{self, BearerAuth};
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-geo",
        description = "Nodes and edges on the map: area, radius and H3-cell queries, Mapbox vector tiles (fresh after every write, 304 when unchanged), and location privacy for `home` nodes. Errors are RFC 9457 problem+json.",
    ),
    paths(
        crate::nodes::routes::create,
        crate::nodes::routes::get_one,
        crate::nodes::routes::update,
        crate::nodes::routes::delete,
        crate::nodes::queries::list,
        crate::nodes::queries::near,
        crate::nodes::queries::in_cell,
        crate::edges::routes::create,
        crate::edges::routes::list,
        crate::edges::routes::get_one,
        crate::edges::routes::delete,
        crate::tiles::routes::tile,
        crate::tiles::routes::tilejson,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    openapi::document(ApiDoc::openapi())
}

pub fn router() -> Router<AppState> {
    openapi::router("/geo/openapi.json", &document())
}
