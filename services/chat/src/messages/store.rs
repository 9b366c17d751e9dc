//! SQL for messages; every function takes the caller's transaction.

use gewebe_platform::sql;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub author_id: Option<Uuid>,
    pub body: Option<String>,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub edited_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
}

/// The author's earlier message with this client id (a retried send).
pub async fn by_client_id(
    conn: &mut PgConnection,
    author: Uuid,
    client_msg_id: Uuid,
) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(sql!("messages/by_client_id"))
        .bind(author)
        .bind(client_msg_id)
        .fetch_optional(conn)
        .await
}

/// What a send decides on, with the room locked; `None` when there is no such room.
#[derive(Debug, sqlx::FromRow)]
pub struct SendCheck {
    pub id: Uuid,
    pub kind: String,
    pub last_seq: i64,
    pub version: i64,
    pub archived_at: Option<OffsetDateTime>,
    pub is_member: bool,
    /// The author's earlier message with this client id (a retry).
    pub earlier: Option<Uuid>,
}

pub async fn prepare_send(
    conn: &mut PgConnection,
    room: Uuid,
    author: Uuid,
    client_msg_id: Uuid,
) -> sqlx::Result<Option<SendCheck>> {
    sqlx::query_as(sql!("messages/prepare_send"))
        .bind(room)
        .bind(author)
        .bind(client_msg_id)
        .fetch_optional(conn)
        .await
}

/// A new message and the event that announces it.
pub struct NewMessage<'a> {
    pub room: Uuid,
    pub id: Uuid,
    pub author: Uuid,
    pub client_msg_id: Uuid,
    pub body: &'a str,
    pub event: &'a gewebe_events::Envelope,
    /// The event, encoded.
    pub payload: &'a [u8],
}

/// A message under the room's next seq and its event, with the room's new event version; `None`
/// when the author sent this client id before: the caller must roll back (the seq was taken).
pub async fn insert(
    conn: &mut PgConnection,
    m: &NewMessage<'_>,
) -> sqlx::Result<Option<(MessageRow, i64)>> {
    #[derive(sqlx::FromRow)]
    struct Inserted {
        #[sqlx(flatten)]
        row: MessageRow,
        room_version: i64,
    }
    let inserted: Option<Inserted> = sqlx::query_as(sql!("messages/insert"))
        .bind(m.room)
        .bind(m.id)
        .bind(m.author)
        .bind(m.client_msg_id)
        .bind(m.body)
        .bind(m.event.id)
        .bind(&m.event.event_type)
        .bind(&m.event.aggregate.kind)
        .bind(m.payload)
        .fetch_optional(conn)
        .await?;
    Ok(inserted.map(|i| (i.row, i.room_version)))
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(sql!("messages/get"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(sql!("messages/lock"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The room's messages after `seq`, oldest first.
pub async fn after(
    conn: &mut PgConnection,
    room: Uuid,
    seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(sql!("messages/after"))
        .bind(room)
        .bind(seq)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The room's messages before `seq` (the newest when `None`), newest first.
pub async fn before(
    conn: &mut PgConnection,
    room: Uuid,
    seq: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(sql!("messages/before"))
        .bind(room)
        .bind(seq)
        .bind(limit)
        .fetch_all(conn)
        .await
}

pub async fn edit(conn: &mut PgConnection, id: Uuid, body: &str) -> sqlx::Result<MessageRow> {
    sqlx::query_as(sql!("messages/edit"))
        .bind(id)
        .bind(body)
        .fetch_one(conn)
        .await
}

pub async fn tombstone(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<MessageRow> {
    sqlx::query_as(sql!("messages/tombstone"))
        .bind(id)
        .fetch_one(conn)
        .await
}

/// A forgotten account's messages: tombstones in direct and group rooms, authorless in node rooms;
/// returns them as they are now.
pub async fn forget_author(
    conn: &mut PgConnection,
    account: Uuid,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(sql!("accounts/forget_messages"))
        .bind(account)
        .fetch_all(conn)
        .await
}

/// Records the account as forgotten and takes its id out of the rooms it made.
pub async fn forget_account(conn: &mut PgConnection, account: Uuid) -> sqlx::Result<()> {
    sqlx::query(sql!("accounts/forget"))
        .bind(account)
        .execute(conn)
        .await?;
    Ok(())
}

/// Holds `accounts` against a forget until the transaction ends (`sql/accounts/lock_shared.sql`);
/// statements after it see a forget that committed meanwhile.
pub async fn hold_accounts(conn: &mut PgConnection, accounts: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(sql!("accounts/lock_shared"))
        .bind(accounts)
        .execute(conn)
        .await?;
    Ok(())
}

/// A forget's exclusive hold on its account, first in its transaction.
pub async fn hold_for_forget(conn: &mut PgConnection, account: Uuid) -> sqlx::Result<()> {
    sqlx::query(sql!("accounts/lock_forget"))
        .bind(account)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether the account was forgotten (its token may still be valid).
pub async fn is_forgotten(conn: &mut PgConnection, account: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(sql!("accounts/is_forgotten"))
        .bind(account)
        .fetch_one(conn)
        .await
}

/// Takes the forgotten account out of every room; returns the rooms it left.
pub async fn forget_memberships(conn: &mut PgConnection, account: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(sql!("accounts/forget_memberships"))
        .bind(account)
        .fetch_all(conn)
        .await
}
