//! `kubectl bluegreen`: blue-green releases on plain Kubernetes objects.
//!
//! The binary parses flags and calls [`run`]; every command lives in its own module
//! so that tests drive them directly.

pub mod api_error;
pub mod app_read;
pub mod app_status;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod exit;
pub mod files;
pub mod gates;
pub mod output;
pub mod owner;
pub mod prometheus;
pub mod record_table;
pub mod release;
pub mod rollout;
pub mod switch;
pub mod watched;

#[cfg(test)]
mod fixtures;

use anyhow::{Context as _, Result};

use crate::cli::{Cli, Command, GlobalArgs, OutputFormat};
use crate::cluster::Cluster;
use crate::commands::{deploy, history, init, list, promote, retire, rollback, status, verify};
use crate::exit::Outcome;

/// Logs go to stderr, quiet unless asked (`-v`, or `RUST_LOG`).
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        // kube logs non-2xx answers (and a 404 of a CRD that is not installed, a normal
        // state) itself; the plugin explains each one in its own words, or says nothing.
        0 => "warn,kube_client=off",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs one command and says how it ended. Commands that need no cluster run without
/// an async runtime, so that `version` and `completion` start instantly.
pub fn run(cli: Cli) -> Result<Outcome> {
    let format = cli.global.output;
    match cli.command {
        Command::Check(args) if args.app.is_none() => check::run(&args, format),
        Command::Version => {
            output::print_line(&format!("kubectl-bluegreen {}", env!("CARGO_PKG_VERSION")))?;
            Ok(Outcome::Success)
        }
        Command::Completion { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(
                shell,
                &mut command,
                "kubectl-bluegreen",
                &mut std::io::stdout(),
            );
            Ok(Outcome::Success)
        }
        command => {
            // One thread is plenty for a CLI that mostly waits on the API server.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run_with_cluster(command, &cli.global, format))
        }
    }
}

async fn run_with_cluster(
    command: Command,
    global: &GlobalArgs,
    format: OutputFormat,
) -> Result<Outcome> {
    // Generating a new app offline needs no cluster.
    if let Command::Init(args) = &command
        && args.image.is_some()
        && args.dry_run
    {
        let namespace = global.namespace.as_deref().unwrap_or("default");
        return init::run(None, namespace, args).await;
    }
    let cluster = Cluster::connect(global).await?;
    match &command {
        Command::List(args) => list::run(&cluster, args, format).await,
        Command::Status(args) => status::run(&cluster, args, format).await,
        Command::Deploy(args) => deploy::run(&cluster, args, format).await,
        Command::Verify(args) => verify::run(&cluster, args, format).await,
        Command::Promote(args) => promote::run(&cluster, args, format).await,
        Command::Rollback(args) => rollback::run(&cluster, args, format).await,
        Command::Retire(args) => retire::run(&cluster, args).await,
        Command::History(args) => history::run(&cluster, args, format).await,
        Command::Check(args) => {
            let router = args.app.as_ref().context("check needs an app or -f")?;
            check::run_on_cluster(&cluster, router, args, format).await
        }
        Command::Init(args) => init::run(Some(&cluster), &cluster.namespace, args).await,
        Command::Version | Command::Completion { .. } => unreachable!("handled without a cluster"),
    }
}
