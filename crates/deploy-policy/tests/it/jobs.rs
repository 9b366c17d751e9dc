//! Every job file parses and follows the rules; each rule catches a broken job.

use std::collections::BTreeSet;

use gewebe_deploy_policy::{
    code, files_with_suffix, gotmpl,
    job::JobFile,
    rules::{self, SERVICE_RULES},
};

use crate::support::{job_files, load, root, service_code};

#[test]
fn every_hcl_nomad_and_tf_file_parses() {
    let files = files_with_suffix(&root(), &[".hcl", ".nomad", ".tf", ".tfvars"]);
    assert!(files.len() >= 15, "expected the job files, found {files:?}");
    let errors: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            hcl::parse(&text)
                .err()
                .map(|e| format!("{}: {e}", f.display()))
        })
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_service_has_a_job_that_follows_every_rule() {
    let root = root();
    let mut violations = Vec::new();
    for svc in code::services(&root) {
        let path = root.join(format!("nomad-jobs/gewebe-{svc}.nomad.hcl"));
        assert!(
            path.exists(),
            "services/{svc} has no job: write {}",
            path.display()
        );
        let job = load(&path);
        assert_eq!(job.name(), format!("gewebe-{svc}"));
        violations.extend(rules::check_service_job(&job, &root, &service_code(&svc)));
    }
    let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(text.is_empty(), "{}", text.join("\n"));
}

#[test]
fn every_supporting_job_follows_the_common_rules() {
    let root = root();
    let services: BTreeSet<String> = code::services(&root)
        .into_iter()
        .map(|s| format!("gewebe-{s}"))
        .collect();
    let mut violations = Vec::new();
    let mut names = BTreeSet::new();
    for path in job_files() {
        let job = load(&path);
        names.insert(job.name());
        if !services.contains(&job.name()) {
            violations.extend(rules::check_supporting_job(&job, &root));
        }
    }
    for needed in [
        "gewebe-postgres",
        "gewebe-pgbouncer",
        "gewebe-nats",
        "gewebe-keydb",
        "gewebe-typesense",
        "gewebe-caddy",
        "gewebe-prometheus",
        "gewebe-loki",
        "gewebe-grafana",
        "gewebe-tempo",
        "gewebe-node-exporter",
        "gewebe-alertmanager",
    ] {
        assert!(names.contains(needed), "no job {needed} in nomad-jobs/");
    }
    let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(text.is_empty(), "{}", text.join("\n"));
}

/// Stricter than the rule (which accepts a README default): the production jobs set every variable
/// their service reads, so nothing runs on a local default by accident.
#[test]
fn production_jobs_set_every_variable_explicitly() {
    let root = root();
    for svc in code::services(&root) {
        let job = load(&root.join(format!("nomad-jobs/gewebe-{svc}.nomad.hcl")));
        let mut code = service_code(&svc);
        code.documented_defaults.clear();
        let missing: Vec<String> = rules::check_service_job(&job, &root, &code)
            .iter()
            .filter(|v| v.rule == "env_coverage")
            .map(ToString::to_string)
            .collect();
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}

/// Test the tests: a job that breaks everything is caught by every rule, with the job, the block
/// and the rule in the message.
#[test]
fn a_broken_job_fails_each_rule() {
    let root = root();
    let path = root.join("crates/deploy-policy/tests/data/broken/gewebe-auth.nomad.hcl");
    let job = load(&path);
    let violations = rules::check_service_job(&job, &root, &service_code("auth"));
    let hit: BTreeSet<&str> = violations.iter().map(|v| v.rule).collect();
    let all: Vec<String> = violations.iter().map(ToString::to_string).collect();
    for rule in SERVICE_RULES {
        assert!(
            hit.contains(rule),
            "rule {rule} did not fire on the broken job; got:\n{}",
            all.join("\n")
        );
    }
    let kill = violations
        .iter()
        .find(|v| v.rule == "kill_timeout")
        .map(ToString::to_string);
    assert_eq!(
        kill.as_deref(),
        Some(
            "job gewebe-auth group \"auth\" task \"serve\": [kill_timeout] no shutdown_delay: Caddy would still send requests while the instance drains"
        )
    );
}

/// A variable the code starts reading fails the suite until the job sets it (or the README
/// documents its default): checked against a copy of auth's code facts with one more variable.
#[test]
fn a_new_variable_in_the_code_fails_until_the_job_sets_it() {
    let root = root();
    let job = load(&root.join("nomad-jobs/gewebe-auth.nomad.hcl"));
    let mut code = service_code("auth");
    code.env.vars.insert(
        "AUTH_SOMETHING_NEW".into(),
        "services/auth/src/config.rs".into(),
    );
    let v = rules::check_service_job(&job, &root, &code);
    assert!(
        v.iter()
            .any(|v| v.rule == "env_coverage" && v.detail.starts_with("AUTH_SOMETHING_NEW")),
        "{v:?}"
    );
    code.env.secrets.insert("AUTH_REFRESH_TTL_DAYS".into());
    let v = rules::check_service_job(&job, &root, &code);
    assert!(
        v.iter()
            .any(|v| v.rule == "secrets_template" && v.detail.starts_with("AUTH_REFRESH_TTL_DAYS")),
        "{v:?}"
    );
}

/// The extraction finds what the code reads: spot checks per service, and every platform file that
/// reads variables is reached by some service (so the call-following cannot silently miss one).
#[test]
fn environment_variables_are_extracted_from_the_code() {
    let root = root();
    let auth = service_code("auth");
    for v in [
        "AUTH_KEK",
        "DATABASE_URL",
        "TRUSTED_PROXIES",
        "RUST_LOG",
        "REDIS_URL",
        "AUTH_LOGIN_BLOCK_SECS",
    ] {
        assert!(
            auth.env.vars.contains_key(v),
            "auth: {v} not found in {:?}",
            auth.env.vars.keys()
        );
    }
    assert!(auth.env.secrets.contains("AUTH_KEK") && auth.env.secrets.contains("DATABASE_URL"));
    assert!(auth.has_migrate);
    let relay = service_code("relay");
    assert!(relay.env.vars.contains_key("NATS_STREAM_REPLICAS") && !relay.has_migrate);
    assert!(
        !relay.env.vars.contains_key("REDIS_URL"),
        "relay does not use Redis"
    );
    let feed = service_code("feed");
    assert!(feed.env.vars.contains_key("JWKS_URL") && !feed.env.vars.contains_key("DATABASE_URL"));

    let reached: BTreeSet<_> = code::services(&root)
        .iter()
        .flat_map(|s| service_code(s).env.files)
        .collect();
    for f in files_with_suffix(&root.join("crates/platform/src"), &[".rs"]) {
        let src = std::fs::read_to_string(&f).unwrap_or_default();
        if !code::reader_calls(&src).is_empty() {
            assert!(
                reached.contains(&f),
                "{} reads variables but no service reaches it",
                f.display()
            );
        }
    }
}

/// The production values that matter are what the issue asks for, not local defaults.
#[test]
fn production_values() {
    let root = root();
    let relay = load(&root.join("nomad-jobs/gewebe-relay.nomad.hcl"));
    let env = env_of(&relay, "serve");
    assert_eq!(
        env.get("NATS_STREAM_REPLICAS").map(String::as_str),
        Some("3")
    );
    assert_eq!(
        env.get("NATS_STREAM_MAX_BYTES").map(String::as_str),
        Some("107374182400")
    );
    let nats = std::fs::read_to_string(root.join("nomad-jobs/nats.nomad.hcl")).unwrap_or_default();
    assert!(
        nats.contains("sync_interval: always"),
        "NATS must fsync every write (see the job's comment)"
    );
    // PgBouncer: production keeps the settings the code depends on, as in the local config.
    let local =
        std::fs::read_to_string(root.join("infra/pgbouncer/pgbouncer.ini")).unwrap_or_default();
    let prod =
        std::fs::read_to_string(root.join("nomad-jobs/pgbouncer.nomad.hcl")).unwrap_or_default();
    for line in [
        "pool_mode = transaction",
        "ignore_startup_parameters = extra_float_digits",
        "server_reset_query =",
    ] {
        assert!(
            local.contains(line) && prod.contains(line),
            "{line:?} must be in both PgBouncer configs"
        );
    }
}

fn env_of(job: &JobFile, task: &str) -> std::collections::BTreeMap<String, String> {
    job.job()
        .into_iter()
        .flat_map(|j| j.blocks("group"))
        .flat_map(|g| g.blocks("task"))
        .filter(|t| t.label() == task)
        .filter_map(|t| t.block("env"))
        .flat_map(|e| e.attrs.iter())
        .filter_map(|(k, v)| Some((k.clone(), gewebe_deploy_policy::job::text(v)?)))
        .collect()
}

/// The Caddy upstream template (a file read by the caddy job) is a valid Nomad template too.
#[test]
fn template_files_parse() {
    let tpl = std::fs::read_to_string(root().join("caddy/edge-upstreams.tpl")).unwrap_or_default();
    gotmpl::check(&tpl, "{{", "}}").unwrap_or_else(|e| panic!("caddy/edge-upstreams.tpl: {e}"));
}

#[test]
fn alert_rules_pass_promtool_and_name_existing_runbooks() {
    let root = root();
    let rules = root.join("infra/prometheus/gewebe.rules.yml");
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Every alert names a runbook that exists and talks about that alert.
    let text = std::fs::read_to_string(&rules).unwrap_or_default();
    let mut alert = None;
    for line in text.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("- alert: ") {
            alert = Some(a.to_owned());
        }
        if let Some(rb) = line.strip_prefix("runbook: ") {
            let body = std::fs::read_to_string(root.join(rb))
                .unwrap_or_else(|_| panic!("alert {alert:?} names missing runbook {rb}"));
            let a = alert.take().unwrap_or_default();
            assert!(
                body.contains(&format!("`{a}`")),
                "{rb} does not mention the alert `{a}` that links to it"
            );
        }
    }
}

#[test]
fn hcl_helpers_see_what_nomad_sees() {
    let job = JobFile::parse(
        std::path::Path::new("x.hcl"),
        "variable \"n\" {\n default = 3\n}\njob \"j\" {\n group \"g\" {\n count = var.n\n }\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = job
        .job()
        .and_then(|j| j.block("group"))
        .map(|g| g.attr("count").cloned());
    assert_eq!(g.flatten().and_then(|e| job.number(&e)), Some(3.0));
}

/// Every relative link in the runbooks points at a file that exists.
#[test]
fn runbook_links_resolve() {
    let dir = root().join("runbooks");
    for f in files_with_suffix(&dir, &[".md"]) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, _) in text.match_indices("](") {
            let target: String = text[i + 2..].chars().take_while(|c| *c != ')').collect();
            let path = target.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") {
                continue;
            }
            assert!(
                dir.join(path).exists(),
                "{}: link to missing {path}",
                f.display()
            );
        }
    }
}

/// Every dashboard a runbook names ("gewebe / …") is provisioned from infra/grafana/dashboards,
/// and every dashboard file is valid JSON that the Grafana job loads.
#[test]
fn dashboards_named_in_runbooks_exist() {
    let root = root();
    let mut titles = BTreeSet::new();
    let grafana =
        std::fs::read_to_string(root.join("nomad-jobs/grafana.nomad.hcl")).unwrap_or_default();
    for f in files_with_suffix(&root.join("infra/grafana/dashboards"), &[".json"]) {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        titles.insert(json["title"].as_str().unwrap_or_default().to_owned());
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            grafana.contains(&format!("file(\"infra/grafana/dashboards/{name}\")")),
            "the Grafana job does not load {name}"
        );
    }
    for f in files_with_suffix(&root.join("runbooks"), &[".md"]) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, _) in text.match_indices("\"gewebe / ") {
            let title: String = text[i + 1..].chars().take_while(|c| *c != '"').collect();
            assert!(
                titles.contains(&title),
                "{} names dashboard {title:?}, which is not in infra/grafana/dashboards",
                f.display()
            );
        }
    }
}

/// The edge job takes its upstreams from Nomad's catalogue and reloads Caddy gracefully on change
/// (a reload keeps streams for `stream_close_delay`; a restart would cut every WebSocket and SSE).
#[test]
fn the_caddy_job_renders_upstreams_from_the_catalogue_and_reloads() {
    let job = load(&root().join("nomad-jobs/caddy.nomad.hcl"));
    let task = job
        .job()
        .and_then(|j| j.block("group"))
        .and_then(|g| g.blocks("task").find(|t| t.label() == "caddy"))
        .expect("task caddy");
    let upstreams = task
        .blocks("template")
        .find(|t| {
            t.attr("data")
                .and_then(gewebe_deploy_policy::job::file_arg)
                .as_deref()
                == Some("caddy/edge-upstreams.tpl")
        })
        .expect("a template renders caddy/edge-upstreams.tpl");
    let tpl = std::fs::read_to_string(root().join("caddy/edge-upstreams.tpl")).unwrap_or_default();
    assert!(
        tpl.contains("nomadService"),
        "the upstreams come from the catalogue"
    );
    assert_eq!(
        upstreams
            .attr("change_mode")
            .and_then(gewebe_deploy_policy::job::text)
            .as_deref(),
        Some("script")
    );
    let script = upstreams.block("change_script").expect("change_script");
    let args = match script.attr("args") {
        Some(hcl::Expression::Array(a)) => a
            .iter()
            .filter_map(gewebe_deploy_policy::job::text)
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    assert_eq!(
        args.first().map(String::as_str),
        Some("reload"),
        "caddy reload, not a restart: {args:?}"
    );
}
