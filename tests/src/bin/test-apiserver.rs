//! Runs the test API server for manual use: prints its URL and writes one kubeconfig per user.

use std::path::PathBuf;

use anyhow::Context;
use bluegreen_e2e::{Config, TestApiServer};
use clap::Parser;

/// An in-process Kubernetes API server for trying kubectl and the plugin by hand.
#[derive(Parser)]
struct Args {
    /// Namespaces to create besides `default`.
    #[arg(long = "namespace", short = 'n')]
    namespaces: Vec<String>,
    /// Directory for the kubeconfig files (`<user>.kubeconfig`).
    #[arg(long, default_value = ".")]
    kubeconfig_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = args
        .namespaces
        .iter()
        .fold(Config::default(), |config, ns| config.with_namespace(ns));
    let users: Vec<String> = config.users.iter().map(|u| u.name().to_string()).collect();
    let server = TestApiServer::start(config).await?;
    println!("test API server listening on {}", server.url());
    for user in users {
        let path = server
            .write_kubeconfig(&user, "default", &args.kubeconfig_dir)
            .with_context(|| format!("writing the kubeconfig of {user}"))?;
        println!("  {user}: KUBECONFIG={}", path.display());
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
