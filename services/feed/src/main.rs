//! The `gewebe-feed` binary: `serve` (the default; the feed keeps no tables, so there is nothing to
//! migrate).

use clap::{Parser, Subcommand};
use gewebe_feed::Config;
use gewebe_platform::{Env, Shutdown, config::exit_on_error, main_loop};

#[derive(Parser)]
#[command(
    name = "gewebe-feed",
    version,
    about = "gewebe's live feed over Server-Sent Events"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = exit_on_error(Config::from_env(&Env::from_process()));
    let telemetry = config.telemetry.clone();
    main_loop::run(&telemetry, async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                let shutdown = Shutdown::new();
                shutdown.trigger_on_signals();
                gewebe_feed::build(config, shutdown).await?.run().await?;
                Ok(())
            }
        }
    })
}
