//! Vector tiles for MapLibre GL: `GET /geo/tiles/{z}/{x}/{y}.mvt` (layers `nodes` and `edges`) and
//! the TileJSON at `GET /geo/tiles.json`. Fresh after every write, 304 when nothing changed: see
//! `crate::changes` for how the ETag is made.

mod cache;
pub(crate) mod routes;
pub mod store;

pub use cache::TileCache;
pub use routes::router;
