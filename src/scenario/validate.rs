//! Checks that need more than one value at a time: variables defined before
//! use, schema files that exist and compile, assertions that make sense.
//! Every problem is collected (not just the first) and pinned to a location.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_saphyr::{Location, Spanned};

use super::model::{
    BodyAssert, Capture, CommandLine, Comparison, FORMAT_VERSION, LineAssert, MetricAssert,
    Scenario, Step,
};
use super::repair::Assumed;
use super::source::{ScenarioError, Source};
use super::template::{VarRef, json_references, references};

/// Compiled JSON Schemas of one scenario, by the name the file uses.
pub type Schemas = BTreeMap<String, Arc<jsonschema::Validator>>;

pub struct Validator<'a> {
    src: &'a Source,
    schema_dirs: &'a [PathBuf],
    errors: Vec<ScenarioError>,
    schemas: Schemas,
    assumed: Assumed,
}

impl<'a> Validator<'a> {
    pub fn new(src: &'a Source, schema_dirs: &'a [PathBuf]) -> Self {
        Validator {
            src,
            schema_dirs,
            errors: Vec::new(),
            schemas: Schemas::new(),
            assumed: Assumed::default(),
        }
    }

    /// Names that entries removed for their own defects defined (see
    /// `repair`): references to them are not reported again.
    pub fn assume(mut self, assumed: Assumed) -> Self {
        self.assumed = assumed;
        self
    }

    fn err(&mut self, loc: Location, msg: impl Into<String>) {
        self.errors.push(self.src.error_at(loc, msg));
    }

    /// An error at the first match of `pattern` (its group `at`) from `from`
    /// on: for values the model keeps no position of. Falls back to `from`.
    fn err_near(&mut self, from: Location, pattern: &str, msg: impl Into<String>) {
        let found = regex::Regex::new(pattern)
            .ok()
            .and_then(|re| self.src.find_from(from.line(), from.column(), &re));
        match found {
            Some((line, column)) => self.errors.push(self.src.error_at_line(line, column, msg)),
            None => self.err(from, msg),
        }
    }

    /// Like `err_near` from a line and column; a whole-file error when the
    /// pattern is not found.
    fn err_near_pos(&mut self, from: (u64, u64), pattern: &str, msg: impl Into<String>) {
        let found = regex::Regex::new(pattern)
            .ok()
            .and_then(|re| self.src.find_from(from.0, from.1, &re));
        let e = match found {
            Some((line, column)) => self.src.error_at_line(line, column, msg),
            None => self.src.error_whole(msg),
        };
        self.errors.push(e);
    }

    /// Where a top-level key starts, if the file has it.
    fn top_level(&self, key: &str) -> (u64, u64) {
        let re = regex::Regex::new(&format!(r"^(?P<at>{})\s*:", regex::escape(key)))
            .expect("escaped key");
        self.src.find_from(1, 1, &re).unwrap_or((0, 0))
    }

    /// Numbers and durations outside what makes sense, at scenario level.
    fn ranges(&mut self, sc: &Scenario) {
        if sc.weight == 0 || sc.weight > MAX_WEIGHT {
            let at = self.top_level("weight");
            self.err_near_pos(
                at,
                &field_at("weight"),
                format!("`weight: {}` is outside 1..={MAX_WEIGHT}", sc.weight),
            );
        }
        let defaults = self.top_level("defaults");
        for (field, d) in [
            ("timeout", sc.defaults.timeout),
            ("max_latency", sc.defaults.max_latency),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) && defaults.0 > 0 {
                self.err_near_pos(
                    defaults,
                    &field_at(field),
                    format!("`{field}` must be more than 0"),
                );
            }
        }
        let slo_at = self.top_level("slo");
        for (name, slo) in &sc.slo {
            let name_at =
                regex::Regex::new(&format!(r#"(?P<at>["']?{}["']?)\s*:"#, regex::escape(name)))
                    .ok()
                    .and_then(|re| self.src.find_from(slo_at.0, slo_at.1, &re))
                    .unwrap_or(slo_at);
            for (field, d) in [
                ("p50", slo.p50),
                ("p90", slo.p90),
                ("p95", slo.p95),
                ("p99", slo.p99),
                ("max", slo.max),
            ] {
                if d.is_some_and(|d| d.0.is_zero()) {
                    self.err_near_pos(
                        name_at,
                        &field_at(field),
                        format!(
                            "slo `{name}`: `{field}` must be more than 0 (no request takes no time)"
                        ),
                    );
                }
            }
            if let Some(r) = slo.min_rps.filter(|r| !r.is_finite() || *r < 0.0) {
                self.err_near_pos(
                    name_at,
                    &field_at("min_rps"),
                    format!("slo `{name}`: `min_rps: {r}` must be a finite number, 0 or more"),
                );
            }
        }
        // Regression tolerances: checked here so a typo is a positioned
        // error before anything is sent, not a fallback to the defaults.
        use crate::measure::metric::{Metric, parse_tolerance};
        let regress_at = self.top_level("regress");
        for (name, metrics) in &sc.regress {
            let name_at =
                regex::Regex::new(&format!(r#"(?P<at>["']?{}["']?)\s*:"#, regex::escape(name)))
                    .ok()
                    .and_then(|re| self.src.find_from(regress_at.0, regress_at.1, &re))
                    .unwrap_or(regress_at);
            for (metric, tol) in metrics {
                let problem = match Metric::parse(metric).and_then(Metric::as_tolerance) {
                    None => Some(format!(
                        "regress `{name}`: unknown metric `{metric}` (expected p50, p95, p99, error_rate or rate)"
                    )),
                    Some(m) => parse_tolerance(m, tol, super::values::parse_duration)
                        .err()
                        .map(|e| format!("regress `{name}`: `{metric}`: {e}")),
                };
                if let Some(msg) = problem {
                    self.err_near_pos(name_at, &field_at(metric), msg);
                }
            }
        }
    }

    /// Validates the scenario; `cli_vars` are the `--var` names.
    pub fn run(
        mut self,
        sc: &Scenario,
        cli_vars: &BTreeSet<String>,
    ) -> Result<Schemas, Vec<ScenarioError>> {
        if sc.version != FORMAT_VERSION {
            let msg = format!(
                "scenario format version {} is not supported (this postdeploy reads version {FORMAT_VERSION})",
                sc.version
            );
            let re = regex::Regex::new(r"^version\s*:\s*(?P<at>\S)").expect("static regex");
            match self.src.find_from(1, 1, &re) {
                Some((line, column)) => self.errors.push(self.src.error_at_line(line, column, msg)),
                None => self.errors.push(self.src.error_whole(msg)),
            }
        }
        if sc.name.trim().is_empty() {
            self.errors
                .push(self.src.error_whole("`name` must not be empty"));
        }
        if sc.steps.is_empty() && !self.assumed.steps_removed {
            self.errors.push(
                self.src
                    .error_whole("a scenario needs at least one step in `steps`"),
            );
        }
        self.ranges(sc);
        let mut defined: BTreeSet<String> = sc.vars.keys().cloned().collect();
        defined.extend(cli_vars.iter().cloned());
        for (name, h) in &sc.defaults.headers {
            self.check_header_name(name, h.referenced);
            self.check_refs(&h.value, h.referenced, &defined);
        }
        let mut names = BTreeMap::new();
        if sc.local_only {
            defined.insert(LOCAL_LOG.to_string());
        }
        for step in &sc.steps {
            self.step(step, &defined, &mut names);
            defined.extend(captured_names(&step.value));
        }
        // Teardown may use anything a step could have captured; at run time
        // a teardown step whose variables were never captured is skipped.
        for step in &sc.teardown {
            self.step(step, &defined, &mut names);
            defined.extend(captured_names(&step.value));
        }
        let secrets_key = regex::Regex::new(r"(?m)^secrets\s*:").expect("static regex");
        for name in &sc.secrets {
            if !defined.contains(name) && !self.assumed.vars.contains(name) {
                let msg = format!(
                    "`secrets` names `{name}`, which is no variable (define it in `vars`, pass `--var`, or capture it)"
                );
                let re = regex::Regex::new(&format!(r"\b(?P<at>{})\b", regex::escape(name)))
                    .expect("escaped regex");
                match self
                    .src
                    .find_from(1, 1, &secrets_key)
                    .and_then(|(l, c)| self.src.find_from(l, c, &re))
                {
                    Some((line, column)) => {
                        self.errors.push(self.src.error_at_line(line, column, msg))
                    }
                    None => self.errors.push(self.src.error_whole(msg)),
                }
            }
        }
        for name in sc.slo.keys() {
            if name != "*" && !names.contains_key(name) && !self.assumed.steps.contains(name) {
                self.errors.push(self.src.error_whole(format!(
                    "slo `{name}` names no step (use a step name or \"*\")"
                )));
            }
        }
        if self.errors.is_empty() {
            Ok(self.schemas)
        } else {
            Err(self.errors)
        }
    }

    fn step(
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
        if step.repeat == Some(0) {
            self.err(at, "`repeat` must be at least 1");
        }
        let ex = &step.expect;
        if !ex.distinct.is_empty() && step.repeat.unwrap_or(1) < 2 {
            self.err_near(
                at,
                r"\b(?P<at>distinct)\s*:",
                "`distinct` compares the answers of a repeated step: add `repeat: N` (N >= 2) to this step",
            );
        }
        for d in &ex.distinct {
            use super::model::Count::Number;
            let repeat = step.repeat.unwrap_or(1);
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
                if let super::model::Count::Var(v) = c {
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

    /// The checks of an HTTP request step.
    fn request(
        &mut self,
        step: &Step,
        req: &super::model::Request,
        at: Location,
        defined: &BTreeSet<String>,
    ) {
        let method_at = format!(
            r#"\bmethod\s*:\s*(?P<at>["']?{})"#,
            regex::escape(&req.method)
        );
        if http::Method::from_bytes(req.method.as_bytes()).is_err() {
            self.err_near(
                at,
                &method_at,
                format!(
                    "invalid HTTP method `{}`: a method is one token without spaces or separators (GET, POST, PATCH, ...)",
                    req.method
                ),
            );
        } else if let Some(near) = method_typo(&req.method) {
            self.err_near(
                at,
                &method_at,
                format!(
                    "unknown HTTP method `{}`; did you mean `{near}`? (extension methods far from the standard ones, such as PURGE, are allowed)",
                    req.method
                ),
            );
        }
        for (field, d) in [
            ("timeout", req.timeout),
            ("max_latency", step.expect.max_latency),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) {
                self.err_near(
                    at,
                    &field_at(field),
                    format!("`{field}` must be more than 0"),
                );
            }
        }
        if let Some(n) = step.repeat.filter(|&n| n > MAX_REPEAT) {
            self.err_near(
                at,
                &field_at("repeat"),
                format!("`repeat: {n}` is more than the most allowed, {MAX_REPEAT}: a gate must not hammer the target"),
            );
        }
        if req.path.value.trim().is_empty() {
            self.err(req.path.referenced, "`path` must not be empty");
        }
        self.check_refs(&req.path.value, req.path.referenced, defined);
        for (k, v) in &req.query {
            self.check_refs(k, v.referenced, defined);
            self.check_refs(&v.value, v.referenced, defined);
        }
        for (k, v) in &req.headers {
            self.check_header_name(k, v.referenced);
            self.check_refs(&v.value, v.referenced, defined);
        }
        if let Some(j) = &req.json {
            match json_references(&j.value) {
                Ok(refs) => self.check_ref_list(refs, j.referenced, defined),
                Err(e) => self.err(j.referenced, e),
            }
        }
        if let Some(b) = &req.body {
            self.check_refs(&b.value, b.referenced, defined);
        }
        if let (Some(j), Some(b)) = (&req.json, &req.body) {
            self.err_near(
                b.referenced,
                r"(?P<at>\S)",
                format!(
                    "a request has either `json` or `body`, not both (`json` is at line {})",
                    j.referenced.line()
                ),
            );
        }
        let command_only = [
            ("shell", step.shell),
            ("env", !step.env.is_empty()),
            ("cwd", step.cwd.is_some()),
            ("timeout", step.timeout.is_some()),
            ("max_output", step.max_output.is_some()),
            ("exit_code", step.expect.exit_code.is_some()),
            ("lines", !step.expect.lines.is_empty()),
        ];
        for (field, set) in command_only {
            if set {
                self.err_near(
                    at,
                    &format!(r"\b(?P<at>{field})\s*:"),
                    format!("`{field}` applies to `command` steps; this step sends a `request`"),
                );
            }
        }
    }

    /// The checks of a command step: a runnable command line, variables
    /// defined, and only the expectations a program's output can meet.
    fn command(
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
        if step.timeout.is_some_and(|d| d.0.is_zero()) {
            self.err_near(at, &field_at("timeout"), "`timeout` must be more than 0");
        }
        if step.max_output == Some(0) {
            self.err_near(
                at,
                &field_at("max_output"),
                "`max_output` must be more than 0",
            );
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
        if let Some(code) = ex.exit_code.filter(|c| !(0..=255).contains(c)) {
            self.err_near(
                at,
                &field_at("exit_code"),
                format!("`exit_code: {code}` is outside 0..=255 (what a process can exit with)"),
            );
        }
        for l in &ex.lines {
            self.line_assert(l, at, defined);
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

    fn line_assert(&mut self, l: &LineAssert, at: Location, defined: &BTreeSet<String>) {
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
        if let Some(v) = &m.delta_from {
            let near = format!(r#"\bdelta_from\s*:\s*(?P<at>["']?{})"#, regex::escape(v));
            if m.sample.is_none() && m.histogram.is_none() {
                self.err_near(
                    at,
                    &near,
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
                self.err_near(
                    at,
                    &near,
                    format!(
                        "`delta_from: {v}` names no variable captured by an earlier step ({known})"
                    ),
                );
            }
        }
    }

    fn schema(&mut self, s: &Spanned<String>) {
        if self.schemas.contains_key(&s.value) {
            return;
        }
        let Some(path) = find_schema(&s.value, &self.src.path, self.schema_dirs) else {
            let looked: Vec<String> = schema_candidates(&s.value, &self.src.path, self.schema_dirs)
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            self.err(
                s.referenced,
                format!(
                    "schema file `{}` not found (looked in {})",
                    s.value,
                    looked.join(", ")
                ),
            );
            return;
        };
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str::<serde_json::Value>(&t)
                    .map_err(|e| format!("not valid JSON: {e}"))
            });
        match parsed.and_then(|v| {
            jsonschema::options()
                .should_validate_formats(true)
                .build(&v)
                .map_err(|e| format!("not a valid JSON Schema: {e}"))
        }) {
            Ok(v) => {
                self.schemas.insert(s.value.clone(), Arc::new(v));
            }
            Err(e) => self.err(s.referenced, format!("schema `{}`: {e}", path.display())),
        }
    }

    fn check_header_name(&mut self, name: &str, at: Location) {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            self.err(at, format!("invalid header name `{name}`"));
        }
    }

    fn check_refs(&mut self, s: &str, at: Location, defined: &BTreeSet<String>) {
        match references(s) {
            Ok(refs) => self.check_ref_list(refs, at, defined),
            Err(e) => self.err(at, e),
        }
    }

    fn check_ref_list(&mut self, refs: Vec<VarRef>, at: Location, defined: &BTreeSet<String>) {
        for r in refs {
            match r {
                VarRef::Var(n) if !defined.contains(&n) => {
                    let hint = defined
                        .iter()
                        .map(|d| (strsim::damerau_levenshtein(&n, d), d))
                        .filter(|(d, _)| *d <= 2)
                        .min()
                        .map(|(_, d)| format!("; did you mean `{d}`?"))
                        .unwrap_or_else(|| {
                            if !n.starts_with(crate::tf::PREFIX) {
                                " (define it in `vars`, pass `--var`, or capture it in an earlier step)"
                            } else if defined.iter().any(|d| d.starts_with(crate::tf::PREFIX)) {
                                " (no such Terraform output in --tf-outputs)"
                            } else {
                                " (pass --tf-outputs FILE, the output of `terraform output -json`)"
                            }
                            .to_string()
                        });
                    let near = format!(r"(?P<at>\$\{{\s*{}\s*\}})", regex::escape(&n));
                    self.err_near(at, &near, format!("undefined variable `{n}`{hint}"));
                }
                VarRef::Env(n) if std::env::var_os(&n).is_none() => {
                    let near = format!(r"(?P<at>\$\{{\s*env\.{}\s*\}})", regex::escape(&n));
                    self.err_near(
                        at,
                        &near,
                        format!("environment variable `{n}` is not set (export it before running)"),
                    );
                }
                _ => {}
            }
        }
    }
}

/// The variable naming the embedded backend's log file, defined for
/// `local_only` scenarios.
pub const LOCAL_LOG: &str = "local_log";

/// The variables a step defines for later ones: its `capture` names and
/// the named groups of its `lines` regexes.
pub fn captured_names(step: &Step) -> Vec<String> {
    let mut out: Vec<String> = step.capture.keys().cloned().collect();
    for l in &step.expect.lines {
        for p in [&l.some_match, &l.matches].into_iter().flatten() {
            out.extend(p.0.capture_names().flatten().map(str::to_string));
        }
    }
    out
}

/// Programs of argv command steps that are neither a path nor found on
/// `PATH`, with the line of their step: a warning (the program may exist
/// where the gate runs), never an error.
pub fn missing_programs(sc: &Scenario) -> Vec<(u64, String)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    sc.steps
        .iter()
        .chain(&sc.teardown)
        .filter_map(|s| match s.value.command.as_ref().map(|c| &c.value) {
            Some(CommandLine::Argv(argv)) => {
                let p = argv.first()?;
                let found = p.contains('/')
                    || p.contains("${")
                    || std::env::split_paths(&path).any(|d| d.join(p).is_file());
                (!found).then(|| (s.referenced.line(), p.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Most answers one step may ask for.
const MAX_REPEAT: u32 = 10_000;

/// Highest load-test weight: weights expand into a schedule of that many
/// slots per round.
const MAX_WEIGHT: u32 = 1_000;

/// The methods of RFC 9110 (and PATCH); the model keeps a method as written
/// (case included) and sends it as is.
const STANDARD_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// The standard method a non-standard one is a typo of: within two edits
/// (`GTE`, `POTS`). Extension methods further away (PURGE, PROPFIND) are
/// legitimate and allowed.
fn method_typo(method: &str) -> Option<&'static str> {
    if STANDARD_METHODS.contains(&method) {
        return None;
    }
    STANDARD_METHODS
        .iter()
        .map(|m| (strsim::damerau_levenshtein(method, m), *m))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, m)| m)
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

/// A pattern for the value of `field` (its group `at`), for `err_near`.
fn field_at(field: &str) -> String {
    format!(r"\b{}\s*:\s*(?P<at>\S)", regex::escape(field))
}

fn valid_var_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Where a schema named in a scenario is looked for, in order: the
/// `--schemas` directories, next to the scenario, and `../schemas` from it
/// (the layout of this repository).
fn schema_candidates(name: &str, scenario: &Path, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return vec![p.to_path_buf()];
    }
    let base = scenario.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = dirs.iter().map(|d| d.join(p)).collect();
    out.push(base.join(p));
    out.push(base.join("..").join("schemas").join(p));
    out
}

fn find_schema(name: &str, scenario: &Path, dirs: &[PathBuf]) -> Option<PathBuf> {
    schema_candidates(name, scenario, dirs)
        .into_iter()
        .find(|p| p.is_file())
}
