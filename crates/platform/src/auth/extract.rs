//! The extractors that authenticate a request from its `Authorization: Bearer` header. A handler
//! asks for [`AuthUser`] (401 without a valid token), `Option<AuthUser>` (open to everyone, but a
//! bad token is still a 401) or [`Admin`] (403 without the role).

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use uuid::Uuid;

use super::{JwtVerifier, Role};
use crate::Problem;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed authorization header")]
    MalformedHeader,
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    #[error("signing keys unavailable")]
    KeysUnavailable,
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => Problem::unauthorized("a bearer access token is required"),
            AuthError::MalformedHeader => {
                Problem::unauthorized("the Authorization header must be `Bearer <token>`")
            }
            AuthError::Invalid(why) => Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_token",
                "Authentication required",
            )
            .with_detail(format!("the access token is not valid: {why}"))
            .with_header(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ),
            AuthError::KeysUnavailable => Problem::unavailable(
                "auth_keys_unavailable",
                "token signing keys cannot be fetched right now",
                5,
            ),
        }
    }
}

/// An authenticated caller. Extracting it answers 401 problem+json when the token is missing or bad.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub session_id: Option<Uuid>,
    pub roles: Vec<Role>,
    /// The token's `exp` (Unix seconds): long-lived connections end then.
    pub expires_at: i64,
    /// The token's `pv` claim (see [`Claims::pv`]).
    pub privacy_version: Option<i64>,
}

impl AuthUser {
    pub fn has_role(&self, role: Role) -> bool {
        // Admins may do whatever moderators may.
        self.roles.contains(&role) || (role == Role::Moderator && self.roles.contains(&Role::Admin))
    }

    /// 403 problem unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), Problem> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(Problem::forbidden(
                format!("this action needs the {role:?} role").to_lowercase(),
            ))
        }
    }
}

fn bearer(parts: &Parts) -> Result<Option<&str>, AuthError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthError::MalformedHeader),
    }
}

async fn authenticate(
    parts: &Parts,
    verifier: &JwtVerifier,
) -> Result<Option<AuthUser>, AuthError> {
    let Some(token) = bearer(parts)? else {
        return Ok(None);
    };
    let claims = verifier.verify(token).await?;
    Ok(Some(AuthUser {
        id: claims.sub,
        session_id: claims.sid,
        roles: claims.roles,
        expires_at: claims.exp,
        privacy_version: claims.pv,
    }))
}

impl<S> FromRequestParts<S> for AuthUser
where
    JwtVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = JwtVerifier::from_ref(state);
        authenticate(parts, &verifier)
            .await?
            .ok_or_else(|| AuthError::Missing.into())
    }
}

/// `Option<AuthUser>` for endpoints open to everyone: no header → `None`; a bad token is still a
/// 401, so a client with an expired token learns it instead of silently seeing the public view.
impl<S> OptionalFromRequestParts<S> for AuthUser
where
    JwtVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let verifier = JwtVerifier::from_ref(state);
        Ok(authenticate(parts, &verifier).await?)
    }
}

/// A caller with the admin role; 403 otherwise.
#[derive(Debug, Clone)]
pub struct Admin(pub AuthUser);

impl<S> FromRequestParts<S> for Admin
where
    JwtVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        user.require(Role::Admin)?;
        Ok(Self(user))
    }
}
