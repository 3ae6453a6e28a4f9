//! `.hgrm` percentile distributions, byte for byte as Java HdrHistogram's
//! `outputPercentileDistribution` writes them, so the standard HdrHistogram
//! plotter (and every tool that learned its format) reads our files. The
//! Rust crate has no writer for this format.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Ticks per half distance to 100%, as the Java tools use by default.
pub const TICKS: u32 = 5;

/// One row of the distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Highest value equivalent to the bucket's (as Java reports it).
    pub value: u64,
    /// The percentile level iterated to, 0..=100.
    pub percentile: f64,
    /// Values at or below `value`.
    pub total: u64,
}

/// Java's `PercentileIterator`, step for step. The Rust crate's
/// `iter_quantiles` steps in quantile space (0.1 + 0.1 + 0.1 is not 0.3)
/// and so emits different rows whenever a level lands exactly on a
/// bucket's cumulative percentile; Java steps in percent (10 + 10 + 10 is
/// 30), and the `.hgrm` files must match Java's.
pub fn percentiles(h: &Histogram<u64>, ticks_per_half_distance: u32) -> Vec<Row> {
    let n = h.len();
    let mut rows = Vec::new();
    if n == 0 {
        return rows;
    }
    let mut level = 0.0_f64;
    let mut total = 0u64;
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        total += v.count_at_value();
        let current = (100.0 * total as f64) / n as f64;
        while current >= level {
            rows.push(Row {
                value,
                percentile: level,
                total,
            });
            if total >= n {
                break;
            }
            // Java: ticks * 2^((long)(log(100 / (100 - level)) / log(2)) + 1)
            let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()) as i64;
            let ticks = u64::from(ticks_per_half_distance)
                .saturating_mul(1u64 << (halvings + 1).clamp(0, 62));
            level += 100.0 / ticks as f64;
        }
        if total >= n {
            // Java's one additional last step to 100%.
            rows.push(Row {
                value,
                percentile: 100.0,
                total,
            });
            break;
        }
    }
    rows
}

/// The percentile distribution of `h`, values divided by `scale` (1000 turns
/// our microseconds into milliseconds).
pub fn percentile_distribution(h: &Histogram<u64>, ticks: u32, scale: f64) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for r in percentiles(h, ticks) {
        let value = java_fixed(r.value as f64 / scale, digits, 12);
        let level = java_fixed(r.percentile / 100.0, 12, 2);
        let total = r.total;
        if r.percentile != 100.0 {
            let inverse = java_fixed(1.0 / (1.0 - r.percentile / 100.0), 2, 14);
            let _ = writeln!(out, "{value} {level} {total:>10} {inverse}");
        } else {
            let _ = writeln!(out, "{value} {level} {total:>10}");
        }
    }
    let (mean, stdev) = mean_stdev(h);
    let max = if h.is_empty() { 0 } else { h.max() };
    let _ = writeln!(
        out,
        "#[Mean    = {}, StdDeviation   = {}]",
        java_fixed(mean / scale, digits, 12),
        java_fixed(stdev / scale, digits, 12)
    );
    let _ = writeln!(
        out,
        "#[Max     = {}, Total count    = {:>12}]",
        java_fixed(max as f64 / scale, digits, 12),
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    );
    out
}

/// Java's mean and standard deviation: sums first, one division (the Rust
/// crate divides per term, which can differ in the last printed digit).
pub(crate) fn mean_stdev(h: &Histogram<u64>) -> (f64, f64) {
    if h.is_empty() {
        return (0.0, 0.0);
    }
    let n = h.len() as f64;
    let total: f64 = h
        .iter_recorded()
        .map(|v| h.median_equivalent(v.value_iterated_to()) as f64 * v.count_at_value() as f64)
        .sum();
    let mean = total / n;
    let dev: f64 = h
        .iter_recorded()
        .map(|v| {
            let d = h.median_equivalent(v.value_iterated_to()) as f64 - mean;
            d * d * v.count_at_value() as f64
        })
        .sum();
    (mean, (dev / n).sqrt())
}

/// Java's `subBucketCount`: the power of two holding 2 × 10^sigfig; the
/// crate keeps it private.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest = 2.0 * 10f64.powi(i32::from(sigfig));
    1u64 << (largest.log2().ceil() as u32)
}

/// `String.format("%W.Df", x)` as Java does it: the shortest decimal that
/// round-trips, rounded half-up at `decimals` (Rust rounds the exact binary
/// value half-to-even, so `0.0125` and similar would print differently).
pub fn java_fixed(x: f64, decimals: usize, width: usize) -> String {
    if !x.is_finite() {
        let s = if x.is_nan() {
            "NaN"
        } else if x > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        return format!("{s:>width$}");
    }
    let shortest = format!("{}", x.abs());
    let (int, frac) = shortest.split_once('.').unwrap_or((&shortest, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let int_len = int.len();
    let keep = int_len + decimals;
    let round_up = digits.get(keep).is_some_and(|&d| d >= 5);
    digits.resize(keep, 0);
    let mut int_len = int_len;
    if round_up {
        let mut i = keep;
        loop {
            if i == 0 {
                digits.insert(0, 1);
                int_len += 1;
                break;
            }
            i -= 1;
            if digits[i] == 9 {
                digits[i] = 0;
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let mut s = String::new();
    if x.is_sign_negative() {
        s.push('-');
    }
    s.extend(digits[..int_len].iter().map(|d| char::from(b'0' + d)));
    if decimals > 0 {
        s.push('.');
        s.extend(digits[int_len..].iter().map(|d| char::from(b'0' + d)));
    }
    format!("{s:>width$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_rounding() {
        assert_eq!(java_fixed(0.0125, 3, 0), "0.013");
        assert_eq!(java_fixed(1.0005, 3, 0), "1.001");
        assert_eq!(java_fixed(9.9996, 3, 8), "  10.000");
        assert_eq!(java_fixed(0.5, 12, 0), "0.500000000000");
        assert_eq!(java_fixed(1.0, 2, 14), "          1.00");
        assert_eq!(java_fixed(123.0, 0, 0), "123");
    }

    #[test]
    fn sub_buckets_match_java() {
        assert_eq!(sub_bucket_count(3), 2048);
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(1), 32);
    }
}
