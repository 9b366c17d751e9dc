//! Policy tests over the repository's production files (see the crate docs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test code: pedantic lints that guard production paths, not fixtures and measurements.
#![allow(clippy::format_push_string)]

mod caddy;
mod edge_feed;
mod jobs;
mod rendered;
mod support;
mod terraform;
