//! The rules of issue 17, each with a stable id. A violation names the job, the block and the rule.

use std::{collections::BTreeSet, fmt, path::Path};

use hcl::Expression;

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
const DEFAULT_SHUTDOWN_DEADLINE_SECS: f64 = 25.0;

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

impl ServiceCode {
    /// Reads `services/<name>` and the README of the checkout at `root`.
    pub fn read(root: &Path, name: &str) -> Result<Self, String> {
        let readme = std::fs::read_to_string(root.join("README.md"))
            .map_err(|e| format!("README.md: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            env: crate::code::service_env(root, name)?,
            has_migrate: crate::code::has_migrate(root, name),
            documented_defaults: crate::code::documented_defaults(&readme),
        })
    }
}

struct Ctx<'a> {
    file: &'a JobFile,
    root: &'a Path,
    out: Vec<Violation>,
}

impl Ctx<'_> {
    fn fail(&mut self, block: String, rule: &'static str, detail: impl Into<String>) {
        self.out.push(Violation {
            job: self.file.name(),
            block,
            rule,
            detail: detail.into(),
        });
    }
}

fn str_attr(file: &JobFile, n: &Node, name: &str) -> Option<String> {
    n.attr(name).and_then(|e| file.resolve(e)).and_then(text)
}

fn dur_attr(file: &JobFile, n: &Node, name: &str) -> Option<f64> {
    str_attr(file, n, name).and_then(|s| duration_secs(&s))
}

fn args_of(task: &Node) -> Vec<String> {
    match task.block("config").and_then(|c| c.attr("args")) {
        Some(Expression::Array(a)) => a.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

fn image_expr(task: &Node) -> Option<String> {
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
struct Template {
    block: String,
    body: String,
    left: String,
    right: String,
    env: bool,
    change_mode: bool,
    destination: Option<String>,
}

fn templates(ctx: &mut Ctx<'_>, file: &JobFile, task_block: &str, task: &Node) -> Vec<Template> {
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
fn common(ctx: &mut Ctx<'_>) {
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

/// Every rule on a service job, against the service's code.
pub fn check_service_job(file: &JobFile, root: &Path, code: &ServiceCode) -> Vec<Violation> {
    let mut ctx = Ctx {
        file,
        root,
        out: Vec::new(),
    };
    common(&mut ctx);
    let Some(job) = file.job() else {
        return ctx.out;
    };
    for group in job.blocks("group") {
        let gname = format!("group {:?}", group.label());
        update_rule(&mut ctx, job, group, &gname);
        let count = group
            .attr("count")
            .and_then(|e| file.number(e))
            .unwrap_or(1.0);
        if count < 2.0 {
            ctx.fail(gname.clone(), "count_spread", format!("count {count} < 2"));
        }
        if group.block("spread").is_none() && job.block("spread").is_none() {
            ctx.fail(gname.clone(), "count_spread", "no spread block");
        }
        services_rule(&mut ctx, group, &gname);
        let tasks: Vec<&Node> = group.blocks("task").collect();
        let Some(serve) = tasks
            .iter()
            .find(|t| args_of(t).iter().any(|a| a == "serve"))
        else {
            ctx.fail(gname.clone(), "kill_timeout", "no task runs `serve`");
            continue;
        };
        let serve_image = image_expr(serve);
        let image_tasks: Vec<&&Node> = tasks
            .iter()
            .filter(|t| image_expr(t) == serve_image)
            .collect();
        for task in &image_tasks {
            let tname = format!("{gname} task {:?}", task.label());
            let tpls = templates(&mut ctx, file, &tname, task);
            env_rules(&mut ctx, &tname, task, &tpls, code);
        }
        kill_rule(&mut ctx, group, serve, &gname);
        if code.has_migrate {
            let ok = image_tasks.iter().any(|t| {
                let l = t.block("lifecycle");
                l.and_then(|l| str_attr(file, l, "hook")).as_deref() == Some("prestart")
                    && !l
                        .and_then(|l| l.attr("sidecar"))
                        .and_then(|e| file.boolean(e))
                        .unwrap_or(false)
                    && args_of(t).iter().any(|a| a == "migrate")
            });
            if !ok {
                ctx.fail(gname.clone(), "migrations_prestart", format!("gewebe-{} has a migrate subcommand; run it as a prestart task (sidecar = false) with the service's image", code.name));
            }
        }
    }
    ctx.out
}

fn update_rule(ctx: &mut Ctx<'_>, job: &Node, group: &Node, gname: &str) {
    let file = ctx.file;
    let Some(u) = group.block("update").or_else(|| job.block("update")) else {
        ctx.fail(gname.into(), "update", "no update block");
        return;
    };
    let b = format!("{gname} update");
    if u.attr("canary").and_then(|e| file.number(e)).unwrap_or(0.0) < 1.0 {
        ctx.fail(b.clone(), "update", "canary must be at least 1");
    }
    for k in ["auto_promote", "auto_revert"] {
        if u.attr(k).and_then(|e| file.boolean(e)) != Some(true) {
            ctx.fail(b.clone(), "update", format!("{k} must be true"));
        }
    }
    if str_attr(file, u, "health_check").as_deref() != Some("checks") {
        ctx.fail(b.clone(), "update", "health_check must be \"checks\"");
    }
    if dur_attr(file, u, "min_healthy_time").is_none() {
        ctx.fail(b.clone(), "update", "min_healthy_time is not set");
    }
    match (
        dur_attr(file, u, "healthy_deadline"),
        dur_attr(file, u, "progress_deadline"),
    ) {
        (Some(h), Some(p)) if h < p => {}
        (h, p) => ctx.fail(
            b,
            "update",
            format!("healthy_deadline ({h:?} s) must be set and below progress_deadline ({p:?} s)"),
        ),
    }
}

fn services_rule(ctx: &mut Ctx<'_>, group: &Node, gname: &str) {
    let file = ctx.file;
    let services: Vec<&Node> = group
        .blocks("service")
        .chain(group.blocks("task").flat_map(|t| t.blocks("service")))
        .collect();
    if services.is_empty() {
        ctx.fail(gname.into(), "service_checks", "no service block");
    }
    for s in services {
        let b = format!(
            "{gname} service {:?}",
            str_attr(file, s, "name").unwrap_or_default()
        );
        if str_attr(file, s, "provider").as_deref() != Some("nomad") {
            ctx.fail(
                b.clone(),
                "service_checks",
                "provider must be \"nomad\" (native service discovery)",
            );
        }
        for path in ["/health/ready", "/health/live"] {
            let found = s.blocks("check").any(|c| {
                str_attr(file, c, "type").as_deref() == Some("http")
                    && str_attr(file, c, "path").as_deref() == Some(path)
            });
            if !found {
                ctx.fail(
                    b.clone(),
                    "service_checks",
                    format!("no http check on {path}"),
                );
            }
        }
    }
}

fn env_rules(ctx: &mut Ctx<'_>, tname: &str, task: &Node, tpls: &[Template], code: &ServiceCode) {
    let mut set: BTreeSet<String> = task
        .block("env")
        .map(|e| e.attrs.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut from_vars: BTreeSet<String> = BTreeSet::new();
    for t in tpls.iter().filter(|t| t.env) {
        for line in t.body.lines() {
            // `NAME=…` at the start of a rendered line, possibly after leading actions.
            let mut line = line.trim();
            while line.starts_with(&*t.left) {
                match line.find(&*t.right) {
                    Some(e) => line = line[e + t.right.len()..].trim_start(),
                    None => break,
                }
            }
            if let Some((name, _)) = line.split_once('=')
                && !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                set.insert(name.to_owned());
                if t.body.contains("nomadVar") {
                    from_vars.insert(name.to_owned());
                }
            }
        }
    }
    let in_env: BTreeSet<String> = task
        .block("env")
        .map(|e| e.attrs.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    for secret in &code.env.secrets {
        if in_env.contains(secret) {
            ctx.fail(
                format!("{tname} env"),
                "secrets_template",
                format!(
                    "{secret} is a secret (read with a secret reader) and is set in the env block"
                ),
            );
        } else if set.contains(secret) && !from_vars.contains(secret) {
            ctx.fail(
                tname.into(),
                "secrets_template",
                format!("{secret} is rendered by a template that reads no Nomad Variable"),
            );
        }
    }
    for (var, src) in &code.env.vars {
        if !set.contains(var) && !code.documented_defaults.contains(var) {
            ctx.fail(
                tname.into(),
                "env_coverage",
                format!(
                    "{var} (read in {}) is neither set here nor has a default in the README",
                    src.display()
                ),
            );
        }
    }
}

fn kill_rule(ctx: &mut Ctx<'_>, group: &Node, serve: &Node, gname: &str) {
    let file = ctx.file;
    let b = format!("{gname} task {:?}", serve.label());
    let deadline = serve
        .block("env")
        .and_then(|e| e.attr("SHUTDOWN_DEADLINE_SECS"))
        .and_then(|e| file.resolve(e))
        .and_then(text)
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(DEFAULT_SHUTDOWN_DEADLINE_SECS);
    let delay =
        dur_attr(file, serve, "shutdown_delay").or_else(|| dur_attr(file, group, "shutdown_delay"));
    let kill = dur_attr(file, serve, "kill_timeout").unwrap_or(5.0);
    match delay {
        Some(d) if d > 0.0 => {
            if kill < deadline + d {
                ctx.fail(b, "kill_timeout", format!("kill_timeout {kill} s < SHUTDOWN_DEADLINE_SECS {deadline} s + shutdown_delay {d} s"));
            }
        }
        _ => ctx.fail(
            b,
            "kill_timeout",
            "no shutdown_delay: Caddy would still send requests while the instance drains",
        ),
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
