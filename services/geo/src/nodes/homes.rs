//! What a `home` write needs first: its owner's privacy settings, known and locked.
//!
//! Geo learns the settings from auth's `account.updated` events, which may be late (relay lag, NATS
//! down, a stuck event). The access token names the settings' version (`pv`); a home is written only
//! under settings geo knows at that version or later, and with the owner's row locked, so a
//! settings update cannot slip in between reading the radius and writing the home.

use gewebe_platform::auth::AuthUser;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{AppState, error::Error, privacy};

/// What a `home` write may use of its owner's privacy settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeSettings {
    /// Geo knows them at the version the caller's token names, or later.
    Known {
        radius: i32,
    },
    Forgotten,
    /// Geo has not applied the event with them yet: writing now would publish the home under older
    /// settings (the exact position, when the older radius is 0).
    Pending,
}

/// Locks the owner's settings row for a `home` write, until the transaction ends. The account
/// consumer locks the same row before it re-fuzzes the owner's home, so a home write and a settings
/// update serialise: whichever commits second sees the first. An account geo has never heard of
/// gets its row now, with the defaults at version 0 (a token with `pv` 0 says they are right), so
/// that there is a row to lock; a refused write rolls it back with everything else.
pub async fn lock_settings(
    conn: &mut PgConnection,
    owner: Uuid,
    token_version: i64,
) -> sqlx::Result<HomeSettings> {
    sqlx::query(
        "INSERT INTO geo.accounts (id, version) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING",
    )
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    let (radius, forgotten, version): (i32, bool, i64) = sqlx::query_as(
        "SELECT fuzz_radius_m, forgotten, version FROM geo.accounts WHERE id = $1 FOR UPDATE",
    )
    .bind(owner)
    .fetch_one(conn)
    .await?;
    Ok(if forgotten {
        HomeSettings::Forgotten
    } else if version < token_version {
        HomeSettings::Pending
    } else {
        HomeSettings::Known { radius }
    })
}

/// The fuzz radius for a write of the caller's own `home`, with their settings row locked until the
/// transaction ends; refuses while geo has not caught up with the settings the token names.
pub async fn radius(app: &AppState, tx: &mut PgConnection, user: &AuthUser) -> Result<i32, Error> {
    let version = user
        .privacy_version
        .ok_or(Error::TokenWithoutPrivacyVersion)?;
    match lock_settings(tx, user.id, version).await? {
        HomeSettings::Known { radius } => Ok(radius),
        HomeSettings::Forgotten => Err(Error::Forbidden("this account was deleted")),
        HomeSettings::Pending => {
            app.metrics.refused("privacy_pending");
            tracing::info!("home write refused until the owner's privacy settings arrive");
            Err(Error::PrivacyPending)
        }
    }
}

/// The public position of a new or moved node: fuzzed for `home`, as given otherwise.
pub fn public_position(
    app: &crate::App,
    id: Uuid,
    kind: &str,
    radius_m: i32,
    (lat, lon): (f64, f64),
) -> (f64, f64) {
    if kind == "home" {
        privacy::public_position(
            &app.config.geo.fuzz_key,
            id,
            radius_m.unsigned_abs(),
            lat,
            lon,
        )
    } else {
        (lat, lon)
    }
}
