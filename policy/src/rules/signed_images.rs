//! BG006 signed-images: every image is pinned by digest and signed by a trusted key or,
//! keylessly, by a trusted identity.
//! The registry work happens elsewhere; this rule reads the verdicts handed in.

use crate::app::ColorSide;
use crate::finding::{Findings, RuleId};
use crate::images::{ImageVerdict, is_pinned};
use crate::rules::{Context, describe_side};

/// Reports every image of `side` that is not pinned, not verified, or failed verification.
pub fn evaluate(side: &ColorSide<'_>, ctx: &Context<'_>, out: &mut Findings) {
    for (container, image) in side.images() {
        let verdict = ctx.images.get(image);
        let (problem, fix) = match verdict {
            Some(ImageVerdict::Verified { .. }) => continue,
            Some(ImageVerdict::InvalidReference { reason }) => (
                format!("is not a valid image reference ({reason})"),
                "write it as registry/repository@sha256:<digest>".to_string(),
            ),
            Some(ImageVerdict::NotPinned { suggestion: Some(pinned) }) => {
                ("is a tag, not a digest".to_string(), format!("pin it by digest: {pinned}"))
            }
            _ if !is_pinned(image) => (
                "is a tag, not a digest".to_string(),
                "pin it by digest (image@sha256:<digest>, as your registry or `crane digest` prints it)".to_string(),
            ),
            None => (
                "has not been verified yet".to_string(),
                "retry: the guard verifies images when a Deployment is created or its images change".to_string(),
            ),
            Some(ImageVerdict::NotPinned { suggestion: None }) => (
                "is a tag, not a digest".to_string(),
                "pin it by digest (image@sha256:<digest>)".to_string(),
            ),
            Some(ImageVerdict::Unsigned) => (
                "has no cosign signature (neither a Sigstore bundle among its OCI referrers nor a legacy sha256-<digest>.sig tag)".to_string(),
                "sign it with a trusted key (cosign sign --key <key> <image>)".to_string(),
            ),
            Some(ImageVerdict::Untrusted { rejected }) => (
                format!(
                    "is signed, but by none of the {}: found {}",
                    trusted_kinds(ctx),
                    rejected.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                ),
                how_to_sign_trusted(ctx),
            ),
            Some(ImageVerdict::DigestMismatch { payload_digest, layout }) => (
                format!("has {layout} whose payload names another digest ({payload_digest})"),
                "re-sign the image; that signature does not belong to this digest".to_string(),
            ),
            Some(ImageVerdict::Unreachable { registry, reason }) => (
                format!("could not be verified: registry {registry} did not answer in time ({reason})"),
                format!("check that {registry} is reachable from the guard, then retry"),
            ),
        };
        ctx.report(
            out,
            RuleId::BG006,
            side.object_ref(),
            format!(
                "container {container} of {} runs {image}, which {problem}",
                describe_side(side)
            ),
            fix,
        );
    }
}

/// Which kinds of signer the policy trusts, as a refusal names them.
fn trusted_kinds(ctx: &Context<'_>) -> &'static str {
    match (
        ctx.policy.trusted_keys.is_empty(),
        ctx.policy.trusted_identities.is_empty(),
    ) {
        (false, true) => "trusted keys",
        (true, false) => "trusted identities",
        _ => "trusted keys or identities",
    }
}

/// The fix of an untrusted signature: the policy's trusted key names and identity
/// names, each sorted.
fn how_to_sign_trusted(ctx: &Context<'_>) -> String {
    let policy = &ctx.policy;
    let keys = sorted(policy.trusted_keys.iter().map(|k| k.name.as_str()));
    let identities = sorted(policy.trusted_identities.iter().map(|i| i.name.as_str()));
    let name = policy.display_name();
    match (keys.is_empty(), identities.is_empty()) {
        (false, true) => format!("sign it with one of the trusted keys of {name} ({keys})"),
        (true, false) => {
            format!("sign it keylessly as one of the trusted identities of {name} ({identities})")
        }
        _ => format!(
            "sign it with one of the trusted keys of {name} ({keys}) or keylessly as one of its trusted identities ({identities})"
        ),
    }
}

/// Names sorted and joined, as a refusal lists them.
fn sorted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::crd::{Action, Policy, TrustedIdentity, TrustedKey};
    use crate::finding::RuleId;
    use crate::images::{ImageVerdict, RejectedSignature, Rejection, SignatureLayout};
    use crate::rules::fixtures::{Fixture, GREEN_IMAGE, pod_mut};

    fn bg006(fixture: &Fixture) -> Vec<String> {
        fixture.switch_lines(RuleId::BG006)
    }

    fn enforced() -> Fixture {
        let mut policy = Policy::default().with_action(RuleId::BG006, Action::Deny);
        policy.trusted_keys = ["release", "ci"]
            .map(|name| TrustedKey {
                name: name.into(),
                public_key: "PEM".into(),
            })
            .to_vec();
        Fixture::service_app().with_policy(policy)
    }

    #[test]
    fn verified_images_pass_and_the_rule_is_off_by_default() {
        assert!(bg006(&enforced()).is_empty());
        assert!(
            bg006(&Fixture::service_app().with_image_verdict(GREEN_IMAGE, ImageVerdict::Unsigned))
                .is_empty()
        );
    }

    #[rstest]
    #[case::unsigned(
        ImageVerdict::Unsigned,
        "which has no cosign signature (neither a Sigstore bundle among its OCI referrers nor a legacy sha256-<digest>.sig tag); sign it with a trusted key"
    )]
    #[case::untrusted(
        ImageVerdict::Untrusted { rejected: vec![
            RejectedSignature { layout: SignatureLayout::SigTag, rejection: Rejection::UnknownKey { hint: None } },
            RejectedSignature { layout: SignatureLayout::Bundle, rejection: Rejection::UnknownKey { hint: Some("q1w2".into()) } },
        ] },
        "which is signed, but by none of the trusted keys: found a legacy .sig signature by an untrusted key; a Sigstore bundle (OCI referrer) by an untrusted key (hint q1w2); sign it with one of the trusted keys of the built-in defaults (no BlueGreenPolicy) (ci, release)"
    )]
    #[case::keyless_without_identities(
        ImageVerdict::Untrusted { rejected: vec![RejectedSignature { layout: SignatureLayout::Bundle, rejection: Rejection::KeylessWithoutIdentities }] },
        "found a Sigstore bundle (OCI referrer) made keyless (Fulcio certificate), which no trusted key verifies and the policy names no trustedIdentities to verify it for; sign it with one of the trusted keys"
    )]
    #[case::keyless_without_trust_root(
        ImageVerdict::Untrusted { rejected: vec![RejectedSignature { layout: SignatureLayout::SigTag, rejection: Rejection::KeylessWithoutTrustRoot }] },
        "found a legacy .sig signature made keyless (Fulcio certificate), which cannot be verified: no trust root is configured (set --trusted-root / chart imageVerification.trustedRootConfigMap)"
    )]
    #[case::keyless_refused(
        ImageVerdict::Untrusted { rejected: vec![RejectedSignature { layout: SignatureLayout::Bundle, rejection: Rejection::KeylessRefused { reason: "signed by subject a@b (issuer c); the policy trusts d".into() } }] },
        "found a Sigstore bundle (OCI referrer) made keyless (Fulcio certificate), refused: signed by subject a@b (issuer c); the policy trusts d; sign it"
    )]
    #[case::unreadable(
        ImageVerdict::Untrusted { rejected: vec![RejectedSignature { layout: SignatureLayout::Bundle, rejection: Rejection::Unreadable { reason: "not JSON".into() } }] },
        "found a Sigstore bundle (OCI referrer) that cannot be read (not JSON)"
    )]
    #[case::mismatch(ImageVerdict::DigestMismatch { payload_digest: "sha256:beef".into(), layout: SignatureLayout::Bundle }, "which has a Sigstore bundle (OCI referrer) whose payload names another digest (sha256:beef)")]
    #[case::invalid(ImageVerdict::InvalidReference { reason: "invalid reference format".into() }, "which is not a valid image reference (invalid reference format); write it as registry/repository@sha256:<digest>")]
    #[case::unreachable(ImageVerdict::Unreachable { registry: "registry.local:5000".into(), reason: "timed out after 2s".into() }, "registry registry.local:5000 did not answer in time (timed out after 2s)")]
    fn failed_verification_is_refused(#[case] verdict: ImageVerdict, #[case] expected: &str) {
        let findings = bg006(&enforced().with_image_verdict(GREEN_IMAGE, verdict));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].starts_with(&format!("BG006 signed-images: container api of green (Deployment api-green) runs {GREEN_IMAGE}, ")), "{}", findings[0]);
        assert!(findings[0].contains(expected), "{}", findings[0]);
    }

    #[rstest]
    #[case::identities_only(&[], "which is signed, but by none of the trusted identities: found a legacy .sig signature by an untrusted key; sign it keylessly as one of the trusted identities of the built-in defaults (no BlueGreenPolicy) (release-workflow)")]
    #[case::keys_and_identities(&["release"], "which is signed, but by none of the trusted keys or identities: found a legacy .sig signature by an untrusted key; sign it with one of the trusted keys of the built-in defaults (no BlueGreenPolicy) (release) or keylessly as one of its trusted identities (release-workflow)")]
    fn the_fix_names_every_kind_of_trusted_signer(#[case] keys: &[&str], #[case] expected: &str) {
        let mut policy = Policy::default().with_action(RuleId::BG006, Action::Deny);
        policy.trusted_keys = keys
            .iter()
            .map(|name| TrustedKey {
                name: (*name).into(),
                public_key: "PEM".into(),
            })
            .collect();
        policy.trusted_identities = vec![TrustedIdentity {
            name: "release-workflow".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: Some(
                "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main".into(),
            ),
            ..TrustedIdentity::default()
        }];
        let untrusted = ImageVerdict::Untrusted {
            rejected: vec![RejectedSignature {
                layout: SignatureLayout::SigTag,
                rejection: Rejection::UnknownKey { hint: None },
            }],
        };
        let findings = bg006(
            &Fixture::service_app()
                .with_policy(policy)
                .with_image_verdict(GREEN_IMAGE, untrusted),
        );
        assert_eq!(
            findings,
            [format!(
                "BG006 signed-images: container api of green (Deployment api-green) runs {GREEN_IMAGE}, {expected}"
            )]
        );
    }

    #[test]
    fn a_tag_is_refused_with_the_digest_form() {
        let fixture = enforced().with_green(|d| {
            pod_mut(d).containers[0].image = Some("registry.local/api:2.0".into());
        });
        assert_eq!(
            bg006(&fixture),
            [
                "BG006 signed-images: container api of green (Deployment api-green) runs registry.local/api:2.0, which is a tag, not a digest; pin it by digest (image@sha256:<digest>, as your registry or `crane digest` prints it)"
            ]
        );
    }

    #[test]
    fn an_unverified_digest_is_refused() {
        let fixture = enforced().without_image_verdicts();
        assert_eq!(bg006(&fixture).len(), 2);
        assert!(bg006(&fixture)[0].contains("has not been verified yet"));
    }
}
