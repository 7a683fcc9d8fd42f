use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = bluegreen_plugin::cli::Cli::parse();
    bluegreen_plugin::init_tracing(cli.verbose);
    // kube's rustls needs one process-wide crypto provider; ring is the one we build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    bluegreen_plugin::exit::report(bluegreen_plugin::run(cli))
}
