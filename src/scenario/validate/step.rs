//! The checks of one step as a whole: its name, its kind, its repeat count
//! and its captures; the parts are checked in the sibling modules.

use std::collections::{BTreeMap, BTreeSet};

use serde_saphyr::Spanned;

use super::Validator;
use crate::scenario::model::{Capture, Step};

impl Validator<'_> {
    pub(super) fn step(
        &mut self,
        spanned: &Spanned<Step>,
        defined: &BTreeSet<String>,
        names: &mut BTreeMap<String, u64>,
    ) {
        let step = &spanned.value;
        let at = spanned.referenced;
        if step.name.trim().is_empty() {
            self.err(at, "step `name` must not be empty");
        } else if let Some(first) = names.get(&step.name) {
            self.err(
                at,
                format!(
                    "duplicate step name `{}` (first used at line {first}): names identify steps in reports",
                    step.name
                ),
            );
        } else {
            names.insert(step.name.clone(), at.line());
        }
        match (&step.request, &step.command) {
            (Some(req), None) => self.request(step, req, at, defined),
            (None, Some(cmd)) => self.command(step, cmd, at, defined),
            (Some(_), Some(cmd)) => self.err(
                cmd.referenced,
                "a step has either `request` or `command`, not both",
            ),
            (None, None) => self.err(
                at,
                "a step needs `request` (an HTTP request) or `command` (a local program)",
            ),
        }
        if step.repeat.as_ref().is_some_and(|r| r.value == 0) {
            self.err(at, "`repeat` must be at least 1");
        }
        self.expect(step, at, defined);
        for (name, cap) in &step.capture {
            if !valid_var_name(name) {
                self.err(
                    at,
                    format!("capture name `{name}` may only use letters, digits, `_` and `-`"),
                );
            }
            if let Capture::Source(src) = cap {
                if let Some(h) = &src.header {
                    self.check_header_name(h, at);
                }
            }
        }
    }
}

fn valid_var_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
