//! `bluegreen-guard`: flags, logging and exit codes; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bluegreen_guard::{Config, logging, offline};
use clap::{Parser, Subcommand, ValueEnum};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Validating admission webhook that enforces the bluegreen rules cluster-wide.
#[derive(Parser)]
#[command(name = "bluegreen-guard", version)]
struct Cli {
    /// Log line format (stderr); the level comes from RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Json, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(Subcommand)]
enum Command {
    /// Serve AdmissionReviews over HTTPS, with state from the cluster.
    Serve(Config),
    /// Answer one AdmissionReview read from stdin, with state from manifest files;
    /// prints the AdmissionReview response. Exit code 0 allowed, 2 denied, 1 error.
    Review {
        /// Manifests of the namespace's objects (Deployments, Services, HTTPRoutes,
        /// NetworkPolicies, HPAs, BlueGreenPolicies).
        #[arg(long, num_args = 1..)]
        state: Vec<PathBuf>,
        /// A BlueGreenPolicy manifest; it applies whatever its namespaceSelector says.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Judge as of this time (RFC 3339), e.g. to replay a past request.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held until exit, so that queued lines are written.
    let _log_writer = init_logging(cli.log_format);
    let serving = matches!(cli.command, Command::Serve(_));
    match run(cli.command) {
        Ok(code) => code,
        Err(err) if serving => {
            tracing::error!(error = format!("{err:#}"), "bluegreen-guard stopped");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr through the non-blocking writer, which the returned guard flushes.
fn init_logging(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = logging::non_blocking(std::io::stderr());
    logging::report_drops(&writer);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(config) => {
            rustls::crypto::ring::default_provider()
                .install_default()
                .map_err(|_| anyhow::anyhow!("a rustls crypto provider was already installed"))?;
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(bluegreen_guard::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Review { state, policy, now } => {
            let files: Vec<PathBuf> = state.into_iter().chain(policy).collect();
            let verdict = offline::run(std::io::stdin(), std::io::stdout(), &files, now)?;
            Ok(match verdict {
                offline::Verdict::Allowed => ExitCode::SUCCESS,
                offline::Verdict::Denied => ExitCode::from(2),
            })
        }
    }
}
