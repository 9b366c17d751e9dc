//! Signing keys: Ed25519, the private half sealed with AES-256-GCM under the key-encryption key,
//! rotated by command or automatically after `AUTH_KEY_ROTATION_DAYS`; a superseded key stays in
//! the JWKS for `AUTH_KEY_OVERLAP_DAYS` so tokens signed before the rotation keep verifying.
//! Routes: `GET /.well-known/jwks.json` and `GET /auth/.well-known/jwks.json`.

mod routes;
mod store;

pub use routes::router;

/// Path items for the OpenAPI document.
pub mod routes_doc {
    pub use super::routes::__path_jwks;
    pub use super::routes::jwks;
}
pub use store::{KeyError, KeyStore, PublicKey};
