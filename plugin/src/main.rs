use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = bluegreen_plugin::cli::Cli::parse();
    bluegreen_plugin::init_tracing(cli.verbose);
    bluegreen_plugin::exit::report(bluegreen_plugin::run(cli))
}
