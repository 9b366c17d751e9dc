//! The event spine's shared vocabulary: the versioned [`Envelope`], typed events, subject and
//! stream naming, the transactional [`outbox`] writer, and the [`consumer`] helper.
//!
//! Events carry ids and public fields only — no e-mail addresses, password material, exact private
//! locations or display names — so the forget pipeline never has to rewrite the stream.

pub mod consumer;
pub mod envelope;
pub mod outbox;
pub mod subjects;
pub mod trace;
pub mod types;

pub use envelope::{Aggregate, DecodeError, Envelope, Event, Location, Visibility};
