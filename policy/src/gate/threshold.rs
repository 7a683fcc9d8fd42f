//! A gate's threshold as people write it: `< 0.01`, `<= 0.5`, `> 0.99`, `>= 1`.

use std::fmt;

/// How a value is compared with the threshold's bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `<`
    Below,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `>=`
    AtLeast,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
        }
    }
}

/// What a gate's value must satisfy to pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    /// The comparison.
    pub comparison: Comparison,
    /// The bound.
    pub bound: f64,
}

impl Threshold {
    /// Parses `< 0.01` (blanks around and between ignored); `None` when the text is not a
    /// comparison with a finite number.
    pub fn parse(text: &str) -> Option<Threshold> {
        let text = text.trim();
        // Two-character operators first, so `<=` is not read as `<` and `=0.5`.
        let (comparison, rest) = [
            ("<=", Comparison::AtMost),
            (">=", Comparison::AtLeast),
            ("<", Comparison::Below),
            (">", Comparison::Above),
        ]
        .into_iter()
        .find_map(|(symbol, comparison)| Some((comparison, text.strip_prefix(symbol)?)))?;
        let bound: f64 = rest.trim().parse().ok()?;
        bound.is_finite().then_some(Threshold { comparison, bound })
    }

    /// Whether `value` passes; NaN never does.
    pub fn passes(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Below => value < self.bound,
            Comparison::AtMost => value <= self.bound,
            Comparison::Above => value > self.bound,
            Comparison::AtLeast => value >= self.bound,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.comparison.symbol(), self.bound)
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::below("< 0.01", Comparison::Below, 0.01)]
    #[case::at_most("<=0.5", Comparison::AtMost, 0.5)]
    #[case::above(" >  0.99 ", Comparison::Above, 0.99)]
    #[case::at_least(">= 1", Comparison::AtLeast, 1.0)]
    #[case::negative("> -3", Comparison::Above, -3.0)]
    #[case::exponent("< 1e-3", Comparison::Below, 0.001)]
    fn thresholds_parse(#[case] text: &str, #[case] comparison: Comparison, #[case] bound: f64) {
        assert_eq!(
            Threshold::parse(text),
            Some(Threshold { comparison, bound })
        );
    }

    #[rstest]
    #[case::no_operator("0.01")]
    #[case::equals("= 0.01")]
    #[case::double_equals("== 1")]
    #[case::word("below 0.01")]
    #[case::no_number("<")]
    #[case::not_a_number("< lots")]
    #[case::infinite("< inf")]
    #[case::nan("> NaN")]
    #[case::reversed("0.01 >")]
    #[case::empty("")]
    fn other_texts_are_not_thresholds(#[case] text: &str) {
        assert_eq!(Threshold::parse(text), None, "{text}");
    }

    #[rstest]
    #[case::below_passes("< 0.01", 0.005, true)]
    #[case::below_at_bound("< 0.01", 0.01, false)]
    #[case::at_most_at_bound("<= 0.01", 0.01, true)]
    #[case::above_at_bound("> 0.99", 0.99, false)]
    #[case::at_least_at_bound(">= 0.99", 0.99, true)]
    #[case::above_below("> 0.99", 0.5, false)]
    #[case::nan_below("< 0.01", f64::NAN, false)]
    #[case::nan_above("> 0.01", f64::NAN, false)]
    fn values_are_compared_with_the_bound(
        #[case] threshold: &str,
        #[case] value: f64,
        #[case] passes: bool,
    ) {
        assert_eq!(
            Threshold::parse(threshold).unwrap().passes(value),
            passes,
            "{value} {threshold}"
        );
    }

    #[test]
    fn a_threshold_reads_as_written() {
        assert_eq!(Threshold::parse("<=0.250").unwrap().to_string(), "<= 0.25");
        assert_eq!(Threshold::parse(">= 1").unwrap().to_string(), ">= 1");
    }
}
