//! Periodic clean-up, on every instance (each step is idempotent and safe to run concurrently):
//! erase sealed refresh successors once their grace window has passed, and write closed windows of
//! failed logins to the audit log.

use std::time::Duration;

use gewebe_platform::{Shutdown, db::Db};
use time::OffsetDateTime;

use crate::{AppState, accounts::failures};

/// Windows written per transaction: keeps the audit head's lock short.
const FLUSH_BATCH: i64 = 500;

/// Runs [`run_once`] every `AUTH_HOUSEKEEPING_INTERVAL_SECS` until shutdown.
pub fn spawn(app: &AppState, shutdown: &Shutdown) {
    let db = app.db.clone();
    let grace = app.config.accounts.refresh_grace;
    let window = app.config.throttle.audit_window;
    shutdown.every(app.config.accounts.housekeeping_interval, move || {
        let db = db.clone();
        async move {
            if let Err(e) = run_once(&db, grace, window).await {
                tracing::warn!(error = %e, "housekeeping failed; retrying at the next tick");
            }
        }
    });
}

/// One round: what the periodic task does, callable from the command line and tests.
pub async fn run_once(db: &Db, grace: Duration, window: Duration) -> Result<(), sqlx::Error> {
    loop {
        let mut tx = db.begin().await?;
        let erased = crate::sessions::erase_expired_successors(&mut tx, grace, FLUSH_BATCH).await?;
        tx.commit().await?;
        if erased > 0 {
            tracing::debug!(erased, "sealed refresh successors erased");
        }
        if erased < FLUSH_BATCH.unsigned_abs() {
            break;
        }
    }
    loop {
        let mut tx = db.begin().await?;
        let written =
            failures::flush(&mut tx, window, OffsetDateTime::now_utc(), FLUSH_BATCH).await?;
        tx.commit().await?;
        if i64::try_from(written).is_ok_and(|n| n < FLUSH_BATCH) {
            break;
        }
    }
    Ok(())
}
