//! How a duration reads in every message, whichever layer writes it.

use std::time::Duration;

/// Milliseconds with enough precision for budgets in the tens of ms.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{ms:.1}ms")
    }
}

/// Milliseconds from a value of a latency histogram, which counts µs.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The `q` quantile of a latency histogram, in ms; None when it holds
/// nothing (a quantile of no samples is not zero).
pub fn quantile_ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| ms(h.value_at_quantile(q)))
}
