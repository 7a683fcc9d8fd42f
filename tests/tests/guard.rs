//! bluegreen-guard end to end: the real guard process, registered with the chart's
//! webhook configuration, judging writes made with the real kubectl against the test
//! API server (or a real cluster, see README "End-to-end tests on a real cluster").
//! Every refusal asserts the exact message kubectl prints and that nothing changed.

use std::process::{Child, Command, Stdio};

use bluegreen_e2e::e2e::apps::{self, BLUE_IMAGE, GREEN_IMAGE};
use bluegreen_e2e::e2e::guard::{Guard, free_port};
use bluegreen_e2e::e2e::released::{
    DRY_RUN_SWITCH, SWITCH, denied, denied_creating, release, release_with, selector_color,
    warm_blue,
};
use bluegreen_e2e::e2e::{Cluster, Who, stderr, stdout, workspace_binary};
use bluegreen_e2e::registry::{LocalRegistry, TestKey};
use bluegreen_e2e::sigstore::{FulcioIdentity, TestSigstore};
use bluegreen_e2e::tls::TestCertificates;
use policy::SignatureLayout;
use serde_json::{Value, json};

const UNREADY_GREEN: &str = "BG001 ready-target: green (Deployment api-green) is not ready to take traffic: 0/3 replicas updated, 0/3 replicas available; wait for the rollout (kubectl rollout status deployment/api-green) or fix its pods, then switch";

#[tokio::test]
async fn a_switch_to_an_unready_green_is_refused_and_the_service_is_unchanged() {
    let (cluster, _guard) = release("unready", 0, json!({})).await;
    let before = selector_color(&cluster).await;
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), denied("routers", UNREADY_GREEN));
    assert_eq!(selector_color(&cluster).await, before);
}

#[tokio::test]
async fn only_the_ci_account_may_switch() {
    let (cluster, _guard) = release("identity", 3, json!({})).await;
    let before = selector_color(&cluster).await;
    let out = cluster.kubectl(Who::Alice, SWITCH).await;
    assert_eq!(out.status.code(), Some(1));
    let policy = apps::policy_name(&cluster.namespace);
    assert_eq!(
        stderr(&out),
        denied(
            "routers",
            &format!(
                "BG003 switch-identity: user alice may not change the traffic of svc/api: BlueGreenPolicy {policy} allows only serviceaccount ci:deployer; run the switch from CI (kubectl bluegreen promote svc/api) or, in an emergency, as a member of the break-glass group"
            )
        )
    );
    assert_eq!(selector_color(&cluster).await, before);

    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(
        (
            out.status.code(),
            stdout(&out).as_str(),
            stderr(&out).as_str()
        ),
        (Some(0), "service/api patched\n", "")
    );
    assert_eq!(selector_color(&cluster).await.0, "green");
}

#[tokio::test]
async fn removing_the_app_label_from_a_router_is_a_privileged_change() {
    let (cluster, _guard) = release("unlabel", 3, json!({})).await;
    let out = cluster
        .kubectl(Who::Alice, &["label", "svc", "api", "bluegreen.dev/app-"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            &denied(
                "routers",
                "BG003 switch-identity: user alice may not change the traffic of svc/api"
            )
            .trim_end()
            .to_string()
        ),
        "{}",
        stderr(&out)
    );
    let service = cluster.get("v1", "Service", "api").await.unwrap();
    assert_eq!(service["metadata"]["labels"]["bluegreen.dev/app"], "api");
}

#[tokio::test]
async fn config_drift_on_the_idle_color_is_refused() {
    let (cluster, _guard) = release("drift", 3, json!({})).await;
    let before = cluster
        .get("apps/v1", "Deployment", "api-green")
        .await
        .unwrap();
    let drift = r#"{"spec":{"template":{"spec":{"containers":[{"name":"api","envFrom":[{"configMapRef":{"name":"api-settings"}},{"secretRef":{"name":"db-credentials-v2"}}]}]}}}}"#;
    let out = cluster
        .kubectl(Who::Ci, &["patch", "deployment", "api-green", "-p", drift])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied(
            "workloads",
            "BG004 config-parity: green references Secret db-credentials-v2, blue references Secret db-credentials; both colors must read the same Secret (change it in place, then restart both colors) so a rollback restores the same configuration"
        )
    );
    let after = cluster
        .get("apps/v1", "Deployment", "api-green")
        .await
        .unwrap();
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn a_network_policy_that_selects_one_color_is_refused() {
    let (cluster, _guard) = release("netpol", 3, json!({})).await;
    let blue_only = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "blue-only", "labels": {"bluegreen.dev/app": "api"}},
        "spec": {"podSelector": {"matchLabels": {"app": "api", "color": "blue"}}, "ingress": [{}]}
    });
    let file = cluster.manifest_file("blue-only.json", &blue_only);
    let out = cluster
        .kubectl(Who::Admin, &["create", "-f", file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied_creating(
            &file,
            "workloads",
            "BG005 netpol-parity: NetworkPolicy blue-only selects blue pods (Deployment api-blue) but not green pods (Deployment api-green); select both colors (match the app's labels, not color) so a switch never changes who may reach the app"
        )
    );
    assert!(
        cluster
            .get("networking.k8s.io/v1", "NetworkPolicy", "blue-only")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn the_live_color_is_never_changed_in_place() {
    let (cluster, _guard) = release("immutable", 3, json!({})).await;
    let out = cluster
        .kubectl(
            Who::Ci,
            &[
                "set",
                "image",
                "deployment/api-blue",
                "api=registry.example.com/shop/api:hotfix",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("error: failed to patch image update to pod template: {}", denied("workloads", &format!("BG009 immutable-live: Deployment api-blue runs the live color blue of svc/api; changing it in place (container api image {BLUE_IMAGE} → registry.example.com/shop/api:hotfix) is a rolling update on live traffic; deploy to the idle color and promote it: kubectl bluegreen deploy svc/api --image api=registry.example.com/shop/api:hotfix")).trim_start_matches("Error from server: "))
    );
    let live = cluster
        .get("apps/v1", "Deployment", "api-blue")
        .await
        .unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        BLUE_IMAGE
    );
}

#[tokio::test]
async fn the_previous_color_stays_warm_after_a_switch() {
    let switched_at = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5);
    let mut manifests = apps::service_app("green");
    manifests[2]["metadata"]["annotations"] = json!({
        "bluegreen.dev/live-since": switched_at.to_string(),
        "bluegreen.dev/previous-color": "blue"
    });
    let (cluster, _guard) = release_with("warm", manifests, 3, json!({})).await;
    let warm = |action: &str| warm_blue(switched_at, action);
    let out = cluster
        .kubectl(Who::Admin, &["delete", "deployment", "api-blue"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), denied("workloads", &warm("deleting it")));
    // A Scale object has no labels: only the chart's separate scale webhook sees this.
    let out = cluster
        .kubectl(
            Who::Admin,
            &["scale", "deployment", "api-blue", "--replicas=0"],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied("scale", &warm("scaling it to 0 replicas"))
    );
    let blue = cluster
        .get("apps/v1", "Deployment", "api-blue")
        .await
        .expect("still there");
    assert_eq!(blue["spec"]["replicas"], 3);
}

#[tokio::test]
async fn warn_mode_allows_the_switch_and_kubectl_prints_the_warning() {
    let (cluster, _guard) = release("warn", 0, json!({"readyTarget": "warn"})).await;
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("Warning: {UNREADY_GREEN}\n"));
    assert_eq!(selector_color(&cluster).await.0, "green");
}

#[tokio::test]
async fn dry_run_switches_are_judged_without_side_effects() {
    let (cluster, _guard) = release("dryrun", 0, json!({})).await;
    let before = selector_color(&cluster).await;
    let out = cluster.kubectl(Who::Ci, DRY_RUN_SWITCH).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), denied("routers", UNREADY_GREEN));
    cluster.set_rollout("api-green", 3).await;
    let allowed = wait_until_allowed(&cluster, DRY_RUN_SWITCH).await;
    assert_eq!(stdout(&allowed), "service/api patched\n");
    assert_eq!(selector_color(&cluster).await, before);
}

/// Retries (bounded) until the guard's caches have caught up with a change and the
/// write is allowed; returns that successful run.
async fn wait_until_allowed(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    wait_until(cluster, args, true).await
}

/// Retries (bounded) until the write as CI succeeds (`allowed`) or fails; returns that run.
async fn wait_until(cluster: &Cluster, args: &[&str], allowed: bool) -> std::process::Output {
    for _ in 0..100 {
        let out = cluster.kubectl(Who::Ci, args).await;
        if out.status.success() == allowed {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = cluster.kubectl(Who::Ci, args).await;
    panic!(
        "still {}: {}{}",
        if allowed { "refused" } else { "allowed" },
        stdout(&out),
        stderr(&out)
    );
}

#[tokio::test]
async fn a_policy_change_takes_effect_without_restarting_the_guard() {
    let (cluster, _guard) = release("policychange", 0, json!({})).await;
    let out = cluster.kubectl(Who::Ci, DRY_RUN_SWITCH).await;
    assert_eq!(stderr(&out), denied("routers", UNREADY_GREEN));
    cluster
        .apply(&[apps::policy(
            &cluster.namespace,
            json!({"readyTarget": "warn"}),
        )])
        .await;
    let allowed = wait_until_allowed(&cluster, DRY_RUN_SWITCH).await;
    assert_eq!(stderr(&allowed), format!("Warning: {UNREADY_GREEN}\n"));
}

const BROKEN_WARM_WINDOW: &str = "warmWindow \"half an hour\" is not a duration (failed to parse input in the \"friendly\" duration format: expected duration to start with a unit value (a decimal integer) after an optional sign, but no integer was found); write it like 30m, 2h or 1h30m";

fn broken_policy(cluster: &Cluster) -> Value {
    let mut broken = apps::policy(&cluster.namespace, json!({}));
    broken["spec"]["warmWindow"] = json!("half an hour");
    broken
}

#[tokio::test]
async fn a_policy_the_guard_could_not_use_is_refused_by_kubectl_apply_and_left_as_it_was() {
    let (cluster, _guard) = release("policywrite", 3, json!({})).await;
    let policy = apps::policy_name(&cluster.namespace);
    let before = cluster
        .get("bluegreen.dev/v1alpha1", "BlueGreenPolicy", &policy)
        .await
        .expect("the scenario's policy");
    let file = cluster.manifest_file("broken-policy.json", &broken_policy(&cluster));
    let out = cluster
        .kubectl(Who::Admin, &["apply", "-f", file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    // kubectl prints the whole patch first; the refusal is its last line.
    let file = file.display();
    assert_eq!(
        stderr(&out).lines().last(),
        Some(format!(
            "for: \"{file}\": error when patching \"{file}\": admission webhook \"policies.bluegreen.dev\" denied the request: BlueGreenPolicy {policy}: {BROKEN_WARM_WINDOW}"
        ).as_str())
    );
    let after = cluster
        .get("bluegreen.dev/v1alpha1", "BlueGreenPolicy", &policy)
        .await
        .expect("the scenario's policy");
    assert_eq!(after, before);
}

#[tokio::test]
#[cfg_attr(
    e2e_remote_guard,
    ignore = "stops and restarts the guard, which only a guard the scenario started allows (BLUEGREEN_E2E_GUARD_URL is set)"
)]
async fn a_policy_broken_while_the_guard_was_down_refuses_switches_and_the_service_is_unchanged() {
    let (cluster, mut guard) = release("brokenpolicy", 3, json!({})).await;
    // The policies webhook ignores a guard that is down (see the chart).
    guard.stop();
    cluster.apply(&[broken_policy(&cluster)]).await;
    guard.restart().await;
    let before = selector_color(&cluster).await;
    // A dry run until the guard has seen the change, so no real switch gets through.
    wait_until(&cluster, DRY_RUN_SWITCH, false).await;
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(out.status.code(), Some(1));
    let policy = apps::policy_name(&cluster.namespace);
    let namespace = &cluster.namespace;
    assert_eq!(
        stderr(&out),
        denied(
            "routers",
            &format!(
                "BlueGreenPolicy {policy}: {BROKEN_WARM_WINDOW}. Until it is fixed or deleted, bluegreen-guard refuses the writes it judges in namespace {namespace} rather than judge them without the guardrails it sets"
            )
        )
    );
    assert_eq!(selector_color(&cluster).await, before);
}

#[tokio::test]
#[cfg_attr(
    e2e_remote_guard,
    ignore = "stops and restarts the guard, which only a guard the scenario started allows (BLUEGREEN_E2E_GUARD_URL is set)"
)]
async fn with_the_guard_down_only_switches_scale_to_zero_and_governed_writes_wait_on_it() {
    let (cluster, mut guard) = release("down", 3, json!({})).await;
    // An unrelated Deployment, as any other team's in the cluster.
    cluster
        .apply(&[json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1"}]}}}
        })])
        .await;
    guard.stop();
    let address = guard
        .url
        .trim_start_matches("https://")
        .trim_end_matches("/validate")
        .to_string();
    let unreachable = |webhook: &str, path: &str| {
        format!(
            "Error from server (InternalError): Internal error occurred: failed calling webhook \"{webhook}.bluegreen.dev\": failed to call webhook: Post \"https://{address}{path}?timeout=5s\": dial tcp {address}: connect: connection refused\n"
        )
    };
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(out.status.code(), Some(1));
    // Mutating admission comes first: the webhook recording switches fails closed.
    assert_eq!(stderr(&out), unreachable("records", "/mutate"));
    assert_eq!(selector_color(&cluster).await.0, "blue");

    // The chart's default failurePolicy is Fail, yet scaling anything but to zero never
    // waits on the guard: neither the unrelated Deployment nor a color.
    for (deployment, replicas) in [("web", "--replicas=3"), ("api-green", "--replicas=4")] {
        let out = cluster
            .kubectl(Who::Ci, &["scale", "deployment", deployment, replicas])
            .await;
        assert_eq!(
            (out.status.code(), stdout(&out), stderr(&out)),
            (
                Some(0),
                format!("deployment.apps/{deployment} scaled\n"),
                String::new()
            )
        );
    }
    let out = cluster
        .kubectl(
            Who::Ci,
            &["scale", "deployment", "api-green", "--replicas=0"],
        )
        .await;
    assert_eq!(stderr(&out), unreachable("scale", "/validate"));
    let out = cluster
        .kubectl(Who::Ci, &["label", "deployment", "api-green", "note=x"])
        .await;
    assert_eq!(stderr(&out), unreachable("workloads", "/validate"));
    let green = cluster
        .get("apps/v1", "Deployment", "api-green")
        .await
        .unwrap();
    assert_eq!(green["spec"]["replicas"], 4);
    assert!(green["metadata"]["labels"].get("note").is_none());

    guard.restart().await;
    let out = cluster.kubectl(Who::Alice, SWITCH).await;
    assert!(
        stderr(&out).contains("BG003 switch-identity: user alice"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_guard_whose_caches_have_not_synced_refuses_and_is_not_ready() {
    let cluster = Cluster::start("unsynced").await;
    cluster.apply(&apps::service_app("blue")).await;
    let unreachable = cluster.manifest_file("unreachable.kubeconfig", &json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": true}}],
        "users": [{"name": "dead", "user": {"token": "none"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead"}}]
    }));
    let guard = Guard::launch(unreachable);
    guard.register(&cluster, &[]).await;
    let probes = guard.probes.unwrap();
    let mut readiness = None;
    for _ in 0..100 {
        readiness = bluegreen_e2e::e2e::guard::probe(probes, "/readyz").await;
        if readiness.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(readiness, Some(503));
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains(
            "denied the request: bluegreen-guard is starting and its caches are still syncing ("
        ),
        "{message}"
    );
    assert!(
        message.ends_with("so it cannot judge this write yet; retry in a few seconds\n"),
        "{message}"
    );
}

/// The guard process started with the chart's arguments for extra `values` (the shared
/// [`Guard`] always uses the defaults), registered with the chart's webhooks. A
/// `trusted_root.json` given is written where the chart's `--trusted-root` (rendered
/// for `imageVerification.trustedRootConfigMap`) points, as the ConfigMap mount would.
struct GuardWithValues {
    child: Child,
    _dir: tempfile::TempDir,
}

impl GuardWithValues {
    async fn start(cluster: &Cluster, values: &[&str], trusted_root_json: Option<&str>) -> Self {
        let (listen, probes) = (free_port(), free_port());
        let certificates = TestCertificates::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert, &certificates.cert_pem).unwrap();
        std::fs::write(&key, &certificates.key_pem).unwrap();
        let trusted_root = dir.path().join("trusted_root.json");
        if let Some(json) = trusted_root_json {
            std::fs::write(&trusted_root, json).unwrap();
        }
        let args: Vec<String> = bluegreen_e2e::chart::guard_args(values)
            .into_iter()
            .map(|arg| match arg.split_once('=') {
                Some(("--listen", _)) => format!("--listen={listen}"),
                Some(("--probe-listen", _)) => format!("--probe-listen={probes}"),
                Some(("--tls-cert", _)) => format!("--tls-cert={}", cert.display()),
                Some(("--tls-key", _)) => format!("--tls-key={}", key.display()),
                Some(("--trusted-root", _)) => {
                    format!("--trusted-root={}", trusted_root.display())
                }
                _ => arg,
            })
            .collect();
        let child = Command::new(workspace_binary("bluegreen-guard"))
            .args(&args)
            .env("KUBECONFIG", cluster.kubeconfig(Who::Admin))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let guard = GuardWithValues { child, _dir: dir };
        let mut ready = false;
        for _ in 0..300 {
            if bluegreen_e2e::e2e::guard::probe(probes, "/readyz").await == Some(200) {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(ready, "bluegreen-guard did not become ready");
        let url = format!("https://{listen}/validate");
        let configuration = bluegreen_e2e::chart::webhook_configuration(
            values,
            &url,
            &certificates.ca_bundle_base64(),
        );
        cluster
            .apply(&[cluster.scoped_webhooks(configuration)])
            .await;
        guard
    }
}

impl Drop for GuardWithValues {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app whose policy trusts `key` (BG006 deny), and the guard reaching `registry`.
async fn signed_images_release(
    name: &str,
    registry: &LocalRegistry,
    key: &TestKey,
) -> (Cluster, GuardWithValues) {
    let signers = json!({"trustedKeys": [key.trusted]});
    signed_images_release_trusting(name, registry, signers, None).await
}

/// An app whose policy trusts `signers` (BG006 deny: `trustedKeys`, `trustedIdentities`),
/// and the guard reaching `registry`, with `trusted_root_json` mounted as the chart does.
async fn signed_images_release_trusting(
    name: &str,
    registry: &LocalRegistry,
    signers: Value,
    trusted_root_json: Option<&str>,
) -> (Cluster, GuardWithValues) {
    let cluster = Cluster::start(name).await;
    let mut objects = apps::service_app("blue");
    let mut policy = apps::policy(&cluster.namespace, json!({}));
    for (field, value) in signers.as_object().expect("policy fields") {
        policy["spec"][field] = value.clone();
    }
    objects.push(policy);
    cluster.apply(&objects).await;
    cluster.set_rollout("api-blue", 3).await;
    cluster.set_rollout("api-green", 3).await;
    let insecure = format!(
        "--set=imageVerification.insecureRegistries={{{}}}",
        registry.addr
    );
    let mut values = vec![insecure.as_str()];
    if trusted_root_json.is_some() {
        values.push("--set=imageVerification.trustedRootConfigMap=sigstore-trusted-root");
    }
    let guard = GuardWithValues::start(&cluster, &values, trusted_root_json).await;
    (cluster, guard)
}

/// `kubectl set image deployment/api-green api=<image>` as the CI account.
async fn set_green_image(cluster: &Cluster, image: &str) -> std::process::Output {
    let arg = format!("api={image}");
    cluster
        .kubectl(Who::Ci, &["set", "image", "deployment/api-green", &arg])
        .await
}

/// Asserts kubectl printed the guard's BG006 refusal `message` and green is unchanged.
async fn assert_green_image_refused(cluster: &Cluster, out: &std::process::Output, message: &str) {
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(out),
        format!(
            "error: failed to patch image update to pod template: {}",
            denied("workloads", message).trim_start_matches("Error from server: ")
        )
    );
    let green = cluster
        .get("apps/v1", "Deployment", "api-green")
        .await
        .unwrap();
    assert_eq!(
        green["spec"]["template"]["spec"]["containers"][0]["image"],
        GREEN_IMAGE
    );
}

/// Asserts kubectl sets green's image to `image` without a word from the guard.
async fn assert_green_image_allowed(cluster: &Cluster, image: &str) {
    let out = set_green_image(cluster, image).await;
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(0), ""),
        "{image} is allowed"
    );
}

#[tokio::test]
async fn a_deployment_update_to_an_unsigned_image_is_refused() {
    let registry = LocalRegistry::start();
    let key = TestKey::generate("release");
    let signed = registry.signed_image("api", "v2", &key).await;
    let unsigned = registry.pushed_image("api", "v2-unsigned").await;
    let (cluster, _guard) = signed_images_release("unsigned", &registry, &key).await;

    let out = set_green_image(&cluster, &unsigned).await;
    assert_green_image_refused(
        &cluster,
        &out,
        &format!("BG006 signed-images: container api of green (Deployment api-green) runs {unsigned}, which has no cosign signature (neither a Sigstore bundle among its OCI referrers nor a legacy sha256-<digest>.sig tag); sign it with a trusted key (cosign sign --key <key> <image>)"),
    )
    .await;

    assert_green_image_allowed(&cluster, &signed).await;
}

/// cosign 3's default layout through the guard: a bundle by the trusted key is allowed,
/// one by another key refused with the layout and the key's hint.
async fn bundle_signed_images_pass_the_guard(name: &str, registry: LocalRegistry) {
    let (key, stranger) = (TestKey::generate("release"), TestKey::generate("stranger"));
    let signed = registry.bundle_signed_image("api", "v2", &key).await;
    let foreign = registry
        .bundle_signed_image("api", "v2-foreign", &stranger)
        .await;
    let (cluster, _guard) = signed_images_release(name, &registry, &key).await;

    let listed = registry.referrers_requests();
    let out = set_green_image(&cluster, &foreign).await;
    if let Some(before) = listed {
        let after = registry.referrers_requests().unwrap();
        assert!(after > before, "the guard asked the referrers API");
    }
    let policy = apps::policy_name(&cluster.namespace);
    assert_green_image_refused(
        &cluster,
        &out,
        &format!(
            "BG006 signed-images: container api of green (Deployment api-green) runs {foreign}, which is signed, but by none of the trusted keys: found a Sigstore bundle (OCI referrer) by an untrusted key (hint {}); sign it with one of the trusted keys of BlueGreenPolicy {policy} (release)",
            stranger.hint()
        ),
    )
    .await;

    assert_green_image_allowed(&cluster, &signed).await;
}

#[tokio::test]
async fn a_bundle_found_through_the_referrers_tag_is_verified() {
    bundle_signed_images_pass_the_guard("bundle-tag", LocalRegistry::start()).await;
}

#[tokio::test]
async fn a_bundle_found_through_the_referrers_api_is_verified() {
    let registry = LocalRegistry::start_with_referrers_api();
    bundle_signed_images_pass_the_guard("bundle-api", registry).await;
}

/// Keyless signing through the guard, in `layout`: an image signed by the trusted
/// release workflow is allowed; one signed by another repository's workflow is refused
/// naming the subject found and the identity trusted.
async fn keyless_signed_images_pass_the_guard(
    name: &str,
    registry: LocalRegistry,
    layout: SignatureLayout,
) {
    let sigstore = TestSigstore::generate("guard");
    let release = FulcioIdentity::github_workflow("acme/shop", "refs/heads/main");
    let stranger = FulcioIdentity::github_workflow("acme/fork", "refs/heads/main");
    let signed = registry
        .keyless_signed_image("api", "v2", layout, &sigstore.signer(&release))
        .await;
    let foreign = registry
        .keyless_signed_image("api", "v2-foreign", layout, &sigstore.signer(&stranger))
        .await;
    let identities = json!({"trustedIdentities": [{
        "name": "release",
        "issuer": release.issuer,
        "subject": release.subject,
    }]});
    let root = sigstore.trusted_root_json();
    let (cluster, _guard) =
        signed_images_release_trusting(name, &registry, identities, Some(&root)).await;

    let out = set_green_image(&cluster, &foreign).await;
    let policy = apps::policy_name(&cluster.namespace);
    assert_green_image_refused(
        &cluster,
        &out,
        &format!(
            "BG006 signed-images: container api of green (Deployment api-green) runs {foreign}, which is signed, but by none of the trusted identities: found {layout} made keyless (Fulcio certificate), refused: signed by subject {} (issuer {}); the policy trusts release (subject {}, issuer {}); sign it keylessly as one of the trusted identities of BlueGreenPolicy {policy} (release)",
            stranger.subject, stranger.issuer, release.subject, release.issuer
        ),
    )
    .await;

    assert_green_image_allowed(&cluster, &signed).await;
}

#[tokio::test]
async fn a_keyless_legacy_signature_is_verified_for_the_trusted_identity() {
    let registry = LocalRegistry::start();
    keyless_signed_images_pass_the_guard("keyless-sig", registry, SignatureLayout::SigTag).await;
}

#[tokio::test]
async fn a_keyless_bundle_is_verified_for_the_trusted_identity() {
    let registry = LocalRegistry::start();
    keyless_signed_images_pass_the_guard("keyless-bundle", registry, SignatureLayout::Bundle).await;
}
