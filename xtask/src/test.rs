//! `cargo xtask test`: the README's test command and what CI runs.
//!
//! 1. backing services for the tests: the machine's PostgreSQL, NATS and Redis when they run on
//!    their standard ports, private instances under `target/test-backends/` when not, and always a
//!    private PgBouncer (transaction mode) in front of PostgreSQL;
//! 2. `cargo fmt --check`, `cargo clippy -D warnings`;
//! 3. the stack smoke test: `up --detach` on its own ports, the end-to-end tests through Caddy, `down`;
//! 4. every crate's tests (nextest when installed).

use std::{path::Path, process::Command, time::Duration};

use crate::{
    backends::{self, Postgres},
    sh::{self, Result},
    stack::Stack,
};

pub const TEST_PGBOUNCER_PORT: u16 = 16432;

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(root);
    cmd
}

pub fn run(root: &Path, args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--no-smoke");
    crate::install::system_packages()?;
    let env = backends_for_tests(root)?;

    eprintln!("xtask: cargo fmt --check");
    sh::run(cargo(root).args(["fmt", "--all", "--", "--check"]))?;
    eprintln!("xtask: cargo clippy -D warnings");
    sh::run(cargo(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;

    let nextest = sh::output(cargo(root).args(["nextest", "--version"])).is_ok();
    // The stack smoke test first, so the suite's summary is the run's closing line.
    if !quick {
        smoke(root, nextest)?;
    }
    let mut tests = cargo(root);
    if nextest {
        tests.args([
            "nextest",
            "run",
            "--workspace",
            // Built as the whole workspace and filtered at run time: excluding a package resolves
            // features differently and rebuilds half the dependency tree after the smoke build.
            "-E",
            "not package(gewebe-e2e)",
            "--no-fail-fast",
        ]);
    } else {
        tests.args([
            "test",
            "--workspace",
            "--exclude",
            "gewebe-e2e",
            "--no-fail-fast",
        ]);
    }
    sh::run(tests.envs(env.iter().cloned()))
}

/// Brings the whole stack up on its own ports and directory (so a developer's running stack is
/// not disturbed), runs the end-to-end tests through Caddy, and takes it down again.
fn smoke(root: &Path, nextest: bool) -> Result {
    let base = std::env::var("GEWEBE_SMOKE_PORT_BASE").unwrap_or_else(|_| "25000".to_owned());
    let dir = root.join("target/stack-smoke");
    let mut up = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    up.args(["up", "--detach"])
        .env("GEWEBE_STACK_PORT_BASE", &base)
        .env("GEWEBE_STACK_DIR", &dir);
    let mut down = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    down.arg("down")
        .env("GEWEBE_STACK_PORT_BASE", &base)
        .env("GEWEBE_STACK_DIR", &dir);

    eprintln!("xtask: stack smoke test (cargo xtask up --detach on port base {base})");
    let _ = sh::output(&mut down); // leftovers of an interrupted run
    let result = sh::run(&mut up).and_then(|()| {
        let ports = crate::stack::Ports {
            base: base
                .parse()
                .map_err(|_| "GEWEBE_SMOKE_PORT_BASE: invalid port")?,
        };
        let stack = Stack {
            root: root.to_owned(),
            dir: dir.clone(),
            ports,
        };
        let mut e2e = cargo(root);
        if nextest {
            e2e.args([
                "nextest",
                "run",
                "--workspace",
                "-E",
                "package(gewebe-e2e)",
                "--no-fail-fast",
            ]);
        } else {
            e2e.args(["test", "-p", "gewebe-e2e", "--no-fail-fast"]);
        }
        e2e.env(
            "GEWEBE_STACK_URL",
            format!("https://localhost:{}", ports.https()),
        )
        .env(
            "GEWEBE_STACK_CA",
            dir.join("caddy/data/caddy/pki/authorities/local/root.crt"),
        )
        .env("GEWEBE_STACK_SERVICES", stack.public_services().join(","))
        .env(
            "GEWEBE_STACK_DIRECT",
            stack
                .services()
                .iter()
                .map(|s| format!("{s}=http://127.0.0.1:{}", ports.service(s)))
                .collect::<Vec<_>>()
                .join(","),
        );
        sh::run(&mut e2e)
    });
    let stopped = sh::run(&mut down);
    result.and(stopped)
}

/// Starts whatever the tests need and is not running; returns the `GEWEBE_TEST_*` environment.
fn backends_for_tests(root: &Path) -> Result<Vec<(String, String)>> {
    let dir = root.join("target/test-backends");
    let mut env = Vec::new();

    let pg_port = if sh::port_open(5432) {
        5432
    } else {
        let pg = Postgres {
            dir: backends::postgres_reachable(&dir.join("postgres")),
            port: 15532,
            fast: true,
        };
        eprintln!(
            "xtask: no PostgreSQL on 5432; starting a private one on {}",
            pg.port
        );
        pg.start()?;
        pg.port
    };
    drop_leftover_test_databases(pg_port);

    let (d, mut cmd) =
        backends::pgbouncer(&dir.join("pgbouncer"), TEST_PGBOUNCER_PORT, pg_port, root)?;
    if d.pid().is_some() {
        d.stop(); // its config may point at another PostgreSQL than last time
    }
    d.start(&mut cmd, Duration::from_secs(10))?;

    let nats_url = if sh::port_open(4222) {
        "nats://127.0.0.1:4222".to_owned()
    } else {
        let (d, mut cmd) = backends::nats(&dir.join("nats"), 14322)?;
        eprintln!(
            "xtask: no NATS on 4222; starting a private one on {}",
            d.port
        );
        d.start(&mut cmd, Duration::from_secs(15))?;
        format!("nats://127.0.0.1:{}", d.port)
    };
    if let Some(addr) = nats_url.strip_prefix("nats://") {
        let swept = crate::nats_sweep::sweep_test_streams(addr);
        if swept > 0 {
            eprintln!("xtask: deleted {swept} JetStream streams of earlier runs");
        }
    }
    let redis_url = if sh::port_open(6379) {
        "redis://127.0.0.1:6379".to_owned()
    } else {
        let (d, mut cmd) = backends::redis(&dir.join("redis"), 16479)?;
        eprintln!(
            "xtask: no Redis on 6379; starting a private one on {}",
            d.port
        );
        d.start(&mut cmd, Duration::from_secs(10))?;
        format!("redis://127.0.0.1:{}", d.port)
    };

    env.push(("GEWEBE_TEST_PG".to_owned(), format!("127.0.0.1:{pg_port}")));
    env.push((
        "GEWEBE_TEST_PGBOUNCER".to_owned(),
        format!("127.0.0.1:{TEST_PGBOUNCER_PORT}"),
    ));
    env.push(("GEWEBE_TEST_NATS_URL".to_owned(), nats_url));
    env.push(("GEWEBE_TEST_REDIS_URL".to_owned(), redis_url));
    Ok(env)
}

/// `cargo xtask backends`: the test run's backing services without the run, for working on one
/// crate (`cargo nextest run -p gewebe-auth`). The defaults of `gewebe-testkit` match what this
/// starts on a machine whose PostgreSQL, NATS and Redis run on their standard ports.
pub fn backends(root: &Path) -> Result {
    crate::install::system_packages()?;
    for (name, value) in backends_for_tests(root)? {
        println!("export {name}={value}");
    }
    Ok(())
}

/// Test databases are thrown away at the start of the next run rather than at the end of each
/// test, so a failed test's database can still be inspected.
fn drop_leftover_test_databases(pg_port: u16) {
    let Ok(names) = backends::psql(
        pg_port,
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'gwt\\_%'",
    ) else {
        return;
    };
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let _ = backends::psql(
            pg_port,
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
    }
}

/// `cargo xtask bench <name>`: the same backing services as the tests, then the named benchmark
/// (optimised build, `[profile.bench]`), which prints its figures and writes `bench/results/<name>.md`.
pub fn bench(root: &Path, args: &[String]) -> Result {
    let known = [
        ("relay", "gewebe-relay"),
        ("auth", "gewebe-auth"),
        ("geo", "gewebe-geo"),
        ("feed", "gewebe-feed"),
        ("chat", "gewebe-chat"),
    ];
    let Some(name) = args.first() else {
        return Err(format!(
            "which benchmark? one of: {}",
            known.map(|k| k.0).join(", ")
        ));
    };
    let Some((_, package)) = known.iter().find(|(n, _)| n == name) else {
        return Err(format!(
            "unknown benchmark {name:?}; one of: {}",
            known.map(|k| k.0).join(", ")
        ));
    };
    crate::install::system_packages()?;
    let mut env = backends_for_tests(root)?;
    if *name == "geo" {
        match martin(root) {
            Ok(bin) => env.push(("MARTIN_BIN".to_owned(), bin)),
            // The benchmark still runs and records why the baseline is missing.
            Err(e) => eprintln!("xtask: Martin (the tile baseline) is unavailable: {e}"),
        }
    }
    sh::run(
        cargo(root)
            .args(["bench", "-p", package, "--bench", name])
            .envs(env),
    )
}

/// The newest Martin this toolchain can build (1.14 needs rustc 1.94; later ones need newer), with
/// only its PostgreSQL source, installed once into `target/martin`.
const MARTIN_VERSION: &str = "1.14.0";

fn martin(root: &Path) -> Result<String> {
    let dir = root.join("target/martin");
    let bin = dir.join("bin/martin");
    if !bin.is_file() {
        eprintln!(
            "xtask: building Martin {MARTIN_VERSION} for the tile baseline (once; several minutes)"
        );
        sh::run(
            cargo(root)
                .args([
                    "install",
                    &format!("martin@{MARTIN_VERSION}"),
                    "--locked",
                    "--no-default-features",
                    "--features",
                    "postgres",
                    "--root",
                ])
                .arg(&dir),
        )?;
    }
    Ok(bin.display().to_string())
}

/// `cargo xtask seed geo --nodes N`: fills the geo benchmark's own database (`gewebe_bench_geo` on
/// the test PostgreSQL) with N nodes and about N/10 edges.
pub fn seed(root: &Path, args: &[String]) -> Result {
    let (Some("geo"), nodes) = (
        args.first().map(String::as_str),
        args.iter().position(|a| a == "--nodes"),
    ) else {
        return Err("usage: cargo xtask seed geo [--nodes N]".to_owned());
    };
    let n = match nodes {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or("--nodes takes a number")?,
        None => 1_000_000,
    };
    crate::install::system_packages()?;
    let env = backends_for_tests(root)?;
    sh::run(
        cargo(root)
            .args(["bench", "-p", "gewebe-geo", "--bench", "geo", "--", "seed"])
            .arg(n.to_string())
            .envs(env),
    )
}
