//! gewebe-chat's OpenAPI 3.1 document, served at `/chat/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi::{self, BearerAuth};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-chat",
        description = include_str!("../PROTOCOL.md"),
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The service's routes with this document, served at `/chat/openapi.json`; `streams` is the
/// document of the routes the stack serves apart (the WebSocket).
pub fn router(
    features: OpenApiRouter<AppState>,
    streams: utoipa::openapi::OpenApi,
) -> Router<AppState> {
    let doc = ApiDoc::openapi().merge_from(streams);
    openapi::with_document("/chat/openapi.json", doc, features)
}
