//! BG006 on keyless signatures of images in the real registry, in both layouts: the
//! legacy `.sig` tag with cosign's keyless annotations, and the cosign 3 bundle found
//! through the referrers tag and through the referrers API stand-in. Signed by a test
//! Fulcio and Rekor (`bluegreen_e2e::sigstore`), verified against the
//! `trusted_root.json` the test writes, for the policy's trusted identities.

mod support;

use std::time::Duration;

use bluegreen_e2e::sigstore::{FulcioIdentity, KeylessSigner, TestSigstore, Timing};
use policy::crd::{Signers, TrustedIdentity};
use policy::{ImageVerdict, RejectedSignature, SignatureLayout};
use support::{LocalRegistry, WithVerifier, install_crypto_provider};

const BUDGET: Duration = Duration::from_secs(5);
const TTL: Duration = Duration::from_secs(600);
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main";
/// A fixed signing time, so messages are exact: the certificate is valid from
/// 08:00:00 to 08:09:00, the entry integrated at 08:01:00.
const SIGNED_AT: Timing = Timing {
    integrated_time: 1_800_000_060,
    not_before: 1_800_000_000,
    not_after: 1_800_000_540,
};

/// Where a keyless signature is stored and found.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// Legacy layout: the `sha256-<digest>.sig` tag.
    SigTag,
    /// Bundle layout, on the real registry: the referrers tag `sha256-<digest>`.
    BundleByReferrersTag,
    /// Bundle layout, on the stand-in serving the OCI 1.1 referrers API.
    BundleByReferrersApi,
}

impl Place {
    fn registry(self) -> LocalRegistry {
        install_crypto_provider();
        match self {
            Place::BundleByReferrersApi => LocalRegistry::start_with_referrers_api(),
            Place::SigTag | Place::BundleByReferrersTag => LocalRegistry::start(),
        }
    }

    fn layout(self) -> SignatureLayout {
        match self {
            Place::SigTag => SignatureLayout::SigTag,
            Place::BundleByReferrersTag | Place::BundleByReferrersApi => SignatureLayout::Bundle,
        }
    }
}

fn release_workflow() -> FulcioIdentity {
    FulcioIdentity::github_workflow("acme/shop", "refs/heads/main")
}

fn trusted(subject: &str, issuer: &str) -> TrustedIdentity {
    TrustedIdentity {
        name: "release".into(),
        issuer: issuer.into(),
        subject: Some(subject.into()),
        ..TrustedIdentity::default()
    }
}

fn identities(identities: &[TrustedIdentity]) -> Signers<'_> {
    Signers {
        keys: &[],
        identities,
    }
}

/// What BG006 says after "found " about the one signature of an image.
fn found(verdict: ImageVerdict) -> String {
    match verdict {
        ImageVerdict::Untrusted { rejected } => rejected
            .iter()
            .map(RejectedSignature::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        other => format!("{other:?}"),
    }
}

/// One case: who signs, the trust root the verifier is given, whom the policy trusts,
/// and the verdict (`Ok(signer)`) or what BG006 says about the signature (`Err`).
struct Case<'a> {
    name: &'a str,
    signer: KeylessSigner<'a>,
    trusted_root: Option<String>,
    identities: Vec<TrustedIdentity>,
    expected: Result<String, String>,
}

#[rstest::rstest]
#[case::legacy_sig_tag(Place::SigTag)]
#[case::bundle_by_referrers_tag(Place::BundleByReferrersTag)]
#[case::bundle_by_referrers_api(Place::BundleByReferrersApi)]
#[tokio::test]
async fn keyless_signatures_are_verified_for_the_trusted_identities(#[case] place: Place) {
    let registry = place.registry();
    let (ours, theirs) = (
        TestSigstore::generate("ours"),
        TestSigstore::generate("theirs"),
    );
    let workflow = release_workflow();
    let signer = KeylessSigner {
        timing: SIGNED_AT,
        ..ours.signer(&workflow)
    };
    let layout = place.layout();
    let our_root = Some(ours.trusted_root_json());
    let release = vec![trusted(SUBJECT, GITHUB)];
    let cases = [
        Case {
            name: "matching identity",
            signer,
            trusted_root: our_root.clone(),
            identities: release.clone(),
            expected: Ok(format!("release (subject {SUBJECT}, issuer {GITHUB})")),
        },
        Case {
            name: "wrong subject",
            signer,
            trusted_root: our_root.clone(),
            identities: vec![trusted(&SUBJECT.replace("main", "dev"), GITHUB)],
            expected: Err(format!(
                "{layout} made keyless (Fulcio certificate), refused: signed by subject {SUBJECT} (issuer {GITHUB}); the policy trusts release (subject {}, issuer {GITHUB})",
                SUBJECT.replace("main", "dev")
            )),
        },
        Case {
            name: "wrong issuer",
            signer,
            trusted_root: our_root.clone(),
            identities: vec![trusted(SUBJECT, "https://accounts.google.com")],
            expected: Err(format!(
                "{layout} made keyless (Fulcio certificate), refused: signed by subject {SUBJECT} (issuer {GITHUB}); the policy trusts release (subject {SUBJECT}, issuer https://accounts.google.com)"
            )),
        },
        Case {
            name: "certificate from an untrusted Fulcio root",
            signer: KeylessSigner {
                sigstore: &theirs,
                ..signer
            },
            // Their log is named, their CA is not: the refusal is the chain's.
            trusted_root: Some(TestSigstore::trusted_root_json_for(
                &[&ours],
                &[&ours, &theirs],
            )),
            identities: release.clone(),
            expected: Err(format!(
                "{layout} made keyless (Fulcio certificate), refused: the signing certificate (issuer O=theirs, CN=theirs-intermediate) does not chain to a Fulcio CA of the trust root valid at 2027-01-15T08:01:00Z (O=ours, CN=ours-root: {})",
                // The legacy layer carries its chain up to their root, which the path
                // builder then tries as an intermediate: its last reason is the EKU.
                match layout {
                    SignatureLayout::SigTag =>
                        "no path leads to it through certificates allowed for code signing",
                    SignatureLayout::Bundle => "no path leads to it",
                }
            )),
        },
        Case {
            name: "certificate expired at the integrated time",
            signer: KeylessSigner {
                timing: Timing {
                    integrated_time: 1_800_000_600,
                    ..SIGNED_AT
                },
                ..signer
            },
            trusted_root: our_root.clone(),
            identities: release.clone(),
            expected: Err(format!(
                "{layout} made keyless (Fulcio certificate), refused: the signing certificate was not valid when the Rekor entry was made: valid from 2027-01-15T08:00:00Z to 2027-01-15T08:09:00Z, entry integrated at 2027-01-15T08:10:00Z"
            )),
        },
        Case {
            name: "no trust root configured",
            signer,
            trusted_root: None,
            identities: release.clone(),
            expected: Err(format!(
                "{layout} made keyless (Fulcio certificate), which cannot be verified: no trust root is configured (set --trusted-root / chart imageVerification.trustedRootConfigMap)"
            )),
        },
        Case {
            name: "no trustedIdentities in the policy",
            signer,
            trusted_root: our_root.clone(),
            identities: Vec::new(),
            expected: Err(format!(
                "{layout} made keyless (Fulcio certificate), which no trusted key verifies and the policy names no trustedIdentities to verify it for"
            )),
        },
    ];
    for (index, case) in cases.into_iter().enumerate() {
        let image = registry
            .keyless_signed_image("app", &format!("v{index}"), layout, &case.signer)
            .await;
        let verdict = registry
            .keyless_verifier(TTL, case.trusted_root.as_deref())
            .verify(&image, identities(&case.identities), BUDGET)
            .await;
        match case.expected {
            Ok(signer) => assert_eq!(verdict, ImageVerdict::Verified { signer }, "{}", case.name),
            Err(message) => assert_eq!(found(verdict), message, "{}", case.name),
        }
    }
}

#[tokio::test]
async fn a_changed_identity_list_never_reuses_a_cached_verdict() {
    let registry = Place::BundleByReferrersApi.registry();
    let sigstore = TestSigstore::generate("ours");
    let workflow = release_workflow();
    let image = registry
        .keyless_signed_image(
            "app",
            "v1",
            SignatureLayout::Bundle,
            &sigstore.signer(&workflow),
        )
        .await;
    let verifier = registry.keyless_verifier(TTL, Some(&sigstore.trusted_root_json()));
    let release = [trusted(SUBJECT, GITHUB)];
    let verified = ImageVerdict::Verified {
        signer: format!("release (subject {SUBJECT}, issuer {GITHUB})"),
    };
    assert_eq!(
        verifier.verify(&image, identities(&release), BUDGET).await,
        verified
    );
    assert_eq!(
        verifier.cached(&image, identities(&release)),
        Some(verified.clone())
    );

    // Another subject: no cached verdict, and the registry is asked again.
    let elsewhere = [trusted(&SUBJECT.replace("main", "dev"), GITHUB)];
    assert_eq!(verifier.cached(&image, identities(&elsewhere)), None);
    let served = registry.requests_served();
    let refused = verifier
        .verify(&image, identities(&elsewhere), BUDGET)
        .await;
    assert!(registry.requests_served() > served);
    assert!(
        found(refused).contains(&format!("; the policy trusts {}", elsewhere[0].describe())),
        "refused for the new identity"
    );
    // The keys alone (no identity) are another signer set too.
    assert_eq!(verifier.cached(&image, Signers::default()), None);
    // The first list still finds its own verdict.
    assert_eq!(
        verifier.cached(&image, identities(&release)),
        Some(verified)
    );
}
