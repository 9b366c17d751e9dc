//! What every service binary's `main` does around its subcommand: the async runtime, telemetry, and
//! turning the outcome into an exit code (0 ok, 1 failed, 2 telemetry could not start).

use std::{future::Future, process::ExitCode};

use crate::telemetry::{self, TelemetryConfig};

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
