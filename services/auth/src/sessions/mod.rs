//! Sessions and refresh tokens: `POST /auth/refresh` rotates the token of a family, `POST
//! /auth/logout` revokes the family. Login starts a family (see `accounts`).
//!
//! Reuse of a rotated token revokes the whole family (theft detection, as Kanidm does), except a
//! concurrent refresh within `AUTH_REFRESH_GRACE_SECS` (a second tab), which gets the same successor.

mod routes;
mod store;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use routes::{COOKIE, Tokens, token_response};
pub use store::{erase_expired_successors, issue, new_session};

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::refresh))
        .routes(routes!(routes::logout))
}
