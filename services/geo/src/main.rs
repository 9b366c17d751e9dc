//! The `gewebe-geo` binary: `serve` (default), `migrate` and `homes refuzz`.

use gewebe_geo::Config;
use gewebe_platform::{
    db::Db,
    main_loop::{self, Binary},
};

const BINARY: Binary = Binary {
    name: "gewebe-geo",
    about: "gewebe's map service: nodes, edges, tiles",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(clap::Subcommand)]
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

#[derive(clap::Subcommand)]
enum HomesAction {
    Refuzz,
}

fn main() -> std::process::ExitCode {
    main_loop::main(&BINARY, |command, config: Config| async move {
        match command.unwrap_or(Command::Serve) {
            Command::Serve => main_loop::serve(config, gewebe_geo::build).await,
            Command::Migrate => {
                let db = Db::connect_lazy(&config.db, gewebe_geo::config::SERVICE)?;
                main_loop::migrate(&db, &gewebe_geo::migrators()?).await?;
                let version = gewebe_geo::postgis::check(&db).await?;
                tracing::info!(postgis = %version, "PostGIS found");
                Ok(())
            }
            Command::Homes {
                action: HomesAction::Refuzz,
            } => {
                let mut config = config;
                config.geo.consume_account_events = false;
                let state = gewebe_geo::state(config).await?;
                let moved = gewebe_geo::account_events::refuzz_all(&state)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(moved, "home nodes re-fuzzed under the current key");
                Ok(())
            }
        }
    })
}
