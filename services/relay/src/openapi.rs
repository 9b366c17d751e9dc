//! gewebe-relay's OpenAPI 3.1 document, served at `/relay/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi;
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-relay",
        description = "Outbox relay to NATS JetStream. Operations endpoints only; not routed publicly."
    ),
    paths(crate::status::status)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    openapi::document(ApiDoc::openapi())
}

pub fn router() -> Router<AppState> {
    openapi::router("/relay/openapi.json", &document())
}
