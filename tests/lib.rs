//! Cross-service end-to-end tests live in `it/`; they run against the local stack that
//! `cargo xtask test` brings up (`GEWEBE_STACK_URL`, `GEWEBE_STACK_CA`).
