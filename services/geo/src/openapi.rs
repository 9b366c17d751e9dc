//! gewebe-geo's OpenAPI 3.1 document, served at `/geo/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi::{self, BearerAuth};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-geo",
        description = "Nodes and edges on the map: area, radius and H3-cell queries, Mapbox vector tiles (fresh after every write, 304 when unchanged), and location privacy for `home` nodes. Errors are RFC 9457 problem+json.",
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The service's routes with this document, served at `/geo/openapi.json`.
pub fn router(features: OpenApiRouter<AppState>) -> Router<AppState> {
    openapi::with_document("/geo/openapi.json", ApiDoc::openapi(), features)
}
