//! Who may change what, and optimistic concurrency: the same rules for nodes and edges.

use gewebe_platform::auth::{AuthUser, Role};
use uuid::Uuid;

use crate::{App, error::Error};

/// Takes one write from the caller's bucket (see `limit`); 429 with Retry-After when it is empty.
pub fn limit_writes(app: &App, user: &AuthUser) -> Result<(), Error> {
    app.writes.take(user.id).map_err(|wait| {
        app.metrics.refused("rate_limited");
        Error::RateLimited {
            // Whole seconds, rounded up: a client that waits that long finds a token.
            retry_after_secs: u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                .unwrap_or(u32::MAX)
                .max(1),
        }
    })
}

/// A write whose events name its author (`author` is the caller's own node or edge, or a new one):
/// refused with 409 `privacy_pending` while geo knows the caller's privacy settings only at a version
/// below the token's — the events would name someone who may have chosen role-without-name since.
/// `known` is geo's version (`None` before any account event). Tokens without `pv` pass, as before.
pub fn settings_known(app: &App, user: &AuthUser, known: Option<i64>) -> Result<(), Error> {
    if known.unwrap_or(0) < user.privacy_version.unwrap_or(0) {
        app.metrics.refused("privacy_pending");
        return Err(Error::PrivacyPending);
    }
    Ok(())
}

/// Owner, moderator or admin; a forgotten owner's nodes and edges only the latter two.
pub fn may_change(user: &AuthUser, owner: Option<Uuid>) -> Result<(), Error> {
    if owner == Some(user.id) || user.has_role(Role::Moderator) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only the owner, a moderator or an admin may change this",
        ))
    }
}

/// `If-Match` given and not the current version: 412.
pub fn check_version(expected: Option<i64>, current: i64) -> Result<(), Error> {
    match expected {
        Some(v) if v != current => Err(Error::VersionMismatch),
        _ => Ok(()),
    }
}
