//! The `gewebe-chat` binary: `serve` (default) and `migrate`.

use gewebe_chat::Config;
use gewebe_platform::{
    db::Db,
    main_loop::{self, Binary},
};

const BINARY: Binary = Binary {
    name: "gewebe-chat",
    about: "gewebe's conversations over WebSocket",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(clap::Subcommand)]
enum Command {
    /// Serve HTTP and the WebSocket (the default).
    Serve,
    /// Apply database migrations (direct connection: `DATABASE_DIRECT_URL`).
    Migrate,
}

fn main() -> std::process::ExitCode {
    main_loop::main(&BINARY, |command, config: Config| async move {
        match command.unwrap_or(Command::Serve) {
            Command::Serve => main_loop::serve(config, gewebe_chat::build).await,
            Command::Migrate => {
                let db = Db::connect_lazy(&config.db, gewebe_chat::config::SERVICE)?;
                main_loop::migrate(&db, &gewebe_chat::migrators()?).await
            }
        }
    })
}
