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
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(match outcome {
            Outcome::Success => 0,
            Outcome::Unhealthy => 1,
            Outcome::Denied => 2,
            Outcome::TimedOut => 3,
        })
    }
}

/// Prints an error's whole chain once, and maps the result to the exit code.
pub fn report(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(outcome) => outcome.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            anstream::eprintln!("error: {err:#}");
            ExitCode::from(1)
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
