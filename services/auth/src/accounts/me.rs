//! The caller's own account: `PATCH /auth/me` (display name, privacy) and `DELETE /auth/me`
//! (forget). Both commit their event and audit entry with the change.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gewebe_events::{
    Envelope,
    outbox::OutboxError,
    types::{AccountForgotten, AccountUpdated},
};
use gewebe_platform::{
    FieldError,
    auth::AuthUser,
    http::extract::{IfMatch, Json},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{routes::with_etag, store, validate};
use crate::{
    AppState,
    audit::{self, Kind},
    config::SERVICE,
    error::Error,
};

/// Only the fields present change. Unknown fields are refused, so a typo is not silently ignored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    display_name: Option<String>,
    privacy: Option<PrivacyChange>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyChange {
    /// 0–5000 m: the public position of your `home` node lies within this distance of the real one.
    fuzz_radius_m: Option<i64>,
    /// Role without name: public views show a placeholder instead of you.
    ron: Option<bool>,
}

/// Changes the display name and privacy settings. Send `If-Match` with the `ETag` you read to make
/// the write conditional (412 `version_mismatch` if the account changed meanwhile).
#[utoipa::path(patch, path = "/auth/me", tag = "accounts", security(("bearer" = [])), request_body = UpdateMe,
    params(("If-Match" = Option<String>, Header, description = "the ETag of the account you read")),
    responses(
        (status = 200, body = super::routes::Account, description = "the updated account; `ETag` is its new version"),
        (status = 412, description = "`version_mismatch`", body = gewebe_platform::http::problem::ProblemBody),
        (status = 422, description = "`validation_failed`", body = gewebe_platform::http::problem::ProblemBody),
    ))]
pub async fn update(
    State(app): State<AppState>,
    user: AuthUser,
    IfMatch(expected): IfMatch,
    Json(req): Json<UpdateMe>,
) -> Result<Response, Error> {
    let mut errors = Vec::new();
    let mut changes = store::Changes::default();
    if let Some(name) = &req.display_name {
        changes.display_name = Some(validate::display_name(name, &mut errors));
    }
    let mut fields = Vec::new();
    if changes.display_name.is_some() {
        fields.push("display_name");
    }
    if let Some(privacy) = &req.privacy {
        if let Some(r) = privacy.fuzz_radius_m {
            match i32::try_from(r).ok().filter(|r| (0..=5000).contains(r)) {
                Some(r) => changes.fuzz_radius_m = Some(r),
                None => errors.push(FieldError::new(
                    "privacy.fuzz_radius_m",
                    "out_of_range",
                    "must be 0 to 5000 metres",
                )),
            }
            fields.push("privacy.fuzz_radius_m");
        }
        if privacy.ron.is_some() {
            changes.ron = privacy.ron;
            fields.push("privacy.ron");
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if fields.is_empty() {
        return Err(Error::Validation(vec![FieldError::new(
            "",
            "empty",
            "name at least one of display_name, privacy.fuzz_radius_m, privacy.ron",
        )]));
    }

    let mut tx = app.db.begin().await?;
    let account = match store::update(&mut tx, user.id, expected, &changes).await? {
        store::Updated::Done(a) => a,
        store::Updated::VersionMismatch => return Err(Error::VersionMismatch),
        store::Updated::NotFound => return Err(Error::NotFound),
    };
    // Every change is announced (private to the account): geo re-fuzzes the home node, clients
    // refresh the profile they show. The payload holds no name.
    let event = Envelope::new(
        SERVICE,
        account.id,
        account.version,
        &AccountUpdated {
            account_id: account.id,
            fuzz_radius_m: account.fuzz_radius_m.unsigned_abs(),
            ron: account.ron,
        },
    )
    .map_err(OutboxError::from)?
    .with_actor(user.id)
    .with_current_trace(gewebe_platform::http::context::current_request_id());
    app.outbox.record(&mut tx, &event).await?;
    audit::record(
        &mut tx,
        Kind::AccountUpdated,
        Some(account.id),
        None,
        json!({ "fields": fields }),
    )
    .await?;
    app.outbox.commit(tx).await?;
    Ok(with_etag(account))
}

#[derive(Serialize, ToSchema)]
pub struct ForgetAccepted {
    account_id: Uuid,
    /// Always `accepted`: this service has erased its part; the others follow from the event.
    status: &'static str,
}

/// Forgets the caller (DSGVO art. 17): at once every session ends, login stops working, and the
/// e-mail address, display name and password hash are erased; the account id stays as a
/// pseudonymous tombstone. `account.forgotten` tells every other service to remove or
/// pseudonymise its data (runbooks/forget.md), hence 202.
#[utoipa::path(delete, path = "/auth/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 202, body = ForgetAccepted),
        (status = 404, description = "already forgotten (`not_found`)", body = gewebe_platform::http::problem::ProblemBody),
    ))]
pub async fn forget(State(app): State<AppState>, user: AuthUser) -> Result<Response, Error> {
    let mut tx = app.db.begin().await?;
    forget_account(&mut tx, &app.outbox, user.id, user.id).await?;
    app.outbox.commit(tx).await?;
    tracing::info!(account_id = %user.id, "account forgotten");
    let clear = axum::http::HeaderValue::from_static(
        "gewebe_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0",
    );
    Ok((
        StatusCode::ACCEPTED,
        [(axum::http::header::SET_COOKIE, clear)],
        Json(ForgetAccepted {
            account_id: user.id,
            status: "accepted",
        }),
    )
        .into_response())
}

/// The whole of a forget inside the caller's transaction: tombstone, sessions, event, audit entry.
/// `actor` is the account itself, or the operator's account for `gewebe-auth accounts forget`.
/// `Err(NotFound)` if there is no such account or it is already forgotten.
pub async fn forget_account(
    conn: &mut sqlx::PgConnection,
    outbox: &gewebe_events::outbox::Outbox,
    id: Uuid,
    actor: Uuid,
) -> Result<(), Error> {
    let version = store::forget(conn, id).await?.ok_or(Error::NotFound)?;
    let event = Envelope::new(SERVICE, id, version, &AccountForgotten { account_id: id })
        .map_err(OutboxError::from)?
        .with_actor(actor)
        .with_current_trace(gewebe_platform::http::context::current_request_id());
    outbox.record(conn, &event).await?;
    let by = (actor != id).then_some(actor);
    audit::record(conn, Kind::AccountForgotten, Some(id), by, json!({})).await?;
    Ok(())
}
