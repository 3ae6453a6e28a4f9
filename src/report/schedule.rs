//! The open model's schedule in the reports people read (the console's end
//! summary and `report.html`): offered beside delivered rate, and the
//! generator's own lateness, so a slow server is not blamed for a late
//! generator. `summary.json` carries the same figures.

use std::fmt::Write as _;

use crate::measure::ScheduleStats;

fn ms(us: u64) -> String {
    format!("{:.3}", crate::measure::ms(us))
}

/// p50, p99 and max lateness in ms; None when nothing was sent.
fn lateness(s: &ScheduleStats) -> Option<[String; 3]> {
    let h = &s.lateness;
    (!h.is_empty()).then(|| {
        [
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        ]
    })
}

/// One line: `schedule: offered 200.0 req/s, delivered 199.7 req/s (599 of
/// 600 slots); generator lateness p50 0.012 ms, p99 0.050 ms, max 0.310 ms`.
pub fn console_line(s: &ScheduleStats) -> String {
    let mut o = format!(
        "schedule: offered {:.1} req/s, delivered {:.1} req/s ({} of {} slots)",
        s.offered_rate, s.delivered_rate, s.delivered, s.offered
    );
    if let Some([p50, p99, max]) = lateness(s) {
        let _ = write!(
            o,
            "; generator lateness p50 {p50} ms, p99 {p99} ms, max {max} ms"
        );
    }
    o
}

/// The `report.html` section (heading included).
pub fn html_section(s: &ScheduleStats) -> String {
    let mut o = String::from(
        "<h2>Schedule (open model)</h2><table><thead><tr><th>Offered req/s</th><th>Delivered req/s</th><th>Slots used</th><th>Generator lateness p50 (ms)</th><th>p99 (ms)</th><th>max (ms)</th></tr></thead><tbody>",
    );
    let [p50, p99, max] = lateness(s).unwrap_or_else(|| ["–".into(), "–".into(), "–".into()]);
    let _ = write!(
        o,
        "<tr><td>{:.1}</td><td>{:.1}</td><td>{} of {}</td><td>{p50}</td><td>{p99}</td><td>{max}</td></tr></tbody></table>",
        s.offered_rate, s.delivered_rate, s.delivered, s.offered
    );
    o.push_str("<p class=\"muted small\">Lateness: how long after its intended time the generator sent a request. Latencies above are measured from the intended time, so they include it; a lateness far below the latency means the time was the server's.</p>");
    o
}
