//! The outbox writer: the write and its event commit or roll back together.

use gewebe_events::{Envelope, types::NodeDeleted};
use uuid::Uuid;

use crate::env;

#[tokio::test]
async fn a_failed_transaction_leaves_neither_the_write_nor_the_event() {
    let env = env().await;
    let id = Uuid::now_v7();
    let envelope = Envelope::new("test-writer", id, 1, &NodeDeleted { node_id: id }).unwrap();

    let mut tx = env.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO w.items (id, version) VALUES ($1, 1)")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    env.outbox.record(&mut tx, &envelope).await.unwrap();
    // The business rule fails after both were written: nothing may survive.
    let dup = sqlx::query("INSERT INTO w.items (id, version) VALUES ($1, 2)")
        .bind(id)
        .execute(&mut *tx)
        .await;
    assert!(dup.is_err());
    drop(tx); // rolled back

    let mut conn = env.direct().await;
    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM w.items")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM w.outbox")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((items, events), (0, 0));

    // And when it commits, both are there, the event byte for byte.
    let written = env.write(id, 1).await;
    let payload: Vec<u8> = sqlx::query_scalar("SELECT payload FROM w.outbox WHERE id = $1")
        .bind(written.id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(Envelope::from_slice(&payload).unwrap(), written);
}

#[tokio::test]
async fn an_event_type_that_cannot_be_a_subject_is_refused_before_commit() {
    let env = env().await;
    let id = Uuid::now_v7();
    let mut envelope = Envelope::new("test-writer", id, 1, &NodeDeleted { node_id: id }).unwrap();
    envelope.event_type = "node.*".into();
    let mut tx = env.pool.begin().await.unwrap();
    assert!(env.outbox.record(&mut tx, &envelope).await.is_err());
}
