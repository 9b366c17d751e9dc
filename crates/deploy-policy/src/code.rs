//! What a service's code expects from its environment, read from the source itself so a variable
//! added to the code cannot be forgotten in its job: the string literals passed to the `Env`
//! readers (`env.or("NAME", …)`, `env.secret("NAME")`, …) in the service's crate and in the
//! platform files whose `*_from_env` functions it reaches.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// `Env` methods that read one variable named by their first argument.
const READERS: &[&str] = &[
    "raw",
    "required",
    "optional",
    "or",
    "in_range",
    "millis",
    "secs",
    "list",
    "secret",
    "key32",
    "secret_or",
];
/// Readers whose value is a secret: it must come from a Nomad Variable, never from the job file.
const SECRET_READERS: &[&str] = &["secret", "key32", "secret_or"];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvUse {
    /// Every variable read, with the file it is read in (the first one found).
    pub vars: BTreeMap<String, PathBuf>,
    /// The subset read as secrets.
    pub secrets: BTreeSet<String>,
    /// The source files scanned.
    pub files: Vec<PathBuf>,
}

/// The code without its `#[cfg(test)]` modules (they sit at the end of a file by convention here).
fn non_test(src: &str) -> &str {
    src.find("#[cfg(test)]").map_or(src, |i| &src[..i])
}

/// `(name, is_secret)` of every reader call in `src`.
pub fn reader_calls(src: &str) -> Vec<(String, bool)> {
    let src = non_test(src);
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while let Some(pos) = src[i..].find("env") {
        let start = i + pos;
        i = start + 3;
        // `env` must be a whole identifier (not `from_env` or `envy`).
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let rest = src[i..].trim_start();
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let method: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !READERS.contains(&method.as_str()) {
            continue;
        }
        let after = rest[method.len()..].trim_start();
        let Some(args) = after.strip_prefix('(') else {
            continue;
        };
        let Some(lit) = args.trim_start().strip_prefix('"') else {
            continue;
        };
        if let Some(end) = lit.find('"') {
            out.push((
                lit[..end].to_owned(),
                SECRET_READERS.contains(&method.as_str()),
            ));
        }
    }
    // Direct process-environment reads bypass `Env`; they count too.
    let mut j = 0;
    while let Some(pos) = src[j..].find("env::var(\"") {
        let lit = &src[j + pos + "env::var(\"".len()..];
        if let Some(end) = lit.find('"') {
            out.push((lit[..end].to_owned(), false));
        }
        j += pos + 1;
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    crate::files_with_suffix(dir, &[".rs"])
}

/// Identifiers `X` in `X::from_env(` and functions `f` in `module::f(` where `f` ends in `_from_env`.
fn from_env_calls(src: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let src = non_test(src);
    let mut types = BTreeSet::new();
    let mut fns = BTreeSet::new();
    for (pos, _) in src.match_indices("from_env(") {
        let before = &src[..pos];
        if let Some(prefix) = before.strip_suffix("::") {
            let ident: String = prefix
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if ident.chars().next().is_some_and(char::is_uppercase) {
                types.insert(ident);
            }
        } else {
            // `client_ip::trusted_proxies_from_env(` → `trusted_proxies_from_env`
            let name: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if !name.is_empty() && before[..before.len() - name.len()].ends_with("::") {
                fns.insert(format!("{name}from_env"));
            }
        }
    }
    (types, fns)
}

/// The environment a service reads: its own crate plus the platform files it reaches.
pub fn service_env(root: &Path, service: &str) -> Result<EnvUse, String> {
    let own = rust_files(&root.join("services").join(service).join("src"));
    if own.is_empty() {
        return Err(format!("services/{service}/src has no Rust files"));
    }
    let platform = rust_files(&root.join("crates/platform/src"));
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let platform_src: Vec<(PathBuf, String)> = platform
        .iter()
        .map(|p| Ok((p.clone(), read(p)?)))
        .collect::<Result<_, String>>()?;

    let mut queue: Vec<PathBuf> = own.clone();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut use_ = EnvUse::default();
    while let Some(file) = queue.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let src = read(&file)?;
        for (name, secret) in reader_calls(&src) {
            use_.vars
                .entry(name.clone())
                .or_insert_with(|| file.clone());
            if secret {
                use_.secrets.insert(name);
            }
        }
        let (types, fns) = from_env_calls(&src);
        for (p, s) in &platform_src {
            let code = non_test(s);
            let defines_type = types.iter().any(|t| code.contains(&format!("impl {t} {{")));
            let defines_fn = fns.iter().any(|f| code.contains(&format!("fn {f}(")));
            if defines_type || defines_fn {
                queue.push(p.clone());
            }
        }
    }
    use_.files = seen.into_iter().collect();
    Ok(use_)
}

/// Whether the service's binary has a `migrate` subcommand (a `Migrate` variant in its `main.rs`).
pub fn has_migrate(root: &Path, service: &str) -> bool {
    std::fs::read_to_string(root.join("services").join(service).join("src/main.rs"))
        .is_ok_and(|s| s.contains("Command::Migrate"))
}

/// Variables the README's configuration tables give a default for (a table row whose second
/// column is neither empty nor "required").
pub fn documented_defaults(readme: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `A`, `B` | default | meaning |" splits into ["", names, default, meaning, ""].
        if cells.len() < 4 || !cells[0].is_empty() {
            continue;
        }
        let (names, default) = (cells[1], cells[2]);
        // "as above" / "as for auth" rows point at another service's table, not at a default.
        if default.is_empty()
            || default.eq_ignore_ascii_case("required")
            || default == "default"
            || default.starts_with("as ")
        {
            continue;
        }
        for part in names.split('`').skip(1).step_by(2) {
            if part
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                out.insert(part.to_owned());
            }
        }
    }
    out
}

/// The services in this checkout (`services/*`).
pub fn services(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join("services"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("Cargo.toml").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_multiline_and_secret_reads_but_not_look_alikes() {
        let src = r#"
            let a = env.in_range(
                "A_SECS",
                1, 1..=2)?;
            let b = env.key32("B_KEY")?;
            let c = from_env.or("NOT_ME", 1);
            let d = std::env::var("D_RAW");
            #[cfg(test)]
            mod tests { fn t() { env.raw("TEST_ONLY"); } }
        "#;
        let calls = reader_calls(src);
        assert_eq!(
            calls,
            vec![
                ("A_SECS".to_owned(), false),
                ("B_KEY".to_owned(), true),
                ("D_RAW".to_owned(), false)
            ]
        );
    }

    #[test]
    fn readme_defaults() {
        let md = "| variable | default | meaning |\n|---|---|---|\n| `A`, `B` | `1`, `2` | x |\n| `C` | required | y |\n";
        let d = documented_defaults(md);
        assert!(
            d.contains("A") && d.contains("B") && !d.contains("C"),
            "{d:?}"
        );
    }
}
