//! The chain's hash: exactly which bytes are hashed, so an auditor can recompute it with any
//! SHA-256 tool. Fields are length-prefixed so no two different entries hash the same bytes.

use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AccountRegistered,
    AccountUpdated,
    AccountForgotten,
    LoginSucceeded,
    /// One per account and window, with counts (see `accounts::failures`), so an attacker cannot
    /// grow the log by failing; attempts refused by the throttle are not logged at all.
    LoginFailed,
    RefreshReused,
    Logout,
    RolesChanged,
    KeyRotated,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountRegistered => "account.registered",
            Self::AccountUpdated => "account.updated",
            Self::AccountForgotten => "account.forgotten",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::RefreshReused => "refresh.reused",
            Self::Logout => "logout",
            Self::RolesChanged => "roles.changed",
            Self::KeyRotated => "key.rotated",
        }
    }
}

/// `SHA-256(prev_hash ‖ seq ‖ at ‖ len(kind) ‖ kind ‖ account ‖ actor ‖ len(data) ‖ data)` with
/// `seq`, `at` (Unix microseconds) and lengths as big-endian 64-bit integers, ids as their 16 bytes
/// (16 zero bytes when absent), and `data` as canonical JSON (object keys sorted, no spaces).
pub fn link_hash(
    prev: &[u8],
    seq: i64,
    at_micros: i64,
    kind: &str,
    account_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    data: &Value,
) -> [u8; 32] {
    let data = canonical(data);
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at_micros.to_be_bytes());
    h.update((kind.len() as u64).to_be_bytes());
    h.update(kind.as_bytes());
    h.update(account_id.unwrap_or(Uuid::nil()).as_bytes());
    h.update(actor_id.unwrap_or(Uuid::nil()).as_bytes());
    h.update((data.len() as u64).to_be_bytes());
    h.update(data.as_bytes());
    h.finalize().into()
}

/// JSON with object keys sorted at every level. PostgreSQL's `jsonb` reorders keys, and `serde_json`
/// keeps insertion order when any crate in the build enables `preserve_order`; sorting here makes
/// the hashed bytes independent of both.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        assert_eq!(
            canonical(&json!({"b": 1, "a": {"d": [1, {"f": "x", "e": null}], "c": true}})),
            r#"{"a":{"c":true,"d":[1,{"e":null,"f":"x"}]},"b":1}"#
        );
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = || link_hash(&[0; 32], 1, 2, "logout", None, None, &json!({}));
        let variants = [
            link_hash(&[1; 32], 1, 2, "logout", None, None, &json!({})),
            link_hash(&[0; 32], 2, 2, "logout", None, None, &json!({})),
            link_hash(&[0; 32], 1, 3, "logout", None, None, &json!({})),
            link_hash(&[0; 32], 1, 2, "login", None, None, &json!({})),
            link_hash(
                &[0; 32],
                1,
                2,
                "logout",
                Some(Uuid::max()),
                None,
                &json!({}),
            ),
            link_hash(
                &[0; 32],
                1,
                2,
                "logout",
                None,
                Some(Uuid::max()),
                &json!({}),
            ),
            link_hash(&[0; 32], 1, 2, "logout", None, None, &json!({"a": 1})),
        ];
        for v in variants {
            assert_ne!(v, base());
        }
    }
}
