//! Issue 13, item 6: the audit chain's tail cannot be cut undetected — `serve` runs as a role that
//! may only append, `verify` reads one snapshot, and anchors outside the database catch an owner
//! who cuts the tail and rewinds the head.

use std::process::Command;

use gewebe_auth::audit::{self, Kind, anchor};
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::{TEST_KEK, api::Api, config, keys_config, spawn};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn serve_runs_as_a_role_that_can_only_append_to_the_audit_log() {
    let migrators = gewebe_auth::migrators().unwrap();
    let db = gewebe_testkit::database(&migrators.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let env = gewebe_testkit::TestEnv::from_env();
    let role = format!("gwt_serve_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&env.pg_admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN IN ROLE gewebe_auth_serve"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let as_role = db
        .direct_url
        .replacen(&format!("//{}@", env.pg_user), &format!("//{role}@"), 1);

    // The whole service as that role (straight to PostgreSQL: PgBouncer knows only its own users).
    let mut cfg = config(&db);
    cfg.db = gewebe_platform::db::DbConfig::new(&as_role, &as_role);
    let server = gewebe_auth::build(cfg, gewebe_platform::Shutdown::new())
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let api = Api::new(server);
    api.register("role@example.org", PASSWORD, "Role").await;
    assert_eq!(
        api.login_from("role@example.org", "wrong", "192.0.2.3")
            .await
            .status,
        401
    );
    let r = api
        .login_from("role@example.org", PASSWORD, "192.0.2.3")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r = api
        .call(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&access),
            Some(json!({"display_name": "R2"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call(Method::DELETE, "/auth/me", Some(&access), None, &[])
        .await;
    assert!(r.status / 100 == 2, "{} {}", r.status, r.body);

    let mut conn = PgConnection::connect(&as_role).await.unwrap();
    // Housekeeping's work is allowed: it erases successors, and audits and deletes failure rows.
    let mut tx = conn.begin().await.unwrap();
    let far_future = time::OffsetDateTime::now_utc() + std::time::Duration::from_hours(24);
    let flushed = gewebe_auth::accounts::failures::flush(
        &mut tx,
        std::time::Duration::from_mins(15),
        far_future,
        100,
    )
    .await
    .unwrap();
    assert_eq!(flushed, 1);
    gewebe_auth::sessions::erase_expired_successors(&mut tx, std::time::Duration::ZERO, 1000)
        .await
        .unwrap();
    audit::record(&mut tx, Kind::Logout, None, None, json!({}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    for tamper in [
        "DELETE FROM auth.audit_log WHERE seq = 1",
        "UPDATE auth.audit_log SET kind = 'x' WHERE seq = 1",
        "TRUNCATE auth.audit_log",
        "ALTER TABLE auth.audit_log DISABLE TRIGGER audit_log_append_only",
        "DROP TRIGGER audit_log_append_only ON auth.audit_log",
        "UPDATE auth.audit_head SET seq = seq - 1",
        "DELETE FROM auth.audit_head",
        "SET session_replication_role = replica",
        "DELETE FROM auth._sqlx_migrations",
    ] {
        let err = sqlx::query(tamper).execute(&mut conn).await.unwrap_err();
        let code = err
            .as_database_error()
            .and_then(sqlx::error::DatabaseError::code)
            .unwrap_or_default();
        assert_eq!(code, "42501", "{tamper}: {err}");
    }
    let v = {
        let mut tx = conn.begin().await.unwrap();
        let v = audit::verify(&mut tx, None).await.unwrap();
        tx.commit().await.unwrap();
        v
    };
    assert_eq!(v.broken, None, "{v:?}");
    drop(conn);
    drop(api);
    // Best effort: a role left behind by a failed run is harmless (unique name, no privileges).
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut admin)
        .await;
}

#[tokio::test]
async fn verify_reads_one_snapshot_so_concurrent_appends_are_no_false_alarm() {
    let (server, db) = spawn().await;
    drop(server);
    let appender = {
        let url = db.direct_url.clone();
        tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            for _ in 0..300 {
                let mut tx = conn.begin().await.unwrap();
                audit::record(&mut tx, Kind::Logout, None, None, json!({}))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        })
    };
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let mut runs = 0;
    while !appender.is_finished() {
        // One entry per query: as many chances as possible for an append between two reads.
        let v = {
            let mut tx = conn.begin().await.unwrap();
            let v = audit::verify_batched(&mut tx, None, 1).await.unwrap();
            tx.commit().await.unwrap();
            v
        };
        assert_eq!(v.broken, None, "false alarm after {runs} runs: {v:?}");
        runs += 1;
    }
    appender.await.unwrap();
    assert!(runs > 0);
}

fn gewebe_auth_cmd(db: &gewebe_testkit::TestDb) -> Command {
    let env = gewebe_testkit::TestEnv::from_env();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gewebe-auth"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.pooled_url)
        .env("DATABASE_DIRECT_URL", &db.direct_url)
        .env("REDIS_URL", env.redis_url)
        .env("AUTH_KEK", TEST_KEK);
    cmd
}

#[tokio::test]
async fn an_anchor_outside_the_database_catches_a_cut_tail_with_a_rewound_head() {
    let (server, db) = spawn().await;
    let api = Api::new(server);
    for i in 0..4 {
        api.register(&format!("t{i}@example.org"), PASSWORD, "T")
            .await;
    }
    let dir = std::env::temp_dir().join(format!("gwt-anchor-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("anchors.jsonl");
    // The operator's command and `audit verify` against it.
    let run = |args: &[&str]| {
        gewebe_auth_cmd(&db)
            .args(args)
            .arg("--anchor")
            .arg(&file)
            .output()
            .unwrap()
    };
    // No anchor yet (or the file emptied): verify refuses rather than skip the tail check.
    std::fs::write(&file, "").unwrap();
    let out = run(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["audit", "anchor"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    api.register("t4@example.org", PASSWORD, "T").await;

    // Someone who owns the table (or is superuser) goes around the triggers, cuts the last three
    // entries and rewinds the head to match: the chain alone is consistent again.
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM auth.audit_log WHERE seq >= 4")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE auth.audit_head SET seq = 3, hash = (SELECT hash FROM auth.audit_log WHERE seq = 3)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("SET session_replication_role = DEFAULT")
        .execute(&mut conn)
        .await
        .unwrap();
    let v = {
        let mut tx = conn.begin().await.unwrap();
        let v = audit::verify(&mut tx, None).await.unwrap();
        tx.commit().await.unwrap();
        v
    };
    assert_eq!(v.broken, None, "without an anchor nothing shows: {v:?}");

    // The anchor (entry 5) is not in the chain any more.
    let key = anchor::key(&keys_config(TEST_KEK).kek);
    let anchored = anchor::latest(&file, &key.verifying_key())
        .unwrap()
        .unwrap();
    assert_eq!(anchored.seq, 5);
    let mut tx = conn.begin().await.unwrap();
    let v = audit::verify(&mut tx, Some(&anchored)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(4), "{v:?}");
    assert!(v.broken.unwrap().1.contains("removed from the end"));
    let out = run(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A forged or edited anchor file is an error, not a pass.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("\"seq\":5", "\"seq\":3")).unwrap();
    assert!(anchor::latest(&file, &key.verifying_key()).is_err());
    let other = anchor::key(&keys_config("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").kek);
    std::fs::write(&file, text).unwrap();
    assert!(anchor::latest(&file, &other.verifying_key()).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn serve_anchors_the_head_when_it_moves() {
    let dir = std::env::temp_dir().join(format!("gwt-anchor-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("anchors.jsonl");
    let (server, db) = crate::spawn_with(|c| {
        c.audit.anchor_path = Some(file.clone());
        c.audit.anchor_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let api = Api::new(server);
    api.register("anchored@example.org", PASSWORD, "A").await;
    let key = anchor::key(&keys_config(TEST_KEK).kek).verifying_key();
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let head = anchor::head(&mut conn).await.unwrap();
    let anchored = gewebe_testkit::eventually(std::time::Duration::from_secs(10), || async {
        anchor::latest(&file, &key).unwrap().filter(|a| *a == head)
    })
    .await;
    assert!(anchored.is_some(), "the head {head:?} was not anchored");
    // Unchanged heads are not written again.
    let lines = std::fs::read_to_string(&file).unwrap().lines().count();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        lines
    );
    let _ = std::fs::remove_dir_all(&dir);
}
