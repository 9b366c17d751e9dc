//! The rules of issue 17, each with a stable id. A violation names the job, the block and the rule.

use std::{collections::BTreeSet, fmt, path::Path};

use hcl::Expression;

mod service;

pub use service::check_service_job;

use crate::{
    code::EnvUse,
    gotmpl,
    job::{JobFile, Node, duration_secs, file_arg, text},
};

/// Every rule id, for the tests that prove each one can fail.
pub const SERVICE_RULES: &[&str] = &[
    "image_digest",
    "update",
    "count_spread",
    "service_checks",
    "secrets_template",
    "template_change_mode",
    "template_syntax",
    "no_secret_literal",
    "kill_timeout",
    "resources",
    "restart_reschedule",
    "migrations_prestart",
    "env_coverage",
];

/// `SHUTDOWN_DEADLINE_SECS`' default in crates/platform/src/http/mod.rs.
pub(super) const DEFAULT_SHUTDOWN_DEADLINE_SECS: f64 = 25.0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub job: String,
    pub block: String,
    pub rule: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job {} {}: [{}] {}",
            self.job, self.block, self.rule, self.detail
        )
    }
}

/// What the service's code expects, for the rules that compare the job with it.
#[derive(Debug, Clone)]
pub struct ServiceCode {
    pub name: String,
    pub env: EnvUse,
    pub has_migrate: bool,
    pub documented_defaults: BTreeSet<String>,
}

pub(super) struct Ctx<'a> {
    pub(super) file: &'a JobFile,
    pub(super) root: &'a Path,
    pub(super) out: Vec<Violation>,
}

impl Ctx<'_> {
    pub(super) fn fail(&mut self, block: String, rule: &'static str, detail: impl Into<String>) {
        self.out.push(Violation {
            job: self.file.name(),
            block,
            rule,
            detail: detail.into(),
        });
    }
}

pub(super) fn str_attr(file: &JobFile, n: &Node, name: &str) -> Option<String> {
    n.attr(name).and_then(|e| file.resolve(e)).and_then(text)
}

pub(super) fn dur_attr(file: &JobFile, n: &Node, name: &str) -> Option<f64> {
    str_attr(file, n, name).and_then(|s| duration_secs(&s))
}

pub(super) fn args_of(task: &Node) -> Vec<String> {
    match task.block("config").and_then(|c| c.attr("args")) {
        Some(Expression::Array(a)) => a.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn image_expr(task: &Node) -> Option<String> {
    task.block("config")
        .and_then(|c| c.attr("image"))
        .map(|e| hcl::format::to_string(e).unwrap_or_default())
}

pub fn is_digest_pinned(image: &str) -> bool {
    let Some((name, digest)) = image.rsplit_once("@sha256:") else {
        return false;
    };
    !name.is_empty()
        && !name.ends_with(":latest")
        && digest.len() == 64
        && digest
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// A template's body and delimiters; `file("…")` bodies are read from the repository.
pub(super) struct Template {
    pub(super) block: String,
    pub(super) body: String,
    pub(super) left: String,
    pub(super) right: String,
    pub(super) env: bool,
    pub(super) change_mode: bool,
    pub(super) destination: Option<String>,
}

pub(super) fn templates(
    ctx: &mut Ctx<'_>,
    file: &JobFile,
    task_block: &str,
    task: &Node,
) -> Vec<Template> {
    let mut out = Vec::new();
    for (i, t) in task.blocks("template").enumerate() {
        let block = format!("{task_block} template[{i}]");
        let body = match t.attr("data") {
            Some(e) => match file_arg(e) {
                Some(rel) => match std::fs::read_to_string(ctx.root.join(&rel)) {
                    Ok(b) => b,
                    Err(e) => {
                        ctx.fail(
                            block.clone(),
                            "template_syntax",
                            format!("file({rel:?}): {e}"),
                        );
                        continue;
                    }
                },
                None => text(e).unwrap_or_default(),
            },
            None => String::new(),
        };
        out.push(Template {
            block,
            body,
            left: str_attr(file, t, "left_delimiter").unwrap_or_else(|| "{{".into()),
            right: str_attr(file, t, "right_delimiter").unwrap_or_else(|| "}}".into()),
            env: t.attr("env").and_then(|e| file.boolean(e)).unwrap_or(false),
            change_mode: t.attr("change_mode").is_some(),
            destination: str_attr(file, t, "destination"),
        });
    }
    out
}

/// The template with its actions removed: what is literally in the job file.
fn literal_part(t: &Template) -> String {
    let mut out = String::new();
    let mut rest = t.body.as_str();
    while let Some(s) = rest.find(&t.left) {
        out.push_str(&rest[..s]);
        match rest[s..].find(&t.right) {
            Some(e) => rest = &rest[s + e + t.right.len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// `scheme://user:password@` with a literal password.
fn has_credentials_literal(s: &str) -> bool {
    s.match_indices("://").any(|(i, _)| {
        let after = &s[i + 3..];
        let userinfo_end = after
            .find(['@', '/', ' ', '\n', '"'])
            .unwrap_or(after.len());
        after[userinfo_end..].starts_with('@')
            && after[..userinfo_end]
                .split_once(':')
                .is_some_and(|(_, pw)| !pw.is_empty())
    })
}

fn looks_secret(name: &str) -> bool {
    // By suffix: `ACCESS_TOKEN_TTL_SECS` and `REDIS_KEY_PREFIX` are settings, not secrets.
    ["PASSWORD", "SECRET", "TOKEN", "KEK", "_KEY", "CREDENTIALS"]
        .iter()
        .any(|w| name.ends_with(w))
}

/// Rules for every job, service or supporting system.
pub(super) fn common(ctx: &mut Ctx<'_>) {
    let file = ctx.file;
    let Some(job) = file.job() else {
        ctx.fail("file".into(), "image_digest", "no job block");
        return;
    };
    let service_type = str_attr(file, job, "type").is_none_or(|t| t == "service");
    for group in job.blocks("group") {
        let gname = format!("group {:?}", group.label());
        if service_type && (group.block("restart").is_none() || group.block("reschedule").is_none())
        {
            ctx.fail(
                gname.clone(),
                "restart_reschedule",
                "needs both a restart and a reschedule block",
            );
        }
        for task in group.blocks("task") {
            let tname = format!("{gname} task {:?}", task.label());
            image_rule(ctx, &tname, task);
            resources_rule(ctx, &tname, task);
            for t in templates(ctx, file, &tname, task) {
                if !t.change_mode {
                    ctx.fail(
                        t.block.clone(),
                        "template_change_mode",
                        "change_mode is not set",
                    );
                }
                if let Err(e) = gotmpl::check(&t.body, &t.left, &t.right) {
                    ctx.fail(t.block.clone(), "template_syntax", e);
                }
                if has_credentials_literal(&literal_part(&t)) {
                    ctx.fail(
                        t.block.clone(),
                        "no_secret_literal",
                        "a URL with a literal password",
                    );
                }
                // Rendering a Nomad Variable outside secrets/ puts it where the task's files are readable.
                if t.body.contains("nomadVar")
                    && !t
                        .destination
                        .as_deref()
                        .is_some_and(|d| d.starts_with("secrets/"))
                {
                    ctx.fail(
                        t.block.clone(),
                        "secrets_template",
                        format!(
                            "renders a Nomad Variable to {:?}, not below secrets/",
                            t.destination
                        ),
                    );
                }
            }
            if let Some(env) = task.block("env") {
                for (k, v) in &env.attrs {
                    let val = text(v).unwrap_or_default();
                    if looks_secret(k) && !val.is_empty() {
                        ctx.fail(
                            format!("{tname} env"),
                            "no_secret_literal",
                            format!("{k} looks like a secret; render it from a Nomad Variable"),
                        );
                    }
                    if has_credentials_literal(&val) {
                        ctx.fail(
                            format!("{tname} env"),
                            "no_secret_literal",
                            format!("{k} holds a URL with a password"),
                        );
                    }
                }
            }
        }
    }
}

fn image_rule(ctx: &mut Ctx<'_>, tname: &str, task: &Node) {
    let file = ctx.file;
    let Some(expr) = task.block("config").and_then(|c| c.attr("image")) else {
        ctx.fail(tname.into(), "image_digest", "config has no image");
        return;
    };
    match JobFile::var_ref(expr) {
        Some(var) => match file.variable(&var) {
            None => ctx.fail(
                tname.into(),
                "image_digest",
                format!("var.{var} is not declared"),
            ),
            Some(v) => {
                if !v
                    .conditions
                    .iter()
                    .any(|c| c.contains("@sha256:[0-9a-f]{64}$"))
                {
                    ctx.fail(
                        tname.into(),
                        "image_digest",
                        format!(
                            "variable {var:?} has no validation requiring name@sha256:<64 hex>"
                        ),
                    );
                }
                if let Some(d) = v.default.as_ref().and_then(text)
                    && !is_digest_pinned(&d)
                {
                    ctx.fail(
                        tname.into(),
                        "image_digest",
                        format!("variable {var:?} defaults to {d:?}, not a digest"),
                    );
                }
            }
        },
        None => match text(expr) {
            Some(s) if is_digest_pinned(&s) => {}
            other => ctx.fail(
                tname.into(),
                "image_digest",
                format!("image {other:?} is not var.<name> or name@sha256:<digest>"),
            ),
        },
    }
}

fn resources_rule(ctx: &mut Ctx<'_>, tname: &str, task: &Node) {
    let file = ctx.file;
    let Some(r) = task.block("resources") else {
        ctx.fail(tname.into(), "resources", "no resources block");
        return;
    };
    let num = |k: &str| r.attr(k).and_then(|e| file.number(e));
    match (num("cpu"), num("memory"), num("memory_max")) {
        (Some(_), Some(m), Some(mx)) if mx > m => {}
        (c, m, mx) => ctx.fail(format!("{tname} resources"), "resources", format!("needs cpu, memory and memory_max > memory (cpu {c:?}, memory {m:?}, memory_max {mx:?})")),
    }
}

/// The rules for every job that is not a service (supporting systems).
pub fn check_supporting_job(file: &JobFile, root: &Path) -> Vec<Violation> {
    let mut ctx = Ctx {
        file,
        root,
        out: Vec::new(),
    };
    common(&mut ctx);
    ctx.out
}
