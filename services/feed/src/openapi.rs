//! gewebe-feed's OpenAPI 3.1 document, served at `/feed/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi::{self, BearerAuth};
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-feed",
        description = "The live feed over Server-Sent Events: every public change, scoped by topic and map area (bbox or H3 cells), resumable with Last-Event-ID without gaps; private events for their account via single-use tickets. Errors are RFC 9457 problem+json.",
    ),
    paths(crate::stream::stream, crate::tickets::issue),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

pub fn router() -> Router<AppState> {
    openapi::router("/feed/openapi.json", &openapi::document(ApiDoc::openapi()))
}
