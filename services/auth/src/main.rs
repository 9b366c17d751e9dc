//! The `gewebe-auth` binary: `serve` (default) and `migrate`.

use clap::{Parser, Subcommand};
use gewebe_auth::Config;
use gewebe_platform::{Env, Shutdown, config::exit_on_error, db::Db, main_loop};

#[derive(Parser)]
#[command(
    name = "gewebe-auth",
    version,
    about = "gewebe's account and token service"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply database migrations (direct connection: `DATABASE_DIRECT_URL`).
    Migrate,
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a new signing key current; the previous one stays in the JWKS for the overlap.
    Rotate,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Configuration first, before any thread starts: a bad variable ends the process in one line.
    let config = exit_on_error(Config::from_env(&Env::from_process()));
    let telemetry = config.telemetry.clone();
    main_loop::run(&telemetry, async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(&config).await,
            Command::Keys {
                action: KeysAction::Rotate,
            } => rotate(&config).await,
        }
    })
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let server = gewebe_auth::build(config, shutdown).await?;
    server.run().await?;
    Ok(())
}

async fn migrate(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect_lazy(&config.db, gewebe_auth::config::SERVICE)?;
    for migrator in gewebe_auth::migrators()? {
        db.migrate(&migrator).await?;
    }
    tracing::info!("migrations applied");
    Ok(())
}

async fn rotate(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect_lazy(&config.db, gewebe_auth::config::SERVICE)?;
    let kid = gewebe_auth::key_store(&db, config).rotate().await?;
    tracing::info!(%kid, "new signing key is current");
    Ok(())
}
