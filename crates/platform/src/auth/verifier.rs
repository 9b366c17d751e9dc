//! Verifying access tokens against the auth service's JWKS.
//!
//! Keys are cached; a token with an unknown `kid` triggers at most one refetch per
//! `JWKS_REFRESH_MIN_INTERVAL_SECS` (so garbage tokens cannot make us hammer the JWKS endpoint).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use tokio::sync::{Mutex, RwLock};

use super::{AuthError, Claims, JwtConfig};

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
