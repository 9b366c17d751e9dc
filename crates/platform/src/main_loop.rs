//! What every service binary's `main` does around its subcommand: the command line, the
//! configuration, the async runtime, telemetry, and turning the outcome into an exit code (0 ok,
//! 1 failed, 2 telemetry could not start); and the `serve` and `migrate` subcommands they share.

use std::{future::Future, process::ExitCode};

use sqlx::migrate::Migrator;

use crate::{
    ConfigError, Env, Shutdown,
    db::Db,
    http::Server,
    telemetry::{self, TelemetryConfig},
};

pub type CommandResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `command` on a fresh multi-threaded runtime with telemetry installed. Parse the
/// configuration before calling this, so a bad variable ends the process before any thread starts.
pub fn run<F>(telemetry_config: &TelemetryConfig, command: F) -> ExitCode
where
    F: Future<Output = CommandResult>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let _telemetry = match telemetry::init(telemetry_config) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("telemetry: {e}");
                return ExitCode::from(2);
            }
        };
        match command.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(service = telemetry_config.service, error = %e, "command failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// What a service binary says about itself in `--help` and `--version`.
pub struct Binary {
    pub name: &'static str,
    pub about: &'static str,
    pub version: &'static str,
}

/// The command line of every service binary: an optional subcommand, `serve` when none is given.
#[derive(clap::Parser)]
struct Cli<C: clap::Subcommand> {
    #[command(subcommand)]
    command: Option<C>,
}

/// A service's configuration, as `main` needs it.
pub trait ServiceConfig: Sized {
    fn from_env(env: &Env) -> Result<Self, ConfigError>;
    fn telemetry(&self) -> &TelemetryConfig;
}

/// The whole `main` of a service binary: parse the command line (`C` is the service's subcommand
/// enum; `None` means `serve`), read the configuration before any thread starts (a bad variable
/// ends the process in one line), then [`run`] the chosen command.
pub fn main<C, Cfg, F, Fut>(binary: &Binary, command: F) -> ExitCode
where
    C: clap::Subcommand,
    Cfg: ServiceConfig,
    F: FnOnce(Option<C>, Cfg) -> Fut,
    Fut: Future<Output = CommandResult>,
{
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = Cli::<C>::command()
        .name(binary.name)
        .bin_name(binary.name)
        .about(binary.about)
        .version(binary.version)
        .get_matches();
    let cli = Cli::<C>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let config = crate::config::exit_on_error(Cfg::from_env(&Env::from_process()));
    let telemetry = config.telemetry().clone();
    run(&telemetry, command(cli.command, config))
}

/// `serve`: SIGTERM or SIGINT starts the drain; `build` binds and starts the service; returns once
/// the server has drained.
pub async fn serve<Cfg, B, Fut, E>(config: Cfg, build: B) -> CommandResult
where
    B: FnOnce(Cfg, Shutdown) -> Fut,
    Fut: Future<Output = Result<Server, E>>,
    E: std::error::Error + 'static,
{
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    build(config, shutdown).await?.run().await?;
    Ok(())
}

/// `migrate`: applies each migrator in order on a direct connection (`DATABASE_DIRECT_URL`).
pub async fn migrate(db: &Db, migrators: &[Migrator]) -> CommandResult {
    for migrator in migrators {
        db.migrate(migrator).await?;
    }
    tracing::info!("migrations applied");
    Ok(())
}
