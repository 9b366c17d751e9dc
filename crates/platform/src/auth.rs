//! Access-token verification as axum extractors (`AuthUser`, `MaybeAuthUser`, role checks).
//!
//! Keys come from the auth service's JWKS, cached; a token with an unknown `kid` triggers at
//! most one refetch per `JWKS_REFRESH_MIN_INTERVAL_SECS` (so garbage tokens cannot make us hammer
//! the JWKS endpoint). Only EdDSA (Ed25519) is accepted: the algorithm is pinned by us, never taken
//! from the token, which closes `alg: none` and HS256-with-the-public-key.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use uuid::Uuid;

use crate::{ConfigError, Env, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

impl Role {
    /// The name stored in `auth.accounts.roles` and carried in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    /// The names stored in `auth.accounts.roles` and carried in tokens.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "moderator" => Ok(Self::Moderator),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// The claims gewebe's access tokens carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    #[serde(default)]
    pub sid: Option<Uuid>,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// The account's privacy-settings version when the token was issued: the aggregate version of
    /// the last account event that changed the fuzz radius or role-without-name, 0 while both are
    /// still the defaults. A service that applies those settings from events (geo) must know them
    /// at this version or later before it publishes anything under them. `None` in tokens from an
    /// auth that predates the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pv: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// `JWKS_URL` — the auth service's key set.
    pub jwks_url: String,
    /// `JWT_ISSUER` (default `gewebe-auth`).
    pub issuer: String,
    /// `JWT_AUDIENCE` (default `gewebe`).
    pub audience: String,
    /// `JWKS_REFRESH_MIN_INTERVAL_SECS` — at most one refetch per interval (default 30).
    pub refresh_min_interval: Duration,
    /// `JWKS_CACHE_TTL_SECS` — keys are refetched when older than this (default 300).
    pub cache_ttl: Duration,
    /// `JWT_LEEWAY_SECS` — clock skew tolerated on `exp` (default 30).
    pub leeway_secs: u64,
}

impl JwtConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let jwks_url: String = env.required("JWKS_URL")?;
        if !(jwks_url.starts_with("http://") || jwks_url.starts_with("https://")) {
            return Err(ConfigError::new(
                "JWKS_URL",
                "must be an http:// or https:// URL",
            ));
        }
        Ok(Self {
            jwks_url,
            issuer: env
                .raw("JWT_ISSUER")
                .unwrap_or_else(|| "gewebe-auth".to_owned()),
            audience: env
                .raw("JWT_AUDIENCE")
                .unwrap_or_else(|| "gewebe".to_owned()),
            refresh_min_interval: env.secs("JWKS_REFRESH_MIN_INTERVAL_SECS", 30)?,
            cache_ttl: env.secs("JWKS_CACHE_TTL_SECS", 300)?,
            leeway_secs: env.in_range("JWT_LEEWAY_SECS", 30, 0..=300)?,
        })
    }
}

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

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Verifies access tokens against the JWKS. Cheap to clone (`Arc` inside).
#[derive(Clone)]
pub struct JwtVerifier(Arc<Inner>);

/// Tokens already verified, by SHA-256 of the token (the token itself is not kept), with the
/// claims and the key id they were verified with. An EdDSA verification costs about as much as the
/// rest of a simple request; a client sends the same token for up to 15 minutes.
type Verified = hashlink::LruCache<[u8; 32], (Claims, String)>;

/// How many verified tokens are remembered (a few MB at most).
const VERIFIED_ENTRIES: usize = 16_384;

struct Inner {
    config: JwtConfig,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    verified: std::sync::Mutex<Verified>,
    // Serialises refetches so a burst of unknown-kid tokens causes one request, not many.
    refresh: Mutex<()>,
}

impl JwtVerifier {
    pub fn new(config: JwtConfig) -> Result<Self, reqwest::Error> {
        let http = crate::http_client(Duration::from_secs(3))?;
        Ok(Self(Arc::new(Inner {
            config,
            http,
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
                last_attempt: None,
            }),
            refresh: Mutex::new(()),
            verified: std::sync::Mutex::new(hashlink::LruCache::new(VERIFIED_ENTRIES)),
        })))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry. A token verified before is
    /// accepted again without the signature check while it has not expired and the key that
    /// signed it is still in the (fresh) key set, so removing a key from the JWKS still ends its
    /// tokens at the next key refresh.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some((claims, kid)) = self.remembered(&digest) {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let leeway = i64::try_from(self.0.config.leeway_secs).unwrap_or(0);
            let cache = self.0.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.0.config.cache_ttl);
            if fresh && cache.keys.contains_key(&kid) && claims.exp + leeway > now {
                return Ok(claims);
            }
        }
        let (claims, kid) = self.verify_signed(token).await?;
        if let Ok(mut verified) = self.0.verified.lock() {
            verified.insert(digest, (claims.clone(), kid));
        }
        Ok(claims)
    }

    fn remembered(&self, digest: &[u8; 32]) -> Option<(Claims, String)> {
        self.0.verified.lock().ok()?.get(digest).cloned()
    }

    async fn verify_signed(&self, token: &str) -> Result<(Claims, String), AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid("algorithm not accepted"));
        }
        let kid = header.kid.ok_or(AuthError::Invalid("no key id"))?;
        let key = self.key(&kid).await?;
        let data = self.decode(token, &key)?;
        Ok((data, kid))
    }

    fn decode(&self, token: &str, key: &DecodingKey) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.0.config.issuer]);
        validation.set_audience(&[&self.0.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.0.config.leeway_secs;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::InvalidAlgorithm => "algorithm not accepted",
                ErrorKind::MissingRequiredClaim(_) => "missing claim",
                _ => "malformed",
            })
        })?;
        Ok(data.claims)
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        {
            let cache = self.0.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.0.config.cache_ttl);
            if let Some(key) = cache.keys.get(kid)
                && fresh
            {
                return Ok(key.clone());
            }
        }
        self.refresh_if_allowed().await;
        let cache = self.0.cache.read().await;
        match cache.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if cache.fetched_at.is_none() => Err(AuthError::KeysUnavailable),
            None => Err(AuthError::Invalid("unknown key id")),
        }
    }

    async fn refresh_if_allowed(&self) {
        let _one_at_a_time = self.0.refresh.lock().await;
        {
            let cache = self.0.cache.read().await;
            if cache
                .last_attempt
                .is_some_and(|t| t.elapsed() < self.0.config.refresh_min_interval)
            {
                return;
            }
        }
        let fetched = self.fetch().await;
        let mut cache = self.0.cache.write().await;
        cache.last_attempt = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched JWKS");
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
            }
            // Keep serving the keys we have: a JWKS outage must not log everyone out.
            Err(e) => tracing::warn!(error = %e, "fetching JWKS failed"),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, reqwest::Error> {
        let set: JwkSet = self
            .0
            .http
            .get(&self.0.config.jwks_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(ed25519_keys(&set))
    }
}

/// The Ed25519 signing keys of a JWKS, by `kid`; anything else in the set is ignored.
pub fn ed25519_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm, PublicKeyUse};
    set.keys
        .iter()
        .filter(|k| matches!(&k.algorithm, AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519))
        .filter(|k| matches!(k.common.key_algorithm, None | Some(KeyAlgorithm::EdDSA)))
        .filter(|k| matches!(k.common.public_key_use, None | Some(PublicKeyUse::Signature)))
        .filter_map(|k| {
            let kid = k.common.key_id.clone()?;
            DecodingKey::from_jwk(k).ok().map(|key| (kid, key))
        })
        .collect()
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

/// The same as `Option<AuthUser>`, by name.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    JwtVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = JwtVerifier::from_ref(state);
        Ok(Self(authenticate(parts, &verifier).await?))
    }
}

/// A caller with the moderator (or admin) role; 403 otherwise.
#[derive(Debug, Clone)]
pub struct Moderator(pub AuthUser);

/// A caller with the admin role; 403 otherwise.
#[derive(Debug, Clone)]
pub struct Admin(pub AuthUser);

macro_rules! role_extractor {
    ($ty:ident, $role:expr) => {
        impl<S> FromRequestParts<S> for $ty
        where
            JwtVerifier: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = Problem;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let user =
                    <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
                user.require($role)?;
                Ok(Self(user))
            }
        }
    };
}

role_extractor!(Moderator, Role::Moderator);
role_extractor!(Admin, Role::Admin);
