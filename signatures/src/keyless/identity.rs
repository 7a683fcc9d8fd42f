//! Whether a verified certificate names an identity the policy trusts.

use policy::crd::TrustedIdentity;
use regex::Regex;

use super::certificate::Leaf;
use super::refusal::Refusal;

/// The GitHub workflow details of [`policy::crd::GithubWorkflow`], by field: the
/// extension Fulcio has written since 2022 (`.1.2`–`.1.6`, raw text, still written
/// today) and its successor (`.1.12`–`.1.20`), read when the first is absent.
const WORKFLOW_EXTENSIONS: [(&str, &str, Option<&str>); 5] = [
    ("repository", "5", Some("12")),
    ("ref", "6", Some("14")),
    ("trigger", "2", Some("20")),
    ("sha", "3", Some("13")),
    ("name", "4", None),
];

/// The first identity of `identities` the certificate satisfies, or a refusal saying
/// what the certificate names and what was trusted.
pub(super) fn matching<'i>(
    leaf: &Leaf<'_>,
    identities: &'i [TrustedIdentity],
) -> Result<&'i TrustedIdentity, Refusal> {
    let mut workflow_difference = None;
    for identity in identities {
        if identity.issuer != leaf.issuer || !subject_matches(identity, &leaf.subject) {
            continue;
        }
        let expected = identity
            .github
            .as_ref()
            .map(|g| g.expected())
            .unwrap_or_default();
        let differing = expected.into_iter().find_map(|(field, value)| {
            let found = workflow_value(leaf, field);
            (found.as_deref() != Some(value)).then(|| {
                format!(
                    "workflow {field} {}",
                    found.as_deref().unwrap_or("(not in the certificate)")
                )
            })
        });
        match differing {
            None => return Ok(identity),
            Some(difference) => {
                workflow_difference.get_or_insert(difference);
            }
        }
    }
    let detail = workflow_difference
        .map(|d| format!(", {d}"))
        .unwrap_or_default();
    let expected = if identities.is_empty() {
        "no keyless identity (trustedIdentities is empty)".to_string()
    } else {
        identities
            .iter()
            .map(TrustedIdentity::describe)
            .collect::<Vec<_>>()
            .join("; ")
    };
    Err(Refusal::Identity {
        found: format!(
            "subject {} (issuer {}{detail})",
            or_none(&leaf.subject),
            or_none(&leaf.issuer)
        ),
        expected,
    })
}

fn subject_matches(identity: &TrustedIdentity, subject: &str) -> bool {
    match (&identity.subject, identity.subject_pattern()) {
        (Some(exact), _) => exact == subject,
        // The policy crate refuses a pattern that does not compile when the policy is
        // written; one that slipped through trusts nobody.
        (None, Some(pattern)) => Regex::new(&pattern).is_ok_and(|re| re.is_match(subject)),
        (None, None) => false,
    }
}

/// A workflow detail as the certificate states it.
fn workflow_value(leaf: &Leaf<'_>, field: &str) -> Option<String> {
    let (_, legacy, current) = WORKFLOW_EXTENSIONS.iter().find(|(f, ..)| *f == field)?;
    if let Some(value) = leaf.extension(legacy) {
        return Some(value.to_string());
    }
    let value = leaf.extension((*current)?)?;
    Some(match field {
        // `.1.12` is the repository's URL; `.1.5` was `owner/name`.
        "repository" => url_path(value).to_string(),
        _ => value.to_string(),
    })
}

/// `owner/name` of `https://github.com/owner/name`.
fn url_path(url: &str) -> &str {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    without_scheme
        .split_once('/')
        .map_or(without_scheme, |(_, path)| path)
}

fn or_none(value: &str) -> &str {
    if value.is_empty() { "(none)" } else { value }
}
