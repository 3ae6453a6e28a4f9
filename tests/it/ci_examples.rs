//! The CI files users copy work as written: `examples/ci/github-actions.yml`
//! and `action.yml` pass actionlint and the GitHub schemas, and
//! `examples/ci/gitlab-ci.yml` passes GitLab's schema, as check-jsonschema
//! vendors them (offline). `scripts/test` installs both tools
//! (`scripts/ci-tools`, pinned) and puts them on PATH.

use crate::support;

use std::path::Path;
use std::process::Command;

const GITHUB_EXAMPLE: &str = "examples/ci/github-actions.yml";
const GITLAB_EXAMPLE: &str = "examples/ci/gitlab-ci.yml";
const ACTION: &str = "action.yml";

/// Runs a linter from PATH; a missing one fails with how to get it.
fn lint(tool: &str, args: &[&str], dir: &Path) {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "`{tool}` is not on PATH ({e}): run the tests through scripts/test, or put \
                 `$(scripts/ci-tools)` on PATH first"
            )
        });
    assert!(
        out.status.success(),
        "{tool} {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn schema(builtin: &str, file: &str) {
    lint(
        "check-jsonschema",
        &["--builtin-schema", builtin, file],
        &support::root(),
    );
}

#[test]
fn github_example_passes_actionlint() {
    lint("actionlint", &[GITHUB_EXAMPLE], &support::root());
}

#[test]
fn github_example_matches_the_workflow_schema() {
    schema("vendor.github-workflows", GITHUB_EXAMPLE);
}

#[test]
fn gitlab_example_matches_the_gitlab_ci_schema() {
    schema("vendor.gitlab-ci", GITLAB_EXAMPLE);
}

#[test]
fn action_matches_the_action_schema() {
    schema("vendor.github-actions", ACTION);
}

/// actionlint reads an action's metadata through a workflow that uses it:
/// a repository with this action.yml at its root and a workflow calling
/// `uses: ./` with every input.
#[test]
fn action_passes_actionlint_through_a_workflow_that_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(support::root().join(ACTION), dir.path().join(ACTION)).unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("gate.yml"),
        r#"name: gate
on: [push]
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: gate
        uses: ./
        with:
          command: verify
          target: https://api.example.com
          scenarios: scenarios
          flags: --wait-ready 5m
          version: ""
      - run: echo "postdeploy exited ${{ steps.gate.outputs.exit-code }}"
"#,
    )
    .unwrap();
    // The .git directory makes the temp dir the project actionlint resolves
    // `./` against.
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    lint("actionlint", &[".github/workflows/gate.yml"], dir.path());

    // And it does check the action: an input the action lacks is an error.
    let bad = std::fs::read_to_string(wf.join("gate.yml"))
        .unwrap()
        .replace("version: \"\"", "no_such_input: x");
    std::fs::write(wf.join("gate.yml"), bad).unwrap();
    let out = Command::new("actionlint")
        .arg(".github/workflows/gate.yml")
        .current_dir(dir.path())
        .output()
        .expect("actionlint on PATH");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stdout).contains("no_such_input"),
        "actionlint did not read action.yml:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
