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
