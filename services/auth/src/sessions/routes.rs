use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use gewebe_platform::auth::{Claims, Role};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store;
use crate::{AppState, error::Error};

/// The refresh-token cookie: HttpOnly, Secure, SameSite=Strict, scoped to `/auth`.
pub const COOKIE: &str = "gewebe_refresh";

#[derive(Deserialize, Default, ToSchema)]
pub struct RefreshRequest {
    /// For non-browser clients; browsers send the cookie instead.
    refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Tokens {
    access_token: String,
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// Only when the client asked for it in the body; browsers get the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// Signs an access token and answers with it, setting the refresh cookie.
pub async fn token_response(
    app: &AppState,
    account_id: Uuid,
    roles: &[String],
    session_id: Uuid,
    refresh_token: String,
    refresh_in_body: bool,
) -> Result<Response, Error> {
    // Read here rather than by every caller: the latest version is the one geo must reach, and a
    // login or refresh costs a hash or a rotation anyway.
    let pv: Option<i64> = {
        let mut tx = app.db.begin().await?;
        let pv = store::privacy_version(&mut tx, account_id).await?;
        tx.commit().await?;
        pv
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let ttl = i64::try_from(app.config.accounts.access_ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = Claims {
        sub: account_id,
        sid: Some(session_id),
        roles: roles
            .iter()
            .filter_map(|r| r.parse::<Role>().ok())
            .collect(),
        iat: now,
        exp: now + ttl,
        iss: app.config.jwt.issuer.clone(),
        aud: app.config.jwt.audience.clone(),
        pv,
    };
    let access_token = app.keys.sign(&claims).await?;
    let cookie = format!(
        "{COOKIE}={refresh_token}; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age={}",
        app.config.accounts.refresh_ttl.as_secs()
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| Error::Hashing(e.to_string()))?;
    let body = Tokens {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: refresh_in_body.then_some(refresh_token),
    };
    Ok((
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        axum::Json(body),
    )
        .into_response())
}

/// The presented refresh token: the JSON body's `refresh_token`, else the cookie.
fn presented(headers: &HeaderMap, body: &Bytes) -> Result<(String, bool), Error> {
    if !body.is_empty() {
        let req: RefreshRequest = serde_json::from_slice(body).map_err(|_| {
            Error::Validation(vec![gewebe_platform::FieldError::new(
                "refresh_token",
                "invalid",
                "the body must be JSON like {\"refresh_token\": \"...\"}",
            )])
        })?;
        if let Some(token) = req.refresh_token {
            return Ok((token, true));
        }
    }
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .ok_or(Error::InvalidRefreshToken)?;
    Ok((token, false))
}

/// Rotates the refresh token and issues a new access token.
#[utoipa::path(post, path = "/auth/refresh", tag = "sessions", request_body(content = RefreshRequest, description = "optional; browsers send the cookie"),
    responses(
        (status = 200, body = Tokens, description = "new access token; the rotated refresh token as cookie (and in the body when it was sent there)"),
        (status = 401, description = "`invalid_refresh_token`, or `refresh_token_reused` (the session is revoked)", body = gewebe_platform::http::problem::ProblemBody),
    ))]
pub async fn refresh(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let (token, in_body) = presented(&headers, &body)?;
    let mut tx = app.db.begin().await?;
    let result = store::rotate(
        &mut tx,
        &app.keys,
        &token,
        app.config.accounts.refresh_ttl,
        app.config.accounts.refresh_grace,
    )
    .await;
    // A detected reuse revokes the family: that must be committed even though the request fails.
    tx.commit().await?;
    let rotated = result?;
    token_response(
        &app,
        rotated.account_id,
        &rotated.roles,
        rotated.session_id,
        rotated.token,
        in_body,
    )
    .await
}

/// Revokes the session's refresh-token family and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "sessions",
    responses((status = 204, description = "logged out (also when the token was unknown)")))]
pub async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    if let Ok((token, _)) = presented(&headers, &body) {
        let mut tx = app.db.begin().await?;
        store::logout(&mut tx, &token).await?;
        tx.commit().await?;
    }
    let clear = HeaderValue::from_static(
        "gewebe_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0",
    );
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
