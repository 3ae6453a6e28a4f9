//! `schemas/scenario.schema.json` is generated from the scenario model and
//! committed for editors and CI linters. These tests keep it in step with
//! the model, and check that it accepts the bundled scenarios and rejects
//! the structurally broken ones.

use crate::support;

use serde_json::Value;

const SCHEMA: &str = "schemas/scenario.schema.json";
const REGENERATE: &str = "cargo run -- schema > schemas/scenario.schema.json";

fn committed() -> String {
    std::fs::read_to_string(support::root().join(SCHEMA))
        .unwrap_or_else(|e| panic!("cannot read {SCHEMA} ({e}); generate it with `{REGENERATE}`"))
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&committed()).expect("the committed schema is JSON");
    jsonschema::validator_for(&schema).expect("the committed schema is a valid JSON Schema")
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(support::root().join(path))
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

#[test]
fn committed_schema_matches_the_model() {
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&postdeploy::scenario::json_schema())
            .expect("serialize schema")
    );
    // Not assert_eq!: a diff of two whole schemas buries the instruction.
    if committed() != generated {
        let first = committed()
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "at the end".to_string(),
                |i| format!("from line {}", i + 1),
            );
        panic!(
            "{SCHEMA} is out of date with the scenario model (src/scenario/model.rs); they differ {first}.\n\
             Regenerate it with:\n\n    {REGENERATE}\n\nand commit the result."
        );
    }
}

#[test]
fn bundled_scenarios_match_the_schema() {
    let v = validator();
    let dir = support::root().join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("read scenarios/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .map(|n| format!("scenarios/{n}"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "bundled scenarios: {files:?}");
    for f in &files {
        let errors: Vec<String> = v
            .iter_errors(&yaml(f))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{f} does not match {SCHEMA}:\n{}",
            errors.join("\n")
        );
    }
}

/// Structural defects (unknown keys, wrong types, missing fields, values
/// out of range) are caught by the schema too, so an editor flags them
/// while typing. Semantic ones (undefined variables, bad regexes) are not
/// expressible in the schema and only `postdeploy validate` finds them.
#[test]
fn structurally_broken_scenarios_are_rejected_by_the_schema() {
    let v = validator();
    for name in [
        "unknown-top-level-key",
        "unknown-step-key",
        "unknown-expect-key",
        "wrong-type-repeat",
        "missing-name",
        "missing-request-path",
        "bad-status-99",
        "bad-status-class",
    ] {
        let path = format!("tests/fixtures/bad-scenarios/{name}.yaml");
        assert!(!v.is_valid(&yaml(&path)), "{path} passes {SCHEMA}");
    }
}
