//! Accounts: register and login (`routes`), the caller's own account (`me`), public profiles
//! (`profiles`); SQL in `store`.

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
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::register))
        .routes(routes!(routes::login))
        .routes(routes!(routes::me, me::update, me::forget))
        .routes(routes!(profiles::profile))
}
