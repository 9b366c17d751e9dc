//! The real `gewebe-auth` binary: configuration errors, `migrate`, SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_gewebe-auth");

fn bare() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn assert_one_line_error(mut cmd: Command, var: &str, must_not_contain: &str) {
    // A configuration that wrongly passes would start serving; never wait for that forever.
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    assert_eq!(out.status.code(), Some(2), "exit code");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.contains(&format!("{var}: ")),
        "names {var}: {stderr:?}"
    );
    if !must_not_contain.is_empty() {
        assert!(
            !stderr.contains(must_not_contain),
            "leaks a secret: {stderr:?}"
        );
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_or_invalid_variable_stops_the_process_with_one_line_naming_it() {
    assert_one_line_error(bare(), "DATABASE_URL", "");

    let mut cmd = bare();
    cmd.env("DATABASE_URL", "postgres://u:hunter2@h/db")
        .env("HTTP_CONCURRENCY_LIMIT", "lots");
    assert_one_line_error(cmd, "HTTP_CONCURRENCY_LIMIT", "hunter2");

    let mut cmd = bare();
    cmd.env("DATABASE_URL", "mysql-ish:hunter2");
    assert_one_line_error(cmd, "DATABASE_URL", "hunter2");

    let mut cmd = bare();
    cmd.env("DATABASE_URL", "postgres://u@h/db")
        .env("BIND_ADDR", "localhost");
    assert_one_line_error(cmd, "BIND_ADDR", "");
}

fn with_db(cmd: &mut Command, db: &gewebe_testkit::TestDb) {
    let env = gewebe_testkit::TestEnv::from_env();
    cmd.env("DATABASE_URL", &db.pooled_url)
        .env("DATABASE_DIRECT_URL", &db.direct_url)
        .env("REDIS_URL", env.redis_url)
        .env("AUTH_KEK", crate::TEST_KEK)
        .env("BIND_ADDR", "127.0.0.1:0");
}

#[tokio::test]
async fn migrate_then_serve_then_sigterm_exits_zero() {
    let db = gewebe_testkit::database(&[]).await.unwrap();

    let mut migrate = bare();
    migrate.arg("migrate");
    with_db(&mut migrate, &db);
    let out = migrate.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.direct_url)
        .await
        .unwrap();
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth._sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(applied >= 1);

    let mut serve = bare();
    serve.arg("serve").stdout(Stdio::piped());
    with_db(&mut serve, &db);
    let mut child = serve.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The JSON log line "listening" carries the bound address.
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the service logs that it listens");
        let v: serde_json::Value = serde_json::from_str(&line).expect("logs are JSON lines");
        if v["message"] == "listening" {
            break v["addr"].as_str().unwrap().to_owned();
        }
    };
    let ready = gewebe_testkit::http()
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    // The reader thread ends at EOF; wait for it rather than racing it for the last lines.
    let mut logs = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        logs.push(line);
    }
    assert!(
        logs.iter().any(|l| l.contains("shutdown complete")),
        "{logs:?}"
    );
}

/// `gewebe-auth <args>` against `db`; (exit code, stdout + stderr).
fn run(db: &gewebe_testkit::TestDb, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = bare();
    cmd.args(args);
    with_db(&mut cmd, db);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test]
async fn operator_commands_set_roles_forget_and_verify_the_audit_log() {
    let (server, db) = crate::spawn().await;
    let api = crate::api::Api::new(server);
    let account = api
        .register("ops@example.org", "correct horse battery", "Ops")
        .await;
    let id = account["id"].as_str().unwrap().to_owned();
    let operator = api
        .register("op@example.org", "correct horse battery", "Op")
        .await;
    let operator = operator["id"].as_str().unwrap().to_owned();

    let (code, out) = run(&db, &["roles", "set", &id, "moderator"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&db, &["roles", "set", &id, "superuser"]);
    assert_ne!(code, Some(0), "{out}");

    let (code, out) = run(&db, &["audit", "verify"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("audit log intact"), "{out}");

    let (code, out) = run(&db, &["accounts", "forget", &id, "--operator", &operator]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&db, &["accounts", "forget", &id, "--operator", &operator]);
    assert_ne!(code, Some(0), "a second forget finds nothing: {out}");
    let r = api
        .login_from("ops@example.org", "correct horse battery", "192.0.2.1")
        .await;
    assert_eq!(r.status, 401);

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.direct_url)
        .await
        .unwrap();
    let (kind, actor): (String, Option<uuid::Uuid>) = sqlx::query_as(
        "SELECT kind, actor_id FROM auth.audit_log WHERE kind = 'account.forgotten'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(kind, "account.forgotten");
    assert_eq!(actor.map(|a| a.to_string()), Some(operator));

    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE auth.audit_log SET account_id = NULL WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, out) = run(&db, &["audit", "verify"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("audit log broken at entry 2"), "{out}");
}
