//! `kubectl bluegreen`: the real kubectl finds the plugin on PATH.

use std::os::unix::fs::symlink;

use bluegreen_e2e::e2e::{Who, kubectl as kubectl_binary};

use crate::support::{Env, PLUGIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_discovers_the_plugin_on_path() {
    let env = Env::start().await;
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    symlink(PLUGIN, bin.join("kubectl-bluegreen")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubeconfig = env.kubeconfig(Who::Admin, "shop");
    let kubectl = |args: &[&str]| {
        tokio::process::Command::new(kubectl_binary())
            .args(args)
            .env("PATH", &path)
            .env("KUBECONFIG", &kubeconfig)
            .env("NO_COLOR", "1")
            .output()
    };
    let plugins = kubectl(&["plugin", "list"]).await.unwrap();
    let listed = String::from_utf8_lossy(&plugins.stdout);
    assert!(listed.contains("kubectl-bluegreen"), "{listed}");

    let status = kubectl(&["bluegreen", "status", "svc/api"]).await.unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        stdout.starts_with(&format!("App:     svc/api in namespace {}", env.ns("shop"))),
        "{stdout}"
    );
}
