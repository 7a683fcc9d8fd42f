//! Durations as people write them in flags and policies: `30s`, `5m`, `1h30m`, `250ms`
//! or ISO 8601 (`PT5M`). One parser, so the plugin, the guard and a policy's
//! `warmWindow` accept the same texts; each caller words its own error.

use jiff::SignedDuration;

/// Why a text is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// It does not parse; the parser's reason.
    #[error("{0}")]
    Invalid(String),
    /// It parses, below zero.
    #[error("it is negative")]
    Negative,
}

/// Parses a non-negative duration, surrounding blanks ignored.
pub fn parse_duration(text: &str) -> Result<SignedDuration, DurationError> {
    let duration: SignedDuration = text
        .trim()
        .parse()
        .map_err(|err: jiff::Error| DurationError::Invalid(err.to_string()))?;
    if duration.is_negative() {
        return Err(DurationError::Negative);
    }
    Ok(duration)
}

/// [`parse_duration`] as a `std` duration, for timers and clap flags.
pub fn parse_std_duration(text: &str) -> Result<std::time::Duration, DurationError> {
    parse_duration(text).map(SignedDuration::unsigned_abs)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn friendly_and_iso_forms_parse() {
        for (text, seconds) in [
            ("30m", 1800),
            ("1h30m", 5400),
            ("2h", 7200),
            ("PT45M", 2700),
            (" 5s ", 5),
        ] {
            assert_eq!(
                parse_std_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        assert_eq!(parse_std_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("-1s"), Err(DurationError::Negative));
        assert!(matches!(
            parse_duration("soon"),
            Err(DurationError::Invalid(_))
        ));
    }
}
