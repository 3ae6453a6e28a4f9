//! Schema files named by `expect.schema`: found, read and compiled once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_saphyr::Spanned;

use super::Validator;

impl Validator<'_> {
    pub(super) fn schema(&mut self, s: &Spanned<String>) {
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
