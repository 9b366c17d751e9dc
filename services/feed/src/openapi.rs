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

/// The service's routes with this document, served at `/feed/openapi.json`: `features` (the requests
/// that end) and `streams` (the event stream, which the stack serves without compression).
pub fn routers(
    features: OpenApiRouter<AppState>,
    streams: OpenApiRouter<AppState>,
) -> (Router<AppState>, Router<AppState>) {
    openapi::with_streams("/feed/openapi.json", ApiDoc::openapi(), features, streams)
}
