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

/// The service's routes with this document, served at `/chat/openapi.json`: `features` (the requests
/// that end) and `streams` (the WebSocket, which the stack serves without compression).
pub fn routers(
    features: OpenApiRouter<AppState>,
    streams: OpenApiRouter<AppState>,
) -> (Router<AppState>, Router<AppState>) {
    openapi::with_streams("/chat/openapi.json", ApiDoc::openapi(), features, streams)
}
