//! Checkpoints of the chain's head kept outside the database ("anchors"), so that whoever can
//! rewrite the database — the table's owner, a superuser, a restored backup — cannot cut or
//! rewrite the tail without `audit verify` noticing: the anchored entry must still be in the chain
//! with the anchored hash.
//!
//! An anchor is one JSON line appended to a file (`AUTH_AUDIT_ANCHOR_PATH`; put it on storage the
//! database's operators cannot rewrite, or ship it to a log store):
//! `{"seq":57,"hash":"<hex>","at":"<RFC 3339>","sig":"<base64url Ed25519>"}`. The signature is over
//! `gewebe-audit-anchor/v1\n<seq>\n<hash>\n<at>` with an Ed25519 key derived from the KEK
//! (`SHA-256("gewebe-audit-anchor:" ‖ KEK)` as the seed), so someone with database access alone
//! cannot forge one; `gewebe-auth audit anchor-key` prints the public half for auditors.

use std::{io::Write as _, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use gewebe_platform::sql;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::OffsetDateTime;

use super::store::{Anchored, hex};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub sig: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("reading or writing the anchor file: {0}")]
    Io(#[from] std::io::Error),
    #[error("anchor file line {line}: {why}")]
    Invalid { line: usize, why: String },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The anchor signing key, derived from the KEK.
pub fn key(kek: &secrecy::SecretBox<[u8; 32]>) -> SigningKey {
    let mut h = Sha256::new();
    h.update(b"gewebe-audit-anchor:");
    h.update(kek.expose_secret());
    SigningKey::from_bytes(&h.finalize().into())
}

fn message(seq: i64, hash: &str, at: &str) -> String {
    format!("gewebe-audit-anchor/v1\n{seq}\n{hash}\n{at}")
}

impl Anchor {
    pub fn sign(key: &SigningKey, seq: i64, hash: &[u8], at: OffsetDateTime) -> Self {
        let hash = hex(hash);
        let at = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let sig = B64.encode(key.sign(message(seq, &hash, &at).as_bytes()).to_bytes());
        Self { seq, hash, at, sig }
    }

    fn check(&self, key: &VerifyingKey) -> Result<Anchored, String> {
        let sig = B64
            .decode(&self.sig)
            .ok()
            .and_then(|raw| Signature::from_slice(&raw).ok())
            .ok_or("the signature is not an Ed25519 signature")?;
        key.verify(message(self.seq, &self.hash, &self.at).as_bytes(), &sig)
            .map_err(|_| "the signature does not match (forged or altered)")?;
        let hash = (0..self.hash.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(self.hash.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| "the hash is not hex")?;
        Ok(Anchored {
            seq: self.seq,
            hash,
        })
    }
}

/// The chain's head now.
pub async fn head(conn: &mut PgConnection) -> Result<Anchored, AnchorError> {
    let (seq, hash): (i64, Vec<u8>) = sqlx::query_as(sql!("audit/head")).fetch_one(conn).await?;
    Ok(Anchored { seq, hash })
}

/// Appends a signed anchor of `head` to `path` (created if missing) and syncs it to disk.
pub fn append(path: &Path, key: &SigningKey, head: &Anchored) -> Result<(), AnchorError> {
    let anchor = Anchor::sign(key, head.seq, &head.hash, OffsetDateTime::now_utc());
    let line = serde_json::to_string(&anchor).map_err(|e| AnchorError::Invalid {
        line: 0,
        why: e.to_string(),
    })?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// `serve`: when `AUTH_AUDIT_ANCHOR_PATH` is set, anchors the head every
/// `AUTH_AUDIT_ANCHOR_INTERVAL_SECS` when it moved. Each instance may write its own file.
pub fn spawn(app: &crate::AppState, shutdown: &gewebe_platform::Shutdown) {
    let Some(path) = app.config.audit.anchor_path.clone() else {
        return;
    };
    let key = self::key(&app.config.keys.kek);
    // The newest anchor written so far; `None` inside until the file was read (on the first run,
    // off the start-up path: it holds a line per interval and each line's signature is checked).
    let last = std::sync::Arc::new(tokio::sync::Mutex::new(None::<Option<Anchored>>));
    let db = app.db.clone();
    shutdown.every(app.config.audit.anchor_interval, move || {
        let (db, key, path, last) = (db.clone(), key.clone(), path.clone(), last.clone());
        async move {
            let mut last = last.lock().await;
            if last.is_none() {
                *last = Some(read_latest(key.clone(), path.clone()).await);
            }
            if let Some(last) = last.as_mut() {
                anchor_if_moved(&db, key, path, last).await;
            }
        }
    });
}

/// The anchor file's newest anchor, read on a blocking thread.
async fn read_latest(key: SigningKey, path: std::path::PathBuf) -> Option<Anchored> {
    let read = tokio::task::spawn_blocking(move || latest(&path, &key.verifying_key())).await;
    match read {
        Ok(Ok(last)) => last,
        Ok(Err(e)) => {
            // Keep anchoring: a damaged file is for `audit verify` and the operator to judge.
            tracing::error!(error = %e, "the audit anchor file does not verify");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the audit anchor file failed");
            None
        }
    }
}

async fn anchor_if_moved(
    db: &gewebe_platform::db::Db,
    key: SigningKey,
    path: std::path::PathBuf,
    last: &mut Option<Anchored>,
) {
    let head = async {
        let mut tx = db.begin().await?;
        let head = self::head(&mut tx).await?;
        tx.commit().await?;
        Ok::<_, AnchorError>(head)
    };
    let head = match head.await {
        Ok(head) if last.as_ref() != Some(&head) => head,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading the audit head for an anchor failed");
            return;
        }
    };
    let written = head.clone();
    match tokio::task::spawn_blocking(move || append(&path, &key, &written)).await {
        Ok(Ok(())) => *last = Some(head),
        Ok(Err(e)) => tracing::error!(error = %e, "writing the audit anchor failed"),
        Err(e) => tracing::error!(error = %e, "writing the audit anchor failed"),
    }
}

/// The newest anchor in `path` (`None` if the file does not exist or is empty). Every line must be
/// signed by `key`, and their `seq` must never go down: an anchor file that was tampered with is an
/// error, not something to skip over.
pub fn latest(path: &Path, key: &VerifyingKey) -> Result<Option<Anchored>, AnchorError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut newest: Option<Anchored> = None;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let invalid = |why: String| AnchorError::Invalid { line: i + 1, why };
        let anchor: Anchor = serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
        let anchored = anchor.check(key).map_err(|why| invalid(why.clone()))?;
        if newest.as_ref().is_some_and(|n| n.seq > anchored.seq) {
            return Err(invalid("its seq is lower than an earlier anchor's".into()));
        }
        newest = Some(anchored);
    }
    Ok(newest)
}
