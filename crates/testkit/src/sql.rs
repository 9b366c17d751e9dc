//! The fleet's SQL convention, checked. Every query of a service lives in `<crate>/sql/**/*.sql`
//! and is compiled in with `gewebe_platform::sql!("name")` (the relay's schema templates with
//! `include_str!`, filled in by `substitutions` here); a service's suite calls
//! [`assert_sql_convention`] on a migrated database, so that
//! - every file prepares against the real schema (a renamed column or a wrong type fails the suite,
//!   not a user's request),
//! - every file is used by the crate's code (no stale copies), and
//! - no query is written inline in `src/` (where nothing would check it).

use std::path::{Path, PathBuf};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, SqlSafeStr};

/// Prepares every `.sql` file under `<crate_dir>/sql` on a direct connection to `direct_url`, with
/// each `(placeholder, value)` of `substitutions` filled in (schema templates); checks each file is
/// named in `src/` and that `src/` writes no query inline. Panics listing every violation.
pub async fn assert_sql_convention(
    direct_url: &str,
    crate_dir: &Path,
    substitutions: &[(&str, &str)],
) {
    let files = sql_files(&crate_dir.join("sql"));
    assert!(
        !files.is_empty(),
        "no .sql files under {}",
        crate_dir.display()
    );
    let sources = rust_sources(&crate_dir.join("src"));
    let code: String = sources
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    let mut problems = Vec::new();
    let mut conn = PgConnection::connect(direct_url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {direct_url}: {e}"));
    for file in &files {
        let name = file
            .strip_prefix(crate_dir.join("sql"))
            .unwrap_or(file)
            .with_extension("")
            .to_string_lossy()
            .into_owned();
        let mut sql = std::fs::read_to_string(file).unwrap_or_default();
        for (placeholder, value) in substitutions {
            sql = sql.replace(placeholder, value);
        }
        if let Err(e) = (&mut conn).prepare(AssertSqlSafe(sql).into_sql_str()).await {
            problems.push(format!("sql/{name}.sql does not prepare: {e}"));
        }
        if !code.contains(&format!("\"{name}\"")) && !code.contains(&format!("/{name}.sql\"")) {
            problems.push(format!("sql/{name}.sql is not used in src/"));
        }
    }
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (line, call) in inline_queries(&text) {
            problems.push(format!(
                "{}:{line}: inline SQL in `{call}`; move it to sql/",
                path.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "SQL convention:\n{}",
        problems.join("\n")
    );
}

/// `sqlx::query*(…)` and `sqlx::raw_sql(…)` calls whose first argument is a string literal.
fn inline_queries(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for start in ["sqlx::query", "sqlx::raw_sql"] {
        for (at, _) in text.match_indices(start) {
            let rest = &text[at..];
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let mut after = &rest[name_len..];
            if after.starts_with('<') {
                // A turbofish, possibly nested: `query_scalar::<_, Option<i64>>(`.
                after = turbofish_end(after).map_or("", |i| &after[i..]);
            }
            let Some(args) = after.strip_prefix('(') else {
                continue;
            };
            let args = args.trim_start();
            if args.starts_with('"') || args.starts_with("r\"") || args.starts_with("r#") {
                let line = text[..at].matches('\n').count() + 1;
                found.push((line, rest[..name_len].trim_end_matches("::").to_owned()));
            }
        }
    }
    found.sort();
    found
}

/// The byte offset just past the `>` that closes the `<` that `text` starts with.
fn turbofish_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn sql_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir, "sql")
}

fn rust_sources(dir: &Path) -> Vec<PathBuf> {
    walk(dir, "rs")
}

fn walk(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path, extension));
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::inline_queries;

    #[test]
    fn inline_queries_are_found_and_file_queries_are_not() {
        let code = "let a = sqlx::query(\"SELECT 1\");\n\
                    let b = sqlx::query_scalar::<_, bool>(\"SELECT true\");\n\
                    let c = sqlx::query_as(\n    \"SELECT 2\",\n);\n\
                    let d = sqlx::query(sql!(\"nodes/get\"));\n\
                    let e = sqlx::query_as(AssertSqlSafe(text));\n\
                    let f = sqlx::query_scalar::<_, Option<i64>>(\"SELECT 3\");\n\
                    let g = sqlx::query_as::<_, (i64, Vec<u8>)>(\"SELECT 4\");\n\
                    let h = sqlx::query_as::<_, (i64, Vec<u8>)>(sql!(\"nodes/get\"));\n";
        let found: Vec<usize> = inline_queries(code).into_iter().map(|f| f.0).collect();
        assert_eq!(found, vec![1, 2, 3, 8, 9]);
    }
}
