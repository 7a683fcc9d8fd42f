//! Image references as BG006 sees them: pinned by digest or not, where their cosign
//! signature lives, and the digest form to suggest for a tag.

use oci_client::Reference;
use policy::images::digest_of;

/// A container image reference, parsed.
pub(crate) enum ImageRef {
    /// `repo@sha256:<64 hex>`, the only form BG006 accepts.
    Pinned {
        reference: Reference,
        digest: String,
    },
    /// Anything else that parses: a tag, or a digest BG006 does not accept.
    Unpinned { reference: Reference },
}

impl ImageRef {
    /// Parses a reference as written in a pod template; the error says why it is not
    /// a reference at all.
    pub(crate) fn parse(image: &str) -> Result<Self, String> {
        let reference: Reference = image.parse().map_err(|e| format!("{e}"))?;
        // Pinning is judged by the policy crate's rule, so the guard and the rule agree.
        Ok(match digest_of(image) {
            Some(digest) => ImageRef::Pinned {
                digest: digest.to_string(),
                reference,
            },
            None => ImageRef::Unpinned { reference },
        })
    }
}

/// The registry host as the image names it, for messages.
pub(crate) fn registry_of(reference: &Reference) -> &str {
    reference.registry()
}

/// Where cosign stores the signatures of `digest`: the tag `sha256-<hex>.sig` in the
/// image's own repository. This is the string half of sigstore's `triangulate`, which
/// also asks the registry for the digest; a pinned reference already carries it.
pub(crate) fn signature_ref(reference: &Reference, digest: &str) -> Reference {
    Reference::with_tag(
        reference.registry().to_string(),
        reference.repository().to_string(),
        format!("{}.sig", digest.replace(':', "-")),
    )
}

/// What a verdict is cached under with the key set: the digest qualified by its
/// repository, because the signature artifact lives next to the image, so "unsigned in
/// one repository" says nothing about a copy elsewhere. Spellings of the same image
/// (`nginx@…`, `docker.io/library/nginx@…`) share an entry.
pub(crate) fn cache_key(reference: &Reference, digest: &str) -> String {
    format!(
        "{}/{}@{digest}",
        reference.resolve_registry(),
        reference.repository()
    )
}

/// The reference as written with its tag (if any) replaced by `@digest`, e.g.
/// `registry.local:5000/api:2.0` → `registry.local:5000/api@sha256:…`.
pub(crate) fn pinned_form(image: &str, digest: &str) -> String {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let last_segment = name.rfind('/').map_or(0, |slash| slash + 1);
    let name = match name[last_segment..].rfind(':') {
        Some(colon) => &name[..last_segment + colon],
        None => name,
    };
    format!("{name}@{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn pinned_form_replaces_only_the_tag() {
        assert_eq!(
            pinned_form("registry.local:5000/team/api:2.0", DIGEST),
            format!("registry.local:5000/team/api@{DIGEST}")
        );
        assert_eq!(
            pinned_form("registry.local:5000/api", DIGEST),
            format!("registry.local:5000/api@{DIGEST}")
        );
        assert_eq!(pinned_form("nginx", DIGEST), format!("nginx@{DIGEST}"));
        assert_eq!(
            pinned_form("nginx:1.27@sha256:abc", DIGEST),
            format!("nginx@{DIGEST}")
        );
    }

    #[test]
    fn signatures_live_next_to_the_image() {
        let ImageRef::Pinned { reference, digest } =
            ImageRef::parse(&format!("nginx@{DIGEST}")).unwrap()
        else {
            panic!("pinned")
        };
        assert_eq!(
            signature_ref(&reference, &digest).whole(),
            format!("docker.io/library/nginx:{}.sig", DIGEST.replace(':', "-"))
        );
        assert_eq!(
            cache_key(&reference, &digest),
            format!("index.docker.io/library/nginx@{DIGEST}")
        );
    }

    #[test]
    fn garbage_and_weak_digests() {
        assert!(ImageRef::parse("Not An Image!").is_err());
        assert!(ImageRef::parse("").is_err());
        assert!(matches!(
            ImageRef::parse("registry.local/api:2.0"),
            Ok(ImageRef::Unpinned { .. })
        ));
    }
}
