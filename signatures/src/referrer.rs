//! How cosign 3 stores a Sigstore bundle next to an image: an OCI 1.1 referrer of the
//! image, found through the referrers API or the referrers tag schema.

/// The artifact type (and layer media type) cosign 3 gives the bundle referrer.
pub(crate) const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The predicate type of an image signature, as opposed to an attestation.
pub(crate) const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The referrer annotation naming the predicate type (cosign writes it on the referrers
/// API; go-containerregistry's referrers-tag index drops it, so it is only a hint).
pub(crate) const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
