//! Nodes (Knoten): places, ideas, resources and each person's `home`.
//! Routes (all in `routes::router`): `POST|GET /geo/nodes`, `GET /geo/nodes/near`,
//! `GET|PATCH|DELETE /geo/nodes/{id}`, `GET /geo/cells/{h3}/nodes`.

pub mod homes;
pub(crate) mod queries;
pub(crate) mod routes;
pub mod store;

pub use routes::{delete_with_edges, router};
