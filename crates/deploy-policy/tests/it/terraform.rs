//! terraform/: the rules of issue 17 for the cluster, and that it matches what the jobs expect
//! (host volumes, node roles, Nomad's kill-timeout cap).

use std::collections::BTreeSet;

use gewebe_deploy_policy::{
    files_with_suffix,
    job::{Node, duration_secs, text},
};
use hcl::Expression;

use crate::support::{job_files, load, root};

fn tf() -> Vec<Node> {
    let files = files_with_suffix(&root().join("terraform"), &[".tf"]);
    assert!(!files.is_empty(), "terraform/ has no .tf files");
    files.iter().map(|f| load(f).root).collect()
}

fn resources<'a>(tf: &'a [Node], kind: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
    tf.iter()
        .flat_map(|f| f.blocks("resource"))
        .filter(move |r| r.label() == kind)
}

fn strings(e: Option<&Expression>) -> Vec<String> {
    match e {
        Some(Expression::Array(a)) => a.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn only_http_https_and_quic_are_public() {
    let tf = tf();
    let mut public = BTreeSet::new();
    for fw in resources(&tf, "hcloud_firewall") {
        for rule in fw.blocks("rule") {
            let sources = strings(rule.attr("source_ips"));
            let proto = rule.attr("protocol").and_then(text).unwrap_or_default();
            let port = rule.attr("port").and_then(text).unwrap_or_default();
            if sources.iter().any(|s| s == "0.0.0.0/0" || s == "::/0") {
                public.insert(format!("{proto}/{port}"));
            }
        }
    }
    let expected: BTreeSet<String> = ["tcp/80", "tcp/443", "udp/443"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(public, expected, "public firewall rules");
}

#[test]
fn three_nomad_servers_a_private_network_and_a_load_balancer() {
    let tf = tf();
    let nomad = resources(&tf, "hcloud_server")
        .find(|r| r.labels.get(1).map(String::as_str) == Some("nomad"))
        .expect("resource hcloud_server.nomad");
    assert!(matches!(nomad.attr("count"), Some(Expression::Number(n)) if n.as_u64() == Some(3)));
    assert!(resources(&tf, "hcloud_network").next().is_some());
    let ports: BTreeSet<String> = resources(&tf, "hcloud_load_balancer_service")
        .flat_map(|s| match s.attr("for_each") {
            Some(Expression::FuncCall(f)) => strings(f.args.first()),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(ports, ["443", "80"].into_iter().map(String::from).collect());
    for server in resources(&tf, "hcloud_server") {
        assert!(
            server.block("network").is_some(),
            "every server joins the private network"
        );
        assert!(
            server.attr("firewall_ids").is_some(),
            "every server has a firewall"
        );
    }
}

#[test]
fn every_variable_is_typed_described_and_numbers_are_validated() {
    for file in tf() {
        for v in file.blocks("variable") {
            assert!(
                v.attr("type").is_some(),
                "variable {} has no type",
                v.label()
            );
            assert!(
                v.attr("description").is_some(),
                "variable {} has no description",
                v.label()
            );
            let is_number = v.attr("type").is_some_and(|t| {
                hcl::format::to_string(t)
                    .unwrap_or_default()
                    .contains("number")
            });
            if is_number || v.attr("default").is_none() {
                assert!(
                    v.block("validation").is_some(),
                    "variable {} needs a validation",
                    v.label()
                );
            }
        }
    }
}

/// Host volumes the jobs mount exist on the nodes, roles the jobs constrain to exist, and Nomad's
/// kill-timeout cap on the clients is above every job's `kill_timeout` + `shutdown_delay`.
#[test]
fn the_cluster_provides_what_the_jobs_need() {
    let main = std::fs::read_to_string(root().join("terraform/main.tf")).unwrap_or_default();
    let cloud_init = std::fs::read_to_string(root().join("terraform/cloud-init/nomad.yaml.tftpl"))
        .unwrap_or_default();
    let cap = cloud_init
        .lines()
        .find_map(|l| l.trim().strip_prefix("max_kill_timeout = "))
        .and_then(|v| duration_secs(v.trim_matches('"')))
        .expect("cloud-init sets max_kill_timeout");
    for path in job_files() {
        let job = load(&path);
        let Some(j) = job.job() else { continue };
        for g in j.blocks("group") {
            for v in g.blocks("volume") {
                let src = v.attr("source").and_then(text).unwrap_or_default();
                assert!(
                    main.contains(&format!("\"{src}\"")),
                    "{}: host volume {src} is not created in terraform/main.tf",
                    job.name()
                );
            }
            for c in g.blocks("constraint") {
                if c.attr("attribute").and_then(text).as_deref() == Some("${meta.gewebe_role}") {
                    let role = c.attr("value").and_then(text).unwrap_or_default();
                    assert!(
                        main.contains(&format!("role = \"{role}\"")),
                        "{}: no node has role {role}",
                        job.name()
                    );
                }
            }
            for t in g.blocks("task") {
                let kill = t
                    .attr("kill_timeout")
                    .and_then(text)
                    .and_then(|s| duration_secs(&s))
                    .unwrap_or(5.0);
                let delay = t
                    .attr("shutdown_delay")
                    .and_then(text)
                    .and_then(|s| duration_secs(&s))
                    .unwrap_or(0.0);
                assert!(
                    kill + delay <= cap,
                    "{} task {}: kill_timeout {kill} s + shutdown_delay {delay} s above the clients' max_kill_timeout {cap} s",
                    job.name(),
                    t.label()
                );
            }
        }
    }
}

/// `terraform fmt` / `nomad fmt` style, as far as it can be checked without either binary:
/// two-space indentation, no tabs or trailing blanks, and the `=` of consecutive one-line
/// attributes aligned. Heredoc bodies are left alone (they are other languages).
#[test]
fn terraform_and_job_files_are_fmt_formatted() {
    let mut files = files_with_suffix(&root().join("terraform"), &[".tf"]);
    files.extend(job_files());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let name = f.display();
        let mut group: Vec<(usize, usize, usize)> = Vec::new(); // (line, indent, '=' column)
        let check = |group: &mut Vec<(usize, usize, usize)>| {
            if let Some(&(_, _, col)) = group.first() {
                for &(line, _, c) in group.iter() {
                    assert_eq!(
                        c,
                        col,
                        "{name}:{}: '=' not aligned with the attributes around it",
                        line + 1
                    );
                }
            }
            group.clear();
        };
        let mut heredoc: Option<String> = None;
        for (i, line) in text.lines().enumerate() {
            if let Some(end) = &heredoc {
                if line.trim() == end {
                    heredoc = None;
                }
                continue;
            }
            if let Some(pos) = line.find("<<") {
                let marker = line[pos + 2..].trim_start_matches('-').trim();
                if !marker.is_empty()
                    && marker
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    heredoc = Some(marker.to_owned());
                }
            }
            assert!(!line.contains('\t'), "{name}:{}: tab", i + 1);
            assert_eq!(
                line,
                line.trim_end(),
                "{name}:{}: trailing whitespace",
                i + 1
            );
            let indent = line.len() - line.trim_start().len();
            assert_eq!(
                indent % 2,
                0,
                "{name}:{}: indentation is not a multiple of two",
                i + 1
            );
            let t = line.trim_start();
            let key: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let is_attr = !key.is_empty()
                && t[key.len()..].trim_start().starts_with('=')
                && !t[key.len()..].trim_start().starts_with("==");
            // An attribute whose value opens a multi-line expression is not aligned by fmt.
            let opens = t.ends_with('{') || t.ends_with('[') || t.ends_with('(');
            if is_attr && !opens {
                if !group
                    .last()
                    .is_none_or(|&(l, ind, _)| l + 1 == i && ind == indent)
                {
                    check(&mut group);
                }
                group.push((i, indent, line.find('=').unwrap_or(0)));
            } else {
                check(&mut group);
            }
        }
        check(&mut group);
    }
}
