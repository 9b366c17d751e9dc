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
    pub version: i64,
    pub created_at: OffsetDateTime,
}

const ACCOUNT_COLUMNS: &str =
    "id, email, display_name, roles, fuzz_radius_m, ron, version, created_at";

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
