//! The checks of a command step.

use std::collections::BTreeSet;

use serde_saphyr::{Location, Spanned};

use super::Validator;
use crate::scenario::model::{CommandLine, Step};

impl Validator<'_> {
    /// The checks of a command step: a runnable command line, variables
    /// defined, and only the expectations a program's output can meet.
    pub(super) fn command(
        &mut self,
        step: &Step,
        cmd: &Spanned<CommandLine>,
        at: Location,
        defined: &BTreeSet<String>,
    ) {
        match &cmd.value {
            CommandLine::Argv(argv) => {
                if argv.first().is_none_or(|p| p.trim().is_empty()) {
                    self.err(
                        cmd.referenced,
                        "`command` needs a program to run: `[program, arg, ...]`",
                    );
                }
                if step.shell {
                    self.err_near(
                        at,
                        r"\b(?P<at>shell)\s*:",
                        "`shell: true` runs one string through `sh -c`: write `command` as a string, or drop `shell` to run the list as is",
                    );
                }
            }
            CommandLine::Shell(line) => {
                if !step.shell {
                    self.err(
                        cmd.referenced,
                        "`command` is a string: write it as a list (`[program, arg, ...]`), or add `shell: true` to run it through `sh -c`",
                    );
                } else if line.trim().is_empty() {
                    self.err(cmd.referenced, "`command` must not be empty");
                }
            }
        }
        for part in cmd.value.parts() {
            self.check_refs(part, cmd.referenced, defined);
        }
        for (k, v) in &step.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                self.err_near(
                    at,
                    r"\b(?P<at>env)\s*:",
                    format!("invalid environment variable name `{k}`"),
                );
            }
            self.check_refs(v, at, defined);
        }
        if let Some(c) = &step.cwd {
            self.check_refs(c, at, defined);
        }
        if let Some(t) = step.timeout.as_ref().filter(|t| t.value.0.is_zero()) {
            self.err(t.referenced, "`timeout` must be more than 0");
        }
        if let Some(m) = step.max_output.as_ref().filter(|m| m.value == 0) {
            self.err(m.referenced, "`max_output` must be more than 0");
        }
        let ex = &step.expect;
        let request_only = [
            ("status", ex.status.is_some()),
            ("max_latency", ex.max_latency.is_some()),
            ("headers", !ex.headers.is_empty()),
            ("body", !ex.body.is_empty()),
            ("schema", ex.schema.is_some()),
            ("metrics", !ex.metrics.is_empty()),
            ("distinct", !ex.distinct.is_empty()),
            ("repeat", step.repeat.is_some()),
        ];
        for (field, set) in request_only {
            if set {
                self.err_near(
                    at,
                    &format!(r"\b(?P<at>{field})\s*:"),
                    format!("`{field}` applies to `request` steps; a command step expects `exit_code` and `lines`"),
                );
            }
        }
        if !step.capture.is_empty() {
            self.err_near(
                at,
                r"\b(?P<at>capture)\s*:",
                "a command step captures with named regex groups in `lines` (`(?P<name>...)`), not `capture`",
            );
        }
        if let Some(code) = ex
            .exit_code
            .as_ref()
            .filter(|c| !(0..=255).contains(&c.value))
        {
            self.err(
                code.referenced,
                format!(
                    "`exit_code: {}` is outside 0..=255 (what a process can exit with)",
                    code.value
                ),
            );
        }
        for l in &ex.lines {
            self.line_assert(l, at, defined);
        }
    }
}
