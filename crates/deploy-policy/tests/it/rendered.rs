//! The jobs' templates rendered against a fake Nomad (catalogue + the Variables each job's header
//! documents), merged with the env block, and parsed by the service's own `Config::from_env`: what
//! a task would start with in production is a configuration the service accepts.

use std::collections::BTreeMap;

use gewebe_deploy_policy::{
    code,
    job::{JobFile, Node, file_arg, text},
    render::{FakeNomad, render},
};
use gewebe_platform::{Env, main_loop::ServiceConfig as _};

use crate::support::{load, root};

const PUBLIC_HOST: &str = "gewebe.example.org";

fn catalogue() -> BTreeMap<String, Vec<(String, u16)>> {
    let mut s = BTreeMap::new();
    for (name, n, port) in [
        ("gewebe-pgbouncer", 2, 24_001),
        ("gewebe-postgres-primary", 1, 5432),
        ("gewebe-keydb", 2, 6379),
        ("gewebe-nats", 3, 4222),
        ("gewebe-loki", 1, 23_100),
        ("gewebe-tempo-otlp", 1, 24_318),
    ] {
        s.insert(
            name.to_owned(),
            (0..n)
                .map(|i| (format!("10.0.2.{}", 11 + i), port))
                .collect(),
        );
    }
    s
}

/// The Variable items a job's header comment documents (`#   NAME   what it is`), with values of
/// the right shape: keys are 32 random-looking bytes in base64, everything else a password.
fn documented_variable(job_text: &str) -> BTreeMap<String, String> {
    job_text
        .lines()
        .take_while(|l| l.starts_with('#') || l.is_empty())
        .filter_map(|l| l.strip_prefix("#   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| {
            w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(|k| {
            let v = if k.ends_with("_KEK") || k.ends_with("_KEY") {
                "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=".to_owned()
            } else {
                format!("pw-{}", k.to_lowercase())
            };
            (k.to_owned(), v)
        })
        .collect()
}

fn env_value(job: &JobFile, e: &hcl::Expression) -> Option<String> {
    let v = text(job.resolve(e)?)?;
    Some(v.replace("${var.public_host}", PUBLIC_HOST))
}

/// Everything the task's process would see: env block, then the env templates.
fn task_env(
    job: &JobFile,
    task: &Node,
    nomad: &FakeNomad,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for (k, v) in task
        .block("env")
        .map(|e| e.attrs.as_slice())
        .unwrap_or_default()
    {
        env.insert(
            k.clone(),
            env_value(job, v).ok_or(format!("{k}: no value without -var"))?,
        );
    }
    for t in task.blocks("template") {
        if t.attr("env").and_then(|e| job.boolean(e)) != Some(true) {
            continue;
        }
        let body = match t.attr("data") {
            Some(d) => match file_arg(d) {
                Some(rel) => {
                    std::fs::read_to_string(root().join(rel)).map_err(|e| e.to_string())?
                }
                None => text(d).unwrap_or_default(),
            },
            None => String::new(),
        };
        let out = render(&body, nomad).map_err(|e| format!("template: {e}"))?;
        for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once('=')
                .ok_or(format!("rendered line is not NAME=value: {line:?}"))?;
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(env)
}

fn parse_config(service: &str, env: &Env) -> Result<(), String> {
    let r = match service {
        "auth" => gewebe_auth::Config::from_env(env).map(drop),
        "geo" => gewebe_geo::Config::from_env(env).map(drop),
        "feed" => gewebe_feed::Config::from_env(env).map(drop),
        "relay" => gewebe_relay::Config::from_env(env).map(drop),
        "chat" => gewebe_chat::Config::from_env(env).map(drop),
        other => {
            return Err(format!(
                "add services/{other}'s Config::from_env to tests/it/rendered.rs"
            ));
        }
    };
    r.map_err(|e| e.to_string())
}

#[test]
fn every_service_task_starts_with_a_configuration_its_service_accepts() {
    let root = root();
    for svc in code::services(&root) {
        let path = root.join(format!("nomad-jobs/gewebe-{svc}.nomad.hcl"));
        let job = load(&path);
        let nomad = FakeNomad {
            services: catalogue(),
            variables: BTreeMap::from([(
                format!("nomad/jobs/gewebe-{svc}"),
                documented_variable(&std::fs::read_to_string(&path).unwrap_or_default()),
            )]),
            env: BTreeMap::new(),
        };
        let tasks: Vec<&Node> = job
            .job()
            .into_iter()
            .flat_map(|j| j.blocks("group"))
            .flat_map(|g| g.blocks("task"))
            .collect();
        assert!(!tasks.is_empty());
        for task in tasks {
            let what = format!("job gewebe-{svc} task {:?}", task.label());
            let env = task_env(&job, task, &nomad).unwrap_or_else(|e| panic!("{what}: {e}"));
            parse_config(&svc, &Env::from_pairs(env.clone()))
                .unwrap_or_else(|e| panic!("{what}: configuration error: {e}"));
            if let Some(url) = env.get("NATS_URL") {
                url.parse::<async_nats::ServerAddr>()
                    .unwrap_or_else(|e| panic!("{what}: NATS_URL {url:?}: {e}"));
            }
            if task.label() == "serve" && env.contains_key("DATABASE_URL") {
                assert!(
                    env["DATABASE_URL"].contains(":24001/"),
                    "{what}: pooled traffic goes through PgBouncer"
                );
                assert!(
                    env["DATABASE_DIRECT_URL"].contains(":5432/"),
                    "{what}: the direct URL goes to the primary"
                );
            }
        }
    }
}

/// The edge's upstream template renders into snippets Caddy accepts, with the discard port for a
/// service that has no instances (chat and search today).
#[test]
fn the_upstream_template_renders_every_route() {
    let tpl = std::fs::read_to_string(root().join("caddy/edge-upstreams.tpl")).unwrap_or_default();
    let nomad = FakeNomad {
        services: catalogue_with_services(),
        ..Default::default()
    };
    let out = render(&tpl, &nomad).unwrap_or_else(|e| panic!("caddy/edge-upstreams.tpl: {e}"));
    assert!(
        out.contains("(upstreams_auth) {\n\tto 10.0.1.1:20001 10.0.1.2:20002\n}"),
        "{out}"
    );
    assert!(
        out.contains("(upstreams_chat) {\n\tto 127.0.0.1:9\n}"),
        "{out}"
    );
    crate::caddy::validate_with_upstreams(&out);
}

fn catalogue_with_services() -> BTreeMap<String, Vec<(String, u16)>> {
    ["auth", "geo", "feed"]
        .iter()
        .map(|s| {
            (
                format!("gewebe-{s}"),
                vec![
                    ("10.0.1.1".to_owned(), 20001),
                    ("10.0.1.2".to_owned(), 20002),
                ],
            )
        })
        .collect()
}
