//! What a `home` write needs first: its owner's privacy settings, known and locked.
//!
//! Geo learns the settings from auth's `account.updated` events, which may be late (relay lag, NATS
//! down, a stuck event). The access token names the settings' version (`pv`); a home is written only
//! under settings geo knows at that version or later, and with the owner's row locked, so a
//! settings update cannot slip in between reading the radius and writing the home.
//!
//! A token is up to 15 minutes old, and the likeliest first home is placed with the token the
//! person had before they chose their radius (sign up, set privacy, place the home). So a home
//! write also asks auth — with the caller's own token, at `GET /auth/me` — which version is current
//! now, and waits for the newer of the two. If auth cannot say, the home is not written (503): a
//! home placed under settings geo cannot confirm is the leak this module exists to prevent.

use axum::http::{HeaderMap, header};
use gewebe_platform::{auth::AuthUser, sql};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{AppState, error::Error};

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
    sqlx::query(sql!("homes/ensure_account"))
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    let (radius, forgotten, version): (i32, bool, i64) =
        sqlx::query_as(sql!("homes/lock_settings"))
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
/// `current` is what [`current_version`] said, asked before the transaction began (a transaction
/// must not hold its pooled connection across a call to another service).
pub async fn radius(
    app: &AppState,
    tx: &mut PgConnection,
    user: &AuthUser,
    current: i64,
) -> Result<i32, Error> {
    let token_version = user
        .privacy_version
        .ok_or(Error::TokenWithoutPrivacyVersion)?;
    let version = token_version.max(current);
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

#[derive(Deserialize)]
struct Me {
    privacy: MePrivacy,
}

#[derive(Deserialize)]
struct MePrivacy {
    #[serde(default)]
    version: i64,
}

/// The caller's privacy-settings version as auth holds it now, asked with the caller's own token
/// (no service credentials: auth answers only for the token's owner).
pub async fn current_version(app: &AppState, headers: &HeaderMap) -> Result<i64, Error> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Error::AuthUnavailable("no bearer token to ask with".to_owned()))?;
    let response = app
        .auth_http
        .get(format!("{}/auth/me", app.auth_base))
        .header(header::AUTHORIZATION, authorization)
        .send()
        .await
        .map_err(|e| Error::AuthUnavailable(format!("asking auth: {}", short(&e))))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        // The session ended or the account is gone: retrying would not help, logging in might.
        return Err(Error::TokenRejected);
    }
    if !status.is_success() {
        return Err(Error::AuthUnavailable(format!("auth answered {status}")));
    }
    let me: Me = response
        .json()
        .await
        .map_err(|e| Error::AuthUnavailable(format!("auth's answer: {}", short(&e))))?;
    Ok(me.privacy.version)
}

/// A reqwest error without the URL (it names an internal address; logs are enough for that).
fn short(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() {
        "not the expected JSON"
    } else {
        "request failed"
    }
}
