//! Flags and commands, with kubectl's conventions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Blue-green releases on plain Deployments, Services and HTTPRoutes.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-bluegreen",
    bin_name = "kubectl bluegreen",
    version,
    about
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's connection and output flags.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts.
    Json,
    /// YAML for scripts.
    Yaml,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check apps against the rules: offline on manifest files with -f.
    Check(CheckArgs),
    /// Print the version.
    Version,
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `check -f PATH...`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Manifest files or directories (YAML or JSON, multi-document, List kinds); `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// A BlueGreenPolicy manifest to apply (default: one found among the files, else the built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn kubectl_style_flags_parse_anywhere() {
        let cli = Cli::try_parse_from([
            "kubectl-bluegreen",
            "check",
            "-f",
            "examples/",
            "-n",
            "shop",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("shop"));
        assert_eq!(cli.global.output, OutputFormat::Json);
        let Command::Check(args) = cli.command else {
            panic!("check")
        };
        assert_eq!(args.files, [PathBuf::from("examples/")]);
    }

    #[test]
    fn check_needs_files() {
        let err = Cli::try_parse_from(["kubectl-bluegreen", "check"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--filename <PATH>"), "{err}");
    }
}
