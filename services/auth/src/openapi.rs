//! gewebe-auth's OpenAPI 3.1 document, served at `/auth/openapi.json`.

use axum::Router;
use gewebe_platform::http::openapi::{self, BearerAuth};
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gewebe-auth",
        description = "Accounts, login (with brute-force protection), sessions, EdDSA access tokens and the JWKS, profiles, forget, roles and the audit log. Errors are RFC 9457 problem+json.",
    ),
    paths(
        crate::keys::routes_doc::jwks,
        crate::accounts::routes_doc::register,
        crate::accounts::routes_doc::login,
        crate::accounts::routes_doc::me,
        crate::accounts::routes_doc::update,
        crate::accounts::routes_doc::forget,
        crate::accounts::routes_doc::profile,
        crate::admin::routes_doc::audit_log,
        crate::admin::routes_doc::set_roles,
        crate::sessions::routes_doc::refresh,
        crate::sessions::routes_doc::logout,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    openapi::document(ApiDoc::openapi())
}

pub fn router() -> Router<AppState> {
    openapi::router("/auth/openapi.json", &document())
}
