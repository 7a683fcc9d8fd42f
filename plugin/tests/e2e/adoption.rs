//! `init`: adopting a one-color app and generating a new one.

use bluegreen_e2e::e2e::{Who, kubectl as kubectl_binary};
use serde_json::json;

use crate::support::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_adopts_a_service_with_one_color_by_creating_the_other() {
    let env = Env::start().await;
    // A plain Service and one Deployment, in a namespace of their own objects.
    for manifest in [
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "cart", "namespace": "default"},
               "spec": {"selector": {"app": "cart", "color": "blue"}, "ports": [{"port": 80}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "cart-blue", "namespace": "default"},
               "spec": {"replicas": 2,
                        "selector": {"matchLabels": {"app": "cart", "color": "blue"}},
                        "template": {"metadata": {"labels": {"app": "cart", "color": "blue"}},
                                     "spec": {"containers": [{"name": "cart", "image": "registry.example.com/cart:3"}]}}}}),
    ] {
        env.cluster.apply(&[manifest]).await;
    }
    let preview = env
        .plugin("default", &["init", "svc/cart", "--dry-run"])
        .await;
    assert_eq!(preview.code, 0, "{preview:?}");
    assert!(
        preview
            .stdout
            .contains("# would label svc/cart with bluegreen.dev/app=cart"),
        "{preview:?}"
    );
    assert!(preview.stdout.contains("name: cart-green"), "{preview:?}");
    assert!(
        env.cluster
            .get_in("apps/v1", "Deployment", "default", "cart-green")
            .await
            .is_none()
    );

    let adopted = env.plugin("default", &["init", "svc/cart"]).await;
    assert_eq!(adopted.code, 0, "{adopted:?}");
    let green = env.deployment("default", "cart-green").await;
    assert_eq!(green["spec"]["replicas"], json!(2));
    assert_eq!(
        green["spec"]["template"]["metadata"]["labels"]["color"],
        json!("green")
    );
    assert_eq!(
        env.service("default", "cart").await["metadata"]["labels"]["bluegreen.dev/app"],
        json!("cart")
    );

    let again = env.plugin("default", &["init", "svc/cart"]).await;
    assert_eq!(
        again.stdout, "svc/cart is already a labelled blue-green app; nothing to do\n",
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_generates_a_new_app_that_the_checks_accept() {
    let env = Env::start().await;
    let created = env
        .plugin(
            "default",
            &[
                "init",
                "svc/shopfront",
                "--image",
                "registry.example.com/shopfront:1",
            ],
        )
        .await;
    assert_eq!(created.code, 0, "{created:?}");
    for name in ["shopfront-blue", "shopfront-green"] {
        env.roll_out("default", name).await;
    }
    let checked = env.plugin("default", &["check", "svc/shopfront"]).await;
    assert_eq!(checked.code, 0, "{checked:?}");
    assert!(checked.stdout.contains("all rules pass"), "{checked:?}");
}

/// `init --dry-run` prints what kubectl applies as it stands. The app is named `on`,
/// which kubectl (YAML 1.1) reads as a boolean unless the output quotes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_dry_run_output_is_what_kubectl_applies() {
    let env = Env::start().await;
    let preview = env
        .plugin(
            "default",
            &[
                "init",
                "svc/on",
                "--image",
                "registry.example.com/on:1",
                "--dry-run",
            ],
        )
        .await;
    assert_eq!(preview.code, 0, "{preview:?}");
    let file = env.dir.path().join("init.yaml");
    std::fs::write(&file, &preview.stdout).unwrap();
    let applied = tokio::process::Command::new(kubectl_binary())
        .arg("--kubeconfig")
        .arg(env.kubeconfig(Who::Admin, "default"))
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .await
        .expect("kubectl runs");
    assert!(
        applied.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&applied.stderr),
        preview.stdout
    );
    let service = env.service("default", "on").await;
    assert_eq!(
        service["spec"]["selector"],
        json!({"app": "on", "color": "blue"})
    );
    for color in ["blue", "green"] {
        let deployment = env.deployment("default", &format!("on-{color}")).await;
        assert_eq!(deployment["metadata"]["labels"]["bluegreen.dev/app"], "on");
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"],
            json!({"app": "on", "color": color})
        );
    }
}
