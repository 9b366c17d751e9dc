//! Admin endpoints: the audit log and role changes. Only the `admin` role may call them.
//! Routes: `GET /auth/admin/audit`, `PUT /auth/admin/accounts/{id}/roles`.

mod routes;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use routes::{change_roles, normalise_roles};

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::audit_log))
        .routes(routes!(routes::set_roles))
}
