//! The verdict strip: one cell per run, so a streak of failures or
//! regressions reads at a glance before any chart is looked at.

use std::fmt::Write as _;

use super::layout::{C, label_room, x_labels, x_ticks};
use super::{RunVerdict, TrendRun, t};

/// Strip width in SVG units, on the same terms as the chart sizes.
const STRIP_W: f64 = 1280.0;
/// Widest a verdict cell gets: a 3-run history should not be three slabs.
const STRIP_CELL_MAX: f64 = 56.0;

fn verdict_class(v: RunVerdict) -> (&'static str, &'static str) {
    match v {
        RunVerdict::Passed => ("v-pass", "passed"),
        RunVerdict::Failed => ("v-fail", "FAILED"),
        RunVerdict::Regressed => ("v-regr", "REGRESSED"),
        RunVerdict::Interrupted => ("v-intr", "interrupted"),
    }
}

/// The first lines of every per-run tooltip, so strip and charts agree.
pub(super) fn run_tip(run: &TrendRun) -> String {
    let (_, word) = verdict_class(run.verdict);
    let mut s = format!("{} · #{}\n{}\n{word}", run.label, run.id, run.started_at);
    if !run.regressed.is_empty() {
        let _ = write!(s, "\nregressed: {}", run.regressed.join(", "));
    }
    s
}

/// One coloured cell per run, oldest first, so a run of red reads at a
/// glance; the tooltip carries the id, time and what regressed.
fn strip(runs: &[TrendRun]) -> String {
    let n = runs.len();
    let cell = (STRIP_W / n.max(1) as f64).min(STRIP_CELL_MAX);
    let (_, rotated, widest) = x_ticks(runs, cell, 24.0);
    // Rotated labels hang left of their cell; the first one needs room.
    let pad = if rotated { widest * 0.72 } else { 0.0 };
    let cell = ((STRIP_W - pad) / n.max(1) as f64).min(STRIP_CELL_MAX);
    let gap = if cell >= 8.0 { 2.0 } else { 0.0 };
    let (picked, rotated, widest) = x_ticks(runs, cell, 24.0);
    let (mark_h, cell_y, cell_h) = (9.0, 11.0, 22.0);
    let base = cell_y + cell_h;
    let h = base + label_room(rotated, widest) - 4.0;
    let mut o = String::with_capacity(512 + n * 120);
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\">",
        C(STRIP_W),
        C(h)
    );
    let mut marks = String::new();
    for (i, run) in runs.iter().enumerate() {
        let (cls, _) = verdict_class(run.verdict);
        let x0 = pad + i as f64 * cell;
        let _ = write!(
            o,
            "<rect class=\"{cls}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\"><title>{}</title></rect>",
            C(x0 + gap / 2.0),
            C(cell_y),
            C((cell - gap).max(0.3)),
            C(cell_h),
            if gap > 0.0 { 2 } else { 0 },
            t(&run_tip(run))
        );
        if run.verdict == RunVerdict::Regressed || !run.regressed.is_empty() {
            let cx = x0 + cell / 2.0;
            let _ = write!(marks, "M{},1h8l-4,{}z", C(cx - 4.0), C(mark_h - 2.0));
        }
    }
    if !marks.is_empty() {
        let _ = write!(o, "<path class=\"mark\" d=\"{marks}\"/>");
    }
    x_labels(
        &mut o,
        runs,
        &picked,
        rotated,
        |i| pad + (i as f64 + 0.5) * cell,
        base - 2.0,
        STRIP_W,
    );
    o.push_str("</svg>");
    o
}

pub(super) fn strip_card(o: &mut String, runs: &[TrendRun]) {
    let _ = write!(
        o,
        "<div class=\"card strip\"><h3>Verdicts, oldest to newest</h3><div class=\"scroll\">{}</div>\
         <div class=\"key\"><i class=\"v-pass\"></i>passed<i class=\"v-fail\"></i>failed\
         <i class=\"v-regr\"></i>regressed (▼)<i class=\"v-intr\"></i>interrupted\
         <span style=\"margin-left:16px\">Hover a cell for the run id, time and what regressed.</span></div></div>",
        strip(runs)
    );
}
