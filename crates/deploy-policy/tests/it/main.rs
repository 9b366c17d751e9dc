//! Policy tests over the repository's production files (see the crate docs).

mod caddy;
mod jobs;
mod support;
