//! SQL for rooms and their members; every function takes the caller's transaction.

use gewebe_platform::sql;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub kind: String,
    pub node_id: Option<Uuid>,
    pub title: Option<String>,
    pub creator_id: Option<Uuid>,
    pub last_seq: i64,
    pub version: i64,
    pub last_activity_at: OffsetDateTime,
    pub archived_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl ConversationRow {
    /// Node rooms are open to read for everyone; direct and group rooms only to their members.
    pub fn is_public(&self) -> bool {
        self.kind == "node"
    }
}

/// What a create writes.
pub struct NewConversation<'a> {
    pub id: Uuid,
    pub kind: &'a str,
    pub node_id: Option<Uuid>,
    /// Direct rooms: both participants, smaller id first.
    pub direct_pair: Option<[Uuid; 2]>,
    pub title: Option<&'a str>,
    pub creator: Uuid,
}

/// `Ok(None)` when the node already has a room or the pair already talks.
pub async fn insert(
    conn: &mut PgConnection,
    c: &NewConversation<'_>,
) -> sqlx::Result<Option<ConversationRow>> {
    sqlx::query_as(sql!("conversations/insert"))
        .bind(c.id)
        .bind(c.kind)
        .bind(c.node_id)
        .bind(c.direct_pair.map(|p| p.to_vec()))
        .bind(c.title)
        .bind(c.creator)
        .fetch_optional(conn)
        .await
}

pub async fn by_node(conn: &mut PgConnection, node: Uuid) -> sqlx::Result<Option<ConversationRow>> {
    sqlx::query_as(sql!("conversations/by_node"))
        .bind(node)
        .fetch_optional(conn)
        .await
}

pub async fn by_pair(
    conn: &mut PgConnection,
    pair: [Uuid; 2],
) -> sqlx::Result<Option<ConversationRow>> {
    sqlx::query_as(sql!("conversations/by_pair"))
        .bind(pair.to_vec())
        .fetch_optional(conn)
        .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ConversationRow>> {
    sqlx::query_as(sql!("conversations/get"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The room, locked until the transaction ends (what sends and membership changes take).
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ConversationRow>> {
    sqlx::query_as(sql!("conversations/lock"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The caller's rooms, most recent activity first, after the cursor; `limit + 1` rows.
pub async fn mine(
    conn: &mut PgConnection,
    account: Uuid,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<ConversationRow>> {
    sqlx::query_as(sql!("conversations/mine"))
        .bind(account)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit + 1)
        .fetch_all(conn)
        .await
}

/// The room's next event version.
pub async fn bump(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(sql!("conversations/bump"))
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Archives the node's room, if it has one that is not archived: `(room, version)`.
pub async fn archive_node(
    conn: &mut PgConnection,
    node: Uuid,
) -> sqlx::Result<Option<(Uuid, i64)>> {
    sqlx::query_as(sql!("conversations/archive_node"))
        .bind(node)
        .fetch_optional(conn)
        .await
}

/// Adds whoever of `accounts` is not a member yet; returns those added.
pub async fn add_members(
    conn: &mut PgConnection,
    room: Uuid,
    accounts: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(sql!("members/add"))
        .bind(room)
        .bind(accounts)
        .fetch_all(conn)
        .await
}

/// Whether `account` was a member (and is not any more).
pub async fn remove_member(
    conn: &mut PgConnection,
    room: Uuid,
    account: Uuid,
) -> sqlx::Result<bool> {
    let removed: Option<Uuid> = sqlx::query_scalar(sql!("members/remove"))
        .bind(room)
        .bind(account)
        .fetch_optional(conn)
        .await?;
    Ok(removed.is_some())
}

pub async fn is_member(conn: &mut PgConnection, room: Uuid, account: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(sql!("members/is_member"))
        .bind(room)
        .bind(account)
        .fetch_one(conn)
        .await
}

pub async fn member_count(conn: &mut PgConnection, room: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(sql!("members/count"))
        .bind(room)
        .fetch_one(conn)
        .await
}

pub async fn members(conn: &mut PgConnection, room: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(sql!("members/list"))
        .bind(room)
        .fetch_all(conn)
        .await
}

/// Moves the member's read mark forward (never past the newest seq): `(mark, moved)`; `None` when
/// `account` is not a member.
pub async fn mark_read(
    conn: &mut PgConnection,
    room: Uuid,
    account: Uuid,
    seq: i64,
) -> sqlx::Result<Option<(i64, bool)>> {
    sqlx::query_as(sql!("members/read"))
        .bind(room)
        .bind(account)
        .bind(seq)
        .fetch_optional(conn)
        .await
}
