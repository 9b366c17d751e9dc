//! The rules every production file follows, as code: Nomad job specs (`nomad-jobs/`), Terraform
//! (`terraform/`) and the edge Caddyfile. Nomad and Terraform cannot run here, so the files are
//! parsed with a real HCL parser (hcl-rs) and checked against the rules of issue 17 and against
//! the services' own code (which environment variables they read, which of them are secrets,
//! whether they have a `migrate` subcommand).
//!
//! The integration tests (`tests/it`) run every rule on every job and run each rule against a
//! deliberately broken job, so a rule that stops catching anything fails the suite too.

pub mod code;
pub mod gotmpl;
pub mod job;
pub mod render;
pub mod rules;

use std::path::{Path, PathBuf};

/// The repository root (this crate lives in `crates/deploy-policy`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every file below `dir` whose name ends with one of `suffixes`, sorted.
pub fn files_with_suffix(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(p);
                }
            } else if suffixes.iter().any(|s| name.ends_with(s)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
