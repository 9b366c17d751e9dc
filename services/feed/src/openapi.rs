//! gewebe-feed's OpenAPI 3.1 document, served at `/feed/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi::{self, BearerAuth};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-feed",
        description = "The live feed over Server-Sent Events: every public change, scoped by topic and map area (bbox or H3 cells), resumable with Last-Event-ID without gaps; private events for their account via single-use tickets. Errors are RFC 9457 problem+json.",
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The service's routes with this document, served at `/feed/openapi.json`; `streams` is the
/// document of the routes the stack serves apart (the event stream).
pub fn router(
    features: OpenApiRouter<AppState>,
    streams: utoipa::openapi::OpenApi,
) -> Router<AppState> {
    let doc = ApiDoc::openapi().merge_from(streams);
    openapi::with_document("/feed/openapi.json", doc, features)
}
