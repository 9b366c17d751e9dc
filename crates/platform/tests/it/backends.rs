//! The connections to the real backing services.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use futures::StreamExt;
use gewebe_platform::{
    db::{Db, DbConfig},
    http::HttpConfig,
    nats::{Nats, NatsConfig},
    redis::{Redis, RedisConfig},
};

use crate::serve;

async fn pooled_db(max_connections: u32) -> Db {
    let test_db = gewebe_testkit::database(&[]).await.unwrap();
    let mut config = DbConfig::new(&test_db.pooled_url, &test_db.direct_url);
    config.max_connections = max_connections;
    config.acquire_timeout = Duration::from_secs(30);
    Db::connect_lazy(&config, "platform-test").unwrap()
}

/// Three parameterised (so: prepared) statements in one pooled transaction.
async fn work(db: &Db, i: i64) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let a: i64 = sqlx::query_scalar("SELECT $1::int8 + 1")
        .bind(i)
        .fetch_one(&mut *tx)
        .await?;
    let b: String = sqlx::query_scalar("SELECT $1::text || 'x'")
        .bind(a.to_string())
        .fetch_one(&mut *tx)
        .await?;
    let c: i64 = sqlx::query_scalar("SELECT length($1)::int8")
        .bind(b)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(c)
}

/// 200 concurrent HTTP requests, each a pooled transaction of prepared statements, over
/// PgBouncer in transaction mode with 5 server connections (the stack's `default_pool_size`).
#[tokio::test]
async fn pooled_queries_through_pgbouncer_have_no_prepared_statement_errors() {
    let db = pooled_db(40).await;
    let api = Router::new()
        .route(
            "/work/{i}",
            get(|State(db): State<Db>, axum::extract::Path(i): axum::extract::Path<i64>| async move {
                let mut last = 0;
                for _ in 0..5 {
                    last = work(&db, i).await.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
                }
                Ok::<_, (StatusCode, String)>(last.to_string())
            }),
        )
        .with_state(db.clone());
    let server = serve(api, HttpConfig::local(), None).await;
    let http = gewebe_testkit::http();
    let results = futures::future::join_all((0..200).map(|i| {
        let req = http.get(server.url(&format!("/work/{i}"))).send();
        async move {
            let resp = req.await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    }))
    .await;
    let failures: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failures.is_empty(),
        "{} of 200 failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
}

/// The control: sqlx's plain `begin()` (no `DEALLOCATE ALL`) over the same PgBouncer collides on
/// leftover named statements. If this ever passes, the test above no longer proves anything.
#[tokio::test]
async fn control_plain_transactions_collide_behind_pgbouncer() {
    let db = pooled_db(40).await;
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks = (0..200).map(|i| {
        let pool = db.pool().clone();
        let errors = errors.clone();
        async move {
            for _ in 0..5 {
                let result = async {
                    let mut tx = pool.begin().await?;
                    let _: i64 = sqlx::query_scalar("SELECT $1::int8 + 1")
                        .bind(i)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await
                }
                .await;
                if let Err(e) = result {
                    assert!(
                        e.to_string().contains("prepared statement"),
                        "unexpected error: {e}"
                    );
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    futures::future::join_all(tasks).await;
    assert!(errors.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

/// A pooled transaction's statements are cancelled after `statement_timeout`, so a request that was
/// dropped (or an expensive query) cannot hold a server connection for longer; the setting ends
/// with the transaction and does not reach the next client of that server connection.
#[tokio::test]
async fn pooled_statements_are_cancelled_after_the_statement_timeout() {
    let test_db = gewebe_testkit::database(&[]).await.unwrap();
    let mut config = DbConfig::new(&test_db.pooled_url, &test_db.direct_url);
    config.max_connections = 1;
    config.statement_timeout = Duration::from_millis(300);
    let db = Db::connect_lazy(&config, "platform-test").unwrap();

    let started = std::time::Instant::now();
    let mut tx = db.begin().await.unwrap();
    let err = sqlx::query("SELECT pg_sleep(3)")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    drop(tx);
    let code = err
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .unwrap_or_default();
    assert_eq!(code, "57014", "{err}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    let mut tx = db.begin().await.unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(timeout, "300ms");
    // Outside the transaction the server connection is back at its default.
    // (Simple protocol: one round trip, so it runs on one server connection through PgBouncer.)
    use sqlx::{Connection as _, Row as _};
    let mut plain = sqlx::PgConnection::connect(&test_db.pooled_url)
        .await
        .unwrap();
    let row = sqlx::raw_sql(sqlx::AssertSqlSafe("SHOW statement_timeout"))
        .fetch_one(&mut plain)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "0");
}

#[tokio::test]
async fn readiness_check_reports_a_missing_schema_and_a_dead_database() {
    let db = pooled_db(2).await;
    assert!(db.check_schema("public").await.is_ok());
    let err = db.check_schema("nope").await.unwrap_err();
    assert!(err.contains("run the service's `migrate`"), "{err}");

    let dead = Db::connect_lazy(
        &DbConfig {
            acquire_timeout: Duration::from_millis(300),
            ..DbConfig::new(
                "postgres://postgres@127.0.0.1:1/x",
                "postgres://postgres@127.0.0.1:1/x",
            )
        },
        "t",
    )
    .unwrap();
    let err = dead.check_schema("public").await.unwrap_err();
    assert!(!err.contains("postgres://"), "no URL in the reason: {err}");
}

#[tokio::test]
async fn nats_jetstream_round_trip_under_a_test_prefix() {
    let env = gewebe_testkit::TestEnv::from_env();
    let config = NatsConfig {
        url: env.nats_url,
        subject_prefix: gewebe_testkit::nats_prefix(),
    };
    let nats = Nats::connect(&config, "platform-test").await.unwrap();
    gewebe_testkit::eventually(Duration::from_secs(5), || async { nats.check().await.ok() })
        .await
        .expect("connected");

    let stream_name = config.subject_prefix.clone();
    let stream = nats
        .jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![nats.subject(">")],
            max_age: Duration::from_mins(1),
            ..Default::default()
        })
        .await
        .unwrap();
    nats.jetstream
        .publish(nats.subject("ping"), "hello".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.fetch().max_messages(1).messages().await.unwrap();
    let message = messages.next().await.unwrap().unwrap();
    assert_eq!(&message.payload[..], b"hello");
    assert_eq!(message.subject.as_str(), nats.subject("ping"));
    nats.jetstream.delete_stream(&stream_name).await.unwrap();
}

#[tokio::test]
async fn redis_round_trip_under_a_test_prefix() {
    use fred::interfaces::KeysInterface;
    let env = gewebe_testkit::TestEnv::from_env();
    let config = RedisConfig {
        url: env.redis_url.into(),
        key_prefix: gewebe_testkit::redis_prefix(),
    };
    let redis = Redis::connect(&config).await.unwrap();
    redis.check().await.unwrap();
    let key = redis.key("greeting");
    assert!(key.starts_with("t:"));
    let () = redis
        .client
        .set(
            &key,
            "hallo",
            Some(fred::types::Expiration::EX(60)),
            None,
            false,
        )
        .await
        .unwrap();
    let value: String = redis.client.get(&key).await.unwrap();
    assert_eq!(value, "hallo");

    let dead = Redis::connect(&RedisConfig {
        url: "redis://127.0.0.1:1".to_owned().into(),
        key_prefix: "x:".into(),
    })
    .await
    .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), dead.check())
            .await
            .map_or(true, |r| r.is_err())
    );
}
