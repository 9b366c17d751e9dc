//! The `gewebe-feed` binary: `serve` (the default; the feed keeps no tables, so there is nothing to
//! migrate).

use gewebe_feed::Config;
use gewebe_platform::main_loop::{self, Binary};

const BINARY: Binary = Binary {
    name: "gewebe-feed",
    about: "gewebe's live feed over Server-Sent Events",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(clap::Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
}

fn main() -> std::process::ExitCode {
    main_loop::main(&BINARY, |command, config: Config| async move {
        match command.unwrap_or(Command::Serve) {
            Command::Serve => main_loop::serve(config, gewebe_feed::build).await,
        }
    })
}
