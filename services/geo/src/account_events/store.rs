//! The `geo.accounts` rows the account consumer keeps (each account's fuzz radius, RoN flag, the
//! version of the last settings event, whether it was forgotten) and the node and edge rows it
//! changes for them.

use gewebe_platform::sql;
use sqlx::PgConnection;
use uuid::Uuid;

/// What geo knows of an account's settings.
pub struct Settings {
    pub fuzz_radius_m: i32,
    pub version: i64,
    pub forgotten: bool,
}

/// The account's settings, locked until the transaction ends (home writes take the same lock).
pub async fn lock(conn: &mut PgConnection, account: Uuid) -> sqlx::Result<Option<Settings>> {
    let row: Option<(i32, i64, bool)> = sqlx::query_as(sql!("account_events/lock"))
        .bind(account)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(fuzz_radius_m, version, forgotten)| Settings {
        fuzz_radius_m,
        version,
        forgotten,
    }))
}

/// Stores settings at `version`, unless newer ones are stored or the account is forgotten.
pub async fn save(
    conn: &mut PgConnection,
    account: Uuid,
    fuzz_radius_m: i32,
    ron: bool,
    version: i64,
) -> sqlx::Result<()> {
    sqlx::query(sql!("account_events/save_settings"))
        .bind(account)
        .bind(fuzz_radius_m)
        .bind(ron)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// Owners of a `home` node whose position is fuzzed.
pub async fn fuzzed_home_owners(conn: &mut PgConnection) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(sql!("account_events/fuzzed_home_owners"))
        .fetch_all(conn)
        .await
}

/// The current radius of an account that is not forgotten, locked like [`lock`].
pub async fn lock_radius(conn: &mut PgConnection, account: Uuid) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar(sql!("account_events/lock_radius"))
        .bind(account)
        .fetch_optional(conn)
        .await
}

/// The account's `home` nodes with their true positions `(id, lat, lon)`, locked.
pub async fn lock_homes(
    conn: &mut PgConnection,
    account: Uuid,
) -> sqlx::Result<Vec<(Uuid, f64, f64)>> {
    sqlx::query_as(sql!("account_events/lock_homes"))
        .bind(account)
        .fetch_all(conn)
        .await
}

/// Marks the account forgotten for good (no later settings event applies).
pub async fn mark_forgotten(
    conn: &mut PgConnection,
    account: Uuid,
    version: i64,
) -> sqlx::Result<()> {
    sqlx::query(sql!("account_events/mark_forgotten"))
        .bind(account)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// Hands the account's nodes and edges to the role-without-name placeholder; returns how many
/// nodes it held.
pub async fn release_nodes_and_edges(conn: &mut PgConnection, account: Uuid) -> sqlx::Result<u64> {
    let nodes = sqlx::query(sql!("account_events/release_nodes"))
        .bind(account)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query(sql!("account_events/release_edges"))
        .bind(account)
        .execute(conn)
        .await?;
    Ok(nodes)
}
