//! The Helm chart, rendered by the real helm binary, holds the properties the guard
//! relies on. Run `.ci/tools.sh` first (the README's test command does).

use bluegreen_e2e::chart::{find, helm_command, one, render};
use serde_json::Value;

const CI_ACCOUNT: &str = "--set=policy.switchIdentities.serviceAccounts={ci:deployer}";

#[test]
fn lint_passes_strictly_for_every_values_file() {
    for values in [
        None,
        Some("ci/minimal-values.yaml"),
        Some("ci/ha-values.yaml"),
        Some("ci/certmanager-values.yaml"),
    ] {
        let mut command = helm_command();
        command.args(["lint", "--strict", "charts/bluegreen-guard"]);
        if let Some(values) = values {
            command.args(["-f", &format!("charts/bluegreen-guard/{values}")]);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{values:?}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

#[test]
fn webhooks_cover_exactly_what_the_guard_evaluates() {
    let manifests = render(&[CI_ACCOUNT]);
    let config = one(&manifests, "ValidatingWebhookConfiguration");
    let webhooks = config["webhooks"].as_array().unwrap();
    let summary: Vec<(String, String, Vec<String>, bool)> = webhooks
        .iter()
        .map(|w| {
            let resources = w["rules"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| {
                    let group = r["apiGroups"][0].as_str().unwrap().to_string();
                    let ops = r["operations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(",");
                    r["resources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(move |res| format!("{group}/{} {ops}", res.as_str().unwrap()))
                        .collect::<Vec<_>>()
                })
                .collect();
            (
                w["name"].as_str().unwrap().into(),
                w["failurePolicy"].as_str().unwrap().into(),
                resources,
                w.get("objectSelector").is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "routers.bluegreen.dev".into(),
                "Fail".into(),
                vec![
                    "/services CREATE,UPDATE,DELETE".into(),
                    "gateway.networking.k8s.io/httproutes CREATE,UPDATE,DELETE".into()
                ],
                true
            ),
            (
                "workloads.bluegreen.dev".into(),
                "Fail".into(),
                vec![
                    "apps/deployments CREATE,UPDATE,DELETE".into(),
                    "networking.k8s.io/networkpolicies CREATE,UPDATE,DELETE".into()
                ],
                true
            ),
            (
                "scale.bluegreen.dev".into(),
                "Fail".into(),
                vec!["apps/deployments/scale UPDATE".into()],
                false
            ),
            (
                "unlabelled-routes.bluegreen.dev".into(),
                "Ignore".into(),
                vec!["gateway.networking.k8s.io/httproutes CREATE,UPDATE".into()],
                true
            ),
            (
                "policies.bluegreen.dev".into(),
                "Ignore".into(),
                vec!["bluegreen.dev/bluegreenpolicies CREATE,UPDATE".into()],
                false
            ),
        ]
    );
    // Only the routes the routers entry never sends: a guard that is down blocks none.
    let unlabelled = webhooks
        .iter()
        .find(|w| w["name"] == "unlabelled-routes.bluegreen.dev")
        .unwrap();
    assert_eq!(
        unlabelled["objectSelector"],
        serde_json::json!({"matchExpressions": [{"key": "bluegreen.dev/app", "operator": "DoesNotExist"}]})
    );
    // Only a scale to zero can break a rule (BG008): no other scaling in the cluster depends on
    // the guard. The Scale omits spec.replicas when it is 0.
    let conditions: Vec<(&str, &Value)> = webhooks
        .iter()
        .filter_map(|w| Some((w["name"].as_str()?, w.get("matchConditions")?)))
        .collect();
    assert_eq!(
        conditions,
        [(
            "scale.bluegreen.dev",
            &serde_json::json!([{
                "name": "scale-to-zero",
                "expression": "!has(object.spec.replicas) || object.spec.replicas == 0"
            }])
        )]
    );
    for webhook in webhooks {
        assert_eq!(webhook["sideEffects"], "None");
        assert_eq!(
            webhook["admissionReviewVersions"],
            serde_json::json!(["v1"])
        );
        assert_eq!(webhook["matchPolicy"], "Equivalent");
        assert_eq!(webhook["timeoutSeconds"], 5);
        assert_eq!(webhook["clientConfig"]["service"]["path"], "/validate");
        let excluded = &webhook["namespaceSelector"]["matchExpressions"][0];
        assert_eq!(excluded["key"], "kubernetes.io/metadata.name");
        assert_eq!(excluded["operator"], "NotIn");
        assert_eq!(
            excluded["values"],
            serde_json::json!(["kube-system", "bluegreen-system"])
        );
        if let Some(selector) = webhook.get("objectSelector")
            && webhook["name"] != "unlabelled-routes.bluegreen.dev"
        {
            assert_eq!(
                selector["matchExpressions"][0],
                serde_json::json!({"key": "bluegreen.dev/app", "operator": "Exists"})
            );
        }
    }
}

#[test]
fn the_failure_policy_value_applies_to_workloads_but_never_to_routers() {
    let manifests = render(&[
        "--set=webhook.failurePolicy=Ignore",
        "--set=webhook.timeoutSeconds=3",
    ]);
    let config = one(&manifests, "ValidatingWebhookConfiguration");
    let policies: Vec<&str> = config["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["failurePolicy"].as_str().unwrap())
        .collect();
    assert_eq!(policies, ["Fail", "Ignore", "Ignore", "Ignore", "Ignore"]);
    assert_eq!(config["webhooks"][0]["timeoutSeconds"], 3);
}

#[test]
fn switches_are_recorded_by_a_mutating_webhook_scoped_like_the_routers() {
    let manifests = render(&[]);
    let secret = one(&manifests, "Secret");
    let config = one(&manifests, "MutatingWebhookConfiguration");
    let validating = one(&manifests, "ValidatingWebhookConfiguration");
    let routers = &validating["webhooks"][0];
    let webhooks = config["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 1);
    let records = &webhooks[0];
    assert_eq!(records["name"], "records.bluegreen.dev");
    assert_eq!(records["clientConfig"]["service"]["path"], "/mutate");
    assert_eq!(
        records["clientConfig"]["caBundle"],
        secret["data"]["ca.crt"]
    );
    assert_eq!(records["failurePolicy"], "Fail");
    assert_eq!(records["reinvocationPolicy"], "IfNeeded");
    assert_eq!(records["sideEffects"], "None");
    // What waits on it when the guard is down waits on routers.bluegreen.dev anyway.
    assert_eq!(records["objectSelector"], routers["objectSelector"]);
    assert_eq!(records["namespaceSelector"], routers["namespaceSelector"]);
    let operations: Vec<(&Value, &Value)> = records["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| (&rule["resources"], &rule["operations"]))
        .collect();
    assert_eq!(
        operations,
        [
            (
                &serde_json::json!(["services"]),
                &serde_json::json!(["CREATE", "UPDATE"])
            ),
            (
                &serde_json::json!(["httproutes"]),
                &serde_json::json!(["CREATE", "UPDATE"])
            )
        ]
    );
}

#[test]
fn the_generated_ca_signs_the_serving_certificate_and_is_the_ca_bundle() {
    let manifests = render(&[]);
    let secret = one(&manifests, "Secret");
    let config = one(&manifests, "ValidatingWebhookConfiguration");
    for webhook in config["webhooks"].as_array().unwrap() {
        assert_eq!(
            webhook["clientConfig"]["caBundle"],
            secret["data"]["ca.crt"]
        );
    }
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["tls.crt"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8(pem).unwrap();
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----"));
    let deployment = one(&manifests, "Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        secret["metadata"]["name"]
    );
}

#[test]
fn cert_manager_injects_the_ca_instead() {
    let manifests = render(&["-f", "charts/bluegreen-guard/ci/certmanager-values.yaml"]);
    assert!(find(&manifests, "Secret").is_empty());
    let config = one(&manifests, "ValidatingWebhookConfiguration");
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "bluegreen-system/guard-bluegreen-guard-serving"
    );
    assert!(
        config["webhooks"][0]["clientConfig"]
            .get("caBundle")
            .is_none()
    );
    let certificates = find(&manifests, "Certificate");
    let serving = certificates
        .iter()
        .find(|c| c["metadata"]["name"] == "guard-bluegreen-guard-serving")
        .unwrap();
    assert_eq!(serving["spec"]["secretName"], "guard-bluegreen-guard-tls");
    assert!(
        serving["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .contains(&"guard-bluegreen-guard.bluegreen-system.svc".into())
    );
}

#[test]
fn rbac_reads_what_the_caches_need_and_writes_only_events() {
    let manifests = render(&[]);
    let role = one(&manifests, "ClusterRole");
    for rule in role["rules"].as_array().unwrap() {
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            !resources
                .iter()
                .any(|r| *r == "secrets" || *r == "configmaps" || r.contains('*')),
            "{resources:?}"
        );
        if resources == ["events"] {
            assert_eq!(verbs, ["create", "patch"]);
        } else {
            assert_eq!(verbs, ["get", "list", "watch"], "{resources:?}");
        }
    }
    assert!(find(&manifests, "Role").is_empty(), "CI RBAC is opt-in");
}

#[test]
fn the_guard_pod_is_locked_down_and_probed() {
    let manifests = render(&[]);
    let deployment = one(&manifests, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(
        one(&manifests, "PodDisruptionBudget")["spec"]["minAvailable"],
        1
    );
}

#[test]
fn the_crd_is_the_one_the_type_generates() {
    let output = helm_command()
        .args(["show", "crds", "charts/bluegreen-guard"])
        .output()
        .unwrap();
    let shipped: Value = policy::yaml::from_slice(&output.stdout).unwrap();
    let generated =
        serde_json::to_value(<policy::BlueGreenPolicy as kube::CustomResourceExt>::crd()).unwrap();
    assert_eq!(shipped, generated);
}

#[test]
fn the_default_values_render_a_policy_without_switch_identities_that_parses() {
    let manifests = render(&[]);
    let rendered = one(&manifests, "BlueGreenPolicy").clone();
    assert_eq!(rendered["spec"].get("switchIdentities"), None);
    let parsed: policy::BlueGreenPolicy = serde_json::from_value(rendered).unwrap();
    let resolved = policy::Policy::from_spec(Some("default"), &parsed.spec).unwrap();
    assert_eq!(resolved.action(policy::RuleId::BG003), policy::Action::Off);
}

#[test]
fn the_default_policy_comes_from_values_and_parses() {
    let manifests = render(&["-f", "charts/bluegreen-guard/ci/ha-values.yaml"]);
    let rendered = one(&manifests, "BlueGreenPolicy").clone();
    let parsed: policy::BlueGreenPolicy = serde_json::from_value(rendered).unwrap();
    let resolved = policy::Policy::from_spec(Some("default"), &parsed.spec).unwrap();
    assert_eq!(resolved.warm_window, jiff::SignedDuration::from_hours(1));
    assert_eq!(resolved.action(policy::RuleId::BG007), policy::Action::Deny);
    assert_eq!(resolved.action(policy::RuleId::BG003), policy::Action::Deny);
    assert_eq!(
        parsed.spec.switch_identities.service_accounts,
        ["ci:deployer"]
    );
    assert_eq!(
        parsed.spec.switch_identities.break_glass_group.as_deref(),
        Some("sre-oncall")
    );
}

#[test]
fn one_value_names_the_ci_account_for_policy_admission_policy_and_rbac() {
    let manifests = render(&[
        "-f",
        "charts/bluegreen-guard/ci/ha-values.yaml",
        "--api-versions",
        "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
    ]);
    let vap = one(&manifests, "ValidatingAdmissionPolicy");
    let allowed = vap["spec"]["variables"][0]["expression"].as_str().unwrap();
    assert!(
        allowed.contains(r#"request.userInfo.username in ["system:serviceaccount:ci:deployer"]"#),
        "{allowed}"
    );
    assert!(
        allowed.contains(r#"["release-managers","sre-oncall"]"#),
        "{allowed}"
    );
    assert_eq!(
        one(&manifests, "ValidatingAdmissionPolicyBinding")["spec"]["validationActions"],
        serde_json::json!(["Deny"])
    );
    let bindings = find(&manifests, "RoleBinding");
    assert_eq!(bindings.len(), 2);
    for binding in bindings {
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}])
        );
    }
}

#[test]
fn no_admission_policy_without_the_api_or_without_identities() {
    assert!(find(&render(&[CI_ACCOUNT]), "ValidatingAdmissionPolicy").is_empty());
    let api = [
        "--api-versions",
        "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
    ];
    assert!(find(&render(&api), "ValidatingAdmissionPolicy").is_empty());
}

#[test]
fn the_schema_rejects_unknown_keys_and_wrong_types() {
    for bad in [
        "--set=policy.warmWidow=1h",
        "--set=webhook.timeoutSeconds=60",
        "--set=policy.rules.readyTarget=block",
        "--set=unsynced=maybe",
        "--set=imageVerification.timeout=2",
        "--set=imageVerification.cacheTtl=1h",
        "--set=imageVerification.cacheTTL=soon",
        "--set=imageVerification.insecureRegistries=registry.local:5000",
        "--set=imageVerification.registryConfigSecret[0]=regcred",
    ] {
        let output = helm_command()
            .args(["template", "guard", "charts/bluegreen-guard", bad])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad} was accepted");
    }
}

#[test]
fn image_verification_values_become_flags_and_a_read_only_mount() {
    let args = |values: &[&str]| -> Vec<String> {
        bluegreen_e2e::chart::guard_args(values)
            .into_iter()
            .filter(|a| a.contains("image") || a.contains("registr"))
            .collect()
    };
    assert_eq!(
        args(&[]),
        ["--image-verify-timeout=2s", "--image-cache-ttl=10m"],
        "anonymous, HTTPS only by default"
    );
    let values = [
        "--set=imageVerification.registryConfigSecret=registry-credentials",
        "--set=imageVerification.insecureRegistries={registry.local:5000,127.0.0.1:5001}",
        "--set=imageVerification.timeout=1500ms",
        "--set=imageVerification.cacheTTL=1h",
    ];
    assert_eq!(
        args(&values),
        [
            "--image-verify-timeout=1500ms",
            "--image-cache-ttl=1h",
            "--insecure-registry=registry.local:5000",
            "--insecure-registry=127.0.0.1:5001",
            "--registry-config=/etc/bluegreen-guard/registry/config.json",
        ]
    );
    let (volume, mount) = guard_volume(&render(&values), "registry-config");
    assert_eq!(
        volume["secret"],
        serde_json::json!({"secretName": "registry-credentials", "items": [{"key": ".dockerconfigjson", "path": "config.json"}]})
    );
    assert_eq!(mount["mountPath"], "/etc/bluegreen-guard/registry");
    assert_eq!(mount["readOnly"], true);
}

/// The guard pod's volume `name` and the container's mount of it.
fn guard_volume(manifests: &[Value], name: &str) -> (Value, Value) {
    let pod = &one(manifests, "Deployment")["spec"]["template"]["spec"];
    let named = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|item| item["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .clone()
    };
    (
        named(&pod["volumes"]),
        named(&pod["containers"][0]["volumeMounts"]),
    )
}

#[test]
fn the_trusted_root_comes_from_a_config_map_and_identities_reach_the_policy() {
    let values = [
        CI_ACCOUNT,
        "--set=imageVerification.trustedRootConfigMap=sigstore-trusted-root",
        "--set=policy.trustedIdentities[0].name=release",
        "--set=policy.trustedIdentities[0].issuer=https://token.actions.githubusercontent.com",
        "--set=policy.trustedIdentities[0].subjectRegExp=https://github.com/shop/.+",
        "--set=policy.trustedIdentities[0].github.workflowTrigger=push",
    ];
    assert!(
        bluegreen_e2e::chart::guard_args(&values).contains(
            &"--trusted-root=/etc/bluegreen-guard/sigstore/trusted_root.json".to_string()
        )
    );
    assert!(
        !bluegreen_e2e::chart::guard_args(&[])
            .iter()
            .any(|a| a.starts_with("--trusted-root")),
        "no trust root unless one is given"
    );
    let manifests = render(&values);
    let (volume, mount) = guard_volume(&manifests, "trusted-root");
    assert_eq!(
        volume["configMap"],
        serde_json::json!({"name": "sigstore-trusted-root", "items": [{"key": "trusted_root.json", "path": "trusted_root.json"}]})
    );
    assert_eq!(mount["mountPath"], "/etc/bluegreen-guard/sigstore");
    assert_eq!(mount["readOnly"], true);

    let rendered = one(&manifests, "BlueGreenPolicy").clone();
    let parsed: policy::BlueGreenPolicy = serde_json::from_value(rendered).unwrap();
    let resolved = policy::Policy::from_spec(Some("default"), &parsed.spec).unwrap();
    assert_eq!(resolved.action(policy::RuleId::BG006), policy::Action::Deny);
    assert_eq!(
        resolved.trusted_identities[0].describe(),
        "release (subject matching https://github.com/shop/.+, issuer https://token.actions.githubusercontent.com, workflow trigger push)"
    );
    for half in [
        "--set=policy.trustedIdentities[0].name=release",
        "--set=policy.trustedIdentities[0].issuer=https://issuer.example",
    ] {
        let output = helm_command()
            .args(["template", "charts/bluegreen-guard", half])
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "an identity without name, issuer or subject was accepted: {half}"
        );
    }
}

#[test]
fn the_image_verification_budget_stays_below_the_webhook_timeout() {
    for (values, accepted) in [
        (
            [
                "--set=imageVerification.timeout=4s",
                "--set=webhook.timeoutSeconds=5",
            ],
            true,
        ),
        (
            [
                "--set=imageVerification.timeout=4999ms",
                "--set=webhook.timeoutSeconds=5",
            ],
            true,
        ),
        (
            [
                "--set=imageVerification.timeout=5s",
                "--set=webhook.timeoutSeconds=5",
            ],
            false,
        ),
        (
            [
                "--set=imageVerification.timeout=2s",
                "--set=webhook.timeoutSeconds=2",
            ],
            false,
        ),
    ] {
        let output = helm_command()
            .args(["template", "guard", "charts/bluegreen-guard"])
            .args(values)
            .output()
            .unwrap();
        assert_eq!(output.status.success(), accepted, "{values:?}");
        if !accepted {
            assert!(
                String::from_utf8_lossy(&output.stderr)
                    .contains("must be below webhook.timeoutSeconds"),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
