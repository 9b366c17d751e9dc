use std::{sync::Arc, time::Duration};

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use gewebe_platform::{auth::Claims, db::Db, sql};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::OffsetDateTime;
use tokio::sync::RwLock;

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed prefix, then the 32 bytes.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("a signing key cannot be unsealed: wrong AUTH_KEK or a tampered row ({kid})")]
    Unseal { kid: String },
    #[error("no randomness from the operating system")]
    Random,
    #[error("no current signing key")]
    NoKey,
    #[error("signing a token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// A public key for the JWKS.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub kid: String,
    pub x: [u8; 32],
}

impl PublicKey {
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": B64.encode(self.x),
        })
    }
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(x: &[u8; 32]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(x));
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

struct Current {
    kid: String,
    key: EncodingKey,
    created_at: OffsetDateTime,
}

/// The key store. The decrypted current key is cached for a minute so every instance picks up a
/// rotation made by another one without a restart.
#[derive(Clone)]
pub struct KeyStore(Arc<Inner>);

struct Inner {
    db: Db,
    kek: Arc<SecretBox<[u8; 32]>>,
    overlap: Duration,
    rotate_after: Duration,
    cache: RwLock<Option<(std::time::Instant, Arc<Current>)>>,
}

impl KeyStore {
    pub fn new(
        db: Db,
        kek: Arc<SecretBox<[u8; 32]>>,
        rotate_after: Duration,
        overlap: Duration,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            kek,
            overlap,
            rotate_after,
            cache: RwLock::new(None),
        }))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.kek.expose_secret().into())
    }

    /// Makes a new key current; the previous one is superseded now and leaves the JWKS after the
    /// overlap. Returns the new kid.
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| KeyError::Random)?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = signing.verifying_key().to_bytes();
        let kid = thumbprint(&public);
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| KeyError::Random)?;
        let sealed = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &seed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Random)?;
        seed.fill(0);

        let mut tx = self.0.db.begin().await?;
        insert_current(&mut tx, &kid, &public, &sealed, &nonce).await?;
        crate::audit::record(
            &mut tx,
            crate::audit::Kind::KeyRotated,
            None,
            None,
            serde_json::json!({"kid": kid}),
        )
        .await?;
        tx.commit().await?;
        *self.0.cache.write().await = None;
        tracing::info!(%kid, "signing key rotated");
        Ok(kid)
    }

    /// Start-up and hourly: a first key if there is none, a new one when the current is too old.
    pub async fn ensure_fresh(&self) -> Result<(), KeyError> {
        match self.current().await {
            Ok(c) if (OffsetDateTime::now_utc() - c.created_at) < self.0.rotate_after => Ok(()),
            Ok(c) => {
                tracing::info!(kid = %c.kid, "current signing key reached its rotation age");
                self.rotate().await.map(|_| ())
            }
            Err(KeyError::NoKey) => self.rotate().await.map(|_| ()),
            Err(e) => Err(e),
        }
    }

    async fn current(&self) -> Result<Arc<Current>, KeyError> {
        if let Some((at, current)) = self.0.cache.read().await.as_ref()
            && at.elapsed() < Duration::from_mins(1)
        {
            return Ok(current.clone());
        }
        let mut tx = self.0.db.begin().await?;
        let row: Option<(String, Vec<u8>, Vec<u8>, OffsetDateTime)> =
            sqlx::query_as(sql!("keys/current"))
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        let (kid, sealed, nonce, created_at) = row.ok_or(KeyError::NoKey)?;
        let nonce =
            Nonce::try_from(nonce.as_slice()).map_err(|_| KeyError::Unseal { kid: kid.clone() })?;
        let mut seed = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Unseal { kid: kid.clone() })?;
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&PKCS8_PREFIX);
        der.extend_from_slice(&seed);
        seed.fill(0);
        let current = Arc::new(Current {
            kid,
            key: EncodingKey::from_ed_der(&der),
            created_at,
        });
        der.fill(0);
        *self.0.cache.write().await = Some((std::time::Instant::now(), current.clone()));
        Ok(current)
    }

    /// Seals `secret` under the KEK with `aad` bound to it: (ciphertext with tag, nonce).
    pub fn seal(&self, aad: &[u8], secret: &[u8]) -> Result<(Vec<u8>, [u8; 12]), KeyError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| KeyError::Random)?;
        let sealed = self
            .cipher()
            .encrypt(&Nonce::from(nonce), Payload { msg: secret, aad })
            .map_err(|_| KeyError::Random)?;
        Ok((sealed, nonce))
    }

    pub fn unseal(&self, aad: &[u8], sealed: &[u8], nonce: &[u8]) -> Result<Vec<u8>, KeyError> {
        let unsealed = || KeyError::Unseal {
            kid: String::from_utf8_lossy(aad).into_owned(),
        };
        let nonce = Nonce::try_from(nonce).map_err(|_| unsealed())?;
        self.cipher()
            .decrypt(&nonce, Payload { msg: sealed, aad })
            .map_err(|_| unsealed())
    }

    /// Signs `claims` with the current key (header `kid`, `alg: EdDSA`).
    pub async fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let current = self.current().await?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(current.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &current.key)?)
    }

    /// The current key and those superseded less than the overlap ago, newest first.
    pub async fn published(&self) -> Result<Vec<PublicKey>, KeyError> {
        let mut tx = self.0.db.begin().await?;
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(sql!("keys/published"))
            .bind(self.0.overlap.as_secs_f64())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(kid, x)| {
                Some(PublicKey {
                    kid,
                    x: x.try_into().ok()?,
                })
            })
            .collect())
    }
}

async fn insert_current(
    conn: &mut PgConnection,
    kid: &str,
    public: &[u8; 32],
    sealed: &[u8],
    nonce: &[u8; 12],
) -> Result<(), sqlx::Error> {
    // Serialises concurrent rotations (two instances starting at once) so one key stays current.
    sqlx::query(sql!("keys/lock")).execute(&mut *conn).await?;
    sqlx::query(sql!("keys/supersede"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(sql!("keys/insert"))
        .bind(kid)
        .bind(public.as_slice())
        .bind(sealed)
        .bind(nonce.as_slice())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
