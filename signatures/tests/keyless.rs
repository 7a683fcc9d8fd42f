//! `keyless::verify`: a public Sigstore bundle against the public-good trust root, then
//! signatures from a test Fulcio and Rekor (`bluegreen_e2e::sigstore`) in both
//! layouts, and every way one is refused, with the message a person reads.

use std::collections::BTreeMap;

use bluegreen_e2e::sigstore::{FulcioIdentity, KeylessSignature, TestSigstore, Timing};
use policy::crd::{GithubWorkflow, TrustedIdentity};
use signatures::keyless::{
    self, Refusal, SignedContent, Signer, TrustRoot, material_from_cosign_annotations,
};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{
    Bundle, VerificationMaterial, bundle, verification_material,
};
use sigstore_protobuf_specs::dev::sigstore::common::v1::PublicKeyIdentifier;
use sigstore_protobuf_specs::io::intoto::Envelope;

const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn identity(name: &str, subject: &str, issuer: &str) -> TrustedIdentity {
    TrustedIdentity {
        name: name.into(),
        issuer: issuer.into(),
        subject: Some(subject.into()),
        ..TrustedIdentity::default()
    }
}

/// The refusal's message, or the signer's description.
fn outcome(result: Result<Signer, Refusal>) -> String {
    match result {
        Ok(signer) => format!("verified: {signer}"),
        Err(refusal) => refusal.to_string(),
    }
}

mod public_bundle {
    //! sigstore-rs's `bundle_v03.json`: cosign v3 signing an image of
    //! kubewarden-controller from GitHub Actions, recorded in the public Rekor (see
    //! `tests/data/sigstore-rs/README.md`).
    use super::*;

    const SUBJECT: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

    fn trust() -> TrustRoot {
        TrustRoot::from_trusted_root_json(include_bytes!(
            "data/sigstore-rs/sigstore_trusted_root.json"
        ))
        .expect("the public trust root parses")
    }

    fn bundle() -> (VerificationMaterial, Envelope) {
        let bundle: Bundle =
            serde_json::from_str(include_str!("data/sigstore-rs/bundle_v03.json")).unwrap();
        let Some(bundle::Content::DsseEnvelope(envelope)) = bundle.content else {
            panic!("the fixture is a DSSE bundle");
        };
        (bundle.verification_material.unwrap(), envelope)
    }

    /// Where `needle` first stands in `haystack`.
    fn position(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("the fixture holds it")
    }

    fn verify(material: &VerificationMaterial, envelope: &Envelope) -> String {
        let trusted = [TrustedIdentity {
            github: Some(GithubWorkflow {
                workflow_repository: Some("kubewarden/kubewarden-controller".into()),
                workflow_ref: Some("refs/tags/v1.34.0".into()),
                workflow_trigger: Some("push".into()),
                ..GithubWorkflow::default()
            }),
            ..identity("kubewarden-release", SUBJECT, GITHUB)
        }];
        outcome(keyless::verify(
            material,
            SignedContent::Dsse { envelope },
            &trust(),
            &trusted,
        ))
    }

    #[test]
    fn verifies_with_its_identity_and_github_workflow() {
        let (material, envelope) = bundle();
        assert_eq!(
            verify(&material, &envelope),
            format!("verified: kubewarden-release (subject {SUBJECT}, issuer {GITHUB})")
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let (material, mut envelope) = bundle();
        // A hex digit of the statement's subject digest, `"sha256":"c811…`.
        let digest_at = position(&envelope.payload, b"sha256") + 9;
        envelope.payload[digest_at] ^= 1;
        assert_eq!(
            verify(&material, &envelope),
            "the signature does not verify with the signing certificate's key: the signed payload or the signature was altered"
        );
    }

    #[test]
    fn a_tampered_certificate_is_refused() {
        let (mut material, envelope) = bundle();
        let Some(verification_material::Content::Certificate(leaf)) = &mut material.content else {
            panic!("a v0.3 bundle carries the leaf alone");
        };
        // The subject's first letter: the certificate now names another identity.
        let at = position(&leaf.raw_bytes, b"kubewarden");
        leaf.raw_bytes[at] = b'K';
        assert_eq!(
            verify(&material, &envelope),
            "the signing certificate (issuer O=sigstore.dev, CN=sigstore-intermediate) does not chain to a Fulcio CA of the trust root valid at 2026-04-09T07:23:29Z (O=sigstore.dev, CN=sigstore: a certificate on the path is not signed by its issuer)"
        );
    }

    #[test]
    fn a_tampered_log_entry_is_refused() {
        let (mut material, envelope) = bundle();
        material.tlog_entries[0].integrated_time += 1;
        assert_eq!(
            verify(&material, &envelope),
            "the Rekor entry's signed entry timestamp does not verify with the key of log https://rekor.sigstore.dev: the entry or its time was altered"
        );
        let (mut material, envelope) = bundle();
        let proof = material.tlog_entries[0].inclusion_proof.as_mut().unwrap();
        proof.hashes[3][0] ^= 1;
        assert_eq!(
            verify(&material, &envelope),
            "the Rekor entry's inclusion proof does not verify for log https://rekor.sigstore.dev: the entry does not hash up to the checkpoint's root"
        );
    }

    #[test]
    fn another_workflow_ref_is_refused_naming_what_the_certificate_says() {
        let (material, envelope) = bundle();
        let trusted = [TrustedIdentity {
            github: Some(GithubWorkflow {
                workflow_ref: Some("refs/heads/main".into()),
                ..GithubWorkflow::default()
            }),
            ..identity("main-only", SUBJECT, GITHUB)
        }];
        assert_eq!(
            outcome(keyless::verify(
                &material,
                SignedContent::Dsse {
                    envelope: &envelope
                },
                &trust(),
                &trusted,
            )),
            format!(
                "signed by subject {SUBJECT} (issuer {GITHUB}, workflow ref refs/tags/v1.34.0); the policy trusts main-only (subject {SUBJECT}, issuer {GITHUB}, workflow ref refs/heads/main)"
            )
        );
    }
}

mod generated {
    //! Signatures from a test Fulcio and Rekor, named in a trust root the test writes.
    use super::*;

    const ISSUER: &str = "https://issuer.test";

    struct World {
        sigstore: TestSigstore,
        trust: TrustRoot,
    }

    fn world() -> World {
        let sigstore = TestSigstore::generate("bluegreen-test");
        let trust = TrustRoot::from_trusted_root_json(sigstore.trusted_root_json().as_bytes())
            .expect("the written trust root parses");
        World { sigstore, trust }
    }

    fn release() -> FulcioIdentity {
        FulcioIdentity::github_workflow("shop/api", "refs/tags/v1.2.0")
    }

    const RELEASE_SUBJECT: &str =
        "https://github.com/shop/api/.github/workflows/release.yml@refs/tags/v1.2.0";

    fn trusted_release() -> Vec<TrustedIdentity> {
        vec![identity("release", RELEASE_SUBJECT, GITHUB)]
    }

    fn verify_message(
        world: &World,
        message: &[u8],
        signed: &KeylessSignature,
        material: &VerificationMaterial,
        identities: &[TrustedIdentity],
    ) -> String {
        outcome(keyless::verify(
            material,
            SignedContent::Message {
                message,
                signature: &signed.signature,
            },
            &world.trust,
            identities,
        ))
    }

    #[test]
    fn a_bundle_message_signature_verifies() {
        let world = world();
        let signed = world.sigstore.sign_message(b"payload", &release());
        assert_eq!(
            verify_message(
                &world,
                b"payload",
                &signed,
                &signed.material,
                &trusted_release()
            ),
            format!("verified: release (subject {RELEASE_SUBJECT}, issuer {GITHUB})")
        );
    }

    #[test]
    fn a_dsse_envelope_verifies_and_its_payload_is_bound() {
        let world = world();
        let (envelope, signed) = world.sigstore.sign_dsse(
            "application/vnd.in-toto+json",
            br#"{"_type":"https://in-toto.io/Statement/v1"}"#,
            &release(),
        );
        let verify = |envelope: &Envelope| {
            outcome(keyless::verify(
                &signed.material,
                SignedContent::Dsse { envelope },
                &world.trust,
                &trusted_release(),
            ))
        };
        assert_eq!(
            verify(&envelope),
            format!("verified: release (subject {RELEASE_SUBJECT}, issuer {GITHUB})")
        );
        let mut two = envelope.clone();
        two.signatures.push(two.signatures[0].clone());
        assert_eq!(
            verify(&two),
            "the DSSE envelope has 2 signatures; a Sigstore bundle's envelope has exactly one"
        );
    }

    #[test]
    fn the_legacy_layer_annotations_verify() {
        let world = world();
        let signed = world.sigstore.sign_message(b"simple signing", &release());
        let material = material_from_cosign_annotations(&signed.annotations)
            .unwrap()
            .expect("a certificate annotation makes it keyless");
        assert!(
            material.tlog_entries[0].inclusion_proof.is_none(),
            "the legacy layout has only the signed entry timestamp"
        );
        assert_eq!(
            verify_message(
                &world,
                b"simple signing",
                &signed,
                &material,
                &trusted_release()
            ),
            format!("verified: release (subject {RELEASE_SUBJECT}, issuer {GITHUB})")
        );
    }

    #[test]
    fn legacy_annotations_without_a_certificate_are_key_based_and_broken_ones_are_named() {
        assert_eq!(material_from_cosign_annotations(&BTreeMap::new()), Ok(None));
        let world = world();
        let mut annotations = world.sigstore.sign_message(b"x", &release()).annotations;
        annotations.insert(keyless::BUNDLE_ANNOTATION.into(), "{}".into());
        assert_eq!(
            material_from_cosign_annotations(&annotations)
                .unwrap_err()
                .to_string(),
            "the signature layer's dev.sigstore.cosign/bundle annotation is malformed (missing field `SignedEntryTimestamp` at line 1 column 2)"
        );
        annotations.insert(keyless::CERTIFICATE_ANNOTATION.into(), "not PEM".into());
        assert_eq!(
            material_from_cosign_annotations(&annotations)
                .unwrap_err()
                .to_string(),
            "the signature layer's dev.sigstore.cosign/certificate annotation is malformed (no PEM certificate)"
        );
    }

    #[test]
    fn subjects_match_exactly_or_by_whole_pattern_and_issuers_exactly() {
        let world = world();
        let person = FulcioIdentity::email("dev@shop.example", ISSUER);
        let signed = world.sigstore.sign_message(b"m", &person);
        let verify = |identities: &[TrustedIdentity]| {
            verify_message(&world, b"m", &signed, &signed.material, identities)
        };
        assert_eq!(
            verify(&[identity("dev", "dev@shop.example", ISSUER)]),
            "verified: dev (subject dev@shop.example, issuer https://issuer.test)"
        );
        assert_eq!(
            verify(&[identity("ops", "ops@shop.example", ISSUER)]),
            "signed by subject dev@shop.example (issuer https://issuer.test); the policy trusts ops (subject ops@shop.example, issuer https://issuer.test)"
        );
        assert_eq!(
            verify(&[identity("dev-elsewhere", "dev@shop.example", GITHUB)]),
            "signed by subject dev@shop.example (issuer https://issuer.test); the policy trusts dev-elsewhere (subject dev@shop.example, issuer https://token.actions.githubusercontent.com)"
        );
        let pattern = |name: &str, pattern: &str| TrustedIdentity {
            name: name.into(),
            issuer: ISSUER.into(),
            subject_regexp: Some(pattern.into()),
            ..TrustedIdentity::default()
        };
        assert_eq!(
            verify(&[
                pattern("partial", "shop\\.example"),
                pattern("team", ".*@shop\\.example")
            ]),
            "verified: team (subject dev@shop.example, issuer https://issuer.test)",
            "a pattern matches the whole subject, not a part"
        );
        assert_eq!(
            verify(&[]),
            "signed by subject dev@shop.example (issuer https://issuer.test); the policy trusts no keyless identity (trustedIdentities is empty)"
        );
    }

    #[test]
    fn github_workflow_details_are_read_from_either_generation_of_extensions() {
        let world = world();
        let mut only_new = release();
        only_new.extensions.retain(|(arc, _)| *arc > 6);
        let trusted = [TrustedIdentity {
            github: Some(GithubWorkflow {
                workflow_repository: Some("shop/api".into()),
                workflow_ref: Some("refs/tags/v1.2.0".into()),
                workflow_trigger: Some("push".into()),
                workflow_sha: Some("2a6b879b7a5ef59d7fb348d0b5d14314538ac0a6".into()),
                workflow_name: None,
            }),
            ..identity("release", RELEASE_SUBJECT, GITHUB)
        }];
        for signer in [release(), only_new] {
            let signed = world.sigstore.sign_message(b"m", &signer);
            assert_eq!(
                verify_message(&world, b"m", &signed, &signed.material, &trusted),
                format!("verified: release (subject {RELEASE_SUBJECT}, issuer {GITHUB})")
            );
        }
        let other_repository = [TrustedIdentity {
            github: Some(GithubWorkflow {
                workflow_repository: Some("shop/web".into()),
                ..GithubWorkflow::default()
            }),
            ..identity("web-release", RELEASE_SUBJECT, GITHUB)
        }];
        let signed = world.sigstore.sign_message(b"m", &release());
        assert_eq!(
            verify_message(&world, b"m", &signed, &signed.material, &other_repository),
            format!(
                "signed by subject {RELEASE_SUBJECT} (issuer {GITHUB}, workflow repository shop/api); the policy trusts web-release (subject {RELEASE_SUBJECT}, issuer {GITHUB}, workflow repository shop/web)"
            )
        );
    }

    #[test]
    fn a_certificate_expired_at_the_integrated_time_is_refused() {
        let world = world();
        let timing = Timing {
            integrated_time: 1_800_000_600,
            not_before: 1_800_000_000,
            not_after: 1_800_000_540,
        };
        let signed = world.sigstore.sign_message_at(b"m", &release(), timing);
        assert_eq!(
            verify_message(&world, b"m", &signed, &signed.material, &trusted_release()),
            "the signing certificate was not valid when the Rekor entry was made: valid from 2027-01-15T08:00:00Z to 2027-01-15T08:09:00Z, entry integrated at 2027-01-15T08:10:00Z"
        );
    }

    /// A signature from another Fulcio and Rekor ("theirs"), judged against a trust
    /// root naming ours and, as asked, their CA or their log.
    fn signed_by_theirs(trust_their_ca: bool, trust_their_log: bool) -> (KeylessSignature, String) {
        let ours = TestSigstore::generate("ours");
        let theirs = TestSigstore::generate("theirs");
        let with_theirs = |trusted: bool| {
            if trusted {
                vec![&ours, &theirs]
            } else {
                vec![&ours]
            }
        };
        let trust = TrustRoot::from_trusted_root_json(
            TestSigstore::trusted_root_json_for(
                &with_theirs(trust_their_ca),
                &with_theirs(trust_their_log),
            )
            .as_bytes(),
        )
        .unwrap();
        let signed = theirs.sign_message(b"m", &release());
        let outcome = outcome(keyless::verify(
            &signed.material,
            SignedContent::Message {
                message: b"m",
                signature: &signed.signature,
            },
            &trust,
            &trusted_release(),
        ));
        (signed, outcome)
    }

    #[test]
    fn a_certificate_from_another_ca_is_refused() {
        let (signed, outcome) = signed_by_theirs(false, true);
        assert_eq!(
            outcome,
            format!(
                "the signing certificate (issuer O=theirs, CN=theirs-intermediate) does not chain to a Fulcio CA of the trust root valid at {} (O=ours, CN=ours-root: no path leads to it)",
                jiff::Timestamp::from_second(signed.material.tlog_entries[0].integrated_time)
                    .unwrap()
            )
        );
    }

    #[test]
    fn an_entry_by_an_unknown_log_is_refused() {
        let (signed, outcome) = signed_by_theirs(true, false);
        let log_id = hex::encode(
            &signed.material.tlog_entries[0]
                .log_id
                .as_ref()
                .unwrap()
                .key_id,
        );
        assert_eq!(
            outcome,
            format!(
                "the Rekor entry was made by log {log_id}, which the trust root does not name; add that log to trusted_root.json or sign with a Rekor it names"
            )
        );
    }

    #[test]
    fn a_tampered_signed_entry_timestamp_is_refused() {
        let world = world();
        let mut signed = world.sigstore.sign_message(b"m", &release());
        let promise = signed.material.tlog_entries[0]
            .inclusion_promise
            .as_mut()
            .unwrap();
        let last = promise.signed_entry_timestamp.len() - 1;
        promise.signed_entry_timestamp[last] ^= 1;
        assert_eq!(
            verify_message(&world, b"m", &signed, &signed.material, &trusted_release()),
            "the Rekor entry's signed entry timestamp does not verify with the key of log https://rekor.bluegreen-test.test: the entry or its time was altered"
        );
        signed.material.tlog_entries[0].inclusion_promise = None;
        assert_eq!(
            verify_message(&world, b"m", &signed, &signed.material, &trusted_release()),
            "the Rekor entry has no signed entry timestamp, so the signing time cannot be established offline (timestamp-authority countersignatures are not supported)"
        );
    }

    #[test]
    fn an_inclusion_proof_that_does_not_match_its_checkpoint_is_refused() {
        let world = world();
        let signed = world.sigstore.sign_message(b"m", &release());
        let refusal = |change: &dyn Fn(&mut VerificationMaterial)| {
            let mut material = signed.material.clone();
            change(&mut material);
            verify_message(&world, b"m", &signed, &material, &trusted_release())
        };
        assert_eq!(
            refusal(&|m| m.tlog_entries[0]
                .inclusion_proof
                .as_mut()
                .unwrap()
                .root_hash[0] ^= 1),
            "the Rekor entry's inclusion proof does not verify for log https://rekor.bluegreen-test.test: the proof's tree (size and root hash) is not the one the checkpoint signs"
        );
        assert_eq!(
            refusal(&|m| m.tlog_entries[0].inclusion_proof.as_mut().unwrap().hashes[0][0] ^= 1),
            "the Rekor entry's inclusion proof does not verify for log https://rekor.bluegreen-test.test: the entry does not hash up to the checkpoint's root"
        );
        let forged_checkpoint = TestSigstore::generate("forger")
            .sign_message(b"m", &release())
            .material
            .tlog_entries[0]
            .inclusion_proof
            .clone()
            .unwrap()
            .checkpoint;
        assert_eq!(
            refusal(&|m| m.tlog_entries[0]
                .inclusion_proof
                .as_mut()
                .unwrap()
                .checkpoint = forged_checkpoint.clone()),
            "the Rekor entry's inclusion proof does not verify for log https://rekor.bluegreen-test.test: the checkpoint is not signed by the log's key"
        );
    }

    #[test]
    fn a_signature_over_other_bytes_is_refused() {
        let world = world();
        let signed = world.sigstore.sign_message(b"the payload", &release());
        assert_eq!(
            verify_message(
                &world,
                b"another payload",
                &signed,
                &signed.material,
                &trusted_release()
            ),
            "the signature does not verify with the signing certificate's key: the signed payload or the signature was altered"
        );
    }

    #[test]
    fn a_valid_entry_of_another_signature_is_refused() {
        let world = world();
        let first = world.sigstore.sign_message(b"m", &release());
        let second = world.sigstore.sign_message(b"m", &release());
        let mut material = first.material.clone();
        material.tlog_entries = second.material.tlog_entries.clone();
        assert_eq!(
            verify_message(&world, b"m", &first, &material, &trusted_release()),
            "the Rekor entry records another signature than this signature carries: the entry was made for another signature"
        );
    }

    #[test]
    fn material_without_a_certificate_or_log_entry_is_refused() {
        let world = world();
        let signed = world.sigstore.sign_message(b"m", &release());
        let mut key_based = signed.material.clone();
        key_based.content = Some(verification_material::Content::PublicKey(
            PublicKeyIdentifier {
                hint: "release".into(),
            },
        ));
        assert_eq!(
            verify_message(&world, b"m", &signed, &key_based, &trusted_release()),
            "the signature names a public key, not a certificate: it is key-based and verified with trustedKeys"
        );
        let mut unlogged = signed.material.clone();
        unlogged.tlog_entries.clear();
        assert_eq!(
            verify_message(&world, b"m", &signed, &unlogged, &trusted_release()),
            "the signature has 0 Rekor entries; a keyless signature is trusted offline only with exactly one (sign with the transparency log on, cosign's default)"
        );
    }

    #[test]
    fn a_trust_root_that_cannot_be_used_says_why() {
        let err = TrustRoot::from_trusted_root_json(br#"{"mediaType": "x", "tlogs": []}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the trust root (bytes) is not a usable Sigstore trusted_root.json: it names no certificate authority (Fulcio); give the file `cosign trusted-root create` writes, or the one the Sigstore TUF repository serves"
        );
        let missing = TrustRoot::from_file(std::path::Path::new("/nonexistent/trusted_root.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            "cannot read the trust root /nonexistent/trusted_root.json: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_verifier_reads_its_trust_root_at_start_and_names_a_broken_one() {
        use signatures::{Verifier, VerifierConfig};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted_root.json");
        let verifier = |path: &std::path::Path| {
            Verifier::new(VerifierConfig {
                trusted_root: Some(path.to_owned()),
                ..VerifierConfig::default()
            })
        };
        std::fs::write(&path, world().sigstore.trusted_root_json()).unwrap();
        let built = verifier(&path).unwrap();
        let trust = built.trust_root().expect("the configured trust root");
        assert!(format!("{trust:?}").contains("rekor.bluegreen-test.test"));
        assert!(
            Verifier::new(VerifierConfig::default())
                .unwrap()
                .trust_root()
                .is_none()
        );

        std::fs::write(&path, "{}").unwrap();
        let Err(err) = verifier(&path) else {
            panic!("an empty trust root was accepted");
        };
        assert_eq!(
            err.to_string(),
            format!(
                "the trust root {} is not a usable Sigstore trusted_root.json: it names no certificate authority (Fulcio); give the file `cosign trusted-root create` writes, or the one the Sigstore TUF repository serves",
                path.display()
            )
        );
    }
}
