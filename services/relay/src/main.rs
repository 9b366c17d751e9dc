//! The `gewebe-relay` binary: `serve` (default), `replay --since <RFC 3339>`, `provision`.

use clap::{Parser, Subcommand};
use gewebe_platform::{Env, Shutdown, config::exit_on_error, http::MetricsRegistry, main_loop};
use gewebe_relay::Config;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

#[derive(Parser)]
#[command(
    name = "gewebe-relay",
    version,
    about = "gewebe's outbox relay to NATS JetStream"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
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
    let cli = Cli::parse();
    let config = exit_on_error(Config::from_env(&Env::from_process()));
    let telemetry = config.telemetry.clone();
    main_loop::run(&telemetry, async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Replay { since } => replay(&config, since).await,
            Command::Provision => provision(&config).await,
        }
    })
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    gewebe_relay::build(config, shutdown).await?.run().await?;
    Ok(())
}

async fn replay(config: &Config, since: OffsetDateTime) -> Result<(), Box<dyn std::error::Error>> {
    let relay = gewebe_relay::relay(config, &MetricsRegistry::new()).await?;
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

async fn provision(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let relay = gewebe_relay::relay(config, &MetricsRegistry::new()).await?;
    gewebe_relay::stream::provision(
        &relay.nats.jetstream,
        &relay.nats.subject_prefix,
        &config.relay.stream,
    )
    .await?;
    tracing::info!("streams match the policy");
    Ok(())
}
