//! An objective's bound and its direction: what a scenario, `--slo` or a
//! recorded report says a metric must stay within.

use serde::Serialize;

use super::Metric;

/// Comparison an objective requires of the measured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub(super) fn holds(self, actual: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => actual < threshold,
            Op::Le => actual <= threshold,
            Op::Gt => actual > threshold,
            Op::Ge => actual >= threshold,
        }
    }

    pub(super) fn is_upper(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// One bound, in the metric's unit (see [`Metric::unit`]).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Objective {
    pub op: Op,
    pub threshold: f64,
    /// Where it came from: a scenario file, `--slo`, or a default budget.
    pub origin: String,
}

impl Objective {
    /// True when `self` is at least as strict as `other` (same direction).
    pub(super) fn stricter_than(&self, other: &Objective) -> bool {
        let strict = |o: Op| matches!(o, Op::Lt | Op::Gt);
        if self.threshold == other.threshold {
            return strict(self.op) || !strict(other.op);
        }
        if self.op.is_upper() {
            self.threshold < other.threshold
        } else {
            self.threshold > other.threshold
        }
    }

    /// `200 ms`, `< 200 ms`, `>= 100/s`: `<=` is how people read an upper
    /// threshold, so it goes unsaid.
    pub fn describe(&self, metric: Metric) -> String {
        match self.op {
            Op::Le => metric.show(self.threshold),
            op => format!("{} {}", op.symbol(), metric.show(self.threshold)),
        }
    }
}

/// One objective with its scope, as reports record it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RecordedObjective {
    pub scope: String,
    pub metric: Metric,
    #[serde(flatten)]
    pub objective: Objective,
}
