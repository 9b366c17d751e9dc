//! The `gewebe-geo` binary: `serve` (default) and `migrate`.

use clap::{Parser, Subcommand};
use gewebe_geo::Config;
use gewebe_platform::{Env, Shutdown, config::exit_on_error, db::Db, main_loop};

#[derive(Parser)]
#[command(
    name = "gewebe-geo",
    version,
    about = "gewebe's map service: nodes, edges, tiles"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply database migrations, PostGIS included (direct connection: `DATABASE_DIRECT_URL`).
    Migrate,
    /// `home` nodes: `refuzz` gives each its public point under the current `GEO_FUZZ_KEY`
    /// (after a key rotation, runbooks/geo.md).
    Homes {
        #[command(subcommand)]
        action: HomesAction,
    },
}

#[derive(Subcommand)]
enum HomesAction {
    Refuzz,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Configuration first, before any thread starts: a bad variable ends the process in one line.
    let config = exit_on_error(Config::from_env(&Env::from_process()));
    let telemetry = config.telemetry.clone();
    main_loop::run(&telemetry, async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                let shutdown = Shutdown::new();
                shutdown.trigger_on_signals();
                gewebe_geo::build(config, shutdown).await?.run().await?;
                Ok(())
            }
            Command::Homes {
                action: HomesAction::Refuzz,
            } => {
                let mut config = config;
                config.geo.consume_account_events = false;
                let state = gewebe_geo::state(config).await?;
                let moved = gewebe_geo::accounts::refuzz_all(&state)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(moved, "home nodes re-fuzzed under the current key");
                Ok(())
            }
            Command::Migrate => {
                let db = Db::connect_lazy(&config.db, gewebe_geo::config::SERVICE)?;
                for migrator in gewebe_geo::migrators()? {
                    db.migrate(&migrator).await?;
                }
                let version = gewebe_geo::postgis::check(&db).await?;
                tracing::info!(postgis = %version, "migrations applied");
                Ok(())
            }
        }
    })
}
