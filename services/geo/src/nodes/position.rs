//! Where a node is shown: its public position (fuzzed for a `home`, see `privacy`) and the H3 cell
//! stored for it. Writes and the account consumer both place nodes with these.

use uuid::Uuid;

use crate::{cells, error::Error, privacy};

/// The public position of a new or moved node: fuzzed for `home`, as given otherwise.
pub fn public_position(
    app: &crate::App,
    id: Uuid,
    kind: &str,
    radius_m: i32,
    (lat, lon): (f64, f64),
) -> (f64, f64) {
    if kind == "home" {
        privacy::public_position(
            &app.config.geo.fuzz_key,
            id,
            radius_m.unsigned_abs(),
            lat,
            lon,
        )
    } else {
        (lat, lon)
    }
}

/// The stored H3 cell of a (public) position.
pub fn h3_of((lat, lon): (f64, f64)) -> Result<i64, Error> {
    cells::cell_of(lat, lon)
        .map(cells::to_db)
        .ok_or_else(|| Error::field("location", "out_of_range", "not a position on Earth"))
}
