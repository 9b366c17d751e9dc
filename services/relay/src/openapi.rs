//! gewebe-relay's OpenAPI 3.1 document, served at `/relay/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(info(
    title = "gewebe-relay",
    description = "Outbox relay to NATS JetStream. Operations endpoints only; not routed publicly."
))]
struct ApiDoc;

/// The service's routes with this document, served at `/relay/openapi.json`.
pub fn router(features: OpenApiRouter<AppState>) -> Router<AppState> {
    openapi::with_document("/relay/openapi.json", ApiDoc::openapi(), features)
}
