//! Writing, reading and verifying the chain. `record` takes the caller's transaction: the entry
//! commits with the change it describes, or not at all.

use gewebe_platform::sql;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::chain::{Kind, link_hash};

/// Appends an entry. Takes the head's row lock, so call it as the last statement before commit.
pub async fn record(
    conn: &mut PgConnection,
    kind: Kind,
    account_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    data: Value,
) -> sqlx::Result<()> {
    let (last, prev): (i64, Vec<u8>) = sqlx::query_as(sql!("audit/lock_head"))
        .fetch_one(&mut *conn)
        .await?;
    let seq = last + 1;
    // PostgreSQL keeps microseconds; hash exactly what is stored.
    let now = OffsetDateTime::now_utc();
    let at_micros = micros(now);
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_micros) * 1000).unwrap_or(now);
    let hash = link_hash(
        &prev,
        seq,
        at_micros,
        kind.as_str(),
        account_id,
        actor_id,
        &data,
    );
    sqlx::query(sql!("audit/append"))
        .bind(seq)
        .bind(at)
        .bind(kind.as_str())
        .bind(account_id)
        .bind(actor_id)
        .bind(&data)
        .bind(&prev)
        .bind(hash.as_slice())
        .execute(conn)
        .await?;
    Ok(())
}

/// One entry as admins see it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Entry {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// e.g. `login.failed`, `roles.changed`, `account.forgotten`.
    pub kind: String,
    pub account_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub data: Value,
    /// SHA-256 of this link, hex.
    #[sqlx(try_from = "Vec<u8>")]
    #[schema(value_type = String)]
    pub hash: Hex,
}

/// Bytes shown as lower-case hex.
#[derive(Debug)]
pub struct Hex(pub Vec<u8>);

impl From<Vec<u8>> for Hex {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(&self.0))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Newest first; `before` is the last `seq` of the previous page.
pub struct Page {
    pub items: Vec<Entry>,
    pub next_before: Option<i64>,
}

pub async fn list(
    conn: &mut PgConnection,
    account_id: Option<Uuid>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Page> {
    let mut items: Vec<Entry> = sqlx::query_as(sql!("audit/list"))
        .bind(account_id)
        .bind(before)
        .bind(limit + 1)
        .fetch_all(conn)
        .await?;
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = items.len() > limit;
    items.truncate(limit);
    let next_before = if more {
        items.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Page { items, next_before })
}

/// What `audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verification {
    pub entries: i64,
    /// The last hash, hex: record it elsewhere to detect a rewrite of the whole chain later.
    pub head: String,
    /// The first broken link: its `seq` and what is wrong.
    pub broken: Option<(i64, String)>,
}

#[derive(sqlx::FromRow)]
struct Link {
    seq: i64,
    at: OffsetDateTime,
    kind: String,
    account_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    data: Value,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// Walks the whole chain in `seq` order and checks it against the head, and against `anchor` (a
/// head recorded outside the database earlier: its entry must still be there, unchanged). Pass a
/// transaction begun REPEATABLE READ, or one in which nothing has run yet: the walk must see one
/// snapshot, so entries appended meanwhile are simply not seen instead of looking like a broken
/// tail. Anything else is refused by PostgreSQL (`SET TRANSACTION` after a query), never
/// silently checked in pieces.
pub async fn verify(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    anchor: Option<&Anchored>,
) -> sqlx::Result<Verification> {
    verify_batched(tx, anchor, 5_000).await
}

/// A head seen earlier: `seq` and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// [`verify`] reading `batch` entries per query (small batches in tests).
pub async fn verify_batched(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    anchor: Option<&Anchored>,
    batch: i64,
) -> sqlx::Result<Verification> {
    sqlx::raw_sql(sql!("audit/snapshot"))
        .execute(&mut **tx)
        .await?;
    walk(tx, anchor, batch.max(1)).await
}

async fn walk(
    conn: &mut PgConnection,
    anchor: Option<&Anchored>,
    batch_size: i64,
) -> sqlx::Result<Verification> {
    let (head_seq, head_hash): (i64, Vec<u8>) = sqlx::query_as(sql!("audit/head"))
        .fetch_one(&mut *conn)
        .await?;
    let mut prev = vec![0u8; 32];
    let mut expected_seq = 1;
    let mut entries = 0;
    let broken = |seq: i64, why: String, entries: i64| Verification {
        entries,
        head: hex(&head_hash),
        broken: Some((seq, why)),
    };
    loop {
        let batch: Vec<Link> = sqlx::query_as(sql!("audit/links"))
            .bind(expected_seq)
            .bind(batch_size)
            .fetch_all(&mut *conn)
            .await?;
        let done = i64::try_from(batch.len()).map_or(true, |n| n < batch_size);
        for link in batch {
            entries += 1;
            if link.seq != expected_seq {
                return Ok(broken(
                    expected_seq,
                    format!("entry {expected_seq} is missing (next is {})", link.seq),
                    entries,
                ));
            }
            if link.prev_hash != prev {
                return Ok(broken(
                    link.seq,
                    "prev_hash does not match the previous entry".into(),
                    entries,
                ));
            }
            let at_micros = micros(link.at);
            let hash = link_hash(
                &prev,
                link.seq,
                at_micros,
                &link.kind,
                link.account_id,
                link.actor_id,
                &link.data,
            );
            if link.hash != hash {
                return Ok(broken(
                    link.seq,
                    "content does not match its hash (the entry was altered)".into(),
                    entries,
                ));
            }
            if let Some(a) = anchor.filter(|a| a.seq == link.seq && a.hash != link.hash) {
                return Ok(broken(
                    a.seq,
                    "the chain up to here differs from the anchored head (it was rewritten)".into(),
                    entries,
                ));
            }
            prev = link.hash;
            expected_seq += 1;
        }
        if done {
            break;
        }
    }
    let last = expected_seq - 1;
    if let Some(a) = anchor.filter(|a| a.seq > last) {
        return Ok(broken(
            last + 1,
            format!(
                "the chain ends at {last} but an anchor recorded entry {} (entries were removed from the end)",
                a.seq
            ),
            entries,
        ));
    }
    if last > head_seq {
        return Ok(broken(
            head_seq + 1,
            format!(
                "the chain goes on to {last} past the head at {head_seq} (the head was rewound)"
            ),
            entries,
        ));
    }
    if last != head_seq || prev != head_hash {
        return Ok(broken(
            last + 1,
            format!(
                "the head says {head_seq} entries but the chain ends at {last} (entries were removed from the end)"
            ),
            entries,
        ));
    }
    Ok(Verification {
        entries,
        head: hex(&head_hash),
        broken: None,
    })
}

/// Microseconds since the epoch, what PostgreSQL stores of a timestamp (saturating: a time beyond
/// ±292,000 years does not occur).
fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}
