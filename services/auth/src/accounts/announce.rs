//! `gewebe-auth accounts announce-privacy`: writes an `account.updated` with the current settings
//! of every account whose settings are not the defaults.
//!
//! Services that apply privacy settings from events (geo) can hold older ones: an event that an
//! earlier build dead-lettered after a database outage, or a `home` written before geo waited for
//! the settings (it was then published under radius 0, i.e. exact). Announcing the current settings
//! again, at the account's current version, repairs them: geo applies what is newer than what it
//! holds and moves the home; what it already has is skipped. Safe to run any time, and twice.

use gewebe_events::{Envelope, outbox::Outbox, types::AccountUpdated};
use gewebe_platform::{db::Db, sql};
use uuid::Uuid;

use crate::{config::SERVICE, error::Error};

const BATCH: i64 = 500;

/// Returns how many accounts were announced.
pub async fn announce_privacy(db: &Db, outbox: &Outbox) -> Result<u64, Error> {
    let mut after = Uuid::nil();
    let mut announced = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows: Vec<(Uuid, i32, bool, i64)> = sqlx::query_as(sql!("accounts/announce_batch"))
            .bind(after)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
        for (id, radius, ron, version) in &rows {
            let event = Envelope::new(
                SERVICE,
                *id,
                *version,
                &AccountUpdated {
                    account_id: *id,
                    fuzz_radius_m: radius.unsigned_abs(),
                    ron: *ron,
                },
            )
            .map_err(gewebe_events::outbox::OutboxError::from)?
            .with_actor(*id);
            outbox.record(&mut tx, &event).await?;
        }
        outbox.commit(tx).await?;
        announced += rows.len() as u64;
        match rows.last() {
            Some((id, ..)) if i64::try_from(rows.len()) == Ok(BATCH) => after = *id,
            _ => return Ok(announced),
        }
    }
}
