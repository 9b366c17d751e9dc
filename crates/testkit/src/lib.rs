#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

//! The test harness: each test gets a fresh database cloned from a migrated template, its own NATS
//! subject prefix and its own Redis key prefix, so tests run in parallel and repeat.
//!
//! Where the backing services are comes from the environment that `cargo xtask test` sets
//! (`GEWEBE_TEST_*`); without it the machine's standard ports are assumed.

pub mod load;
pub mod sql;

use std::{
    hash::{Hash, Hasher},
    time::Duration,
};

use anyhow::Context as _;
use sqlx::{Connection, Executor, PgConnection, migrate::Migrator};

/// Where the backing services of the test run are.
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// Admin URL straight to PostgreSQL (database `postgres`).
    pub pg_admin_url: String,
    /// `host:port` of PostgreSQL, for per-test direct URLs.
    pub pg_direct: String,
    /// `host:port` of PgBouncer (transaction mode) in front of it.
    pub pg_bouncer: String,
    pub pg_user: String,
    pub nats_url: String,
    pub redis_url: String,
}

impl TestEnv {
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let pg_direct = var("GEWEBE_TEST_PG", "127.0.0.1:5432");
        let pg_user = var("GEWEBE_TEST_PG_USER", "postgres");
        Self {
            pg_admin_url: format!("postgres://{pg_user}@{pg_direct}/postgres"),
            pg_bouncer: var("GEWEBE_TEST_PGBOUNCER", "127.0.0.1:16432"),
            pg_direct,
            pg_user,
            nats_url: var("GEWEBE_TEST_NATS_URL", "nats://127.0.0.1:4222"),
            redis_url: var("GEWEBE_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
        }
    }
}

/// A database of one's own, already migrated.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub name: String,
    /// Straight to PostgreSQL (migrations, LISTEN, assertions).
    pub direct_url: String,
    /// Through PgBouncer in transaction mode (what services use for requests).
    pub pooled_url: String,
}

/// A short unique token for names: database names, subject prefixes, key prefixes.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    // The random tail of a v7 id; the time-based head would repeat between tests started together.
    format!("{prefix}{}", &id[id.len() - 16..])
}

/// A NATS subject/stream prefix for one test (`t_...`).
pub fn nats_prefix() -> String {
    unique("t_")
}

/// A Redis key prefix for one test (`t:...:`).
pub fn redis_prefix() -> String {
    format!("{}:", unique("t:"))
}

/// A fresh database cloned from a template that has `migrators` applied. The template is built
/// once per distinct set of migrations (its name carries their checksum) under an advisory lock,
/// so parallel test processes share it instead of racing.
pub async fn database(migrators: &[&Migrator]) -> anyhow::Result<TestDb> {
    let env = TestEnv::from_env();
    let template = template_name(migrators);
    let mut admin = PgConnection::connect(&env.pg_admin_url)
        .await
        .with_context(|| {
            format!(
                "connecting to PostgreSQL at {} (run `cargo xtask test`)",
                env.pg_direct
            )
        })?;

    ensure_template(&mut admin, &env, &template, migrators).await?;

    let name = unique("gwt_");
    let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
    // Cloning fails while another session is connected to the template; those sessions are
    // short (other test processes creating their own clones), so retry briefly.
    let mut attempt = 0;
    loop {
        match admin.execute(sqlx::AssertSqlSafe(create.as_str())).await {
            Ok(_) => break,
            Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("creating the test database"),
        }
    }
    admin.close().await.ok();
    Ok(TestDb {
        direct_url: format!("postgres://{}@{}/{name}", env.pg_user, env.pg_direct),
        pooled_url: format!("postgres://{}@{}/{name}", env.pg_user, env.pg_bouncer),
        name,
    })
}

fn template_name(migrators: &[&Migrator]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for m in migrators {
        m.table_name.hash(&mut hasher);
        for migration in m.iter() {
            migration.version.hash(&mut hasher);
            migration.checksum.hash(&mut hasher);
        }
    }
    format!("gwtpl_{:016x}", hasher.finish())
}

async fn ensure_template(
    admin: &mut PgConnection,
    env: &TestEnv,
    template: &str,
    migrators: &[&Migrator],
) -> anyhow::Result<()> {
    // A session advisory lock on a direct connection: one process builds, the others wait.
    sqlx::query("SELECT pg_advisory_lock(hashtext('gewebe-testkit-template'))")
        .execute(&mut *admin)
        .await?;
    let result = async {
        let ready: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)",
        )
        .bind(template)
        .fetch_one(&mut *admin)
        .await?;
        if ready {
            return Ok(());
        }
        // A half-built template from an interrupted run is dropped and rebuilt.
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {template} WITH (FORCE)"
            )))
            .await?;
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {template}")))
            .await?;
        let url = format!("postgres://{}@{}/{template}", env.pg_user, env.pg_direct);
        let mut conn = PgConnection::connect(&url).await?;
        for migrator in migrators {
            migrator
                .run(&mut conn)
                .await
                .context("migrating the template")?;
        }
        conn.close().await?;
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {template} WITH IS_TEMPLATE true"
            )))
            .await?;
        anyhow::Ok(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext('gewebe-testkit-template'))")
        .execute(&mut *admin)
        .await?;
    result
}

/// An HTTP client for tests (rustls with ring, no proxy, short timeouts).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("building the test HTTP client: {e}"))
}

/// Takes a test's database away as a stopped server would — every session ended, no new ones
/// accepted — or gives it back, without touching the PostgreSQL other tests run on. Pooled clients
/// see what they would in an outage: PgBouncer's server logins are refused.
pub async fn database_available(db: &TestDb, available: bool) {
    let env = TestEnv::from_env();
    let mut admin = PgConnection::connect(&env.pg_admin_url).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {available}",
            db.name
        )))
        .await
        .unwrap();
    if !available {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&db.name)
        .execute(&mut admin)
        .await
        .unwrap();
    }
    admin.close().await.ok();
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A private `nats-server` with JetStream on a free port, for tests that must stop or restart the
/// server (the machine's shared one must not be touched). Killed on drop.
pub struct NatsServer {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl NatsServer {
    pub fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(unique("gwt-nats-"));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .context("nats-server is not installed")?;
        let child = std::process::Command::new(bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Graceful stop (SIGTERM: JetStream flushes its store) and start again on the same port and
    /// store directory.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An account registered and logged in through gewebe-auth's HTTP API at `auth` (its base URL).
#[derive(Debug, Clone)]
pub struct Account {
    pub id: uuid::Uuid,
    pub email: String,
    pub password: String,
    /// The access token of the login.
    pub token: String,
}

/// Registers a new account (a unique address) and logs it in.
pub async fn account(http: &reqwest::Client, auth: &str) -> Account {
    let email = format!("{}@example.org", uuid::Uuid::now_v7().simple());
    let password = "correct horse battery staple".to_owned();
    let resp = http
        .post(format!("{auth}/auth/register"))
        .json(&serde_json::json!({"email": email, "password": password, "display_name": "Test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "registering a test account");
    let account: serde_json::Value = resp.json().await.unwrap();
    let token = login(http, auth, &email, &password).await;
    Account {
        id: account["id"].as_str().unwrap().parse().unwrap(),
        email,
        password,
        token,
    }
}

/// Logs in; returns the access token.
pub async fn login(http: &reqwest::Client, auth: &str, email: &str, password: &str) -> String {
    let resp = http
        .post(format!("{auth}/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "logging a test account in");
    let token: serde_json::Value = resp.json().await.unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}
