//! Edges (Fäden): directed threads between two nodes. Handlers in `routes`, SQL in `store`.

pub(crate) mod routes;
pub mod store;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list, routes::create))
        .routes(routes!(routes::get_one, routes::delete))
}
