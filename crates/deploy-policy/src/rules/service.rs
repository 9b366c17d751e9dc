//! The rules only service jobs follow, checked against the service's code.

use std::{collections::BTreeSet, path::Path};

use super::{
    Ctx, DEFAULT_SHUTDOWN_DEADLINE_SECS, ServiceCode, Template, Violation, args_of, common,
    dur_attr, image_expr, str_attr, templates,
};
use crate::job::{JobFile, Node, text};

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
