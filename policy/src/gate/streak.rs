//! Counting a gate's evaluations: it fails the release after `failureLimit` failing
//! evaluations in a row, and a watch that ends before the gate ever passed fails it too
//! (a gate that never vouched for the release, e.g. with Prometheus down all along,
//! does not pass it).

/// What one evaluation measured.
#[derive(Clone, Debug, PartialEq)]
pub enum Measurement {
    /// The query's value.
    Value(f64),
    /// The query returned nothing (or NaN, e.g. 0/0 with no requests).
    NoData,
    /// The query could not be answered: Prometheus unreachable, too slow, or an answer
    /// that is not one value. The reason names the address.
    Error(String),
}

/// Where a gate stands after an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The last evaluation passed.
    Passing,
    /// Failing, but fewer than `limit` times in a row.
    Failing {
        /// Failing evaluations in a row.
        in_a_row: u32,
        /// The gate's failureLimit.
        limit: u32,
    },
    /// The gate fails the release.
    Failed {
        /// Failing evaluations in a row (0: the watch ended before the gate ever passed).
        in_a_row: u32,
    },
}

/// A gate's evaluations so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streak {
    limit: u32,
    in_a_row: u32,
    passed_once: bool,
}

impl Streak {
    /// No evaluation yet, failing the release at `limit` failures in a row (at least 1).
    pub fn new(limit: u32) -> Streak {
        Streak {
            limit: limit.max(1),
            in_a_row: 0,
            passed_once: false,
        }
    }

    /// Counts one evaluation.
    pub fn record(&mut self, passed: bool) -> Verdict {
        if passed {
            self.in_a_row = 0;
            self.passed_once = true;
            return Verdict::Passing;
        }
        self.in_a_row += 1;
        match self.in_a_row >= self.limit {
            true => Verdict::Failed {
                in_a_row: self.in_a_row,
            },
            false => Verdict::Failing {
                in_a_row: self.in_a_row,
                limit: self.limit,
            },
        }
    }

    /// The verdict when the watch ends: failed if the gate never passed.
    pub fn at_end(&self) -> Verdict {
        match self.passed_once {
            true => Verdict::Passing,
            false => Verdict::Failed {
                in_a_row: self.in_a_row,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const P: bool = true;
    const F: bool = false;

    #[rstest]
    #[case::passing_all_along(1, &[P, P, P], Verdict::Passing)]
    #[case::first_failure_with_limit_one(1, &[P, F], Verdict::Failed { in_a_row: 1 })]
    #[case::below_the_limit(3, &[F, F], Verdict::Failing { in_a_row: 2, limit: 3 })]
    #[case::at_the_limit(3, &[P, F, F, F], Verdict::Failed { in_a_row: 3 })]
    #[case::a_pass_resets_the_count(3, &[F, F, P, F, F], Verdict::Failing { in_a_row: 2, limit: 3 })]
    #[case::recovered(2, &[F, P], Verdict::Passing)]
    #[case::zero_limit_counts_as_one(0, &[F], Verdict::Failed { in_a_row: 1 })]
    fn failures_in_a_row_fail_the_gate(
        #[case] limit: u32,
        #[case] evaluations: &[bool],
        #[case] last: Verdict,
    ) {
        let mut streak = Streak::new(limit);
        let verdicts: Vec<Verdict> = evaluations.iter().map(|p| streak.record(*p)).collect();
        assert_eq!(verdicts.last(), Some(&last), "{evaluations:?}");
    }

    #[rstest]
    #[case::passed_then_failing(3, &[P, F], Verdict::Passing)]
    #[case::never_evaluated(3, &[], Verdict::Failed { in_a_row: 0 })]
    #[case::never_passed(3, &[F, F], Verdict::Failed { in_a_row: 2 })]
    #[case::passed_last(3, &[F, P], Verdict::Passing)]
    fn a_gate_that_never_passed_fails_at_the_end(
        #[case] limit: u32,
        #[case] evaluations: &[bool],
        #[case] end: Verdict,
    ) {
        let mut streak = Streak::new(limit);
        for passed in evaluations {
            streak.record(*passed);
        }
        assert_eq!(streak.at_end(), end, "{evaluations:?}");
    }
}
