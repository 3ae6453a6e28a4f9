//! What a CI system sees of a run: the GitHub job summary (appended, never
//! overwritten), `::error` annotations on the failing steps' lines, and the
//! provenance (commit, branch, pipeline run, deploy, Terraform workspace,
//! labels) in summary.json, the verify JSON and JUnit properties.

use crate::support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

const FAILING: &str = "tests/fixtures/ci/failing.yaml";
const PASSING: &str = "tests/fixtures/ci/passing.yaml";

/// Every CI variable provenance reads, so the host's never leak in.
const CI_VARS: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_SHA",
    "GITHUB_REF_NAME",
    "GITHUB_HEAD_REF",
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "CI_PIPELINE_URL",
    "GIT_COMMIT",
    "GIT_BRANCH",
    "BRANCH_NAME",
    "BUILD_URL",
    "CIRCLE_SHA1",
    "CIRCLE_BRANCH",
    "CIRCLE_BUILD_URL",
    "BUILDKITE_COMMIT",
    "BUILDKITE_BRANCH",
    "BUILDKITE_BUILD_URL",
    "POSTDEPLOY_DEPLOY_ID",
    "DEPLOY_ID",
    "TF_WORKSPACE",
];

async fn postdeploy(args: &[&str], env: &[(&str, &str)]) -> Output {
    support::postdeploy_env(args, env, CI_VARS).await
}

/// The 1-based line of `- name: NAME` in a fixture, found by text.
fn line_of(file: &str, name: &str) -> usize {
    let text = std::fs::read_to_string(support::root().join(file)).unwrap();
    text.lines()
        .position(|l| l.trim_start() == format!("- name: {name}"))
        .unwrap_or_else(|| panic!("{name} not in {file}"))
        + 1
}

fn verify_args<'a>(scenario: &'a str, target: &'a str, out: &'a Path) -> Vec<String> {
    vec![
        "verify".into(),
        scenario.into(),
        "--target".into(),
        target.into(),
        "--junit".into(),
        out.join("junit.xml").to_string_lossy().into_owned(),
        "--json".into(),
        out.join("verify.json").to_string_lossy().into_owned(),
    ]
}

#[tokio::test]
async fn a_failing_verify_appends_a_job_summary_and_annotates_the_lines() {
    let backend = support::sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step_summary.md");
    let earlier = "### an earlier step\n\nits own summary\n";
    std::fs::write(&summary, earlier).unwrap();
    let url = backend.url();
    let args = verify_args(FAILING, &url, dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = postdeploy(
        &args,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    )
    .await;
    backend.stop().await;
    assert_eq!(out.status.code(), Some(1), "{}", support::text(&out));

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with(earlier), "earlier content kept:\n{md}");
    let ours = &md[earlier.len()..];
    assert!(ours.contains("postdeploy verify: ❌ FAILED"), "{ours}");
    let row = |step: &str| {
        ours.lines()
            .find(|l| l.starts_with("| ci failing | ") && l.contains(step))
            .unwrap_or_else(|| panic!("no row for {step}:\n{ours}"))
            .to_string()
    };
    let teapot = row("teapot expected");
    assert!(
        teapot.contains("status") && teapot.contains("418") && teapot.contains("200"),
        "reason names expected and actual: {teapot}"
    );
    let teardown = row("teardown: projects answer 201");
    assert!(teardown.contains("201"), "{teardown}");
    assert!(
        !ours.contains("| health answers"),
        "a passing step is no failure:\n{ours}"
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    let annotations: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 2, "{stdout}");
    let expect = [
        ("teapot expected", line_of(FAILING, "teapot expected")),
        (
            "teardown: projects answer 201",
            line_of(FAILING, "projects answer 201"),
        ),
    ];
    for ((step, line), a) in expect.iter().zip(&annotations) {
        let step = step.replace(':', "%3A");
        let head = format!("::error file={FAILING},line={line},title=ci failing%3A {step}::");
        assert!(a.starts_with(&head), "expected {head}\n got {a}");
        assert!(a.contains("status"), "{a}");
    }
}

#[tokio::test]
async fn without_github_there_are_no_annotations_and_no_summary() {
    let backend = support::sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let url = backend.url();
    let args = verify_args(FAILING, &url, dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = postdeploy(&args, &[]).await;
    backend.stop().await;
    assert_eq!(out.status.code(), Some(1), "{}", support::text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("::error"),
        "{}",
        support::text(&out)
    );
}

const GITHUB_ENV: &[(&str, &str)] = &[
    ("GITHUB_SHA", "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"),
    ("GITHUB_REF_NAME", "main"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "acme/api"),
    ("GITHUB_RUN_ID", "123456789"),
    (
        "CI_PIPELINE_URL",
        "https://gitlab.example.com/acme/api/-/pipelines/1",
    ),
    ("POSTDEPLOY_DEPLOY_ID", "deploy-2026-12-02-1"),
    ("TF_WORKSPACE", "production"),
];

fn assert_provenance(p: &Value) {
    assert_eq!(p["ci"], "github-actions", "{p}");
    assert_eq!(p["commit"], GITHUB_ENV[0].1);
    assert_eq!(p["branch"], "main");
    assert_eq!(
        p["run_url"],
        "https://github.com/acme/api/actions/runs/123456789"
    );
    assert_eq!(p["deploy_id"], "deploy-2026-12-02-1");
    assert_eq!(p["tf_workspace"], "production");
    assert_eq!(p["tf_serial"], 42);
    assert_eq!(p["labels"]["region"], "eu-west-1");
    assert_eq!(p["labels"]["canary"], "true");
}

fn assert_junit_provenance(junit: &str) {
    for (k, v) in [
        ("provenance.commit", GITHUB_ENV[0].1),
        ("provenance.branch", "main"),
        (
            "provenance.run_url",
            "https://github.com/acme/api/actions/runs/123456789",
        ),
        ("provenance.deploy_id", "deploy-2026-12-02-1"),
        ("provenance.tf_workspace", "production"),
        ("provenance.tf_serial", "42"),
        ("provenance.label.region", "eu-west-1"),
    ] {
        let prop = format!(r#"<property name="{k}" value="{v}"/>"#);
        assert!(junit.contains(&prop), "{prop} missing from:\n{junit}");
    }
}

const FLAGS: &[&str] = &[
    "--label",
    "region=eu-west-1",
    "--label",
    "canary=true",
    "--tf-serial",
    "42",
];

#[tokio::test]
async fn provenance_is_in_every_report_and_junit_still_validates() {
    let backend = support::sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let url = backend.url();
    let mut args = verify_args(PASSING, &url, dir.path());
    args.extend(FLAGS.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = postdeploy(&args, GITHUB_ENV).await;
    assert_eq!(v.status.code(), Some(0), "{}", support::text(&v));
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("verify.json")).unwrap()).unwrap();
    assert_provenance(&report["provenance"]);
    assert_junit_provenance(&support::junit_valid(&dir.path().join("junit.xml")));
    let stdout = String::from_utf8_lossy(&v.stdout);
    let second = stdout.lines().nth(1).unwrap_or_default();
    assert!(
        second.contains("provenance:") && second.contains("commit=9f8e7d6"),
        "the console's second line names the provenance:\n{stdout}"
    );

    let load_dir = dir.path().join("load");
    let mut args: Vec<String> = [
        "load",
        PASSING,
        "--target",
        &url,
        "--users",
        "1",
        "--duration",
        "1s",
        "--out",
        load_dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(FLAGS.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let l = postdeploy(&args, GITHUB_ENV).await;
    backend.stop().await;
    assert_eq!(l.status.code(), Some(0), "{}", support::text(&l));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(load_dir.join("summary.json")).unwrap()).unwrap();
    support::validate_summary(&summary);
    assert_provenance(&summary["run"]["provenance"]);
    assert_eq!(summary["run"]["git_commit"], GITHUB_ENV[0].1);
    assert_junit_provenance(&support::junit_valid(&load_dir.join("junit.xml")));
    let html = std::fs::read_to_string(load_dir.join("report.html")).unwrap();
    assert!(html.contains("deploy-2026-12-02-1") && html.contains("production"));
}

#[tokio::test]
async fn gitlab_provenance_and_a_load_job_summary() {
    let backend = support::sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step_summary.md");
    let url = backend.url();
    let out_dir = dir.path().join("load");
    let l = postdeploy(
        &[
            "load",
            PASSING,
            "--target",
            &url,
            "--users",
            "1",
            "--duration",
            "1s",
            "--slo",
            "rps>1000000",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[
            ("CI_COMMIT_SHA", "abc123"),
            ("CI_COMMIT_REF_NAME", "release"),
            ("CI_PIPELINE_URL", "https://gitlab.example.com/p/77"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    )
    .await;
    backend.stop().await;
    // A million requests a second from one user: breached.
    assert_eq!(l.status.code(), Some(1), "{}", support::text(&l));
    let s: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    support::validate_summary(&s);
    let p = &s["run"]["provenance"];
    assert_eq!(p["ci"], "gitlab-ci");
    assert_eq!(p["branch"], "release");
    assert_eq!(p["run_url"], "https://gitlab.example.com/p/77");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("postdeploy load: ❌ FAILED"), "{md}");
    assert!(
        md.lines().any(|l| l.starts_with("| whole run | rps > ")),
        "breached SLO row:\n{md}"
    );
    assert!(md.contains("p95 ") && md.contains("requests in"), "{md}");
}
