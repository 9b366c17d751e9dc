//! gewebe-auth's OpenAPI 3.1 document, served at `/auth/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi;
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-auth",
        description = "Accounts, login, sessions, EdDSA access tokens and the JWKS. Errors are RFC 9457 problem+json.",
    ),
    paths(crate::keys::routes_doc::jwks)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    openapi::document(ApiDoc::openapi())
}

pub fn router() -> Router<AppState> {
    openapi::router("/auth/openapi.json", &document())
}
