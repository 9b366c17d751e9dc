use axum::{extract::State, http::StatusCode};
use gewebe_events::{Envelope, types::AccountRegistered};
use gewebe_platform::{
    Problem,
    auth::AuthUser,
    http::{client_ip::ClientIp, extract::Json},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{failures, store, validate};
use crate::{
    AppState,
    audit::{self, Kind},
    config::SERVICE,
    error::Error,
};

#[derive(Deserialize, ToSchema)]
pub struct Register {
    email: String,
    password: String,
    display_name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct Login {
    email: String,
    password: String,
    /// Non-browser clients: also return the refresh token in the body (browsers use the cookie).
    #[serde(default)]
    refresh_token_in_body: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Privacy {
    /// Radius in metres within which the public position of the `home` node is fuzzed.
    pub(super) fuzz_radius_m: i32,
    /// Role without name: public views show a placeholder instead of this account.
    pub(super) ron: bool,
    /// The settings' version: the aggregate version of the `account.updated` event that carried
    /// them (0 while they are the defaults). Access tokens carry it as `pv`; gewebe-geo compares it
    /// with the settings it has applied before it places a `home`.
    #[serde(default)]
    pub(super) version: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Account {
    id: Uuid,
    email: Option<String>,
    display_name: Option<String>,
    roles: Vec<String>,
    privacy: Privacy,
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<store::Account> for Account {
    fn from(a: store::Account) -> Self {
        Self {
            id: a.id,
            email: a.email,
            display_name: a.display_name,
            roles: a.roles,
            privacy: Privacy {
                fuzz_radius_m: a.fuzz_radius_m,
                ron: a.ron,
                version: a.privacy_version,
            },
            version: a.version,
            created_at: a.created_at,
        }
    }
}

/// Creates an account. A taken address answers 409 `email_taken`, which lets a caller learn that an
/// address is registered; the registration limit per address bounds how fast (the trade-off is in
/// runbooks/auth-security.md).
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = Register,
    responses(
        (status = 201, body = Account),
        (status = 409, description = "e-mail taken (`email_taken`). This tells the caller that the address has an account; kept on purpose, rate-limited per address (see runbooks/auth-security.md)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid fields (`validation_failed`)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "too many registrations from this address (IPv6: its /64) (`rate_limited`, Retry-After)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: every password-hashing slot is busy (Retry-After, at once); `throttle_unavailable`: the rate-limit store is down", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<Register>,
) -> Result<(StatusCode, Json<Account>), Error> {
    let mut errors = Vec::new();
    let email = validate::email(&req.email, &mut errors);
    validate::password(&req.password, &mut errors);
    let display_name = validate::display_name(&req.display_name, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    // A hashing slot first (503 at once when all are busy, before anything is counted), then the
    // limit, counted before the (deliberately slow) hash so that it also protects the CPU.
    let permit = app.hasher.permit()?;
    app.throttle.register(ip).await?;
    let hash = app.hasher.hash(permit, req.password).await?;
    let id = Uuid::now_v7();

    let mut tx = app.db.begin().await?;
    let account = store::insert(&mut tx, id, &email, &hash, &display_name)
        .await?
        .ok_or(Error::EmailTaken)?;
    // Ids only: no e-mail, no name in events.
    let event = Envelope::new(
        SERVICE,
        id,
        account.version,
        &AccountRegistered { account_id: id },
    )
    .map_err(gewebe_events::outbox::OutboxError::from)?
    .with_actor(id)
    .with_current_trace(gewebe_platform::http::context::current_request_id());
    app.outbox.record(&mut tx, &event).await?;
    audit::record(&mut tx, Kind::AccountRegistered, Some(id), None, json!({})).await?;
    app.outbox.commit(tx).await?;
    tracing::info!(account_id = %id, "account registered");
    Ok((StatusCode::CREATED, Json(account.into())))
}

/// Exchanges e-mail and password for an access token. Wrong e-mail and wrong password get the same
/// answer, after the same work. Every attempt is counted before its password is checked (a success
/// refunds it): too many for one account from one address lock that pair (429 with Retry-After,
/// even with the right password); one account failing from many addresses slows down to one
/// attempt per growing delay, except from addresses it recently logged in from.
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = Login,
    responses(
        (status = 200, body = crate::sessions::Tokens, description = "access token; the refresh token as an HttpOnly cookie scoped to /auth"),
        (status = 401, description = "wrong e-mail or password (`invalid_credentials`)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "locked after too many attempts for this account from this address (IPv6: its /64), too many from this address, or the account's progressive delay (`rate_limited`, Retry-After)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: every password-hashing slot is busy (Retry-After, at once); `throttle_unavailable`: the rate-limit store is down, logins fail closed", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<Login>,
) -> Result<axum::response::Response, Error> {
    let mut ignored = Vec::new();
    let email = validate::email(&req.email, &mut ignored);
    // The slot before the count: an attempt refused for overload was never looked at, so it must
    // not count against the owner.
    let permit = app.hasher.permit()?;
    let attempt = match app.throttle.begin_login(&email, ip).await? {
        Ok(attempt) => attempt,
        Err(refused) => {
            drop(permit);
            if refused.locked_now {
                // Once per lock, not per refused attempt; attributed like a failure (by e-mail).
                let known = account_of(&app, &email).await?;
                record_failure(&app, known, failures::Failure::Locked).await?;
            }
            return Err(Error::Throttled {
                retry_after: refused.retry_after,
            });
        }
    };
    let evaluated = async {
        let found = {
            let mut tx = app.db.begin().await?;
            let found = store::credentials(&mut tx, &email).await?;
            tx.commit().await?;
            found
        };
        let stored = found.as_ref().and_then(|c| c.password_hash.clone());
        let verified = app
            .hasher
            .verify(permit, req.password.clone(), stored)
            .await?;
        Ok::<_, Error>((found, verified))
    }
    .await;
    let (found, verified) = match evaluated {
        Ok(v) => v,
        Err(e) => {
            // The password was never judged (database down, a timeout): not an attempt.
            app.throttle.login_not_evaluated(attempt).await;
            return Err(e);
        }
    };
    let known = found.as_ref().map(|c| c.id);
    let Some(account) = found.filter(|_| verified.ok) else {
        // Known and unknown addresses take the same path here too: counted, aggregated, answered.
        record_failure(&app, known, failures::Failure::Credentials).await?;
        tracing::info!("login failed");
        return Err(Error::InvalidCredentials);
    };
    app.throttle.login_succeeded(attempt).await;
    // Upgrading an outdated hash is worth a slot only when one is free; the next login retries.
    if verified.needs_rehash
        && let Ok(permit) = app.hasher.permit()
    {
        let hash = app.hasher.hash(permit, req.password).await?;
        let mut tx = app.db.begin().await?;
        store::update_hash(&mut tx, account.id, &hash).await?;
        tx.commit().await?;
    }

    let (session, refresh) = {
        let mut tx = app.db.begin().await?;
        let session = crate::sessions::new_session(&mut tx, account.id).await?;
        let refresh =
            crate::sessions::issue(&mut tx, session, app.config.accounts.refresh_ttl).await?;
        audit::record(
            &mut tx,
            Kind::LoginSucceeded,
            Some(account.id),
            None,
            json!({"session_id": session}),
        )
        .await?;
        tx.commit().await?;
        (session, refresh)
    };
    tracing::info!(account_id = %account.id, session_id = %session, "login succeeded");
    crate::sessions::token_response(
        &app,
        account.id,
        &account.roles,
        session,
        refresh,
        req.refresh_token_in_body,
    )
    .await
}

async fn account_of(app: &AppState, email: &str) -> Result<Option<Uuid>, Error> {
    let mut tx = app.db.begin().await?;
    let found = store::credentials(&mut tx, email).await?;
    tx.commit().await?;
    Ok(found.map(|c| c.id))
}

async fn record_failure(
    app: &AppState,
    account: Option<Uuid>,
    failure: failures::Failure,
) -> Result<(), Error> {
    let mut tx = app.db.begin().await?;
    failures::count(&mut tx, account, failure, app.config.throttle.audit_window).await?;
    tx.commit().await?;
    Ok(())
}

/// The caller's own account.
#[utoipa::path(get, path = "/auth/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 401, body = gewebe_platform::http::problem::ProblemBody)))]
pub async fn me(
    State(app): State<AppState>,
    user: AuthUser,
) -> Result<axum::response::Response, Problem> {
    let mut tx = app.db.begin().await.map_err(Error::from)?;
    let account = store::by_id(&mut tx, user.id).await.map_err(Error::from)?;
    tx.commit().await.map_err(Error::from)?;
    Ok(with_etag(account.ok_or(Error::NotFound)?))
}

/// The account as JSON with its version as `ETag`, for `If-Match` on the next write.
pub(super) fn with_etag(account: store::Account) -> axum::response::Response {
    use axum::response::IntoResponse;
    let etag = gewebe_platform::http::extract::etag(account.version);
    (
        [(axum::http::header::ETAG, etag)],
        Json(Account::from(account)),
    )
        .into_response()
}
