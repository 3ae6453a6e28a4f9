//! From an interval to a verdict. The gate fails only on evidence: a change
//! must exceed both what the user tolerates and what the baseline runs
//! already disagree on among themselves, with the whole interval beyond
//! that line. An interval that straddles the line is reported as such
//! rather than rounded to pass or fail, so a noisy run asks for a rerun
//! instead of passing silently.

use super::stats::Estimate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Regressed,
    Improved,
    Inconclusive,
    Pass,
}

/// `threshold` = max(tolerance, noise floor) in the metric's unit, ≥ 0 (a
/// negative one is treated as 0). Where higher is worse (latency, error
/// rate): regressed when low > threshold; improved when high < −threshold;
/// inconclusive when the interval straddles the threshold (low ≤ threshold
/// < high); pass otherwise. Mirrored where lower is worse (achieved rate).
pub fn classify(delta: Estimate, threshold: f64, higher_is_worse: bool) -> Change {
    let t = threshold.max(0.0);
    // Orient so that a positive change is always the bad direction.
    let (low, high) = if higher_is_worse {
        (delta.low, delta.high)
    } else {
        (-delta.high, -delta.low)
    };
    if low > t {
        Change::Regressed
    } else if high < -t {
        Change::Improved
    } else if high > t {
        Change::Inconclusive
    } else {
        Change::Pass
    }
}

/// Noise floor: the spread (max − min) of the metric across the k baseline
/// runs, 0 for k < 2. Run-to-run spread is what a rerun of an unchanged
/// deployment would show, which the within-run bootstrap cannot see (a
/// different host, a warm cache); a change smaller than it is not news.
/// Non-finite values are ignored.
pub fn noise_floor(per_run_values: &[f64]) -> f64 {
    let finite = per_run_values.iter().copied().filter(|v| v.is_finite());
    let (n, min, max) = finite.fold(
        (0usize, f64::INFINITY, f64::NEG_INFINITY),
        |(n, lo, hi), v| (n + 1, lo.min(v), hi.max(v)),
    );
    if n < 2 { 0.0 } else { max - min }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(low: f64, high: f64) -> Estimate {
        Estimate {
            value: (low + high) / 2.0,
            low,
            high,
        }
    }

    #[test]
    fn higher_is_worse() {
        assert_eq!(classify(est(2.0, 5.0), 1.0, true), Change::Regressed);
        assert_eq!(classify(est(0.5, 5.0), 1.0, true), Change::Inconclusive);
        // low == threshold is not yet evidence of a regression.
        assert_eq!(classify(est(1.0, 5.0), 1.0, true), Change::Inconclusive);
        assert_eq!(classify(est(-0.5, 0.5), 1.0, true), Change::Pass);
        assert_eq!(classify(est(-0.5, 1.0), 1.0, true), Change::Pass);
        assert_eq!(classify(est(-5.0, -2.0), 1.0, true), Change::Improved);
        assert_eq!(classify(est(-5.0, -0.5), 1.0, true), Change::Pass);
        // Zero tolerance: any interval wholly above 0 is a regression.
        assert_eq!(classify(est(0.001, 0.01), 0.0, true), Change::Regressed);
        assert_eq!(classify(est(-0.01, 0.01), 0.0, true), Change::Inconclusive);
        assert_eq!(classify(est(0.0, 0.0), 0.0, true), Change::Pass);
    }

    #[test]
    fn lower_is_worse_mirrors() {
        for (low, high) in [
            (2.0, 5.0),
            (0.5, 5.0),
            (-0.5, 0.5),
            (-5.0, -2.0),
            (-5.0, -0.5),
            (-1.0, 0.5),
        ] {
            assert_eq!(
                classify(est(low, high), 1.0, false),
                classify(est(-high, -low), 1.0, true),
                "({low}, {high})"
            );
        }
        assert_eq!(classify(est(-5.0, -2.0), 1.0, false), Change::Regressed);
        assert_eq!(classify(est(2.0, 5.0), 1.0, false), Change::Improved);
    }

    #[test]
    fn negative_threshold_is_zero() {
        assert_eq!(classify(est(-0.5, -0.1), -1.0, true), Change::Improved);
    }

    #[test]
    fn noise_floor_is_the_spread() {
        assert_eq!(noise_floor(&[]), 0.0);
        assert_eq!(noise_floor(&[3.0]), 0.0);
        assert_eq!(noise_floor(&[3.0, 5.0, 4.0]), 2.0);
        assert_eq!(noise_floor(&[3.0, f64::NAN, 5.0]), 2.0);
    }
}
