//! `history trend`: one self-contained page (inline CSS and SVG, no script,
//! no font or CDN) showing how latency and verdicts moved across deploys.
//!
//! The SVG is written by hand rather than through plotters: a 1,000-run
//! history puts thousands of points in every chart, and one `<path>` per
//! series (no per-point elements) keeps the page small, byte-for-byte
//! deterministic and quick to build. The look (colours, fonts, cards) is
//! report.html's, whose stylesheet this page includes.
//!
//! Y axes are linear from zero unless a chart's values span more than two
//! decades; then they are log10, because one cold-start outlier on a linear
//! axis would flatten every other run into the bottom pixels.

use std::fmt::Write as _;

use crate::report::html::load::CSS;

mod chart;
mod layout;
mod model;
mod sections;
mod strip;

pub use model::{
    LoadGroup, Percentiles, RequestTrend, RunVerdict, SloLine, StepPoint, StepTrend, TrendPage,
    TrendRun, VerifyTrend,
};
use sections::{TREND_CSS, group_section, verify_section};

// User-supplied text (names come from scenario files), for the page's
// inline SVG and HTML alike: the one escaper, under a short name.
use crate::report::escape::svg_text as t;

/// The whole page. Never fails: odd input (no runs, gaps, non-finite
/// values, hostile names) renders as a visible note, not an error, because
/// a history of many runs should not be unreadable for one bad row.
pub fn render(page: &TrendPage) -> String {
    let runs: usize = page.groups.iter().map(|g| g.runs.len()).sum();
    let charts: usize = page.groups.iter().map(|g| g.requests.len()).sum();
    let mut o = String::with_capacity(16_384 + runs * 400 + charts * runs * 110);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}{TREND_CSS}</style></head><body><header><h1>{}</h1></header>\
         <p class=\"muted\">Generated {} · latencies in milliseconds, oldest run on the left</p>",
        t(&page.title),
        t(&page.title),
        t(&page.generated_at)
    );
    if page.groups.is_empty() {
        o.push_str("<h2>Load runs</h2><p class=\"muted\">No load runs recorded.</p>");
    }
    for (k, g) in page.groups.iter().enumerate() {
        group_section(&mut o, k, page.groups.len(), g);
    }
    verify_section(&mut o, page.verify.as_ref());
    let _ = writeln!(
        o,
        "<footer>Each chart's y axis is linear from zero, or log10 when its values span more than two decades. \
         Dashed lines are the latest run's objectives. postdeploy {}.</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

#[cfg(test)]
mod tests;
