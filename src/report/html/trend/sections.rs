//! The page's sections: one per load group (verdict strip, then a chart
//! per request) and one for verify steps (strip, then small multiples).

use std::fmt::Write as _;

use super::chart::{Chart, Line, chart, fin};
use super::strip::strip_card;
use super::{LoadGroup, Percentiles, RunVerdict, TrendRun, VerifyTrend, t};
use crate::verdict::slo::num;

/// Chart sizes in SVG units: the viewBox is scaled to the card, and these
/// match the card's usual on-screen width so text stays ~1:1.
const CHART_W: f64 = 660.0;
const CHART_H: f64 = 300.0;
const SMALL_W: f64 = 420.0;
const SMALL_H: f64 = 170.0;

pub(super) const TREND_CSS: &str = r#"
.kicker { font-size:11px; text-transform:uppercase; letter-spacing:.07em; color:var(--muted); font-weight:700; display:block; margin-bottom:2px; }
section.group { margin-top:30px; }
section.group h2 { margin-top:0; font-weight:600; word-break:break-word; }
.sub { margin:-4px 0 12px; }
.card.strip { margin-bottom:16px; }
.strip svg, .multiples svg { width:100%; height:auto; display:block; }
.strip .scroll { overflow-x:auto; } .strip .scroll svg { min-width:960px; }
.multiples { display:grid; grid-template-columns:repeat(auto-fill,minmax(400px,1fr)); gap:16px; }
h3 .latest { font-weight:400; float:right; font-variant-numeric:tabular-nums; }
.key { font-size:12px; color:var(--muted); margin-top:6px; }
.key i { display:inline-block; width:10px; height:10px; border-radius:2px; margin:0 4px 0 12px; vertical-align:-1px; }
.key i:first-child { margin-left:0; }
svg .tk { font-size:11px; fill:#6b7280; }
svg .lg { font-size:12px; fill:#1d2330; }
svg .grid { fill:none; stroke:#eef0f3; stroke-width:1; }
svg .axis { fill:none; stroke:#c4c9d0; stroke-width:1; }
svg path.ln { fill:none; stroke-width:2; stroke-linejoin:round; stroke-linecap:round; }
svg.dense path.ln { stroke-width:1.2; }
svg path.dt { fill:none; stroke-width:5; stroke-linecap:round; }
svg .p50 { stroke:#2ca02c; } svg .p95 { stroke:#ff7f0e; } svg .p99 { stroke:#d62728; } svg .lat { stroke:#1f77b4; } svg .oth { stroke:#6b7280; }
svg .slo { fill:none; stroke-width:1.4; stroke-dasharray:6 4; }
svg .slo-t { font-size:11px; font-weight:600; paint-order:stroke; stroke:#fff; stroke-width:3px; stroke-linejoin:round; }
svg .t50 { fill:#15803d; } svg .t95 { fill:#c2410c; } svg .t99 { fill:#b91c1c; } svg .toth { fill:#4b5563; }
svg .band { fill:#fee2e2; }
svg .ring { fill:none; stroke:#b91c1c; stroke-width:2; }
svg .fl { fill:none; stroke:#b91c1c; stroke-width:7; stroke-linecap:round; }
svg .hov { fill:transparent; } svg .hov:hover { fill:rgba(29,35,48,.07); }
.v-pass { fill:#15803d; background:#15803d; } .v-fail { fill:#b91c1c; background:#b91c1c; }
.v-regr { fill:#ea580c; background:#ea580c; } .v-intr { fill:#9ca3af; background:#9ca3af; }
svg .mark { fill:#b91c1c; }
"#;

fn counts(runs: &[TrendRun]) -> String {
    let count = |v: RunVerdict| runs.iter().filter(|r| r.verdict == v).count();
    let mut parts = vec![format!(
        "{} run{}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    )];
    for (v, word) in [
        (RunVerdict::Passed, "passed"),
        (RunVerdict::Failed, "failed"),
        (RunVerdict::Regressed, "regressed"),
        (RunVerdict::Interrupted, "interrupted"),
    ] {
        let k = count(v);
        if k > 0 {
            parts.push(format!("{k} {word}"));
        }
    }
    let mut s = parts.join(" · ");
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = write!(s, " · {} → {}", first.started_at, last.started_at);
    }
    s
}

/// Three significant figures: a tooltip saying 91.705 ms claims a
/// precision no percentile of a load run has.
fn ms_text(v: Option<f64>) -> String {
    let round = |v: f64| {
        let digits = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        let k = 10f64.powi(digits);
        (v * k).round() / k
    };
    v.map_or_else(|| "–".into(), |v| format!("{} ms", num(round(v))))
}

pub(super) fn group_section(o: &mut String, k: usize, total: usize, g: &LoadGroup) {
    let _ = write!(
        o,
        "<section class=\"group\"><h2><span class=\"kicker\">Load runs{}</span>{}</h2><p class=\"muted sub\">{}</p>",
        if total > 1 {
            format!(" · group {} of {total}", k + 1)
        } else {
            String::new()
        },
        t(&g.fingerprint),
        t(&counts(&g.runs))
    );
    if g.runs.is_empty() {
        o.push_str("<p class=\"muted\">No runs recorded in this group.</p></section>");
        return;
    }
    strip_card(o, &g.runs);
    if g.requests.is_empty() {
        o.push_str("<p class=\"muted\">No request measurements were recorded.</p></section>");
        return;
    }
    o.push_str("<div class=\"charts\">");
    let n = g.runs.len();
    for r in &g.requests {
        let pick = |f: fn(&Percentiles) -> f64| -> Vec<Option<f64>> {
            (0..n)
                .map(|i| r.points.get(i).copied().flatten().and_then(|p| fin(f(&p))))
                .collect()
        };
        let lines = vec![
            Line {
                key: "p50",
                class: "p50",
                values: pick(|p| p.p50_ms),
            },
            Line {
                key: "p95",
                class: "p95",
                values: pick(|p| p.p95_ms),
            },
            Line {
                key: "p99",
                class: "p99",
                values: pick(|p| p.p99_ms),
            },
        ];
        let mut regressed = vec![false; n];
        for &i in &r.regressed_runs {
            if let Some(b) = regressed.get_mut(i) {
                *b = true;
            }
        }
        let tip = |i: usize| match r.points.get(i).copied().flatten() {
            Some(p) => {
                let mut s = format!(
                    "{}: p50 {} · p95 {} · p99 {}",
                    r.name,
                    ms_text(fin(p.p50_ms)),
                    ms_text(fin(p.p95_ms)),
                    ms_text(fin(p.p99_ms))
                );
                if r.regressed_runs.contains(&i) {
                    s.push_str("\nthis request regressed");
                }
                s
            }
            None => format!("{}: not measured in this run", r.name),
        };
        let latest = r
            .points
            .get(n - 1)
            .copied()
            .flatten()
            .and_then(|p| fin(p.p95_ms))
            .map(|v| {
                format!(
                    "<span class=\"latest\">latest p95 {}</span>",
                    ms_text(Some(v))
                )
            })
            .unwrap_or_default();
        let svg = chart(&Chart {
            w: CHART_W,
            h: CHART_H,
            runs: &g.runs,
            lines,
            slo: &r.slo_lines,
            regressed,
            ringed: &[1, 2],
            failed: Vec::new(),
            legend: true,
            tip: &tip,
        });
        chart_card(o, &r.name, &latest, svg, "request");
    }
    o.push_str("</div></section>");
}

pub(super) fn verify_section(o: &mut String, v: Option<&VerifyTrend>) {
    o.push_str("<section class=\"group\"><h2>Verify steps across deploys</h2>");
    let Some(v) = v.filter(|v| !v.runs.is_empty()) else {
        o.push_str("<p class=\"muted\">No verify runs recorded.</p></section>");
        return;
    };
    let _ = write!(o, "<p class=\"muted sub\">{}</p>", t(&counts(&v.runs)));
    strip_card(o, &v.runs);
    if v.steps.is_empty() {
        o.push_str("<p class=\"muted\">No step measurements were recorded.</p></section>");
        return;
    }
    o.push_str(
        "<p class=\"key\"><i style=\"background:#1f77b4;height:3px;vertical-align:3px\"></i>step latency (ms)\
         <i style=\"background:#b91c1c;border-radius:50%\"></i>step failed (on the axis when it got no response)</p>\
         <div class=\"multiples\">",
    );
    let n = v.runs.len();
    for s in &v.steps {
        let point = |i: usize| s.points.get(i).copied().flatten();
        let values = (0..n)
            .map(|i| point(i).and_then(|p| fin(p.latency_ms)))
            .collect();
        let failed: Vec<bool> = (0..n)
            .map(|i| point(i).is_some_and(|p| !p.passed))
            .collect();
        let fails = failed.iter().filter(|f| **f).count();
        let tip = |i: usize| match point(i) {
            Some(p) => format!(
                "{}: {} · {}",
                s.name,
                ms_text(fin(p.latency_ms)),
                if p.passed { "passed" } else { "FAILED" }
            ),
            None => format!("{}: not run", s.name),
        };
        let svg = chart(&Chart {
            w: SMALL_W,
            h: SMALL_H,
            runs: &v.runs,
            lines: vec![Line {
                key: "latency",
                class: "lat",
                values,
            }],
            slo: &[],
            regressed: Vec::new(),
            ringed: &[],
            failed,
            legend: false,
            tip: &tip,
        });
        let badge = if fails > 0 {
            format!("<span class=\"latest\"><span class=\"tag fail\">failed {fails}×</span></span>")
        } else {
            String::new()
        };
        chart_card(o, &s.name, &badge, svg, "step");
    }
    o.push_str("</div></section>");
}

/// One chart's card, the same for a request and a verify step: the name
/// with `aside` (latest value or failure badge) beside it, over the chart
/// or, when there was nothing to draw, a note naming `what` is missing.
fn chart_card(o: &mut String, name: &str, aside: &str, svg: Option<String>, what: &str) {
    let _ = write!(
        o,
        "<div class=\"card\"><h3>{}{aside}</h3>{}</div>",
        t(name),
        svg.unwrap_or_else(|| {
            format!("<p class=\"muted\">No measurements of this {what} in these runs.</p>")
        })
    );
}
