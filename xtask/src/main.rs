//! `cargo xtask`: the project's own tooling. `up`, `down`, `status` run the local stack;
//! `test` is the README's test command (and what CI runs).

// A command-line tool talks on its terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod backends;
mod install;
mod nats_sweep;
mod sh;
mod stack;
mod test;

use std::path::PathBuf;

const USAGE: &str = "usage: cargo xtask <command>

  up [--detach]   start the whole fleet behind Caddy (Ctrl-C stops it; --detach leaves it running)
  down            stop everything `up` started
  status          show what runs where
  test            fmt check, clippy -D warnings, the whole test suite, and a smoke test of the stack
  backends        start only what the tests need (PgBouncer on 16432 and any missing backend), so
                  `cargo nextest run -p <crate>` works on its own; prints the environment it set
  bench <name>    run a benchmark against real services and write bench/results/<name>.md (relay, auth, geo, feed, chat)
  seed geo [--nodes N]  fill the geo benchmark's database (default 1,000,000 nodes)
  install         install the system packages the stack needs (apt-get, as root)
";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("up") => stack::Stack::new(&root)
            .and_then(|s| s.up(args.iter().any(|a| a == "--detach" || a == "-d"))),
        Some("down") => stack::Stack::new(&root).map(|s| s.down()),
        Some("status") => stack::Stack::new(&root).and_then(|s| {
            if s.status() {
                Ok(())
            } else {
                Err("not everything is running".to_owned())
            }
        }),
        Some("test") => test::run(&root, &args[1..]),
        Some("backends") => test::backends(&root),
        Some("bench") => test::bench(&root, &args[1..]),
        Some("seed") => test::seed(&root, &args[1..]),
        Some("install") => install::system_packages(),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
