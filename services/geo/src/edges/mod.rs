//! Edges (Fäden): directed threads between two nodes.
//! Routes (all in `routes::router`): `POST|GET /geo/edges`, `GET|DELETE /geo/edges/{id}`.

pub(crate) mod routes;
pub mod store;

pub use routes::router;
