//! Promotions the rules refuse: exit 2, every finding with its rule ID, and the router
//! exactly as it was.

use serde_json::{Value, json};

use crate::support::Env;

/// Runs `promote` and asserts it was refused with `expected` among the findings and
/// that the router was not written.
pub async fn assert_refused(
    env: &Env,
    namespace: &str,
    app: &str,
    router: (&str, &str, &str),
    expected: &str,
) {
    let (api_version, kind, name) = router;
    let before = env.get(api_version, kind, namespace, name).await;
    let run = env.plugin(namespace, &["promote", app]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("nothing was changed:"), "{run:?}");
    assert!(
        run.stderr.contains(expected),
        "expected {expected:?} in {}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    let after = env.get(api_version, kind, namespace, name).await;
    assert_eq!(
        before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"],
        "the router is unchanged"
    );
}

const API: (&str, &str, &str) = ("v1", "Service", "api");

async fn modify_green(env: &Env, change: impl Fn(&mut Value)) {
    env.modify_deployment("shop", "api-green", change).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unready_green_is_refused() {
    let env = Env::start().await;
    assert_refused(
        &env,
        "web",
        "httproute/myapp",
        ("gateway.networking.k8s.io/v1", "HTTPRoute", "myapp"),
        "deny: BG001 ready-target: green (Deployment app-green) is not ready to take traffic: 1/2 replicas available; wait for the rollout (kubectl rollout status deployment/app-green) or fix its pods, then switch",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_under_scaled_green_is_refused() {
    let env = Env::start().await;
    modify_green(&env, |green| green["spec"]["replicas"] = json!(1)).await;
    assert_refused(
        &env,
        "shop",
        "svc/api",
        API,
        "deny: BG002 capacity: green (Deployment api-green) wants 1 replicas but live blue runs 3, so it needs at least 3; scale it first (kubectl scale deployment/api-green --replicas=3; `kubectl bluegreen deploy` pre-scales the idle color)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_drift_is_refused() {
    let env = Env::start().await;
    modify_green(&env, |green| {
        green["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
            json!([{"configMapRef": {"name": "api-config-v2"}}]);
    })
    .await;
    assert_refused(&env, "shop", "svc/api", API, "deny: BG004 config-parity: ").await;
    let run = env.plugin("shop", &["promote", "svc/api"]).await;
    assert!(run.stderr.contains("api-config-v2"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_policy_asymmetry_is_refused() {
    let env = Env::start().await;
    env.cluster
        .apply(&[json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "api-blue-egress", "namespace": "shop"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "api", "color": "blue"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
            },
        })])
        .await;
    assert_refused(&env, "shop", "svc/api", API, "deny: BG005 netpol-parity: ").await;
    let run = env.plugin("shop", &["promote", "svc/api"]).await;
    assert!(run.stderr.contains("api-blue-egress"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_refuses_the_live_color() {
    let env = Env::start().await;
    let run = env
        .plugin(
            "shop",
            &[
                "deploy",
                "svc/api",
                "--color",
                "blue",
                "--image",
                "api=registry.example.com/api:9",
            ],
        )
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "deny: BG009 immutable-live: Deployment api-blue runs the live color blue of svc/api; changing it in place (container api image registry.example.com/api:1.4 → registry.example.com/api:9) is a rolling update on live traffic"
        ),
        "{run:?}"
    );
    assert_eq!(
        env.deployment("shop", "api-blue").await["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("registry.example.com/api:1.4")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_checks_without_switching() {
    let env = Env::start().await;
    let before = env.service("shop", "api").await;
    let run = env
        .plugin("shop", &["promote", "svc/api", "--dry-run"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "svc/api would switch from blue to green: the checks pass and the API server accepted a dry run\n"
    );
    assert_eq!(env.service("shop", "api").await, before);
}

/// An HPA scaling live blue to 5 (its `spec.replicas` says 3).
async fn hpa_on_blue(env: &Env) {
    env.cluster
        .apply(&[json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "api-blue", "namespace": "shop", "labels": {"bluegreen.dev/app": "api"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api-blue"},
                "minReplicas": 3,
                "maxReplicas": 10,
            },
            "status": {"currentReplicas": 5, "desiredReplicas": 5},
        })])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_counts_the_live_colors_hpa_replicas() {
    let env = Env::start().await;
    hpa_on_blue(&env).await;
    assert_refused(
        &env,
        "shop",
        "svc/api",
        API,
        "deny: BG002 capacity: green (Deployment api-green) wants 3 replicas but live blue runs 5, so it needs at least 5; scale it first (kubectl scale deployment/api-green --replicas=5; `kubectl bluegreen deploy` pre-scales the idle color)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_pre_scales_the_idle_color_to_the_hpas_replicas() {
    let env = Env::start().await;
    hpa_on_blue(&env).await;
    let deploy = [
        "deploy",
        "svc/api",
        "--image",
        "api=registry.example.com/api:1.6",
    ];
    let (deployed, ()) = tokio::join!(
        env.plugin("shop", &deploy),
        env.roll_out_when("shop", "api-green", |d| d["spec"]["replicas"] == json!(5)),
    );
    assert_eq!(deployed.code, 0, "{deployed:?}");
    assert!(
        deployed.stderr.contains(
            "deployment/api-green (green, idle): images set, scaled to 5 like blue; waiting for the rollout"
        ),
        "{deployed:?}"
    );
    assert_eq!(
        deployed.stdout,
        "deployment/api-green is rolled out (5/5 available); next: kubectl bluegreen verify svc/api, then kubectl bluegreen promote svc/api\n"
    );
    assert_eq!(
        env.deployment("shop", "api-blue").await["spec"]["replicas"],
        json!(3),
        "the live color is the HPA's"
    );
    let promoted = env.plugin("shop", &["promote", "svc/api"]).await;
    assert_eq!(promoted.code, 0, "{promoted:?}");
}
