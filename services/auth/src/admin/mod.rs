//! Admin endpoints: the audit log and role changes. Only the `admin` role may call them.
//! Routes: `GET /auth/admin/audit`, `PUT /auth/admin/accounts/{id}/roles`.

mod routes;

pub use routes::{change_roles, normalise_roles, router, routes_doc};
