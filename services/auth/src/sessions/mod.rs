//! Sessions and refresh tokens: `POST /auth/refresh` rotates the token of a family, `POST
//! /auth/logout` revokes the family. Login starts a family (see `accounts`).
//!
//! Reuse of a rotated token revokes the whole family (theft detection, as Kanidm does), except a
//! concurrent refresh within `AUTH_REFRESH_GRACE_SECS` (a second tab), which gets the same successor.

mod routes;
mod store;

pub use routes::{COOKIE, router, routes_doc, token_response};
pub use store::{erase_expired_successors, issue, new_session};
