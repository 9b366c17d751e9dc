//! The cursor of "my conversations": base64url of `<last activity, RFC 3339>|<id>`; anything that
//! does not decode is a 400 `invalid_cursor`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::error::Error;

pub fn encode(at: OffsetDateTime, id: Uuid) -> String {
    B64.encode(format!("{}|{id}", at.format(&Rfc3339).unwrap_or_default()))
}

pub fn decode(cursor: &str) -> Result<(OffsetDateTime, Uuid), Error> {
    let invalid = || {
        Error::bad_request(
            "invalid_cursor",
            "the cursor is not one this list handed out",
        )
    };
    let raw = B64.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    Ok((
        OffsetDateTime::parse(at, &Rfc3339).map_err(|_| invalid())?,
        Uuid::parse_str(id).map_err(|_| invalid())?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let id = uuid::Uuid::now_v7();
        assert_eq!(super::decode(&super::encode(at, id)).ok(), Some((at, id)));
        for bad in ["", "!!", "eHx5", "MjAyNnw"] {
            assert!(super::decode(bad).is_err(), "{bad:?}");
        }
    }
}
