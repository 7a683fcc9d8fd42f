//! `kubectl bluegreen`: blue-green releases on plain Kubernetes objects.
//!
//! The binary parses flags and calls [`run`]; every command lives in its own module
//! so that tests drive them directly.

pub mod check;
pub mod cli;
pub mod exit;
pub mod files;
pub mod output;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;

/// Logs go to stderr, quiet unless asked (`-v`, or `RUST_LOG`).
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
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

/// Runs one command and says how it ended.
pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Check(args) => check::run(&args, cli.global.output),
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
    }
}
