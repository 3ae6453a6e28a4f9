//! The checks of what a step expects: distinct answers, headers, body,
//! schema and metrics of a request, the lines of a command's output.

use std::collections::BTreeSet;

use serde_saphyr::{Location, Spanned};

use super::Validator;
use super::field_at;
use crate::scenario::model::{BodyAssert, Comparison, LineAssert, MetricAssert, Step};
use crate::scenario::template::json_references;

impl Validator<'_> {
    /// What a step expects, checked whatever its kind: a misplaced
    /// expectation is reported by `request`/`command` and still checked here.
    pub(super) fn expect(&mut self, step: &Step, at: Location, defined: &BTreeSet<String>) {
        let ex = &step.expect;
        if !ex.distinct.is_empty() && step.repeat.as_ref().map_or(1, |r| r.value) < 2 {
            self.err_near(
                at,
                r"\b(?P<at>distinct)\s*:",
                "`distinct` compares the answers of a repeated step: add `repeat: N` (N >= 2) to this step",
            );
        }
        for d in &ex.distinct {
            use crate::scenario::model::Count::Number;
            let repeat = step.repeat.as_ref().map_or(1, |r| r.value);
            match (&d.at_least, &d.at_most) {
                (Some(Number(lo)), _) if *lo > repeat && repeat >= 2 => self.err_near(
                    at,
                    &field_at("at_least"),
                    format!("`at_least: {lo}` distinct values can never come from `repeat: {repeat}` answers"),
                ),
                (Some(Number(lo)), Some(Number(hi))) if lo > hi => self.err_near(
                    at,
                    &field_at("at_most"),
                    format!("`at_most: {hi}` is less than `at_least: {lo}`"),
                ),
                _ => {}
            }
            for c in [&d.at_least, &d.at_most].into_iter().flatten() {
                if let crate::scenario::model::Count::Var(v) = c {
                    self.check_refs(v, at, defined);
                }
            }
        }
        for (name, h) in &ex.headers {
            if h.present.is_none()
                && h.equals.is_none()
                && h.matches.is_none()
                && h.contains.is_none()
            {
                self.err(at, format!("header expectation `{name}` needs one of present, equals, matches, contains"));
            }
            for s in [&h.equals, &h.contains].into_iter().flatten() {
                self.check_refs(&s.value, s.referenced, defined);
            }
        }
        for b in &ex.body {
            let any = b.has_operator();
            let ops = [("lt", b.lt), ("le", b.le), ("gt", b.gt), ("ge", b.ge)];
            for (op, v) in ops.into_iter().chain(length_ops(b.length.as_ref())) {
                if v.is_some_and(|v| !v.is_finite()) {
                    self.err_near(
                        at,
                        &field_at(op),
                        format!(
                            "body assertion on `{}`: `{op}` must be a finite number",
                            b.path.source
                        ),
                    );
                }
            }
            if !any {
                self.err(
                    at,
                    format!(
                        "body assertion on `{}` has no operator (equals, exists, matches, ...)",
                        b.path.source
                    ),
                );
            }
            self.body_refs(b, defined);
        }
        if let Some(s) = &ex.schema {
            self.schema(s);
        }
        for m in &ex.metrics {
            self.metric(&m.value, m.referenced, defined);
        }
    }

    /// Variables the JSON values of a body assertion read must be defined.
    fn body_refs(&mut self, b: &BodyAssert, defined: &BTreeSet<String>) {
        for v in [&b.equals, &b.not_equals, &b.contains]
            .into_iter()
            .flatten()
        {
            match json_references(&v.value) {
                Ok(refs) => self.check_ref_list(refs, v.referenced, defined),
                Err(e) => self.err(v.referenced, e),
            }
        }
    }

    pub(super) fn line_assert(&mut self, l: &LineAssert, at: Location, defined: &BTreeSet<String>) {
        let near = r"\b(?P<at>(none_match|some_match|match|json_path|count))\s*:";
        let regexes = [&l.none_match, &l.some_match, &l.matches]
            .into_iter()
            .filter(|r| r.is_some())
            .count();
        if regexes > 1 {
            self.err_near(
                at,
                near,
                "a `lines` assertion takes one of `none_match`, `some_match`, `match`",
            );
            return;
        }
        if regexes == 0 && l.json_path.is_none() {
            self.err_near(at, r"\b(?P<at>lines)\s*:", "a `lines` assertion needs `none_match`, `some_match`, `match` or `json_path` to say which lines it looks at");
            return;
        }
        let quantified = l.none_match.is_some() || l.some_match.is_some();
        match (&l.count, quantified) {
            (Some(_), true) => self.err_near(
                at,
                r"\b(?P<at>count)\s*:",
                "`count` goes with `match` or `json_path`; `none_match` already means none and `some_match` at least one",
            ),
            (None, false) => self.err_near(
                at,
                near,
                "`match` and `json_path` need `count` (a number, or e.g. `{ ge: 1 }`)",
            ),
            _ => {}
        }
        if let Some(Comparison::Ops(o)) = &l.count {
            if [o.equals, o.lt, o.le, o.gt, o.ge]
                .iter()
                .flatten()
                .any(|v| !v.is_finite())
            {
                self.err_near(
                    at,
                    r"\b(?P<at>count)\s*:",
                    "`count` must compare with finite numbers",
                );
            }
            if [o.equals, o.lt, o.le, o.gt, o.ge]
                .iter()
                .all(Option::is_none)
            {
                self.err_near(
                    at,
                    r"\b(?P<at>count)\s*:",
                    "`count` needs an operator (equals, lt, le, gt, ge)",
                );
            }
        }
        if let Some(b) = &l.json_path {
            let any = b.has_operator();
            if !any {
                self.err_near(
                    at,
                    r"\b(?P<at>json_path)\s*:",
                    format!(
                        "`json_path` on `{}` has no operator (equals, exists, matches, ...)",
                        b.path.source
                    ),
                );
            }
            self.body_refs(b, defined);
        }
    }

    fn metric(&mut self, m: &MetricAssert, at: Location, defined: &BTreeSet<String>) {
        let kinds = usize::from(m.family.is_some())
            + usize::from(m.sample.is_some())
            + usize::from(m.histogram.is_some());
        if kinds != 1 {
            let given: Vec<&str> = [
                ("`family`", m.family.is_some()),
                ("`sample`", m.sample.is_some()),
                ("`histogram`", m.histogram.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            let given = if given.is_empty() {
                "none".to_string()
            } else {
                given.join(" and ")
            };
            self.err(
                at,
                format!("a metrics assertion needs exactly one of `family`, `sample`, `histogram` (this one has {given})"),
            );
            return;
        }
        let ops = [m.equals, m.not_equals, m.lt, m.le, m.gt, m.ge];
        let has_op = ops.iter().any(Option::is_some);
        if ops.iter().flatten().any(|v| !v.is_finite()) {
            self.err(at, "a metrics comparison must be a finite number");
        }
        if m.histogram.is_some() {
            match m.quantile {
                Some(q) if (0.0..=1.0).contains(&q) => {}
                Some(q) => self.err(at, format!("quantile {q} is outside [0, 1]")),
                None => self.err(at, "`histogram` needs `quantile` (e.g. 0.95)"),
            }
        } else if m.quantile.is_some() || !m.by.is_empty() {
            self.err(at, "`quantile` and `by` apply to `histogram` only");
        }
        if (m.sample.is_some() || m.histogram.is_some()) && !has_op {
            self.err(at, "a `sample` or `histogram` assertion needs a comparison (equals, lt, le, gt, ge, not_equals)");
        }
        if let Some(Spanned {
            value: v,
            referenced: v_at,
            ..
        }) = &m.delta_from
        {
            if m.sample.is_none() && m.histogram.is_none() {
                self.err(
                    *v_at,
                    "`delta_from` applies to `sample` and `histogram` only",
                );
            } else if !defined.contains(v) {
                let known = if defined.is_empty() {
                    "none is defined yet".to_string()
                } else {
                    format!(
                        "defined so far: {}",
                        defined.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                self.err(
                    *v_at,
                    format!(
                        "`delta_from: {v}` names no variable captured by an earlier step ({known})"
                    ),
                );
            }
        }
    }
}

/// The operators of a `length` comparison, by name.
fn length_ops(c: Option<&Comparison>) -> Vec<(&'static str, Option<f64>)> {
    match c {
        Some(Comparison::Ops(o)) => vec![
            ("equals", o.equals),
            ("lt", o.lt),
            ("le", o.le),
            ("gt", o.gt),
            ("ge", o.ge),
        ],
        _ => Vec::new(),
    }
}
