//! Accounts: register, login (access tokens), the caller's own account.
//! Routes: `POST /auth/register`, `POST /auth/login`, `GET /auth/me`.

pub mod password;
mod routes;
mod store;
mod validate;

pub use routes::{router, routes_doc};
