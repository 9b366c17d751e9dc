//! SQL for accounts; every function takes the caller's transaction.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub fuzz_radius_m: i32,
    pub ron: bool,
    pub privacy_version: i64,
    pub version: i64,
    pub created_at: OffsetDateTime,
}

const ACCOUNT_COLUMNS: &str =
    "id, email, display_name, roles, fuzz_radius_m, ron, privacy_version, version, created_at";

/// `None` if the e-mail address is taken.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    password_hash: &str,
    display_name: &str,
) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO auth.accounts (id, email, password_hash, display_name) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING {ACCOUNT_COLUMNS}"
    )))
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .bind(display_name)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
}

pub async fn credentials(
    conn: &mut PgConnection,
    email: &str,
) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as(
        "SELECT id, password_hash, roles FROM auth.accounts WHERE email = $1 AND forgotten_at IS NULL",
    )
    .bind(email)
    .fetch_optional(conn)
    .await
}

pub async fn update_hash(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE auth.accounts SET password_hash = $2 WHERE id = $1 AND forgotten_at IS NULL",
    )
    .bind(id)
    .bind(password_hash)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM auth.accounts WHERE id = $1 AND forgotten_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The changes of `PATCH /auth/me`; `None` keeps a field.
#[derive(Debug, Default)]
pub struct Changes {
    pub display_name: Option<String>,
    pub fuzz_radius_m: Option<i32>,
    pub ron: Option<bool>,
}

/// Outcome of a conditional write.
pub enum Updated {
    Done(Account),
    VersionMismatch,
    NotFound,
}

pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    expected_version: Option<i64>,
    changes: &Changes,
) -> sqlx::Result<Updated> {
    let row: Option<Account> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE auth.accounts SET display_name = COALESCE($2, display_name), \
             fuzz_radius_m = COALESCE($3, fuzz_radius_m), ron = COALESCE($4, ron), version = version + 1, \
             privacy_version = CASE WHEN $3::integer IS NULL AND $4::boolean IS NULL \
                 THEN privacy_version ELSE version + 1 END \
         WHERE id = $1 AND forgotten_at IS NULL AND ($5::bigint IS NULL OR version = $5) \
         RETURNING {ACCOUNT_COLUMNS}"
    )))
    .bind(id)
    .bind(changes.display_name.as_deref())
    .bind(changes.fuzz_radius_m)
    .bind(changes.ron)
    .bind(expected_version)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(account) => Updated::Done(account),
        None if by_id(conn, id).await?.is_some() => Updated::VersionMismatch,
        None => Updated::NotFound,
    })
}

/// DSGVO forget: the row becomes a tombstone (e-mail, name and hash erased), every session ends
/// and its refresh tokens go. Returns the tombstone's version, `None` if already forgotten.
pub async fn forget(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<i64>> {
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE auth.accounts SET email = NULL, display_name = NULL, password_hash = NULL, \
             forgotten_at = now(), version = version + 1 \
         WHERE id = $1 AND forgotten_at IS NULL RETURNING version",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if version.is_none() {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'forget' \
         WHERE account_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM auth.refresh_tokens WHERE session_id IN \
             (SELECT id FROM auth.sessions WHERE account_id = $1)",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(version)
}

/// What anyone may see of an account.
#[derive(Debug, sqlx::FromRow)]
pub struct Profile {
    pub display_name: Option<String>,
    pub ron: bool,
    pub forgotten: bool,
}

pub async fn profile(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Profile>> {
    sqlx::query_as(
        "SELECT display_name, ron, forgotten_at IS NOT NULL AS forgotten FROM auth.accounts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Locks every admin's row, in id order (so two admin requests at once queue instead of
/// deadlocking), and returns their ids: the current admins, which no one can change until commit.
pub async fn lock_admins(conn: &mut PgConnection) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM auth.accounts WHERE 'admin' = ANY(roles) AND forgotten_at IS NULL \
         ORDER BY id FOR UPDATE",
    )
    .fetch_all(conn)
    .await
}

/// Whether `id` holds the admin role now (a plain read, for requests that change nothing).
pub async fn is_admin(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let admin: Option<bool> = sqlx::query_scalar(
        "SELECT 'admin' = ANY(roles) FROM auth.accounts WHERE id = $1 AND forgotten_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(admin.unwrap_or(false))
}

/// Whether `session` of `account` is live (not revoked, the account not forgotten). Takes a share
/// lock on the session, so a logout running at the same moment is ordered before or after.
pub async fn session_live(
    conn: &mut PgConnection,
    account: Uuid,
    session: Uuid,
) -> sqlx::Result<bool> {
    let live: Option<bool> = sqlx::query_scalar(
        "SELECT s.revoked_at IS NULL AND a.forgotten_at IS NULL FROM auth.sessions s \
         JOIN auth.accounts a ON a.id = s.account_id WHERE s.id = $1 AND s.account_id = $2 \
         FOR SHARE OF s",
    )
    .bind(session)
    .bind(account)
    .fetch_optional(conn)
    .await?;
    Ok(live.unwrap_or(false))
}

/// Replaces the roles of `id`. Refuses (`Ok(Err(()))`) if no admin would remain. `admins` must come
/// from [`lock_admins`] in the same transaction, so two admins demoting each other at once cannot
/// both succeed.
pub async fn set_roles(
    conn: &mut PgConnection,
    admins: &[Uuid],
    id: Uuid,
    roles: &[String],
) -> sqlx::Result<Result<Option<Account>, LastAdmin>> {
    let stays_admin = roles.iter().any(|r| r == "admin");
    if !stays_admin && admins.contains(&id) && admins.len() == 1 {
        return Ok(Err(LastAdmin));
    }
    let account = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE auth.accounts SET roles = $2, version = version + 1 \
         WHERE id = $1 AND forgotten_at IS NULL RETURNING {ACCOUNT_COLUMNS}"
    )))
    .bind(id)
    .bind(roles)
    .fetch_optional(conn)
    .await?;
    Ok(Ok(account))
}

/// `set_roles` would have left no admin.
#[derive(Debug)]
pub struct LastAdmin;
