//! BG006 in the pre-flight against a real registry on loopback: with trusted keys (and
//! keyless identities) in the policy, `promote` and `check APP` verify both colors'
//! images with the same verifier the guard uses.

use bluegreen_e2e::registry::{LocalRegistry, TestKey, install_crypto_provider};
use bluegreen_e2e::sigstore::{FulcioIdentity, TestSigstore};
use policy::SignatureLayout;
use serde_json::json;

use crate::refusals::assert_refused;
use crate::support::{Env, Run};

/// How green's image is signed.
#[derive(Clone, Copy, PartialEq)]
enum Green {
    Unsigned,
    /// By the trusted key, in the legacy `.sig` layout (as blue is).
    SigTag,
    /// By the trusted key, in cosign 3's bundle layout, on a registry with the
    /// referrers API.
    Bundle,
    /// Keyless by the trusted release workflow, in cosign 3's bundle layout, on a
    /// registry with the referrers API.
    KeylessBundle,
}

/// The `shop` app with both colors on images of a local registry, blue's signed by
/// the trusted `release` key, green's as `green` says.
struct Signed {
    env: Env,
    registry: LocalRegistry,
    key: TestKey,
    green: String,
    /// The BlueGreenPolicy's name on this cluster.
    policy: String,
    /// The test Fulcio and Rekor's trust root, as a `trusted_root.json` file.
    trusted_root: tempfile::NamedTempFile,
}

impl Signed {
    async fn start(green: Green) -> Signed {
        install_crypto_provider();
        let env = Env::start().await;
        let registry = match green {
            Green::Bundle | Green::KeylessBundle => LocalRegistry::start_with_referrers_api(),
            Green::Unsigned | Green::SigTag => LocalRegistry::start(),
        };
        let key = TestKey::generate("release");
        let sigstore = TestSigstore::generate("plugin");
        let workflow = FulcioIdentity::github_workflow("acme/shop", "refs/heads/main");
        let blue = registry.signed_image("api", "1.4", &key).await;
        let green = match green {
            Green::SigTag => registry.signed_image("api", "1.5", &key).await,
            Green::Bundle => registry.bundle_signed_image("api", "1.5", &key).await,
            Green::KeylessBundle => {
                registry
                    .keyless_signed_image(
                        "api",
                        "1.5",
                        SignatureLayout::Bundle,
                        &sigstore.signer(&workflow),
                    )
                    .await
            }
            Green::Unsigned => registry.pushed_image("api", "1.5").await,
        };
        let trusted_root = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(trusted_root.path(), sigstore.trusted_root_json()).unwrap();
        for (deployment, image) in [("api-blue", &blue), ("api-green", &green)] {
            env.modify_deployment("shop", deployment, |d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
            })
            .await;
        }
        let policy = env
            .put_policy(
                "signed",
                json!({
                    "trustedKeys": [{"name": "release", "publicKey": key.trusted.public_key}],
                    "trustedIdentities": [{
                        "name": "release-workflow",
                        "issuer": workflow.issuer,
                        "subject": workflow.subject,
                    }],
                }),
            )
            .await;
        Signed {
            env,
            registry,
            key,
            green,
            policy,
            trusted_root,
        }
    }

    fn insecure(&self) -> [&str; 2] {
        ["--insecure-registry", &self.registry.addr]
    }

    /// `promote svc/api` reaching the registry, with `extra` arguments.
    async fn promote(&self, extra: &[&str]) -> Run {
        let mut args = vec!["promote", "svc/api"];
        args.extend(self.insecure());
        args.extend(extra);
        self.env.plugin("shop", &args).await
    }

    /// Runs `promote` (reaching the registry) and asserts it was refused with exactly
    /// `findings` and that the Service was not written.
    async fn assert_promote_refused(&self, findings: &str) {
        let before = self.env.service("shop", "api").await;
        let run = self.promote(&[]).await;
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "error: switching svc/api to green is refused by BlueGreenPolicy {}; nothing was changed:\n{findings}",
                self.policy
            )
        );
        assert_eq!(
            self.env.service("shop", "api").await["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_is_refused_when_the_idle_color_runs_an_unsigned_image() {
    let s = Signed::start(Green::Unsigned).await;
    let expected = format!(
        "  deny: BG006 signed-images: container api of green (Deployment api-green) runs {}, which has no cosign signature (neither a Sigstore bundle among its OCI referrers nor a legacy sha256-<digest>.sig tag); sign it with a trusted key (cosign sign --key <key> <image>)\n",
        s.green
    );
    s.assert_promote_refused(&expected).await;

    let [flag, addr] = s.insecure();
    // check APP says the same, as a finding.
    let checked = s
        .env
        .plugin("shop", &["check", "svc/api", flag, addr, "-o", "json"])
        .await;
    assert_eq!(checked.code, 2, "{checked:?}");
    let report: serde_json::Value = serde_json::from_str(&checked.stdout).unwrap();
    let findings = report["apps"][0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["rule"], json!("BG006"));
    assert_eq!(findings[0]["name"], json!("api-green"));
}

#[rstest::rstest]
#[case::legacy_sig_tag(Green::SigTag)]
#[case::cosign_3_bundle(Green::Bundle)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_switches_when_both_colors_are_signed_by_a_trusted_key(#[case] green: Green) {
    let s = Signed::start(green).await;
    let [flag, addr] = s.insecure();
    let checked = s
        .env
        .plugin("shop", &["check", "svc/api", flag, addr])
        .await;
    assert_eq!(checked.code, 0, "{checked:?}");
    let run = s.promote(&[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "svc/api switched from blue to green in namespace {}\n",
            s.env.ns("shop")
        )
    );
    assert_eq!(
        s.env.service("shop", "api").await["spec"]["selector"]["color"],
        json!("green")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_signature_is_verified_with_the_trusted_root_and_refused_without() {
    let s = Signed::start(Green::KeylessBundle).await;
    s.assert_promote_refused(&format!(
        "  deny: BG006 signed-images: container api of green (Deployment api-green) runs {}, which is signed, but by none of the trusted keys or identities: found a Sigstore bundle (OCI referrer) made keyless (Fulcio certificate), which cannot be verified: no trust root is configured (set --trusted-root / chart imageVerification.trustedRootConfigMap); sign it with one of the trusted keys of BlueGreenPolicy {policy} (release) or keylessly as one of its trusted identities (release-workflow)\n",
        s.green,
        policy = s.policy
    ))
    .await;

    let root = s.trusted_root.path().to_str().unwrap();
    let run = s.promote(&["--trusted-root", root]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        s.env.service("shop", "api").await["spec"]["selector"]["color"],
        json!("green")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_policy_does_not_trust_is_refused() {
    let s = Signed::start(Green::SigTag).await;
    let stranger = TestKey::generate("stranger");
    s.env
        .put_policy(
            "signed",
            json!({"trustedKeys": [{"name": "stranger", "publicKey": stranger.trusted.public_key}]}),
        )
        .await;
    let run = s.promote(&[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "  deny: BG006 signed-images: container api of green (Deployment api-green) runs {}, which is signed, but by none of the trusted keys: found a legacy .sig signature by an untrusted key; sign it with one of the trusted keys of BlueGreenPolicy {} (stranger)\n",
            s.green, s.policy
        )),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_registry_not_named_insecure_is_refused_naming_it() {
    let s = Signed::start(Green::SigTag).await;
    // Asked over HTTPS, the plain-HTTP registry gives no answer the verifier accepts.
    assert_refused(
        &s.env,
        "shop",
        "svc/api",
        ("v1", "Service", "api"),
        &format!(
            "deny: BG006 signed-images: container api of green (Deployment api-green) runs {}, which could not be verified: registry {} did not answer in time",
            s.green, s.registry.addr
        ),
    )
    .await;
    let _ = &s.key;
}
