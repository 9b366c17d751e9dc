//! The security audit log: append-only and hash-chained (each entry holds the hash of the one
//! before), written in the same transaction as the change it records. `gewebe-auth audit verify`
//! walks the chain; admins read it at `GET /auth/admin/audit` (see `admin`).
//!
//! Entries hold ids and codes only, never e-mail addresses, names, IP addresses or secrets, so the
//! log survives a forget request untouched (the account id is a pseudonym once the account is gone).

pub mod anchor;
mod chain;
mod store;

pub use chain::{Kind, link_hash};
pub use store::{Anchored, Entry, Page, Verification, hex, list, record, verify, verify_batched};
