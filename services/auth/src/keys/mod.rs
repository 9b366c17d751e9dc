//! Signing keys: Ed25519, the private half sealed with AES-256-GCM under the key-encryption key,
//! rotated by command or automatically after `AUTH_KEY_ROTATION_DAYS`; a superseded key stays in
//! the JWKS for `AUTH_KEY_OVERLAP_DAYS` so tokens signed before the rotation keep verifying.
//! Routes: `GET /.well-known/jwks.json` and `GET /auth/.well-known/jwks.json`.

mod routes;
mod store;

use axum::routing::get;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use store::{KeyError, KeyStore, PublicKey};

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::jwks))
        // The same key set under the service's prefix, for clients that only reach `/auth/...`;
        // documented once, at the well-known path.
        .route("/auth/.well-known/jwks.json", get(routes::jwks))
}
