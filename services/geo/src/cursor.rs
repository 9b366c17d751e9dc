//! Opaque keyset cursors: base64url of `<list>:<key>`. The list name keeps a cursor of one list from
//! being accepted by another; anything that does not decode is a 400 `invalid_cursor`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use uuid::Uuid;

use crate::error::Error;

fn invalid() -> Error {
    Error::bad_request(
        "invalid_cursor",
        "the cursor is not one this list handed out",
    )
}

/// The page of a list that fetched `limit + 1` rows (the extra row only tells that there is more),
/// and the cursor of the next page, made from the page's last row.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    next: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more { rows.last().map(next) } else { None };
    (rows, next_cursor)
}

/// Lists ordered by id.
pub fn encode_id(list: &str, id: Uuid) -> String {
    B64.encode(format!("{list}:{id}"))
}

pub fn decode_id(list: &str, cursor: &str) -> Result<Uuid, Error> {
    let raw = B64.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    text.strip_prefix(list)
        .and_then(|r| r.strip_prefix(':'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(invalid)
}

/// Lists ordered by distance, then id. The distance travels as its exact bit pattern, so the next
/// page continues exactly after the last row (a decimal rendering could skip or repeat a row).
pub fn encode_distance(list: &str, distance: f64, id: Uuid) -> String {
    B64.encode(format!("{list}:{:016x}:{id}", distance.to_bits()))
}

pub fn decode_distance(list: &str, cursor: &str) -> Result<(f64, Uuid), Error> {
    let raw = B64.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let rest = text
        .strip_prefix(list)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(invalid)?;
    let (bits, id) = rest.split_once(':').ok_or_else(invalid)?;
    let distance = u64::from_str_radix(bits, 16)
        .map(f64::from_bits)
        .ok()
        .filter(|d| d.is_finite() && *d >= 0.0)
        .ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((distance, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_cursors() {
        let id = Uuid::now_v7();
        assert_eq!(decode_id("nodes", &encode_id("nodes", id)).ok(), Some(id));
        assert!(decode_id("edges", &encode_id("nodes", id)).is_err());
        assert!(decode_id("nodes", "%%%").is_err());
        assert!(decode_id("nodes", &B64.encode("nodes:nope")).is_err());
        let c = encode_distance("near", 1234.5678, id);
        assert_eq!(decode_distance("near", &c).ok(), Some((1234.5678, id)));
        assert!(decode_distance("near", &encode_id("near", id)).is_err());
        assert!(
            decode_distance(
                "near",
                &B64.encode(format!("near:{:016x}:{id}", f64::NAN.to_bits()))
            )
            .is_err()
        );
    }
}
