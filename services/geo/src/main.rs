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
