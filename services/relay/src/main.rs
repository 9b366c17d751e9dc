//! The `gewebe-relay` binary: `serve` (default), `replay --since <RFC 3339>`, `provision`.

use gewebe_platform::{
    http::MetricsRegistry,
    main_loop::{self, Binary, CommandResult},
};
use gewebe_relay::{Config, Relay};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

const BINARY: Binary = Binary {
    name: "gewebe-relay",
    about: "gewebe's outbox relay to NATS JetStream",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(clap::Subcommand)]
enum Command {
    /// Relay committed outbox rows to JetStream (the default).
    Serve,
    /// Republish every published outbox row created since a time (RFC 3339) that the stream no
    /// longer holds. The "outbox rebuild" step of the DR drill; safe to repeat.
    Replay {
        #[arg(long, value_parser = parse_time)]
        since: OffsetDateTime,
    },
    /// Create the streams, or report how an existing one differs from the policy.
    Provision,
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("expected RFC 3339 like 2026-11-20T00:00:00Z: {e}"))
}

fn main() -> std::process::ExitCode {
    main_loop::main(&BINARY, |command, config: Config| async move {
        match command.unwrap_or(Command::Serve) {
            Command::Serve => main_loop::serve(config, gewebe_relay::build).await,
            Command::Replay { since } => replay(&config, since).await,
            Command::Provision => provision(&config).await,
        }
    })
}

async fn replay(config: &Config, since: OffsetDateTime) -> CommandResult {
    let relay = Relay::connect(config, &MetricsRegistry::new()).await?;
    relay.provision().await?;
    let report = relay.replay(since).await?;
    tracing::info!(
        republished = report.republished,
        present = report.present,
        "replay finished"
    );
    // The report is the command's result, for scripts (the DR drill); logs stay JSON lines too.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

async fn provision(config: &Config) -> CommandResult {
    let relay = Relay::connect(config, &MetricsRegistry::new()).await?;
    gewebe_relay::jetstream::provision(
        &relay.nats.jetstream,
        &relay.nats.subject_prefix,
        &config.relay.stream,
    )
    .await?;
    tracing::info!("streams match the policy");
    Ok(())
}
