//! SQL for accounts; every function takes the caller's transaction.

use gewebe_platform::sql;
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

/// `None` if the e-mail address is taken.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    password_hash: &str,
    display_name: &str,
) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(sql!("accounts/insert"))
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
    sqlx::query_as(sql!("accounts/credentials"))
        .bind(email)
        .fetch_optional(conn)
        .await
}

pub async fn update_hash(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(sql!("accounts/update_hash"))
        .bind(id)
        .bind(password_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(sql!("accounts/by_id"))
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
    let row: Option<Account> = sqlx::query_as(sql!("accounts/update"))
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
    let version: Option<i64> = sqlx::query_scalar(sql!("accounts/forget"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if version.is_none() {
        return Ok(None);
    }
    sqlx::query(sql!("accounts/forget_sessions"))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(sql!("accounts/forget_refresh_tokens"))
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
    sqlx::query_as(sql!("accounts/profile"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Locks every admin's row, in id order (so two admin requests at once queue instead of
/// deadlocking), and returns their ids: the current admins, which no one can change until commit.
pub async fn lock_admins(conn: &mut PgConnection) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(sql!("accounts/lock_admins"))
        .fetch_all(conn)
        .await
}

/// Whether `id` holds the admin role now (a plain read, for requests that change nothing).
pub async fn is_admin(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let admin: Option<bool> = sqlx::query_scalar(sql!("accounts/is_admin"))
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
    let live: Option<bool> = sqlx::query_scalar(sql!("accounts/session_live"))
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
    let account = sqlx::query_as(sql!("accounts/set_roles"))
        .bind(id)
        .bind(roles)
        .fetch_optional(conn)
        .await?;
    Ok(Ok(account))
}

/// `set_roles` would have left no admin.
#[derive(Debug)]
pub struct LastAdmin;
