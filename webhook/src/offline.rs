//! `bluegreen-guard review`: one AdmissionReview answered offline, with cluster state
//! read from manifest files, by the same decision code as the server.

use std::path::PathBuf;

use jiff::Timestamp;
use policy::Object;

use crate::admission::parse_review;
use crate::cache::Cache;
use crate::config::Unsynced;
use crate::decision::{Clock, Decision, Guard};
use crate::error::{Error, Result};

/// Reads every object from manifest files. BlueGreenPolicies lose their
/// namespaceSelector: offline there are no namespace labels, so a policy given
/// applies to every namespace.
pub fn load_state(paths: &[PathBuf]) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(Error::io(format!("cannot read {}", path.display())))?;
        let parsed =
            policy::manifest::parse(&text, &path.display().to_string()).map_err(|err| {
                Error::Manifest {
                    path: path.clone(),
                    reason: err.to_string(),
                }
            })?;
        objects.extend(parsed.objects.into_iter().map(|object| match object {
            Object::Policy(mut policy) => {
                policy.spec.namespace_selector = None;
                Object::Policy(policy)
            }
            other => other,
        }));
    }
    Ok(objects)
}

/// How an offline review ended: its exit code is 0 when allowed, 2 when denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The write would be allowed.
    Allowed,
    /// The write would be refused.
    Denied,
}

/// `bluegreen-guard review`: reads the AdmissionReview from `input`, decides it against
/// the objects of the `state` manifests (and the `policy` one), and writes the answering
/// AdmissionReview, pretty-printed, to `output`.
pub fn run(
    mut input: impl std::io::Read,
    mut output: impl std::io::Write,
    files: &[PathBuf],
    now: Option<Timestamp>,
) -> Result<Verdict> {
    let mut body = Vec::new();
    input
        .read_to_end(&mut body)
        .map_err(Error::io("cannot read the AdmissionReview from stdin"))?;
    let decision = review(&body, load_state(files)?, now)?;
    let allowed = decision.response.allowed;
    let written = serde_json::to_writer_pretty(&mut output, &decision.response.into_review())
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(output));
    written.map_err(Error::io("cannot write the answer to stdout"))?;
    Ok(match allowed {
        true => Verdict::Allowed,
        false => Verdict::Denied,
    })
}

/// Decides the AdmissionReview in `body` against `state`, at `now` (default: the
/// system clock).
pub fn review(body: &[u8], state: Vec<Object>, now: Option<Timestamp>) -> Result<Decision> {
    let request = parse_review(body)?;
    let clock = now.map_or(Clock::System, Clock::Fixed);
    let guard = Guard::new(Cache::from_objects(state, []), Unsynced::Deny).with_clock(clock);
    Ok(guard.decide(request))
}
