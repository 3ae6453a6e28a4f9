//! How SLO figures read for people: the messages, the console and the
//! reports all show numbers the same way.

use super::Metric;

/// SLO-only faces of a metric: how a bound and a measured value read.
impl Metric {
    /// Throughput is the only metric where more is better.
    pub(super) fn is_lower_bound(self) -> bool {
        !self.higher_is_worse()
    }

    /// Formats a value of this metric for people (`312.4 ms`, `0.5%`).
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::ErrorRate => format!("{}%", num(v * 100.0)),
            Metric::Rps => format!("{}/s", num(v)),
            Metric::Server5xx => num(v),
            _ => format!("{} ms", num(v)),
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error rate",
            Metric::Rps => "throughput",
            Metric::Server5xx => "server 5xx count",
            m => m.key(),
        }
    }
}

/// A number for people: at most 3 decimals, no trailing zeros.
pub(crate) fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(200.0), "200");
        assert_eq!(num(312.4), "312.4");
        assert_eq!(Metric::ErrorRate.show(0.001), "0.1%");
    }
}
