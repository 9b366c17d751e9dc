//! Subject and stream naming.
//!
//! Events go to `<prefix>.<type>` (e.g. `gewebe.node.created`), so a consumer filters by domain
//! with `gewebe.node.>`. The stream `<prefix>_events` captures `<prefix>.>`. Quarantined rows are
//! reported on `<prefix>_dlq.<type>`, outside the event stream (stream `<prefix>_dlq`).
//! Test runs use their own prefix, so they share one server without seeing each other.

pub fn event(prefix: &str, event_type: &str) -> String {
    format!("{prefix}.{event_type}")
}

pub fn all_events(prefix: &str) -> String {
    format!("{prefix}.>")
}

pub fn stream(prefix: &str) -> String {
    format!("{prefix}_events")
}

pub fn dlq(prefix: &str, event_type: &str) -> String {
    format!("{prefix}_dlq.{event_type}")
}

pub fn dlq_stream(prefix: &str) -> String {
    format!("{prefix}_dlq")
}

/// Event types become subject tokens; only `[a-z0-9_.-]` may appear, and no empty token.
pub fn valid_event_type(event_type: &str) -> bool {
    !event_type.is_empty()
        && event_type.split('.').all(|t| !t.is_empty())
        && event_type
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}
