//! gewebe-auth's OpenAPI 3.1 document, served at `/auth/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi::{self, BearerAuth};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-auth",
        description = "Accounts, login (with brute-force protection), sessions, EdDSA access tokens and the JWKS, profiles, forget, roles and the audit log. Errors are RFC 9457 problem+json.",
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The service's routes with this document, served at `/auth/openapi.json`.
pub fn router(features: OpenApiRouter<AppState>) -> Router<AppState> {
    openapi::with_document("/auth/openapi.json", ApiDoc::openapi(), features)
}
