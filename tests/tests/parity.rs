//! The plugin's pre-flight says exactly what the guard says: the same cluster state,
//! policy and request go through the plugin's checks (`promote`'s pre-flight, `deploy
//! --color <live>`, `retire`) and through `Guard::decide` on the AdmissionReview of the
//! write the command makes, and both must give the same finding lines, action included.
//! Every rule that judges a switch or a write, under every action.

use std::collections::BTreeMap;
use std::sync::Arc;

use bluegreen_guard::admission::parse_review;
use bluegreen_guard::images::{ImageOutcome, ImageVerifier, WantedImages};
use bluegreen_guard::{Cache, Clock, Guard, Unsynced};
use bluegreen_plugin::commands::{deploy, retire};
use bluegreen_plugin::exit::Refused;
use bluegreen_plugin::release;
use futures::future::BoxFuture;
use jiff::Timestamp;
use policy::crd::Signers;
use policy::{
    Action, BlueGreenPolicy, Context, Finding, ImageVerdict, ImageVerdicts, PolicySet, Requester,
    RuleId, Snapshot, discover_router,
};
use serde_json::{Value, json};

/// After the fixture's warm window: a switch back to green undoes nothing recent.
const LATER: &str = "2025-01-10T12:00:00Z";
/// Inside the warm window of the fixture's last switch (09:00, 30 minutes).
const WARM: &str = "2025-01-10T09:10:00Z";
const CI: &str = "system:serviceaccount:ci:deployer";
const GREEN_IMAGE: &str = "registry.example.com/api:1.5";

/// The plugin's fixture app `svc/api` in `shop`: blue live, green ready.
fn objects() -> Vec<Value> {
    let text = include_str!("../../plugin/tests/data/apps.yaml");
    policy::yaml::documents::<Value>(&mut text.as_bytes())
        .map(Result::unwrap)
        .filter(|object| object["metadata"]["namespace"] == "shop")
        .collect()
}

fn object<'a>(objects: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// One situation: the namespace's objects, the policy spec, who asks and the BG006
/// verdicts both sides are handed.
struct Case {
    objects: Vec<Value>,
    policy: Value,
    requester: Requester,
    verdicts: ImageVerdicts,
    now: &'static str,
}

impl Case {
    fn new(policy: Value) -> Self {
        Case {
            objects: objects(),
            policy,
            requester: Requester {
                username: CI.to_string(),
                groups: vec!["system:authenticated".to_string()],
            },
            verdicts: ImageVerdicts::new(),
            now: LATER,
        }
    }

    fn edit(mut self, kind: &str, name: &str, change: impl FnOnce(&mut Value)) -> Self {
        change(object(&mut self.objects, kind, name));
        self
    }

    fn all_objects(&self) -> Vec<Value> {
        let mut all = self.objects.clone();
        all.push(json!({
            "apiVersion": "bluegreen.dev/v1alpha1", "kind": "BlueGreenPolicy",
            "metadata": {"name": "default"}, "spec": self.policy,
        }));
        all
    }

    /// What the guard says about `write` (an UPDATE of `old` to `new`), as lines
    /// `action: finding`; a policy the guard cannot use is its one refusal line.
    fn guard(&self, old: &Value, new: &Value) -> Vec<String> {
        let text = json!({"apiVersion": "v1", "kind": "List", "items": self.all_objects()});
        let parsed = policy::manifest::parse(&text.to_string(), "parity").unwrap();
        let guard = Guard::new(Cache::from_objects(parsed.objects, []), Unsynced::Deny)
            .with_clock(Clock::Fixed(self.now.parse().unwrap()))
            .with_image_verifier(Arc::new(Fixed(self.verdicts.clone())));
        let (group, version, resource) = match new["kind"].as_str() {
            Some("Deployment") => ("apps", "v1", "deployments"),
            _ => ("", "v1", "services"),
        };
        let kind = json!({"group": group, "version": version, "kind": new["kind"]});
        let resource = json!({"group": group, "version": version, "resource": resource});
        let review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "parity", "kind": kind, "resource": resource,
                "requestKind": kind, "requestResource": resource,
                "name": new["metadata"]["name"], "namespace": "shop", "operation": "UPDATE",
                "userInfo": {"username": self.requester.username, "groups": self.requester.groups},
                "object": new, "oldObject": old, "dryRun": false,
                "options": {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-bluegreen"},
            },
        });
        let decision = guard.decide(parse_review(review.to_string().as_bytes()).unwrap());
        let response = decision.response;
        let mut lines = Vec::new();
        if !response.allowed {
            let message = &response.result.message;
            if decision.verdict == bluegreen_guard::Verdict::InvalidPolicy {
                // The policy's own error, before what the guard does about it.
                let error = message.split_once(". Until").map_or(&**message, |(e, _)| e);
                return vec![error.to_string()];
            }
            lines.extend(message.lines().map(|line| format!("deny: {line}")));
        }
        lines.extend(
            response
                .warnings
                .into_iter()
                .flatten()
                .map(|line| format!("warn: {line}")),
        );
        for text in response.audit_annotations.values() {
            lines.extend(text.lines().map(|line| format!("audit: {line}")));
        }
        lines.sort();
        lines
    }

    /// What the plugin says, as lines `action: finding`: a refusal's lines, or the
    /// findings it let through; a policy it cannot use is its one error line.
    fn plugin(
        &self,
        check: impl FnOnce(
            &policy::App<'_>,
            &Snapshot<'_>,
            &Context<'_>,
        ) -> Result<Vec<Finding>, Refused>,
    ) -> Vec<String> {
        let text = json!({"apiVersion": "v1", "kind": "List", "items": self.all_objects()});
        let parsed = policy::manifest::parse(&text.to_string(), "parity").unwrap();
        let policies: Vec<BlueGreenPolicy> = parsed
            .objects
            .iter()
            .filter_map(|o| match o {
                policy::Object::Policy(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let policy = match PolicySet::new(&policies).for_namespace(&BTreeMap::new()) {
            Ok(policy) => policy.clone(),
            Err(err) => return vec![err.to_string()],
        };
        let snapshot = Snapshot::by_namespace(&parsed.objects)
            .into_iter()
            .find(|s| s.namespace == "shop")
            .unwrap();
        let app = discover_router(&snapshot, &"svc/api".parse().unwrap()).unwrap();
        let ctx = Context {
            policy: &policy,
            now: self.now.parse::<Timestamp>().unwrap(),
            requester: Some(&self.requester),
            images: &self.verdicts,
        };
        let mut lines: Vec<String> = match check(&app, &snapshot, &ctx) {
            Ok(findings) => findings
                .iter()
                .map(|f| format!("{}: {f}", f.action))
                .collect(),
            Err(Refused(message)) => message
                .lines()
                .filter_map(|line| line.strip_prefix("  "))
                .map(str::to_string)
                .collect(),
        };
        lines.sort();
        lines
    }

    /// `promote`: the pre-flight against the guard on the Service switched to green.
    fn switch(&self) -> (Vec<String>, Vec<String>) {
        let old = self.service();
        let mut new = old.clone();
        new["spec"]["selector"]["color"] = json!("green");
        (self.plugin(release::preflight), self.guard(&old, &new))
    }

    /// `deploy --color blue --image api=IMAGE`: against the guard on the live
    /// Deployment with the new image.
    fn deploy_live(&self, image: &str) -> (Vec<String>, Vec<String>) {
        let old = self.deployment("api-blue");
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
        let images = [("api".to_string(), image.to_string())];
        (
            self.plugin(|app, _, ctx| deploy::in_place(app, ctx, &images)),
            self.guard(&old, &new),
        )
    }

    /// `retire`: against the guard on the idle Deployment scaled to zero.
    fn retire(&self) -> (Vec<String>, Vec<String>) {
        let old = self.deployment("api-green");
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(0);
        (
            self.plugin(|app, _, ctx| retire::check(app, ctx)),
            self.guard(&old, &new),
        )
    }

    fn service(&self) -> Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == "Service")
            .unwrap()
            .clone()
    }

    fn deployment(&self, name: &str) -> Value {
        let found = self.objects.iter().find(|o| o["metadata"]["name"] == name);
        found.unwrap().clone()
    }
}

/// BG006 verdicts handed to the guard as if its verifier had cached them.
struct Fixed(ImageVerdicts);

impl ImageVerifier for Fixed {
    fn cached(&self, _: &WantedImages, _: Signers<'_>) -> ImageOutcome {
        ImageOutcome {
            verdicts: self.0.clone(),
            ..ImageOutcome::default()
        }
    }

    fn verify<'a>(
        &'a self,
        wanted: &'a WantedImages,
        signers: Signers<'a>,
    ) -> BoxFuture<'a, ImageOutcome> {
        Box::pin(async move { self.cached(wanted, signers) })
    }
}

const ACTIONS: [Action; 4] = [Action::Deny, Action::Warn, Action::Audit, Action::Off];

/// The rule's field under `rules`.
fn field(rule: RuleId) -> &'static str {
    match rule {
        RuleId::BG001 => "readyTarget",
        RuleId::BG002 => "capacity",
        RuleId::BG003 => "switchIdentity",
        RuleId::BG004 => "configParity",
        RuleId::BG005 => "netpolParity",
        RuleId::BG006 => "signedImages",
        RuleId::BG007 => "readinessProbes",
        RuleId::BG008 => "warmRollback",
        RuleId::BG009 => "immutableLive",
        RuleId::BG010 => "distinctColors",
        RuleId::BG011 => "governed",
    }
}

/// A policy setting `rule` to `action`, on top of `extra`.
fn policy(rule: RuleId, action: Action, mut extra: Value) -> Value {
    extra["rules"][field(rule)] = json!(action.to_string());
    extra
}

/// Both sides agree, and `rule` is reported with `expected` (none for off).
fn assert_parity(rule: RuleId, expected: Action, (plugin, guard): (Vec<String>, Vec<String>)) {
    assert_eq!(
        plugin, guard,
        "{rule} {expected}: the plugin and the guard disagree"
    );
    let of_rule: Vec<&String> = plugin
        .iter()
        .filter(|line| line.contains(&format!(": {rule} ")))
        .collect();
    match expected {
        Action::Off => assert!(of_rule.is_empty(), "{rule} off: {plugin:?}"),
        action => {
            assert!(
                !of_rule.is_empty(),
                "{rule} {action}: no finding in {plugin:?}"
            );
            for line in of_rule {
                assert!(line.starts_with(&format!("{action}: {rule} ")), "{line}");
            }
        }
    }
}

/// The situations a switch to green is judged in, one per rule.
fn switch_case(rule: RuleId, action: Action) -> Case {
    let case = Case::new(policy(rule, action, json!({})));
    match rule {
        RuleId::BG001 => case.edit("Deployment", "api-green", |d| {
            d["status"]["availableReplicas"] = json!(1);
        }),
        RuleId::BG002 => case.edit("Deployment", "api-green", |d| {
            d["spec"]["replicas"] = json!(1);
            d["status"] = json!({"observedGeneration": 5, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1});
        }),
        RuleId::BG003 => {
            let mut case = Case::new(policy(
                rule,
                action,
                json!({"switchIdentities": {"serviceAccounts": ["ci:deployer"]}}),
            ));
            case.requester.username = "alice".to_string();
            case
        }
        RuleId::BG004 => case.edit("Deployment", "api-green", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
                json!([{"configMapRef": {"name": "api-config-v2"}}]);
        }),
        RuleId::BG005 => {
            let mut case = case;
            case.objects.push(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "api-blue-only", "namespace": "shop"},
                "spec": {"podSelector": {"matchLabels": {"app": "api", "color": "blue"}}, "policyTypes": ["Ingress"]},
            }));
            case
        }
        RuleId::BG006 => {
            let mut case = Case::new(policy(
                rule,
                action,
                json!({"trustedKeys": [{"name": "release", "publicKey": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"}]}),
            ));
            let digest = format!("registry.example.com/api@sha256:{}", "a".repeat(64));
            case = case.edit("Deployment", "api-green", |d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(digest);
            });
            case.verdicts.insert(digest, ImageVerdict::Unsigned);
            case.verdicts.insert(
                "registry.example.com/api:1.4".to_string(),
                ImageVerdict::NotPinned { suggestion: None },
            );
            case
        }
        RuleId::BG007 => case.edit("Deployment", "api-green", |d| {
            d["spec"]["template"]["spec"]["containers"][0]
                .as_object_mut()
                .unwrap()
                .remove("readinessProbe");
        }),
        RuleId::BG011 => case.edit("Deployment", "api-green", |d| {
            d["metadata"]["labels"] = json!({});
        }),
        _ => unreachable!("{rule} does not judge a switch"),
    }
}

#[test]
fn a_switch_is_judged_alike_by_every_rule_under_every_action() {
    // BG008 and BG009 judge writes (below); BG010 stops discovery, so no switch is judged.
    let judging_a_switch = RuleId::ALL
        .into_iter()
        .filter(|rule| !matches!(rule, RuleId::BG008 | RuleId::BG009 | RuleId::BG010));
    for rule in judging_a_switch {
        for action in ACTIONS {
            assert_parity(rule, action, switch_case(rule, action).switch());
        }
    }
}

#[test]
fn a_clean_switch_is_clean_on_both_sides() {
    let (plugin, guard) = Case::new(json!({})).switch();
    assert_eq!(plugin, guard);
    assert!(plugin.is_empty(), "{plugin:?}");
}

#[test]
fn a_break_glass_switch_is_audited_alike() {
    for action in [Action::Deny, Action::Warn, Action::Audit] {
        let mut case = Case::new(policy(
            RuleId::BG003,
            action,
            json!({"switchIdentities": {"serviceAccounts": ["ci:deployer"], "breakGlassGroup": "sre"}}),
        ));
        case.requester = Requester {
            username: "bob".to_string(),
            groups: vec!["sre".to_string()],
        };
        assert_parity(RuleId::BG003, Action::Audit, case.switch());
    }
}

#[test]
fn a_rule_on_with_nothing_to_check_is_off_or_refused_alike() {
    // Off by default: unsigned images go through on both sides.
    let mut quiet = Case::new(json!({}));
    quiet
        .verdicts
        .insert(GREEN_IMAGE.to_string(), ImageVerdict::Unsigned);
    assert_parity(RuleId::BG006, Action::Off, quiet.switch());
    // Turned on without keys or identities: the policy is refused by both, with the
    // same message.
    for action in [Action::Deny, Action::Warn, Action::Audit] {
        let (plugin, guard) = Case::new(policy(RuleId::BG006, action, json!({}))).switch();
        assert_eq!(plugin, guard);
        assert_eq!(
            plugin,
            [format!(
                "BlueGreenPolicy default: rules.signedImages is {action}, but neither trustedKeys nor trustedIdentities names a signer to verify images with; add the cosign public keys images are signed with to trustedKeys, or the keyless signers (subject and issuer) to trustedIdentities, or set rules.signedImages to off"
            )]
        );
        let (plugin, guard) = Case::new(policy(RuleId::BG003, action, json!({}))).switch();
        assert_eq!(plugin, guard);
        assert!(
            plugin[0].starts_with(&format!("BlueGreenPolicy default: rules.switchIdentity is {action}, but switchIdentities names no user")),
            "{plugin:?}"
        );
    }
}

#[test]
fn deploying_to_the_live_color_is_judged_alike() {
    for action in ACTIONS {
        let case = Case::new(policy(RuleId::BG009, action, json!({})));
        assert_parity(
            RuleId::BG009,
            action,
            case.deploy_live("registry.example.com/api:9"),
        );
    }
}

#[test]
fn retiring_inside_the_warm_window_is_judged_alike() {
    for action in ACTIONS {
        let mut case = Case::new(policy(RuleId::BG008, action, json!({})));
        case.now = WARM;
        assert_parity(RuleId::BG008, action, case.retire());
    }
}
