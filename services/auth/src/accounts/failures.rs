//! Failed logins in the audit log, aggregated: at most one `login.failed` entry per account and
//! window (`AUTH_LOGIN_AUDIT_WINDOW_SECS`) carrying the counts. A failure adds to the window's row
//! in `auth.login_failures`; housekeeping writes each closed window to the chain and deletes it.
//! This also keeps failed logins off the audit head's row lock, which serialises every writer.

use gewebe_platform::sql;
use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Kind};

/// What to count.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// A wrong password (or unknown address) that was checked.
    Credentials,
    /// An attempt that crossed the pair limit and started a lock.
    Locked,
}

/// Adds one failure to the current window of `account` (`None`: an unknown e-mail address).
pub async fn count(
    conn: &mut PgConnection,
    account: Option<Uuid>,
    failure: Failure,
    window: std::time::Duration,
) -> sqlx::Result<()> {
    let (failures, locks) = match failure {
        Failure::Credentials => (1, 0),
        Failure::Locked => (0, 1),
    };
    sqlx::query(sql!("accounts/count_failure"))
        .bind(account.unwrap_or(Uuid::nil()))
        .bind(window.as_secs_f64().max(1.0))
        .bind(failures)
        .bind(locks)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Window {
    account_id: Uuid,
    window_start: OffsetDateTime,
    failures: i32,
    locks: i32,
}

/// Writes up to `limit` windows that closed before `now` to the audit log and deletes them;
/// returns how many. Rows are claimed with `SKIP LOCKED`, so instances flushing at once share the
/// work instead of writing a window twice. A few seconds of slack keep a failure that started in
/// a window's last moment from landing in a row that was already flushed.
pub async fn flush(
    conn: &mut PgConnection,
    window: std::time::Duration,
    now: OffsetDateTime,
    limit: i64,
) -> sqlx::Result<usize> {
    let cutoff = now - window - std::time::Duration::from_secs(5);
    let mut rows: Vec<Window> = sqlx::query_as(sql!("accounts/flush_failures"))
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.sort_by_key(|r| (r.window_start, r.account_id));
    let secs = window.as_secs().max(1);
    for row in &rows {
        let account = (!row.account_id.is_nil()).then_some(row.account_id);
        let start = row
            .window_start
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        audit::record(
            conn,
            Kind::LoginFailed,
            account,
            None,
            json!({
                "reason": "credentials",
                "failures": row.failures,
                "locks": row.locks,
                "window_start": start,
                "window_secs": secs,
            }),
        )
        .await?;
    }
    Ok(rows.len())
}
