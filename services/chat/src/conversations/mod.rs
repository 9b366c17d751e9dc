//! Rooms and their members. Handlers in `routes`, JSON in `model`, SQL in `store`.

pub mod model;
pub(crate) mod routes;
pub mod store;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list, routes::create))
        .routes(routes!(routes::get_one))
        .routes(routes!(routes::members, routes::add_member))
        .routes(routes!(routes::remove_member))
}
