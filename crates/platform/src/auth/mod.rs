//! Access tokens: what they claim ([`Claims`], [`Role`]), how they are verified against the auth
//! service's JWKS ([`JwtVerifier`], configured by [`JwtConfig`]), and the axum extractors that
//! authenticate a request ([`AuthUser`], `Option<AuthUser>`, [`Admin`]).
//!
//! Only EdDSA (Ed25519) is accepted: the algorithm is pinned by us, never taken from the token,
//! which closes `alg: none` and HS256-with-the-public-key.

mod config;
mod extract;
mod verifier;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use config::JwtConfig;
pub use extract::{Admin, AuthError, AuthUser};
pub use verifier::{JwtVerifier, ed25519_keys};

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
