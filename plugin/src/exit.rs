//! How a command ends: exit codes in one place, and errors printed for people.

use std::process::ExitCode;

/// A command's result when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 2: a rule refused (a `deny` finding, locally or from the guard).
    Denied,
    /// Exit 1: the command ran but found the app broken or unhealthy.
    Unhealthy,
    /// Exit 3: a wait ran out of time.
    TimedOut,
    /// Exit 4: `promote --watch` saw the new color fail and switched back.
    RolledBack,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(match outcome {
            Outcome::Success => 0,
            Outcome::Unhealthy => 1,
            Outcome::Denied => 2,
            Outcome::TimedOut => 3,
            Outcome::RolledBack => 4,
        })
    }
}

/// A refusal by a rule: the plugin's pre-flight or the guard said no. Exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Refused {
    /// Judges `findings` about `what` ("switching svc/api to green"): warnings go to
    /// stderr; any deny is a refusal listing every finding under `policy`'s name.
    pub fn unless_allowed(
        what: &str,
        policy: &policy::Policy,
        findings: &[policy::Finding],
    ) -> Result<(), Refused> {
        if !findings.iter().any(|f| f.action == policy::Action::Deny) {
            for finding in findings {
                anstream::eprintln!("{}: {finding}", finding.action);
            }
            return Ok(());
        }
        let lines: Vec<String> = findings
            .iter()
            .map(|f| format!("  {}: {f}", f.action))
            .collect();
        Err(Refused(format!(
            "{what} is refused by {}; nothing was changed:\n{}",
            policy.display_name(),
            lines.join("\n")
        )))
    }
}

/// A wait that ran out of time, saying what it waited for and what it saw. Exit 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TimedOut(pub String);

/// A write refused before it was sent because a tool (Helm, Argo CD, Flux) owns the
/// fields: the message names the owner, what its next write would do, and how to make
/// the change through it. Exit 5.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Owned(pub String);

/// The exit code of [`Owned`].
pub const OWNED_EXIT_CODE: u8 = 5;

/// Prints an error's whole chain once, and maps the result to the exit code.
pub fn report(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(outcome) => outcome.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            anstream::eprintln!("error: {err:#}");
            if err.downcast_ref::<Refused>().is_some() {
                Outcome::Denied.into()
            } else if err.downcast_ref::<TimedOut>().is_some() {
                Outcome::TimedOut.into()
            } else if err.downcast_ref::<Owned>().is_some() {
                ExitCode::from(OWNED_EXIT_CODE)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// A reader that closed the pipe (`| head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
