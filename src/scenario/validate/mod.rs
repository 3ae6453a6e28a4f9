//! Checks that need more than one value at a time: variables defined before
//! use, schema files that exist and compile, assertions that make sense.
//! Every problem is collected (not just the first) and pinned to a location.

mod command;
mod expect;
mod ranges;
mod refs;
mod request;
mod schema;
mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde_saphyr::Location;

use super::model::{CommandLine, FORMAT_VERSION, Scenario, Step};
use super::repair::Assumed;
use super::source::{ScenarioError, Source};

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

    /// Validates the scenario; `cli_vars` are the `--var` names.
    pub fn run(
        mut self,
        sc: &Scenario,
        cli_vars: &BTreeSet<String>,
    ) -> Result<Schemas, Vec<ScenarioError>> {
        if sc.version.value != FORMAT_VERSION {
            self.err(
                sc.version.referenced,
                format!(
                    "scenario format version {} is not supported (this postdeploy reads version {FORMAT_VERSION})",
                    sc.version.value
                ),
            );
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

/// A pattern for the value of `field` (its group `at`), for `err_near`.
fn field_at(field: &str) -> String {
    format!(r"\b{}\s*:\s*(?P<at>\S)", regex::escape(field))
}
