//! `--tf-outputs`: a real-shaped `terraform output -json` file names the
//! target and feeds scenario variables (map entries, list items, numbers),
//! sensitive outputs never reach any byte postdeploy writes, and input that
//! is not outputs (the setup-terraform wrapper's garbling, an empty file, a
//! plan) or a misspelt output name is exit 2 with one clear message.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

const INVALID: i32 = 2;
/// Parts of the sensitive values in tests/fixtures/tf/outputs.json.
const SENSITIVE: [&str; 2] = ["5e9a71", "c2d804"];

fn fixture(name: &str) -> String {
    format!("tests/fixtures/tf/{name}")
}

async fn postdeploy(args: &[&str], env: &[(&str, &str)]) -> Output {
    support::postdeploy_env(args, env, &[]).await
}

/// The fixture with `api_url` pointing at `url`, written into `dir`.
fn outputs_for(url: &str, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(support::root().join(fixture("outputs.json"))).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["api_url"]["value"] = Value::String(url.to_string());
    let p = dir.join("outputs.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    p
}

#[tokio::test]
async fn outputs_bind_the_target_and_variables_and_sensitive_values_stay_masked() {
    let backend = support::sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let outputs = outputs_for(&backend.url(), dir.path());
    let outputs = outputs.to_str().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let junit = out.join("junit.xml");
    let json = out.join("verify.json");
    let summary = out.join("step-summary.md");
    let scenario = fixture("scenario.yaml");

    let v = postdeploy(
        &[
            "verify",
            &scenario,
            "--tf-outputs",
            outputs,
            "--target",
            "tf:api_url",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    )
    .await;
    // The scenario fails on purpose, with the sensitive value in the failure.
    assert_eq!(v.status.code(), Some(1), "{}", support::text(&v));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        report["target"].as_str().unwrap().trim_end_matches('/'),
        backend.url().trim_end_matches('/'),
        "--target tf:api_url names the backend"
    );
    let steps = &report["scenarios"][0]["steps"];
    assert_eq!(steps[0]["verdict"], "passed", "map entry as the path");
    assert_eq!(steps[1]["status"], 201, "{}", support::text(&v));
    let title = steps[1]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["subject"] == "$.title")
        .expect("title assertion");
    assert_eq!(
        title["passed"], true,
        "list item, string and number: {title}"
    );
    assert_eq!(steps[1]["verdict"], "failed");
    support::junit_valid(&junit);

    let l = postdeploy(
        &[
            "load",
            &scenario,
            "--tf-outputs",
            outputs,
            "--target",
            "${tf.api_url}",
            "--users",
            "2",
            "--duration",
            "1s",
            "--out",
            out.join("load").to_str().unwrap(),
        ],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    )
    .await;
    assert_eq!(l.status.code(), Some(1), "{}", support::text(&l));
    let s: Value =
        serde_json::from_slice(&std::fs::read(out.join("load/summary.json")).unwrap()).unwrap();
    assert_eq!(
        s["run"]["target"].as_str().unwrap().trim_end_matches('/'),
        backend.url().trim_end_matches('/')
    );
    backend.stop().await;

    let files = support::files_under(&out);
    assert!(files.len() >= 7, "verify and load reports: {files:?}");
    for f in &files {
        let what = f.display().to_string();
        support::assert_absent(&what, what.as_bytes(), &SENSITIVE);
        support::assert_absent(&what, &std::fs::read(f).unwrap(), &SENSITIVE);
    }
    for (what, o) in [("verify", &v), ("load", &l)] {
        support::assert_absent(&format!("{what} stdout"), &o.stdout, &SENSITIVE);
        support::assert_absent(&format!("{what} stderr"), &o.stderr, &SENSITIVE);
    }
    // The masked value was there to leak: the failure shows where it was.
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(
        text.contains("not ***"),
        "expected the masked value in {text}"
    );
}

async fn refused(name: &str, args: &[&str]) {
    let out = postdeploy(args, &[]).await;
    assert_eq!(out.status.code(), Some(INVALID), "{}", support::text(&out));
    assert!(
        out.stdout.is_empty(),
        "nothing but the error: {}",
        support::text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    insta::assert_snapshot!(name, err);
}

#[tokio::test]
async fn wrapper_garbled_outputs_are_refused() {
    let f = fixture("wrapper-garbled.txt");
    refused(
        "wrapper-garbled",
        &["verify", "--tf-outputs", &f, "--target", "tf:api_url"],
    )
    .await;
}

#[tokio::test]
async fn empty_outputs_are_refused() {
    let f = fixture("empty.json");
    refused(
        "empty",
        &["verify", "--tf-outputs", &f, "--target", "tf:api_url"],
    )
    .await;
}

#[tokio::test]
async fn a_plan_is_not_outputs() {
    let f = fixture("plan.json");
    refused(
        "plan",
        &["load", "--tf-outputs", &f, "--target", "tf:api_url"],
    )
    .await;
}

#[tokio::test]
async fn a_missing_output_name_gets_a_did_you_mean() {
    let f = fixture("outputs.json");
    let s = fixture("scenario.yaml");
    refused(
        "missing-name-in-flag",
        &["verify", &s, "--tf-outputs", &f, "--target", "tf:api_ur"],
    )
    .await;
    refused(
        "missing-key-in-flag",
        &[
            "verify",
            &s,
            "--tf-outputs",
            &f,
            "--target",
            "${tf.endpoints.helth}",
        ],
    )
    .await;
    let m = fixture("misspelt.yaml");
    refused(
        "missing-key-in-scenario",
        &["verify", &m, "--tf-outputs", &f, "--target", "tf:api_url"],
    )
    .await;
}

#[tokio::test]
async fn validate_checks_tf_references_against_the_outputs() {
    let f = fixture("outputs.json");
    let s = fixture("scenario.yaml");
    let ok = postdeploy(&["validate", &s, "--tf-outputs", &f], &[]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", support::text(&ok));
    let bad = postdeploy(&["validate", &s], &[]).await;
    assert_eq!(bad.status.code(), Some(INVALID), "{}", support::text(&bad));
}

#[tokio::test]
async fn tf_references_without_outputs_are_refused() {
    let plain = "tests/fixtures/ci/passing.yaml";
    refused(
        "no-outputs-flag",
        &["verify", plain, "--target", "tf:api_url"],
    )
    .await;
    let s = fixture("scenario.yaml");
    refused(
        "no-outputs-scenario",
        &["verify", &s, "--target", "http://127.0.0.1:9/"],
    )
    .await;
}
