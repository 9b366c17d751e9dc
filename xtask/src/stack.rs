//! `cargo xtask up | down | status`: the whole fleet on one machine, behind Caddy.

use std::{
    fs,
    io::{BufRead, BufReader, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use crate::{
    backends::{self, Daemon, Postgres},
    install,
    sh::{self, Result},
};

/// The stack's ports: `GEWEBE_STACK_PORT_BASE` (default 15000) plus a fixed offset each, so they
/// do not clash with the machine's own PostgreSQL (5432), Redis (6379) or NATS (4222).
#[derive(Clone, Copy)]
pub struct Ports {
    pub base: u16,
}

impl Ports {
    pub fn from_env() -> Result<Self> {
        let base = match std::env::var("GEWEBE_STACK_PORT_BASE") {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("GEWEBE_STACK_PORT_BASE: invalid port {v:?}"))?,
            Err(_) => 15000,
        };
        if base > 65000 {
            return Err("GEWEBE_STACK_PORT_BASE: must be at most 65000".to_owned());
        }
        Ok(Self { base })
    }
    pub fn postgres(self) -> u16 {
        self.base + 432
    }
    pub fn pgbouncer(self) -> u16 {
        self.base + 433
    }
    pub fn nats(self) -> u16 {
        self.base + 222
    }
    pub fn redis(self) -> u16 {
        self.base + 379
    }
    pub fn typesense(self) -> u16 {
        self.base + 108
    }
    pub fn https(self) -> u16 {
        self.base + 443
    }
    pub fn http(self) -> u16 {
        self.base + 80
    }
    pub fn caddy_admin(self) -> u16 {
        self.base + 19
    }
    /// Services get base+501.. in the order of [`SERVICES`].
    pub fn service(self, name: &str) -> u16 {
        let i = SERVICES
            .iter()
            .position(|s| *s == name)
            .unwrap_or(SERVICES.len());
        // `i` is an index into SERVICES: a handful.
        self.base + 501 + u16::try_from(i).unwrap_or_default()
    }
}

/// Every service gewebe will have, in start order; those whose crate exists are started.
pub const SERVICES: &[&str] = &["auth", "geo", "chat", "feed", "search", "relay"];

pub const TYPESENSE_KEY: &str = "gewebe-local-dev-key";
/// The login role gewebe-auth's `serve` uses in the local stack (see `serve_env`).
pub const AUTH_SERVE_USER: &str = "gewebe_auth_app";

pub struct Stack {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub ports: Ports,
}

impl Stack {
    pub fn new(root: &Path) -> Result<Self> {
        let dir = std::env::var_os("GEWEBE_STACK_DIR")
            .map_or_else(|| root.join("target/stack"), PathBuf::from);
        Ok(Self {
            root: root.to_owned(),
            dir,
            ports: Ports::from_env()?,
        })
    }

    fn postgres(&self) -> Postgres {
        Postgres {
            dir: backends::postgres_reachable(&self.dir.join("postgres")),
            port: self.ports.postgres(),
            fast: false,
        }
    }

    /// A daemon of this stack; service processes keep their pidfiles and logs in `services/`.
    fn daemon(&self, name: &'static str, port: u16) -> Daemon {
        let dir = if name.starts_with("gewebe-") {
            self.dir.join("services")
        } else if name == "pgbouncer" {
            // Runs as `postgres`; its files may live outside the stack dir (see postgres_reachable).
            backends::postgres_reachable(&self.dir.join(name))
        } else {
            self.dir.join(name)
        };
        Daemon { name, dir, port }
    }

    /// Service crates that exist in this checkout.
    pub fn services(&self) -> Vec<&'static str> {
        SERVICES
            .iter()
            .copied()
            .filter(|s| {
                self.root
                    .join("services")
                    .join(s)
                    .join("Cargo.toml")
                    .is_file()
            })
            .collect()
    }

    /// Services Caddy routes at `/<service>/` (the relay has no public API).
    pub fn public_services(&self) -> Vec<&'static str> {
        self.services()
            .into_iter()
            .filter(|s| *s != "relay")
            .collect()
    }

    /// Schemas with an outbox, i.e. services that write events (the relay's `RELAY_SCHEMAS`).
    pub fn outbox_schemas(&self) -> Vec<&'static str> {
        self.services()
            .into_iter()
            .filter(|s| matches!(*s, "auth" | "geo" | "chat"))
            .collect()
    }

    fn lock(&self) -> PathBuf {
        self.dir.join("up.pid")
    }

    /// The environment every service process gets (each reads what it needs).
    pub fn service_env(&self, name: &str) -> Vec<(String, String)> {
        let p = self.ports;
        let db_direct = format!("postgres://postgres@127.0.0.1:{}/gewebe", p.postgres());
        let db_pooled = format!("postgres://postgres@127.0.0.1:{}/gewebe", p.pgbouncer());
        [
            ("BIND_ADDR", format!("127.0.0.1:{}", p.service(name))),
            ("DATABASE_URL", db_pooled),
            ("DATABASE_DIRECT_URL", db_direct),
            ("REDIS_URL", format!("redis://127.0.0.1:{}", p.redis())),
            ("NATS_URL", format!("nats://127.0.0.1:{}", p.nats())),
            (
                "TYPESENSE_URL",
                format!("http://127.0.0.1:{}", p.typesense()),
            ),
            ("TYPESENSE_API_KEY", TYPESENSE_KEY.to_owned()),
            (
                "JWKS_URL",
                format!(
                    "http://127.0.0.1:{}/.well-known/jwks.json",
                    p.service("auth")
                ),
            ),
            (
                "CORS_ALLOWED_ORIGINS",
                format!("https://localhost:{},http://localhost:5173", p.https()),
            ),
            (
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            ),
            ("RELAY_SCHEMAS", self.outbox_schemas().join(",")),
            // A fixed key-encryption key for the local stack only; production injects its own
            // from a secret (runbooks/key-rotation.md).
            (
                "AUTH_KEK",
                "bG9jYWwtc3RhY2stb25seS1ub3QtYS1zZWNyZXQhISE=".to_owned(),
            ),
            // Likewise a fixed key for the local stack's home-node fuzzing (gewebe-geo).
            (
                "GEO_FUZZ_KEY",
                "bG9jYWwtc3RhY2stZnV6ei1rZXktbm90LXNlY3JldCE=".to_owned(),
            ),
            // Chat asks geo whether a node exists before it makes the node's room.
            (
                "CHAT_GEO_URL",
                format!("http://127.0.0.1:{}", p.service("geo")),
            ),
            // One machine's disk: JetStream refuses streams larger than the space it may use.
            ("NATS_STREAM_MAX_BYTES", "1073741824".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// `serve`'s environment: as [`Self::service_env`], but gewebe-auth connects as a login role
    /// in `gewebe_auth_serve` (its migration 0008), which may append to the audit log and nothing
    /// more: not the schema's owner, who could drop the triggers and rewrite the chain.
    fn serve_env(&self, name: &str) -> Result<Vec<(String, String)>> {
        let mut env = self.service_env(name);
        if name == "auth" {
            crate::backends::psql(
                self.ports.postgres(),
                "gewebe",
                &format!(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{AUTH_SERVE_USER}') \
                     THEN CREATE ROLE {AUTH_SERVE_USER} LOGIN IN ROLE gewebe_auth_serve; END IF; END $$"
                ),
            )?;
            for (key, value) in &mut env {
                if key.starts_with("DATABASE_") {
                    *value = value.replace(
                        "postgres://postgres@",
                        &format!("postgres://{AUTH_SERVE_USER}@"),
                    );
                }
            }
        }
        Ok(env)
    }

    fn running_components(&self) -> Vec<String> {
        let mut running = Vec::new();
        if self.postgres().running() {
            running.push("postgres".to_owned());
        }
        for (name, port) in self.daemons() {
            if self.daemon(name, port).pid().is_some() {
                running.push(name.to_owned());
            }
        }
        running
    }

    fn daemons(&self) -> Vec<(&'static str, u16)> {
        let p = self.ports;
        let mut list = vec![
            ("pgbouncer", p.pgbouncer()),
            ("nats", p.nats()),
            ("redis", p.redis()),
            ("typesense", p.typesense()),
            ("caddy", p.https()),
        ];
        for s in self.services() {
            list.push((service_daemon_name(s), p.service(s)));
        }
        list
    }

    pub fn up(&self, detach: bool) -> Result {
        if let Some(pid) = sh::read_pid(&self.lock()).filter(|p| sh::alive(*p)) {
            return Err(format!(
                "the stack is already up (xtask pid {pid}); `cargo xtask status` shows it, `cargo xtask down` stops it"
            ));
        }
        let running = self.running_components();
        if !running.is_empty() {
            return Err(format!(
                "the stack is already running ({}); `cargo xtask status` shows it, `cargo xtask down` stops it",
                running.join(", ")
            ));
        }
        fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        fs::write(self.lock(), format!("{}\n", std::process::id())).map_err(|e| e.to_string())?;

        let stop = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, stop.clone()).map_err(|e| e.to_string())?;
        }
        let result = self.start_all(&stop);
        if let Err(e) = result {
            eprintln!("xtask: start failed, stopping what was started");
            self.down();
            return Err(e);
        }
        self.print_urls();
        if detach {
            let _ = fs::remove_file(self.lock());
            println!("detached; `cargo xtask down` stops the stack");
            return Ok(());
        }
        println!("following service logs; Ctrl-C stops everything\n");
        self.follow_logs(&stop);
        println!("\nxtask: stopping");
        self.down();
        Ok(())
    }

    fn start_all(&self, stop: &AtomicBool) -> Result {
        install::system_packages()?;
        let typesense_bin = install::typesense(&self.root.join("target/typesense-venv"))?;
        let check = |what: &str| {
            if stop.load(Ordering::Relaxed) {
                Err(format!("interrupted before {what}"))
            } else {
                Ok(())
            }
        };
        let p = self.ports;

        step("postgres", p.postgres());
        self.postgres().start()?;
        backends::ensure_database(p.postgres(), "gewebe")?;
        check("pgbouncer")?;
        step("pgbouncer", p.pgbouncer());
        let (d, mut cmd) = backends::pgbouncer(
            &self.dir.join("pgbouncer"),
            p.pgbouncer(),
            p.postgres(),
            &self.root,
        )?;
        d.start(&mut cmd, Duration::from_secs(10))?;
        step("nats", p.nats());
        let (d, mut cmd) = backends::nats(&self.dir.join("nats"), p.nats())?;
        d.start(&mut cmd, Duration::from_secs(15))?;
        step("redis", p.redis());
        let (d, mut cmd) = backends::redis(&self.dir.join("redis"), p.redis())?;
        d.start(&mut cmd, Duration::from_secs(10))?;
        check("typesense")?;
        step("typesense", p.typesense());
        let (d, mut cmd) = backends::typesense(
            &self.dir.join("typesense"),
            p.typesense(),
            &typesense_bin,
            TYPESENSE_KEY,
        )?;
        d.start(&mut cmd, Duration::from_mins(1))?;

        check("services")?;
        let services = self.services();
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
        // The same target set as the test build, so features unify the same way and `up` after
        // `test` (or the reverse) reuses every compiled crate instead of rebuilding with other features.
        build
            .current_dir(&self.root)
            .args(["build", "--workspace", "--all-targets"]);
        sh::run(&mut build)?;
        for s in &services {
            check("migrations")?;
            let bin = self.binary(s);
            if self
                .root
                .join("services")
                .join(s)
                .join("migrations")
                .is_dir()
            {
                eprintln!("xtask: gewebe-{s} migrate");
                sh::run(Command::new(&bin).arg("migrate").envs(self.service_env(s)))?;
            }
            step(service_daemon_name(s), p.service(s));
            let d = self.daemon(service_daemon_name(s), p.service(s));
            let mut cmd = Command::new(&bin);
            cmd.arg("serve").envs(self.serve_env(s)?);
            d.start(&mut cmd, Duration::from_secs(30))?;
        }

        check("caddy")?;
        step("caddy", p.https());
        let caddy_dir = self.dir.join("caddy");
        let d = self.daemon("caddy", p.https());
        let mut cmd = Command::new(sh::which("caddy").ok_or("caddy is not installed")?);
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(self.root.join("caddy/Caddyfile"))
            .env("XDG_DATA_HOME", caddy_dir.join("data"))
            .env("XDG_CONFIG_HOME", caddy_dir.join("config"))
            .env("GEWEBE_SITE", "localhost")
            .env("GEWEBE_HTTPS_PORT", p.https().to_string())
            .env("GEWEBE_HTTP_PORT", p.http().to_string())
            .env(
                "GEWEBE_CADDY_ADMIN",
                format!("127.0.0.1:{}", p.caddy_admin()),
            );
        for s in SERVICES {
            cmd.env(
                format!("GEWEBE_{}_UPSTREAM", s.to_uppercase()),
                format!("127.0.0.1:{}", p.service(s)),
            );
        }
        d.start(&mut cmd, Duration::from_secs(30))?;
        Ok(())
    }

    pub fn binary(&self, service: &str) -> PathBuf {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| self.root.join("target"), PathBuf::from);
        target.join("debug").join(format!("gewebe-{service}"))
    }

    fn print_urls(&self) {
        let p = self.ports;
        let https = p.https();
        println!(
            "\ngewebe is up — one origin, HTTPS with HTTP/3 (local CA; curl -k, or trust {}):",
            self.dir
                .join("caddy/data/caddy/pki/authorities/local/root.crt")
                .display()
        );
        for s in self.public_services() {
            println!(
                "  {s:<7} https://localhost:{https}/{s}/   (OpenAPI: https://localhost:{https}/{s}/openapi.json)"
            );
        }
        println!("  jwks    https://localhost:{https}/.well-known/jwks.json");
        println!(
            "direct (not routed publicly): health, readiness and metrics at each service's root:"
        );
        for s in self.services() {
            println!(
                "  {s:<7} http://127.0.0.1:{}/health/ready  /metrics",
                p.service(s)
            );
        }
        println!(
            "backing services: postgres 127.0.0.1:{} (pgbouncer {}), nats {}, redis {}, typesense {}",
            p.postgres(),
            p.pgbouncer(),
            p.nats(),
            p.redis(),
            p.typesense()
        );
    }

    /// Prints new lines of every service log, prefixed, until `stop` is set.
    fn follow_logs(&self, stop: &AtomicBool) {
        let logs: Vec<(String, PathBuf)> = self
            .services()
            .into_iter()
            .map(|s| {
                (
                    s.to_owned(),
                    self.dir
                        .join("services")
                        .join(format!("{}.log", service_daemon_name(s))),
                )
            })
            .collect();
        let mut offsets: Vec<u64> = logs
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
            .collect();
        let stdout = std::io::stdout();
        while !stop.load(Ordering::Relaxed) {
            for ((name, path), offset) in logs.iter().zip(offsets.iter_mut()) {
                let Ok(mut file) = fs::File::open(path) else {
                    continue;
                };
                if file.seek(SeekFrom::Start(*offset)).is_err() {
                    continue;
                }
                let mut reader = BufReader::new(file);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if !line.ends_with('\n') {
                        break; // a partial line; read it whole next round
                    }
                    *offset += line.len() as u64;
                    let _ = write!(stdout.lock(), "{name:>6} | {line}");
                    line.clear();
                }
            }
            if self.services().iter().all(|s| {
                self.daemon(service_daemon_name(s), self.ports.service(s))
                    .pid()
                    .is_none()
            }) {
                println!("xtask: every service has exited");
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops everything this stack started, services first, PostgreSQL last.
    pub fn down(&self) {
        let p = self.ports;
        let mut order: Vec<Daemon> = self
            .services()
            .into_iter()
            .rev()
            .map(|s| self.daemon(service_daemon_name(s), p.service(s)))
            .collect();
        order.push(self.daemon("caddy", p.https()));
        order.push(self.daemon("typesense", p.typesense()));
        order.push(self.daemon("redis", p.redis()));
        order.push(self.daemon("nats", p.nats()));
        order.push(self.daemon("pgbouncer", p.pgbouncer()));
        for d in order {
            if d.stop() {
                println!("stopped {}", d.name);
            }
        }
        if self.postgres().stop() {
            println!("stopped postgres");
        }
        let _ = fs::remove_file(self.lock());
    }

    pub fn status(&self) -> bool {
        let p = self.ports;
        let mut rows: Vec<(String, u16, Option<u32>)> = Vec::new();
        let pg = self.postgres();
        rows.push(("postgres".into(), p.postgres(), pg.running().then_some(0)));
        for (name, port) in self.daemons() {
            rows.push((name.to_owned(), port, self.daemon(name, port).pid()));
        }
        let mut all = true;
        for (name, port, pid) in &rows {
            let listening = sh::port_open(*port);
            let state = match (pid, listening) {
                (Some(0), true) => "running".to_owned(),
                (Some(pid), true) => format!("running (pid {pid})"),
                (Some(pid), false) => format!("started (pid {pid}), port not open"),
                (None, _) => "stopped".to_owned(),
            };
            all &= pid.is_some() && listening;
            println!("{name:<14} 127.0.0.1:{port:<6} {state}");
        }
        if all {
            println!("\nentry: https://localhost:{}/", p.https());
        }
        all
    }
}

fn service_daemon_name(service: &str) -> &'static str {
    match service {
        "auth" => "gewebe-auth",
        "geo" => "gewebe-geo",
        "chat" => "gewebe-chat",
        "feed" => "gewebe-feed",
        "search" => "gewebe-search",
        _ => "gewebe-relay",
    }
}

fn step(name: &str, port: u16) {
    eprintln!("xtask: starting {name} on 127.0.0.1:{port}");
}
