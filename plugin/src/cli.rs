//! Flags and commands, with kubectl's conventions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use policy::app::RouterRef;
use policy::duration::{DurationError, parse_std_duration};

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
    /// More log output on stderr (-v info, -vv debug: every API request).
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
    /// The kubeconfig cluster to use.
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[arg(short, long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server.
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Path to a cert file for the certificate authority.
    #[arg(long, global = true, value_name = "PATH")]
    pub certificate_authority: Option<PathBuf>,
    /// Do not check the server's certificate (insecure: HTTPS connections are open to
    /// anyone in between).
    #[arg(long, global = true, conflicts_with = "certificate_authority")]
    pub insecure_skip_tls_verify: bool,
    /// Username to impersonate for the operation (a user or a service account,
    /// system:serviceaccount:NAMESPACE:NAME).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub impersonate: Option<String>,
    /// Group to impersonate for the operation; repeat for several groups.
    #[arg(
        long = "as-group",
        global = true,
        value_name = "GROUP",
        requires = "impersonate"
    )]
    pub impersonate_groups: Vec<String>,
    /// UID to impersonate for the operation.
    #[arg(
        long = "as-uid",
        global = true,
        value_name = "UID",
        requires = "impersonate"
    )]
    pub impersonate_uid: Option<String>,
    /// How long to wait for one API request (e.g. 10s, 1m); 0 waits forever.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub request_timeout: Duration,
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
    /// List the blue-green apps of the namespace: router, live color, images, health.
    List(ListArgs),
    /// Show one app: both colors, replicas, findings, last switches. Exit 1 when degraded.
    Status(StatusArgs),
    /// Set new images on the idle color, scale it like the live one, and wait for it.
    Deploy(DeployArgs),
    /// Smoke-test the idle color through the API server's proxy, and record it as verified.
    Verify(VerifyArgs),
    /// Switch traffic to the idle color after the same checks the guard makes.
    Promote(PromoteArgs),
    /// Switch traffic back to the previous color (scaling it up first if it was retired).
    Rollback(RollbackArgs),
    /// Scale the idle color to zero once the warm window has passed.
    Retire(RetireArgs),
    /// Show the recorded switches of an app.
    History(AppArgs),
    /// Check apps against the rules: a live app by name, or manifest files with -f.
    Check(CheckArgs),
    /// Adopt an existing Deployment and router as a blue-green app, or generate one.
    Init(InitArgs),
    /// Print the version.
    Version,
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// An app, named by its router.
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// The app's router: svc/NAME or httproute/NAME.
    #[arg(value_name = "APP")]
    pub app: RouterRef,
}

/// `list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// List apps in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The app.
    #[command(flatten)]
    pub app: AppArgs,
    /// Keep printing the status whenever the app's objects change (until Ctrl-C, or
    /// until stdin closes when it is a pipe).
    #[arg(short, long)]
    pub watch: bool,
    /// With --watch: stop watching after this long (e.g. 10m) and exit with the health.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "watch")]
    pub timeout: Option<Duration>,
    /// How BG006 reaches registries.
    #[command(flatten)]
    pub images: ImageCheckArgs,
    /// Where metric gates are queried (each gate's last value is shown).
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
}

/// How BG006 (signed images) verifies images when the policy in force has trusted keys.
#[derive(Debug, Clone, Args)]
pub struct ImageCheckArgs {
    /// A registry (HOST:PORT, as image references name it) reached over plain HTTP when
    /// verifying image signatures; repeat for several. Credentials come from
    /// $DOCKER_CONFIG/config.json or ~/.docker/config.json when present.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// A Sigstore trusted_root.json (Fulcio CAs, Rekor logs) to verify keyless
    /// signatures against, when the policy names trustedIdentities (`cosign
    /// trusted-root create` writes one; the guard mounts the same file).
    #[arg(long, value_name = "PATH", env = "BLUEGREEN_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// How long verifying the images' signatures (BG006) may take in all; a registry
    /// that has not answered by then fails the check.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub verify_timeout: Duration,
}

/// Where metric gates are queried.
#[derive(Debug, Clone, Default, Args)]
pub struct PrometheusArgs {
    /// The Prometheus metric gates query: a URL (http://prometheus.monitoring:9090), or
    /// svc/NAMESPACE/NAME:PORT through the API server's service proxy (no route into the
    /// cluster needed). Default: the BlueGreenPolicy's prometheus.address.
    #[arg(long, value_name = "URL|svc/NAMESPACE/NAME:PORT")]
    pub prometheus: Option<String>,
    /// A file holding a bearer token for a Prometheus URL (through the service proxy, the
    /// kubeconfig's credentials are used).
    #[arg(long, value_name = "PATH")]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM certificates of the authority that signs the Prometheus URL's certificate.
    #[arg(long, value_name = "PATH")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Do not check the Prometheus URL's certificate (insecure).
    #[arg(long, conflicts_with = "prometheus_ca_file")]
    pub prometheus_insecure_skip_tls_verify: bool,
}

/// Writing fields a tool owns (Helm, Argo CD, Flux).
#[derive(Debug, Clone, Copy, Args)]
pub struct OwnerArgs {
    /// Write even where Helm, Argo CD or Flux owns the fields, taking them over (a
    /// server-side apply with force, as kubectl's flag); what the owner's next write then
    /// does is printed. Without it, writes to owned fields are refused (exit 5).
    #[arg(long)]
    pub force_conflicts: bool,
}

/// `deploy`.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// The app.
    #[command(flatten)]
    pub app: AppArgs,
    /// Writing owned fields.
    #[command(flatten)]
    pub owner: OwnerArgs,
    /// New image of one container, CONTAINER=IMAGE; repeat for several containers.
    #[arg(long = "image", value_name = "CONTAINER=IMAGE", value_parser = parse_image, required = true)]
    pub images: Vec<(String, String)>,
    /// The color to deploy to; it must be the idle one (default: the idle color).
    #[arg(long)]
    pub color: Option<String>,
    /// How long to wait for the rollout (e.g. 5m); on expiry exit 3.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub timeout: Duration,
}

/// `verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The app.
    #[command(flatten)]
    pub app: AppArgs,
    /// The HTTP path to request.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// The HTTP status every response must have.
    #[arg(long, default_value_t = 200)]
    pub expect: u16,
    /// Requests to send to each target (warm-up traffic).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub requests: u32,
    /// The Service port (name or number); default: the Service's first port.
    #[arg(long)]
    pub port: Option<String>,
    /// After the requests, evaluate the pre-promotion metric gates on the idle color
    /// (under this warm-up traffic); a failing gate fails verify (exit 2) and nothing is
    /// marked verified.
    #[arg(long)]
    pub analysis: bool,
    /// Where metric gates are queried.
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
}

/// `promote`.
#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    /// The app.
    #[command(flatten)]
    pub app: AppArgs,
    /// Writing owned fields.
    #[command(flatten)]
    pub owner: OwnerArgs,
    /// Run the checks and ask the API server (and the guard) with a dry-run write; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After switching, watch the new live color this long and roll back if it degrades
    /// or a post-promotion metric gate fails (e.g. 5m); exit 4 when it rolled back.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub watch: Option<Duration>,
    /// Switch only to this color; when it is already live, do nothing. Makes a retried or
    /// concurrent promote switch at most once.
    #[arg(long, value_name = "COLOR")]
    pub to: Option<String>,
    /// How BG006 reaches registries.
    #[command(flatten)]
    pub images: ImageCheckArgs,
    /// Where metric gates are queried: pre-promotion gates before the switch, post-promotion
    /// gates during --watch.
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
}

/// `rollback`.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The app.
    #[command(flatten)]
    pub app: AppArgs,
    /// Writing owned fields.
    #[command(flatten)]
    pub owner: OwnerArgs,
    /// How long to wait for a retired color to scale up (e.g. 5m); on expiry exit 3.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub timeout: Duration,
    /// How BG006 reaches registries.
    #[command(flatten)]
    pub images: ImageCheckArgs,
}

/// `retire`.
#[derive(Debug, Clone, Args)]
pub struct RetireArgs {
    /// The app.
    #[command(flatten)]
    pub app: AppArgs,
    /// Writing owned fields.
    #[command(flatten)]
    pub owner: OwnerArgs,
    /// Retire even inside the warm window (the guard may still refuse).
    #[arg(long)]
    pub force: bool,
}

/// `check`: live by app, or offline with `-f`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// A live app to check (its router, e.g. svc/api).
    #[arg(
        value_name = "APP",
        conflicts_with = "files",
        required_unless_present = "files"
    )]
    pub app: Option<RouterRef>,
    /// Manifest files or directories (YAML or JSON, multi-document, List kinds); `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// A BlueGreenPolicy manifest to apply offline (default: one found among the files, else the built-in defaults).
    #[arg(long, value_name = "FILE", requires = "files")]
    pub policy: Option<PathBuf>,
    /// How BG006 reaches registries (live checks only: offline, signatures are not checked).
    #[command(flatten)]
    pub images: ImageCheckArgs,
}

/// `init`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The router to adopt (svc/NAME or httproute/NAME), or the Service to generate.
    #[arg(value_name = "APP")]
    pub app: RouterRef,
    /// Writing owned fields.
    #[command(flatten)]
    pub owner: OwnerArgs,
    /// Generate a new app running this image instead of adopting existing objects.
    #[arg(long)]
    pub image: Option<String>,
    /// Container port of the generated app.
    #[arg(long, default_value_t = 8080, requires = "image")]
    pub port: i32,
    /// Replicas of each color of the generated app.
    #[arg(long, default_value_t = 2, requires = "image")]
    pub replicas: i32,
    /// Print the objects as YAML instead of writing them.
    #[arg(long)]
    pub dry_run: bool,
}

/// `30s`, `5m`, `1h30m`, or ISO 8601 (`PT5M`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_std_duration(text).map_err(|err| match err {
        DurationError::Invalid(_) => {
            format!("{text:?} is not a duration; write it like 30s, 5m or 1h30m")
        }
        DurationError::Negative => format!("{text:?} is negative"),
    })
}

fn parse_image(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((container, image)) if !container.is_empty() && !image.is_empty() => {
            Ok((container.to_string(), image.to_string()))
        }
        _ => Err(format!(
            "{text:?} is not CONTAINER=IMAGE, e.g. --image api=registry.example/api:1.2"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use policy::app::RouterKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-bluegreen").chain(args.iter().copied()))
    }

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn kubectl_style_flags_parse_anywhere() {
        let cli = parse(&["check", "-f", "examples/", "-n", "shop", "-o", "json"]).unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("shop"));
        assert_eq!(cli.global.output, OutputFormat::Json);
        let Command::Check(args) = cli.command else {
            panic!("check")
        };
        assert_eq!(args.files, [PathBuf::from("examples/")]);
    }

    #[test]
    fn check_needs_an_app_or_files() {
        let err = parse(&["check"]).unwrap_err().to_string();
        assert!(err.contains("<APP>"), "{err}");
        let cli = parse(&["check", "svc/api"]).unwrap();
        let Command::Check(args) = cli.command else {
            panic!("check")
        };
        assert_eq!(args.app.unwrap().to_string(), "svc/api");
        assert!(parse(&["check", "svc/api", "-f", "x.yaml"]).is_err());
    }

    #[test]
    fn apps_are_named_by_their_router() {
        let cli = parse(&["promote", "httproute/shop", "--context", "prod"]).unwrap();
        let Command::Promote(args) = cli.command else {
            panic!("promote")
        };
        assert_eq!(args.app.app.kind, RouterKind::HttpRoute);
        assert_eq!(cli.global.context.as_deref(), Some("prod"));
        let err = parse(&["promote", "deploy/api"]).unwrap_err().to_string();
        assert!(err.contains("name the app by its router"), "{err}");
    }

    #[test]
    fn deploy_takes_container_images_and_a_timeout() {
        let cli = parse(&[
            "deploy",
            "svc/api",
            "--image",
            "api=reg/api:2",
            "--image",
            "sidecar=reg/proxy@sha256:abc",
            "--timeout",
            "90s",
        ])
        .unwrap();
        let Command::Deploy(args) = cli.command else {
            panic!("deploy")
        };
        assert_eq!(
            args.images,
            [
                ("api".to_string(), "reg/api:2".to_string()),
                ("sidecar".to_string(), "reg/proxy@sha256:abc".to_string())
            ]
        );
        assert_eq!(args.timeout, Duration::from_secs(90));
        let err = parse(&["deploy", "svc/api", "--image", "reg/api:2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not CONTAINER=IMAGE"), "{err}");
        assert!(parse(&["deploy", "svc/api"]).is_err());
    }

    #[test]
    fn durations_read_like_kubectl_flags() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("PT10S"), Ok(Duration::from_secs(10)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("write it like")
        );
        let cli = parse(&[
            "promote",
            "svc/api",
            "--watch",
            "2m",
            "--request-timeout",
            "5s",
        ])
        .unwrap();
        assert_eq!(cli.global.request_timeout, Duration::from_secs(5));
        let Command::Promote(args) = cli.command else {
            panic!("promote")
        };
        assert_eq!(args.watch, Some(Duration::from_secs(120)));
    }

    #[test]
    fn image_checks_take_insecure_registries_and_a_budget() {
        let cli = parse(&[
            "promote",
            "svc/api",
            "--insecure-registry",
            "127.0.0.1:5000",
            "--insecure-registry",
            "registry.local:80",
            "--verify-timeout",
            "3s",
            "--trusted-root",
            "/etc/sigstore/trusted_root.json",
        ])
        .unwrap();
        let Command::Promote(args) = cli.command else {
            panic!("promote")
        };
        assert_eq!(
            args.images.insecure_registries,
            ["127.0.0.1:5000", "registry.local:80"]
        );
        assert_eq!(args.images.verify_timeout, Duration::from_secs(3));
        assert_eq!(
            args.images.trusted_root.as_deref(),
            Some(std::path::Path::new("/etc/sigstore/trusted_root.json"))
        );
        let Command::Check(args) = parse(&["check", "svc/api"]).unwrap().command else {
            panic!("check")
        };
        assert_eq!(args.images.verify_timeout, Duration::from_secs(10));
        assert!(parse(&["status", "svc/api", "--timeout", "5s"]).is_err());
        assert!(parse(&["status", "svc/api", "-w", "--timeout", "5s"]).is_ok());
    }

    #[test]
    fn list_takes_all_namespaces() {
        let cli = parse(&["list", "-A"]).unwrap();
        let Command::List(args) = cli.command else {
            panic!("list")
        };
        assert!(args.all_namespaces);
    }
}
