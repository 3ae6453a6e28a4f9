//! Scenario files: the typed model, reading with positions, validation and
//! templating. Everything here runs before the first request is sent.

pub mod model;
mod repair;
mod source;
pub mod template;
mod tree;
mod validate;
pub mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use model::Scenario;
pub use source::{Parsed, ScenarioError, Source};
pub use validate::{LOCAL_LOG, Schemas, captured_names, missing_programs};

/// A scenario that parsed and validated, with what the runners need.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub path: PathBuf,
    /// Hex SHA-256 of the file, recorded in reports so runs can be tied to
    /// the exact checks they ran.
    pub sha256: String,
    pub scenario: Scenario,
    pub schemas: Schemas,
    /// Environment variables the file reads (`${env.NAME}`): their values
    /// are secrets that reports redact.
    pub env_refs: BTreeSet<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Extra directories searched for schema files named in `expect.schema`.
    pub schema_dirs: Vec<PathBuf>,
    /// Variables given on the command line (they count as defined).
    pub vars: BTreeMap<String, String>,
}

/// Expands directories into their `*.yaml`/`*.yml` files, sorted.
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| ScenarioError {
                    file: p.clone(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read directory: {e}"),
                    snippet: None,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| matches!(f.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ScenarioError {
                    file: p.clone(),
                    line: 0,
                    column: 0,
                    message: "no scenario files (*.yaml, *.yml) in this directory".into(),
                    snippet: None,
                });
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Loads and validates one file, reporting every problem found in it.
pub fn read_file(path: &Path, opts: &ReadOptions) -> Result<ScenarioFile, Vec<ScenarioError>> {
    let src = Source::read(path).map_err(|e| vec![e])?;
    let parsed = src.parse_all();
    let mut errors = parsed.errors;
    let mut cli: BTreeSet<String> = opts.vars.keys().cloned().collect();
    cli.extend(parsed.assumed.vars.iter().cloned());
    let touched = parsed.assumed.touched.clone();
    let mut valid = None;
    if let Some(scenario) = parsed.scenario {
        match validate::Validator::new(&parsed.repaired, &opts.schema_dirs)
            .assume(parsed.assumed)
            .run(&scenario, &cli)
        {
            Ok(schemas) => valid = Some((scenario, schemas)),
            Err(e) => errors.extend(
                e.into_iter()
                    .filter(|e| !touched.contains(&(e.line, e.column)))
                    .map(|e| src.rerender(e)),
            ),
        }
    }
    let (scenario, schemas) = match valid {
        Some(v) if errors.is_empty() => v,
        _ => return Err(in_order(errors)),
    };
    let env_refs = src
        .text
        .lines()
        .filter_map(|l| template::references(l).ok())
        .flatten()
        .filter_map(|r| match r {
            template::VarRef::Env(n) => Some(n),
            template::VarRef::Var(_) => None,
        })
        .collect();
    Ok(ScenarioFile {
        path: path.to_path_buf(),
        sha256: hex(&Sha256::digest(src.text.as_bytes())),
        scenario,
        schemas,
        env_refs,
    })
}

/// Loads every file; all errors of all files are returned together so a
/// user fixes them in one pass.
pub fn read_all(
    paths: &[PathBuf],
    opts: &ReadOptions,
) -> Result<Vec<ScenarioFile>, Vec<ScenarioError>> {
    let files = discover(paths).map_err(|e| vec![e])?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for f in &files {
        match read_file(f, opts) {
            Ok(l) => loaded.push(l),
            Err(e) => errors.extend(e),
        }
    }
    let mut names = BTreeMap::new();
    for l in &loaded {
        if let Some(prev) = names.insert(l.scenario.name.clone(), l.path.clone()) {
            errors.push(ScenarioError {
                file: l.path.clone(),
                line: 0,
                column: 0,
                message: format!(
                    "scenario name `{}` is also used by {}; names identify suites in reports",
                    l.scenario.name,
                    prev.display()
                ),
                snippet: None,
            });
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}

/// Errors by position, each once.
fn in_order(mut errors: Vec<ScenarioError>) -> Vec<ScenarioError> {
    errors.sort_by(|a, b| (a.line, a.column, &a.message).cmp(&(b.line, b.column, &b.message)));
    errors.dedup_by(|a, b| (a.line, a.column, &a.message) == (b.line, b.column, &b.message));
    errors
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON Schema of the scenario format, generated from the model.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(model::Scenario)).unwrap_or_default()
}
