//! The plugin and the tools that own the manifests: the seed chart (`color: {{
//! .Values.liveColor }}` in the Service's selector) installed with the real helm v4 and
//! helm v3. The plugin's promote on the Helm-owned Service is refused before anything is
//! written, `--dry-run` still asks the API server, `--force-conflicts` takes the switch
//! over, and `status` tells before the next `helm upgrade` what it will do: conflict
//! (Helm 4, server-side apply) or put the old color back (Helm 3).

use bluegreen_e2e::Denial;
use bluegreen_e2e::e2e::apps;
use bluegreen_e2e::e2e::guard::Guard;
use bluegreen_e2e::e2e::released::{Helm, bluegreen, bluegreen_as, helm, service_api};
use bluegreen_e2e::e2e::{Cluster, Who, stderr, stdout};
use serde_json::json;

const CHART: &str = "tests/fixtures/seed-api-chart";
const CI: &str = "system:serviceaccount:ci:deployer";

fn ok(out: &std::process::Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}{}",
        stdout(out),
        stderr(out)
    );
}

/// The seed chart installed with `version` as release `api`, both colors rolled out.
/// Alice may not read Secrets, so not the release either.
async fn installed(name: &str, version: Helm) -> (Cluster, Guard) {
    let cluster =
        Cluster::start_with(&[name], &[(Who::Alice, Denial::new("list", "", "secrets"))]).await;
    cluster
        .apply(&[apps::policy(&cluster.namespace, json!({}))])
        .await;
    let guard = Guard::start(&cluster).await;
    guard.register(&cluster, &[]).await;
    ok(
        &helm(&cluster, version, &["install", "api", CHART]).await,
        "install",
    );
    for color in ["api-blue", "api-green"] {
        cluster.set_rollout(color, 3).await;
    }
    (cluster, guard)
}

/// What `helm upgrade … --set liveColor=COLOR` looks like for the scenario's release.
fn through_helm(cluster: &Cluster, color: &str) -> String {
    format!(
        "switch through Helm: helm upgrade api <api chart> -n {} --reuse-values --set liveColor={color}",
        cluster.namespace
    )
}

/// The refusal of a promote to green of the Helm-owned Service.
fn refusal(cluster: &Cluster, writes: &str, after: &str) -> String {
    let ns = &cluster.namespace;
    format!(
        "error: svc/api is owned by Helm release {ns}/api ({writes}), which sets .spec.selector: after a switch to green here, the next helm upgrade of {ns}/api {after}; nothing was changed.\n{}\n(`kubectl bluegreen promote svc/api --dry-run` runs every check and the API server's dry run without writing)\n--force-conflicts switches here anyway, taking .spec.selector from Helm release {ns}/api\n",
        through_helm(cluster, "green")
    )
}

/// A promote is refused with exit 5 and changes nothing; `--dry-run` passes and names
/// the way through the owner.
async fn promote_is_refused_and_dry_run_passes(cluster: &Cluster, writes: &str, refused: &str) {
    let before = service_api(cluster).await;
    let out = bluegreen(cluster, &["promote", "svc/api"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(stderr(&out), refused);
    assert_eq!(
        service_api(cluster).await,
        before,
        "a refused promote writes nothing"
    );

    let out = bluegreen(cluster, &["promote", "svc/api", "--dry-run"]).await;
    ok(&out, "promote --dry-run");
    assert_eq!(
        stdout(&out),
        "svc/api would switch from blue to green: the checks pass and the API server accepted a dry run\n"
    );
    assert_eq!(
        stderr(&out),
        format!(
            "svc/api is owned by Helm release {}/api ({writes}): {}\n",
            cluster.namespace,
            through_helm(cluster, "green")
        )
    );
    assert_eq!(
        service_api(cluster).await,
        before,
        "a dry run writes nothing"
    );
}

/// `status svc/api`: its exit code and its Owner and Drift lines.
async fn status_lines(cluster: &Cluster) -> (Option<i32>, Vec<String>) {
    let out = bluegreen(cluster, &["status", "svc/api"]).await;
    let lines = stdout(&out)
        .lines()
        .filter(|line| line.starts_with("Owner:") || line.starts_with("Drift:"))
        .map(str::to_string)
        .collect();
    (out.status.code(), lines)
}

#[tokio::test]
async fn helm_4_owns_the_switch_and_its_next_upgrade_conflicts_after_a_forced_one() {
    let (cluster, _guard) = installed("owner-helm4", Helm::V4).await;
    let ns = cluster.namespace.clone();

    // The image of the idle color is the chart's too: roll it out through Helm.
    let green = cluster.get("apps/v1", "Deployment", "api-green").await;
    let out = bluegreen(
        &cluster,
        &[
            "deploy",
            "svc/api",
            "--image",
            "api=registry.example.com/shop/api:1.6.0",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let image = ".spec.template.spec.containers[name=api].image";
    assert_eq!(
        stderr(&out),
        format!(
            "error: deployment/api-green is owned by Helm release {ns}/api (server-side apply), which sets {image}: after a deploy of registry.example.com/shop/api:1.6.0 here, the next helm upgrade of {ns}/api fails with a conflict on {image} (unless the release is changed to match); nothing was changed.\nroll green out through Helm: helm upgrade api <api chart> -n {ns} --reuse-values --set green.image.tag=1.6.0\n--force-conflicts deploys here anyway, taking {image} from Helm release {ns}/api\n"
        )
    );
    assert_eq!(
        cluster.get("apps/v1", "Deployment", "api-green").await,
        green
    );

    let refused = refusal(
        &cluster,
        "server-side apply",
        "fails with a conflict on .spec.selector (unless the release is changed to match)",
    );
    promote_is_refused_and_dry_run_passes(&cluster, "server-side apply", &refused).await;
    assert_eq!(
        status_lines(&cluster).await,
        (
            Some(0),
            vec![format!(
                "Owner:   Helm release {ns}/api (server-side apply)"
            )]
        )
    );

    let out = bluegreen(&cluster, &["promote", "svc/api", "--force-conflicts"]).await;
    ok(&out, "promote --force-conflicts");
    assert_eq!(
        stderr(&out),
        format!(
            "warning: Helm release {ns}/api no longer decides .spec.selector of svc/api: the next helm upgrade of {ns}/api fails with a conflict on .spec.selector (unless the release is changed to match); {}\n",
            through_helm(&cluster, "green")
        )
    );
    let switched = service_api(&cluster).await;
    assert_eq!(switched["spec"]["selector"]["color"], "green");
    let selector_owners: Vec<(&str, &str)> = switched["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| !entry["fieldsV1"]["f:spec"]["f:selector"].is_null())
        .map(|entry| {
            (
                entry["manager"].as_str().unwrap(),
                entry["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(selector_owners, [("kubectl-bluegreen", "Apply")]);

    // Back is a switch too: refused the same way, before a color is scaled.
    let switched = service_api(&cluster).await;
    let out = bluegreen(&cluster, &["rollback", "svc/api"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "error: svc/api is owned by Helm release {ns}/api (server-side apply), which sets .spec.selector: after a switch to blue here, the next helm upgrade of {ns}/api fails with a conflict on .spec.selector (unless the release is changed to match); nothing was changed.\n{}\n(`kubectl bluegreen promote svc/api --dry-run` runs every check and the API server's dry run without writing)\n--force-conflicts switches here anyway, taking .spec.selector from Helm release {ns}/api\n",
            through_helm(&cluster, "blue")
        )
    );
    assert_eq!(
        service_api(&cluster).await,
        switched,
        "a refused rollback writes nothing"
    );

    // status says what the next upgrade does, before it happens.
    assert_eq!(
        status_lines(&cluster).await,
        (
            Some(1),
            vec![
                format!("Owner:   Helm release {ns}/api (server-side apply)"),
                format!(
                    "Drift:   the next helm upgrade of {ns}/api fails: its chart renders blue and kubectl-bluegreen holds .spec.selector (a server-side apply conflict); {}",
                    through_helm(&cluster, "green")
                ),
            ]
        )
    );
    let upgrade = |set: &'static str| ["upgrade", "api", CHART, "--reuse-values", "--set", set];
    let out = helm(&cluster, Helm::V4, &upgrade("blue.image.tag=1.6.0")).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "Error: UPGRADE FAILED: conflict occurred while applying object {ns}/api /v1, Kind=Service: Apply failed with 1 conflict: conflict with \"kubectl-bluegreen\": .spec.selector"
        )),
        "{}",
        stderr(&out)
    );

    // Who may not read the release is told so; status does not guess.
    let out = bluegreen_as(&cluster, Who::Alice, &["status", "svc/api"]).await;
    let shown = stdout(&out);
    assert!(
        shown.contains(&format!(
            "Owner:   Helm release {ns}/api (server-side apply)\n         what the next helm upgrade renders is unknown: its release (Secrets labelled owner=helm,name=api in {ns}) cannot be read: secrets is forbidden: User \"alice\" cannot list resource \"secrets\""
        )) && !shown.contains("Drift:"),
        "{shown}{}",
        stderr(&out)
    );

    // Switching through Helm, as status said, settles it.
    ok(
        &helm(&cluster, Helm::V4, &upgrade("liveColor=green")).await,
        "helm upgrade --set liveColor=green",
    );
    assert_eq!(
        status_lines(&cluster).await,
        (
            Some(0),
            vec![format!(
                "Owner:   Helm release {ns}/api (server-side apply)"
            )]
        )
    );
}

#[tokio::test]
async fn helm_3_owns_the_switch_and_its_next_upgrade_puts_the_old_color_back() {
    let (cluster, _guard) = installed("owner-helm3", Helm::V3).await;
    let ns = cluster.namespace.clone();
    let refused = refusal(
        &cluster,
        "client-side apply",
        "puts blue back without a word",
    );
    promote_is_refused_and_dry_run_passes(&cluster, "client-side apply", &refused).await;

    let out = bluegreen(&cluster, &["promote", "svc/api", "--force-conflicts"]).await;
    ok(&out, "promote --force-conflicts");
    assert_eq!(
        stderr(&out),
        format!(
            "warning: this change will not last: Helm release {ns}/api no longer decides .spec.selector of svc/api: the next helm upgrade of {ns}/api puts blue back without a word; {}\n",
            through_helm(&cluster, "green")
        )
    );
    assert_eq!(
        service_api(&cluster).await["spec"]["selector"]["color"],
        "green"
    );
    assert_eq!(
        status_lines(&cluster).await,
        (
            Some(1),
            vec![
                format!("Owner:   Helm release {ns}/api (client-side apply)"),
                format!(
                    "Drift:   the next helm upgrade of {ns}/api switches traffic back to blue (chart renders blue); {}",
                    through_helm(&cluster, "green")
                ),
            ]
        )
    );

    // The next routine release reverts the switch, as status said it would.
    let out = helm(
        &cluster,
        Helm::V3,
        &[
            "upgrade",
            "api",
            CHART,
            "--reuse-values",
            "--set",
            "green.image.tag=1.6.0",
        ],
    )
    .await;
    ok(&out, "helm upgrade");
    assert_eq!(
        service_api(&cluster).await["spec"]["selector"]["color"],
        "blue"
    );
    // ... and the guard says so as it happens, to helm's user.
    assert!(
        stderr(&out).contains(&format!(
            "svc/api: this switch to blue by {CI} (field manager helm) undoes the switch to green by {CI} (field manager kubectl-bluegreen) "
        )),
        "{}",
        stderr(&out)
    );

    // The replicas are the chart's too: retiring green would be undone.
    let green = cluster.get("apps/v1", "Deployment", "api-green").await;
    let out = bluegreen(&cluster, &["retire", "svc/api", "--force"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "error: deployment/api-green is owned by Helm release {ns}/api (client-side apply), which sets .spec.replicas: after scaling it to 0 replicas here, the next helm upgrade of {ns}/api puts 3 replicas back without a word; nothing was changed.\nchange it through Helm: give the chart a value that renders .spec.replicas of deployment/api-green and set it to 0 (helm upgrade api <api chart> -n {ns} --reuse-values --set VALUE=0)\n--force-conflicts scales it here anyway, taking .spec.replicas from Helm release {ns}/api\n"
        )
    );
    assert_eq!(
        cluster.get("apps/v1", "Deployment", "api-green").await,
        green
    );
}

#[tokio::test]
async fn init_on_owned_objects_prints_what_to_add_and_writes_nothing() {
    let cluster = Cluster::start("owner-init").await;
    ok(
        &helm(&cluster, Helm::V4, &["install", "api", CHART]).await,
        "install",
    );
    // The chart as a user had it before blue-green: no app label anywhere.
    for (kind, name) in [
        ("svc", "api"),
        ("deployment", "api-blue"),
        ("deployment", "api-green"),
    ] {
        let out = cluster
            .kubectl(Who::Admin, &["label", kind, name, "bluegreen.dev/app-"])
            .await;
        ok(&out, "unlabel");
    }
    let before = service_api(&cluster).await;
    let out = bluegreen(&cluster, &["init", "svc/api"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let ns = &cluster.namespace;
    assert_eq!(
        stderr(&out),
        format!(
            "error: deployment/api-blue is owned by Helm release {ns}/api (server-side apply): labels written here are not in its source, and what init creates would be no one's; nothing was changed. Add the lines printed above to the chart or to Git, or pass --force-conflicts to write them here anyway\n"
        )
    );
    let printed = stdout(&out);
    assert!(
        printed.contains("# svc/api: under metadata.labels (in a Helm template, the same line)\nmetadata:\n  labels:\n    bluegreen.dev/app: api\n"),
        "{printed}"
    );
    assert_eq!(service_api(&cluster).await, before);

    let out = bluegreen(&cluster, &["init", "svc/api", "--force-conflicts"]).await;
    ok(&out, "init --force-conflicts");
    assert_eq!(
        service_api(&cluster).await["metadata"]["labels"]["bluegreen.dev/app"],
        "api"
    );
}

#[tokio::test]
async fn an_argo_cd_owned_router_is_switched_through_git() {
    let cluster = Cluster::start("owner-argocd").await;
    // What an Argo CD server-side apply sync leaves: its tracking annotation and
    // `argocd-controller` owning what it applied (argo-cd `util/argo/resource_tracking.go`,
    // `controller/sync.go`).
    for mut manifest in apps::service_app("blue") {
        let name = manifest["metadata"]["name"].as_str().unwrap().to_string();
        let kind = manifest["kind"].as_str().unwrap().to_string();
        manifest["metadata"]["namespace"] = json!(cluster.namespace);
        manifest["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
            json!(format!("shop-api:/{kind}:{}/{name}", cluster.namespace));
        let file = cluster.manifest_file(&format!("{name}-{kind}.json"), &manifest);
        let out = cluster
            .kubectl(
                Who::Admin,
                &[
                    "apply",
                    "--server-side",
                    "--field-manager=argocd-controller",
                    "-f",
                    file.to_str().unwrap(),
                ],
            )
            .await;
        ok(&out, "argocd-controller applies");
    }
    for color in ["api-blue", "api-green"] {
        cluster.set_rollout(color, 3).await;
    }
    let before = service_api(&cluster).await;
    let out = bluegreen(&cluster, &["promote", "svc/api"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: svc/api is owned by Argo CD application shop-api (server-side apply), which sets .spec.selector: after a switch to green here, Argo CD application shop-api's next sync puts the old color back (at once with self-heal); nothing was changed.\nswitch through Git: change what renders .spec.selector of svc/api to green in Git, and let Argo CD application shop-api apply it\n(`kubectl bluegreen promote svc/api --dry-run` runs every check and the API server's dry run without writing)\n--force-conflicts switches here anyway, taking .spec.selector from Argo CD application shop-api\n"
    );
    assert_eq!(service_api(&cluster).await, before);
    let (code, lines) = status_lines(&cluster).await;
    assert_eq!(
        (code, lines),
        (
            Some(0),
            vec!["Owner:   Argo CD application shop-api (server-side apply)".to_string()]
        )
    );
}
