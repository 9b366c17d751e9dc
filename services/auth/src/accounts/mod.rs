//! Accounts: register, login (access tokens), the caller's own account, public profiles.
//! Routes (all in `routes::router`): `POST /auth/register`, `POST /auth/login`, `GET|PATCH|DELETE
//! /auth/me` (update and forget in `me`), `GET /auth/profiles/{id}` (in `profiles`).

mod announce;
pub mod failures;
mod me;
pub mod password;
mod profiles;
mod routes;
pub(crate) mod store;
mod validate;

pub use announce::announce_privacy;
pub use me::forget_account;
pub use routes::{router, routes_doc};
