//! Axis maths and label layout shared by the charts and the verdict
//! strip: where ticks go, which runs get an x label, and how numbers are
//! written into the SVG.

use std::fmt::{self, Write as _};

use super::TrendRun;
use super::t;
use crate::verdict::slo::num;

/// X labels longer than this are cut (the full label is in the tooltip).
const LABEL_MAX_CHARS: usize = 12;
/// Rough advance of one 11px character, for layout only; on the wide side
/// (DejaVu Sans, Linux's usual system-ui) so labels do not collide.
pub(super) const CHAR_W: f64 = 7.0;

/// A coordinate with one decimal and no trailing `.0`: a tenth of a unit
/// is below what a screen shows, and thousands of points per chart add up.
pub(super) struct C(pub(super) f64);

impl fmt::Display for C {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = if self.0.is_finite() {
            (self.0 * 10.0).round() as i64
        } else {
            0
        };
        let (int, frac) = (tenths / 10, (tenths % 10).abs());
        if tenths < 0 && int == 0 {
            f.write_str("-")?;
        }
        write!(f, "{int}")?;
        if frac != 0 {
            write!(f, ".{frac}")?;
        }
        Ok(())
    }
}

fn label_of(run: &TrendRun) -> String {
    let mut chars = run.label.chars();
    let head: String = chars.by_ref().take(LABEL_MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

pub(super) enum Scale {
    Linear {
        top: f64,
    },
    /// Exponents of ten at the bottom and top.
    Log {
        lo: i32,
        hi: i32,
    },
}

/// 1, 2 or 5 times a power of ten, the smallest at least `raw`.
fn nice(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    let m = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

impl Scale {
    pub(super) fn fit(values: impl Iterator<Item = f64>) -> Scale {
        let (mut max, mut min_pos) = (0f64, f64::INFINITY);
        for v in values {
            max = max.max(v);
            if v > 0.0 {
                min_pos = min_pos.min(v);
            }
        }
        if max <= 0.0 {
            return Scale::Linear { top: 1.0 };
        }
        if max / min_pos > 100.0 {
            let lo = min_pos.log10().floor() as i32;
            let hi = (max.log10().ceil() as i32).max(lo + 1);
            return Scale::Log { lo, hi };
        }
        // A little headroom so the highest point does not sit on the frame.
        let step = nice(max * 1.05 / 5.0);
        Scale::Linear {
            top: (max * 1.05 / step).ceil() * step,
        }
    }

    /// 0 at the bottom of the plot, 1 at the top.
    pub(super) fn frac(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { top } => v / top,
            Scale::Log { lo, hi } => {
                let floor = 10f64.powi(lo);
                (v.max(floor).log10() - f64::from(lo)) / f64::from(hi - lo)
            }
        }
    }

    pub(super) fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { top } => {
                let step = nice(top / 5.0);
                let n = (top / step).round() as i64;
                (0..=n).map(|i| i as f64 * step).collect()
            }
            Scale::Log { lo, hi } => (lo..=hi).map(|e| 10f64.powi(e)).collect(),
        }
    }
}

pub(super) fn tick_label(v: f64) -> String {
    if v == 0.0 || v >= 0.001 {
        num(v)
    } else {
        format!("{v:e}")
    }
}

/// Which runs get an x label, and whether labels are rotated. The newest
/// run is always labelled: it is the one people came to look at.
pub(super) fn x_ticks(runs: &[TrendRun], band: f64, min_gap: f64) -> (Vec<usize>, bool, f64) {
    let n = runs.len();
    let widest = runs
        .iter()
        .map(|r| label_of(r).chars().count())
        .max()
        .unwrap_or(0) as f64
        * CHAR_W;
    let (step, rotated) = if widest + 8.0 <= band {
        (1, false)
    } else if widest + 8.0 <= 2.5 * min_gap {
        // Thinned labels get more air than a full row: the eye needs the
        // gaps to tell where one ends once they no longer sit on every run.
        (((widest + 16.0) / band).ceil() as usize, false)
    } else {
        ((min_gap / band).ceil() as usize, true)
    };
    let mut picked: Vec<usize> = (0..n).rev().step_by(step.max(1)).collect();
    picked.reverse();
    (picked, rotated, widest)
}

/// Room under the plot for the x labels.
pub(super) fn label_room(rotated: bool, widest: f64) -> f64 {
    if rotated { 14.0 + widest * 0.72 } else { 22.0 }
}

/// Horizontal labels are kept inside `0..width` so the first and last are
/// not cut off by the SVG's edge, and drawn newest first so a label that
/// would touch its right-hand neighbour (after that clamp) is the one left
/// out.
pub(super) fn x_labels(
    o: &mut String,
    runs: &[TrendRun],
    picked: &[usize],
    rotated: bool,
    x: impl Fn(usize) -> f64,
    y: f64,
    width: f64,
) {
    let mut free_until = f64::INFINITY;
    for &i in picked.iter().rev() {
        let short = label_of(&runs[i]);
        let label = t(&short);
        if rotated {
            let px = x(i) + 3.0;
            let _ = write!(
                o,
                "<text class=\"tk\" x=\"{}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-45 {} {})\">{label}</text>",
                C(px),
                C(y + 6.0),
                C(px),
                C(y + 6.0)
            );
            continue;
        }
        let half = short.chars().count() as f64 * CHAR_W / 2.0;
        let px = x(i).clamp(half.min(width / 2.0), (width - half).max(width / 2.0));
        if px + half + 6.0 > free_until {
            continue;
        }
        free_until = px - half;
        let _ = write!(
            o,
            "<text class=\"tk\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            C(px),
            C(y + 14.0)
        );
    }
}
