//! H3 cells (h3o). Each node stores the resolution-15 cell of its public position as a `bigint`.
//! The resolution-15 descendants of any coarser cell are exactly the stored values between its
//! first and its last resolution-15 child, because an H3 index keeps the parent's digits in its high
//! bits and the finer digits below them (digits that cannot occur, like 7, are never stored). So
//! "nodes in this cell, at any resolution" is one range scan on one index.

use h3o::{CellIndex, LatLng, Resolution};

/// The finest resolution; what every node stores.
pub const STORED: Resolution = Resolution::Fifteen;

/// The resolution-15 cell of a WGS84 position, as stored (`None` for a non-finite coordinate,
/// which validation has already refused).
pub fn cell_of(lat: f64, lon: f64) -> Option<CellIndex> {
    LatLng::new(lat, lon).ok().map(|ll| ll.to_cell(STORED))
}

/// H3 indexes are 64-bit with the top bit always 0, so they fit `bigint` unchanged.
pub fn to_db(cell: CellIndex) -> i64 {
    i64::try_from(u64::from(cell)).unwrap_or(i64::MAX)
}

pub fn from_db(raw: i64) -> Option<CellIndex> {
    u64::try_from(raw)
        .ok()
        .and_then(|v| CellIndex::try_from(v).ok())
}

/// The inclusive range of stored values that lie inside `cell`.
pub fn stored_range(cell: CellIndex) -> (i64, i64) {
    let count = cell.children_count(STORED);
    let first = cell.child_at(0, STORED).unwrap_or(cell);
    let last = cell
        .child_at(count.saturating_sub(1), STORED)
        .unwrap_or(cell);
    (to_db(first), to_db(last))
}

/// Parses a cell from its hexadecimal string form (`8a1f...`), as clients and events write it.
pub fn parse(text: &str) -> Option<CellIndex> {
    text.parse::<CellIndex>().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn descendants_are_exactly_the_range() {
        let berlin = cell_of(52.52, 13.405).unwrap();
        for res in [Resolution::Thirteen, Resolution::Fourteen] {
            let parent = berlin.parent(res).unwrap();
            let (lo, hi) = stored_range(parent);
            let children: Vec<i64> = parent.children(STORED).map(to_db).collect();
            assert_eq!(children.len() as u64, parent.children_count(STORED));
            assert!(children.iter().all(|c| (lo..=hi).contains(c)));
            assert_eq!(*children.iter().min().unwrap(), lo);
            assert_eq!(*children.iter().max().unwrap(), hi);
            // Neighbours lie outside.
            for n in parent.grid_disk::<Vec<_>>(1) {
                if n != parent {
                    let (nlo, nhi) = stored_range(n);
                    assert!(nhi < lo || nlo > hi);
                }
            }
        }
        let coarse = berlin.parent(Resolution::Three).unwrap();
        let (lo, hi) = stored_range(coarse);
        assert!((lo..=hi).contains(&to_db(berlin)));
    }

    #[test]
    fn pentagons_and_round_trips() {
        let pentagon = CellIndex::base_cells().find(|c| c.is_pentagon()).unwrap();
        let (lo, hi) = stored_range(pentagon);
        assert!(lo < hi);
        let child = pentagon.children(Resolution::Two).last().unwrap();
        let deep = child.center_child(STORED).unwrap();
        assert!((lo..=hi).contains(&to_db(deep)));
        assert_eq!(from_db(to_db(deep)), Some(deep));
        assert_eq!(parse(&deep.to_string()), Some(deep));
        assert_eq!(parse("not a cell"), None);
    }
}
