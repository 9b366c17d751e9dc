use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use gewebe_platform::sql;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{error::Error, keys::KeyStore};

/// 256 random bits, base64url.
fn new_token() -> Result<String, Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| Error::Hashing(e.to_string()))?;
    Ok(B64.encode(raw))
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The account's `privacy_version`, for the access token's `pv` (`None`: no such account).
pub async fn privacy_version(
    conn: &mut PgConnection,
    account_id: Uuid,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(sql!("sessions/privacy_version"))
        .bind(account_id)
        .fetch_optional(conn)
        .await
}

pub async fn new_session(conn: &mut PgConnection, account_id: Uuid) -> Result<Uuid, Error> {
    let id = Uuid::now_v7();
    sqlx::query(sql!("sessions/insert"))
        .bind(id)
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(id)
}

/// A new refresh token in `session`; returns the token (shown once, stored as a hash).
pub async fn issue(
    conn: &mut PgConnection,
    session: Uuid,
    ttl: std::time::Duration,
) -> Result<String, Error> {
    let token = new_token()?;
    sqlx::query(sql!("sessions/issue"))
        .bind(hash(&token))
        .bind(session)
        .bind(OffsetDateTime::now_utc() + ttl)
        .execute(conn)
        .await?;
    Ok(token)
}

#[derive(sqlx::FromRow)]
struct Presented {
    session_id: Uuid,
    account_id: Uuid,
    roles: Vec<String>,
    expires_at: OffsetDateTime,
    rotated_at: Option<OffsetDateTime>,
    successor_sealed: Option<Vec<u8>>,
    successor_nonce: Option<Vec<u8>>,
    revoked: bool,
}

/// What a refresh yields.
pub struct Rotated {
    pub session_id: Uuid,
    pub account_id: Uuid,
    pub roles: Vec<String>,
    pub token: String,
}

/// Rotates `token`. Reuse outside the grace window revokes the family and fails.
pub async fn rotate(
    conn: &mut PgConnection,
    keys: &KeyStore,
    token: &str,
    ttl: std::time::Duration,
    grace: std::time::Duration,
) -> Result<Rotated, Error> {
    let token_hash = hash(token);
    // Row lock: two concurrent refreshes of one token serialise here, so the second sees the
    // rotation of the first and gets the same successor.
    let presented: Option<Presented> = sqlx::query_as(sql!("sessions/lock_presented"))
        .bind(&token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(p) = presented else {
        return Err(Error::InvalidRefreshToken);
    };
    let now = OffsetDateTime::now_utc();
    if p.revoked || p.expires_at <= now {
        return Err(Error::InvalidRefreshToken);
    }
    let rotated = |token| Rotated {
        session_id: p.session_id,
        account_id: p.account_id,
        roles: p.roles.clone(),
        token,
    };
    let grace = Duration::try_from(grace).unwrap_or(Duration::ZERO);
    match (p.rotated_at, &p.successor_sealed, &p.successor_nonce) {
        (None, _, _) => {
            // Earlier tokens of this family whose grace has passed give up their successors now
            // (housekeeping catches the families nobody refreshes again). SKIP LOCKED: a row
            // another request holds is left to it, so the two never wait on each other.
            sqlx::query(sql!("sessions/erase_family_successors"))
                .bind(p.session_id)
                .bind(now - grace)
                .execute(&mut *conn)
                .await?;
            let successor = issue(conn, p.session_id, ttl).await?;
            let (sealed, nonce) = keys.seal(&token_hash, successor.as_bytes())?;
            sqlx::query(sql!("sessions/mark_rotated"))
                .bind(&token_hash)
                .bind(sealed)
                .bind(nonce.as_slice())
                .execute(&mut *conn)
                .await?;
            Ok(rotated(successor))
        }
        (Some(at), Some(sealed), Some(nonce)) if now - at <= grace => {
            let successor = keys.unseal(&token_hash, sealed, nonce)?;
            Ok(rotated(String::from_utf8_lossy(&successor).into_owned()))
        }
        (Some(_), _, _) => {
            revoke(conn, p.session_id, "refresh_token_reuse").await?;
            crate::audit::record(
                conn,
                crate::audit::Kind::RefreshReused,
                Some(p.account_id),
                None,
                serde_json::json!({"session_id": p.session_id}),
            )
            .await?;
            tracing::warn!(session_id = %p.session_id, "refresh token reused; session family revoked");
            Err(Error::RefreshTokenReused)
        }
    }
}

/// Revokes the family `token` belongs to; unknown tokens are ignored (logout is idempotent).
pub async fn logout(conn: &mut PgConnection, token: &str) -> Result<(), Error> {
    let session: Option<(Uuid, Uuid)> = sqlx::query_as(sql!("sessions/live_session_of_token"))
        .bind(hash(token))
        .fetch_optional(&mut *conn)
        .await?;
    if let Some((session, account)) = session {
        revoke(conn, session, "logout").await?;
        crate::audit::record(
            conn,
            crate::audit::Kind::Logout,
            Some(account),
            None,
            serde_json::json!({"session_id": session}),
        )
        .await?;
    }
    Ok(())
}

async fn revoke(conn: &mut PgConnection, session: Uuid, reason: &str) -> Result<(), Error> {
    sqlx::query(sql!("sessions/revoke"))
        .bind(session)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    // Sealed successors are no longer needed by anyone.
    sqlx::query(sql!("sessions/erase_session_successors"))
        .bind(session)
        .execute(conn)
        .await?;
    Ok(())
}

/// Erases the sealed successors whose grace window has passed: after it they are never handed out
/// again, and a successor kept sealed next to the KEK-holding service is a live refresh token at
/// rest. At most `batch` rows per call (the backlog after a deploy can be large, and each call must
/// fit the statement timeout). Returns how many were erased.
pub async fn erase_expired_successors(
    conn: &mut PgConnection,
    grace: std::time::Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let cutoff = OffsetDateTime::now_utc() - Duration::try_from(grace).unwrap_or(Duration::ZERO);
    let done = sqlx::query(sql!("sessions/erase_expired_successors"))
        .bind(cutoff)
        .bind(batch)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
