//! The supporting systems, each started as a private instance with its own data directory and
//! port (so it runs beside the machine's own PostgreSQL/Redis/NATS) and stopped by its pidfile.

use std::{
    fs,
    hash::{Hash, Hasher},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{
    install::PG_BIN,
    sh::{self, Result},
};

/// Runs a command as the `postgres` system user when we are root: PostgreSQL refuses root and so
/// does PgBouncer. `setpriv` execs (unlike `runuser`, which forks), so the pid we record is the
/// program's own.
pub fn as_postgres(program: &Path) -> Command {
    if sh::is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Where a directory for the `postgres` user goes: `dir` itself when that user can reach it, else
/// (a checkout under a directory only root may enter, e.g. `/root`) a stable place under
/// `/var/tmp/gewebe-postgres/`, named after `dir` so every command finds the same one again.
pub fn postgres_reachable(dir: &Path) -> PathBuf {
    if !sh::is_root() {
        return dir.to_owned();
    }
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    let reachable = Command::new("setpriv")
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
            "test",
            "-x",
        ])
        .arg(existing)
        .status()
        .is_ok_and(|s| s.success());
    if reachable {
        return dir.to_owned();
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    PathBuf::from(format!(
        "/var/tmp/gewebe-postgres/{:016x}-{name}",
        h.finish()
    ))
}

fn own_dir_for_postgres(dir: &Path) -> Result {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if sh::is_root() {
        sh::run(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir),
        )?;
    }
    Ok(())
}

pub struct Postgres {
    pub dir: PathBuf,
    pub port: u16,
    /// Durability off: for throwaway test data only.
    pub fast: bool,
}

impl Postgres {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn start(&self) -> Result {
        if !self.data().join("PG_VERSION").is_file() {
            own_dir_for_postgres(&self.dir)?;
            eprintln!("xtask: initdb {}", self.data().display());
            let out = sh::output(
                as_postgres(&Path::new(PG_BIN).join("initdb"))
                    .arg("-D")
                    .arg(self.data())
                    .args([
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--no-locale",
                    ]),
            );
            out.map_err(|e| {
                format!(
                    "{e}\n(the postgres user must be able to reach {})",
                    self.dir.display()
                )
            })?;
        }
        if sh::port_open(self.port) {
            return Ok(());
        }
        own_dir_for_postgres(&self.dir)?;
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data().display()
        );
        options.push_str(" -c max_connections=300");
        if self.fast {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        sh::output(
            as_postgres(&Path::new(PG_BIN).join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("postgres.log"))
                .args(["-o", &options, "-w", "-t", "60", "start"]),
        )
        .map_err(|e| format!("{e}\n{}", sh::tail(&self.dir.join("postgres.log"), 20)))?;
        Ok(())
    }

    pub fn stop(&self) -> bool {
        if !self.data().join("postmaster.pid").is_file() {
            return false;
        }
        sh::output(
            as_postgres(&Path::new(PG_BIN).join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "stop"]),
        )
        .is_ok()
    }

    pub fn running(&self) -> bool {
        self.data().join("postmaster.pid").is_file() && sh::port_open(self.port)
    }
}

/// `psql` against a PostgreSQL on `port` as `postgres`.
pub fn psql(port: u16, db: &str, sql: &str) -> Result<String> {
    sh::output(
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql]),
    )
}

/// Creates `db` (and PostGIS in it) if missing.
pub fn ensure_database(port: u16, db: &str) -> Result {
    let exists = psql(
        port,
        "postgres",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{db}'"),
    )?;
    if exists.trim() != "1" {
        psql(port, "postgres", &format!("CREATE DATABASE {db}"))?;
    }
    psql(port, db, "CREATE EXTENSION IF NOT EXISTS postgis")?;
    Ok(())
}

/// A daemon we start ourselves, tracked by pidfile.
pub struct Daemon {
    pub name: &'static str,
    pub dir: PathBuf,
    pub port: u16,
}

impl Daemon {
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join(format!("{}.pid", self.name))
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    pub fn pid(&self) -> Option<u32> {
        sh::read_pid(&self.pidfile()).filter(|p| sh::alive(*p))
    }

    /// Starts `cmd` unless our instance already runs; fails clearly if someone else has the port.
    pub fn start(&self, cmd: &mut Command, wait: Duration) -> Result {
        if self.pid().is_some() && sh::port_open(self.port) {
            return Ok(());
        }
        if sh::port_open(self.port) {
            return Err(format!(
                "{}: port {} is taken by another program; set GEWEBE_STACK_PORT_BASE to move the stack",
                self.name, self.port
            ));
        }
        fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        sh::spawn_daemon(cmd, &self.log(), &self.pidfile())?;
        sh::wait_for_port(self.name, self.port, wait).map_err(|e| {
            format!(
                "{e}\n--- {} ---\n{}",
                self.log().display(),
                sh::tail(&self.log(), 20)
            )
        })
    }

    pub fn stop(&self) -> bool {
        let stopped = self
            .pid()
            .is_some_and(|pid| sh::stop_pid(pid, Duration::from_secs(30)));
        let _ = fs::remove_file(self.pidfile());
        stopped
    }
}

pub fn pgbouncer(dir: &Path, port: u16, pg_port: u16, root: &Path) -> Result<(Daemon, Command)> {
    let dir = &postgres_reachable(dir);
    let daemon = Daemon {
        name: "pgbouncer",
        dir: dir.to_owned(),
        port,
    };
    own_dir_for_postgres(dir)?;
    let template = fs::read_to_string(root.join("infra/pgbouncer/pgbouncer.ini"))
        .map_err(|e| format!("reading infra/pgbouncer/pgbouncer.ini: {e}"))?;
    let ini = template
        .replace("@PG_HOST@", "127.0.0.1")
        .replace("@PG_PORT@", &pg_port.to_string())
        .replace("@LISTEN_PORT@", &port.to_string())
        .replace(
            "@AUTH_FILE@",
            &dir.join("userlist.txt").display().to_string(),
        );
    let ini_path = dir.join("pgbouncer.ini");
    fs::write(&ini_path, ini).map_err(|e| e.to_string())?;
    fs::write(
        dir.join("userlist.txt"),
        format!(
            "\"postgres\" \"\"\n\"{}\" \"\"\n",
            crate::stack::AUTH_SERVE_USER
        ),
    )
    .map_err(|e| e.to_string())?;
    own_dir_for_postgres(dir)?;
    let bin = sh::which("pgbouncer").ok_or("pgbouncer is not installed")?;
    let mut cmd = as_postgres(&bin);
    cmd.arg(ini_path);
    Ok((daemon, cmd))
}

pub fn nats(dir: &Path, port: u16) -> Result<(Daemon, Command)> {
    let bin = sh::which("nats-server").ok_or("nats-server is not installed")?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-js",
        "-n",
        "gewebe-local",
        "-sd",
    ])
    .arg(dir.join("jetstream"));
    Ok((
        Daemon {
            name: "nats",
            dir: dir.to_owned(),
            port,
        },
        cmd,
    ))
}

pub fn redis(dir: &Path, port: u16) -> Result<(Daemon, Command)> {
    let bin = sh::which("redis-server").ok_or("redis-server is not installed")?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir);
    Ok((
        Daemon {
            name: "redis",
            dir: dir.to_owned(),
            port,
        },
        cmd,
    ))
}

pub fn typesense(dir: &Path, port: u16, bin: &Path, api_key: &str) -> Result<(Daemon, Command)> {
    let data = dir.join("data");
    fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir")
        .arg(&data)
        .args([
            "--api-key",
            api_key,
            "--api-port",
            &port.to_string(),
            "--listen-address",
            "127.0.0.1",
        ])
        .args(["--peering-port", &(port + 1).to_string(), "--enable-cors"]);
    Ok((
        Daemon {
            name: "typesense",
            dir: dir.to_owned(),
            port,
        },
        cmd,
    ))
}
