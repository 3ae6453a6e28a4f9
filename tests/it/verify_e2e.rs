//! The verify gate end to end: the real binary against the real backend on
//! SQLite and PostgreSQL, and against the backend's fault-injection lab —
//! each injected fault must fail the right step with a clear reason.

use crate::support;

use std::path::Path;

use crate::support::{
    Backend, junit_valid, lab, postdeploy, postgres_backend, sqlite_backend, text,
};
use serde_json::{Value, json};

struct Run {
    code: i32,
    out: String,
    report: Value,
    junit: String,
}

async fn verify(target: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let mut args = vec![
        "verify",
        "--target",
        target,
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = postdeploy(&args).await;
    let out = text(&o);
    assert!(!out.contains("panicked"), "{out}");
    let report = std::fs::read(&json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let junit = if junit.exists() {
        junit_valid(&junit)
    } else {
        String::new()
    };
    Run {
        code: o.status.code().unwrap_or(-1),
        out,
        report,
        junit,
    }
}

fn step<'a>(report: &'a Value, scenario: &str, step: &str) -> &'a Value {
    report["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == scenario)
        .flat_map(|s| s["steps"].as_array().into_iter().flatten())
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {scenario}/{step} in {report:#}"))
}

fn failed_subjects(step: &Value) -> Vec<String> {
    step["assertions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["passed"] == false)
        .map(|a| a["subject"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn bundled_pass(b: Backend) {
    let r = verify(&b.url(), &[]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(r.report["passed"], true);
    assert_eq!(r.report["format"], "postdeploy.verify/v1");
    let names: Vec<&str> = r.report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["health", "metrics", "projects-crud"]);
    // Every step ran and passed, teardown included.
    for s in r.report["scenarios"].as_array().unwrap() {
        for st in s["steps"].as_array().unwrap() {
            assert_eq!(st["verdict"], "passed", "{st:#}");
        }
    }
    assert!(
        r.junit
            .contains("<testsuite name=\"projects-crud\" tests=\"12\""),
        "{}",
        r.junit
    );
    assert!(!r.junit.contains("<failure"), "{}", r.junit);
    // The CRUD flow left nothing behind.
    let list: Value = reqwest::get(format!("{}/api/projects", b.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    b.stop().await;
}

#[tokio::test]
async fn bundled_scenarios_pass_on_sqlite() {
    bundled_pass(sqlite_backend().await).await;
}

#[tokio::test]
async fn bundled_scenarios_pass_on_postgres() {
    bundled_pass(postgres_backend().await).await;
}

/// In CI a missing target is a misconfiguration, never a green gate on the
/// embedded backend; `--target local` asks for that backend on purpose.
#[tokio::test]
async fn in_ci_a_missing_target_exits_2_and_local_must_be_named() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("j.xml");
    let o = postdeploy(&["verify", "--junit", junit.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--target"), "{stderr}");
    assert!(!junit.exists(), "nothing may run without a target");
    let o = postdeploy(&["load", "--duration", "1s"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let json = dir.path().join("v.json");
    let o = postdeploy(&[
        "verify",
        "--target",
        "local",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("against http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("PASSED: 19 passed, 0 failed"), "{stdout}");
    let xml = junit_valid(&junit);
    assert!(xml.contains(r#"name="target.local" value="true""#), "{xml}");
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["target_local"], true);
    assert_eq!(v["stopped_by"], Value::Null);
}

/// A person at a terminal (no CI variable) gets the embedded backend.
#[tokio::test]
async fn outside_ci_the_local_backend_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("j.xml");
    let out = support::postdeploy_command()
        .args(["verify", "--junit", junit.to_str().unwrap()])
        .current_dir(support::root())
        .env_remove("CI")
        .env_remove("POSTDEPLOY_TARGET")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    junit_valid(&junit);
}

#[tokio::test]
async fn added_latency_on_health_fails_the_budget() {
    let b = sqlite_backend().await;
    lab(
        &b.url(),
        "latency",
        json!({"route": "/api/health", "fixedMs": 300}),
    )
    .await;
    let r = verify(&b.url(), &["scenarios/health.yaml"]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    let s = step(
        &r.report,
        "health",
        "health is healthy with the database connected",
    );
    assert_eq!(s["verdict"], "failed");
    assert_eq!(failed_subjects(s), ["latency"], "{s:#}");
    assert!(s["latency_ms"].as_f64().unwrap() >= 300.0);
    assert!(
        r.out.contains("latency: expected <= 200ms, got 3"),
        "{}",
        r.out
    );
    assert!(
        r.junit
            .contains("<failure message=\"latency: expected &lt;= 200ms, got 3"),
        "{}",
        r.junit
    );
    b.stop().await;
}

#[tokio::test]
async fn server_errors_on_project_calls_fail_status_and_server_delta() {
    let b = sqlite_backend().await;
    lab(
        &b.url(),
        "errors",
        json!({"route": "/api/projects", "method": "GET", "rate": 1.0, "status": 503}),
    )
    .await;
    let r = verify(&b.url(), &["scenarios/projects-crud.yaml"]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    let list = step(&r.report, "projects-crud", "list projects");
    assert_eq!(list["verdict"], "failed");
    assert_eq!(list["status"], 503);
    assert!(failed_subjects(list).contains(&"status".to_string()));
    // Later steps did not run; teardown did, and saw the server count the 5xx.
    assert_eq!(
        step(&r.report, "projects-crud", "create project")["verdict"],
        "skipped"
    );
    let delta = step(
        &r.report,
        "projects-crud",
        "no server errors during the flow",
    );
    assert_eq!(delta["verdict"], "failed", "{delta:#}");
    let a = &delta["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["passed"] == false)
        .unwrap()
        .clone();
    assert!(
        a["subject"]
            .as_str()
            .unwrap()
            .contains("delta since server_5xx_before"),
        "{a:#}"
    );
    assert_eq!(a["actual"], "1");
    assert!(
        r.junit
            .contains("teardown: no server errors during the flow")
    );
    b.stop().await;
}

#[tokio::test]
async fn a_fraction_of_server_errors_is_caught_over_repeats() {
    let b = sqlite_backend().await;
    lab(
        &b.url(),
        "errors",
        json!({"route": "/api/projects", "rate": 0.5}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("repeat.yaml");
    std::fs::write(
        &sc,
        r#"
name: repeated list
steps:
  - name: before
    request: { path: /api/metrics }
    capture:
      before: { metric: 'http_requests_total{status_code=~"5.."}' }
  - name: list twenty times
    repeat: 20
    request: { path: /api/projects }
    expect: { status: 200 }
teardown:
  - name: server 5xx delta
    request: { path: /api/metrics }
    expect:
      metrics:
        - { sample: 'http_requests_total{status_code=~"5.."}', delta_from: before, equals: 0 }
"#,
    )
    .unwrap();
    let r = verify(&b.url(), &[sc.to_str().unwrap()]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    let list = step(&r.report, "repeated list", "list twenty times");
    let failures = list["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["passed"] == false)
        .count();
    // 20 calls at rate 0.5: all passing has probability 1e-6.
    assert!((1..20).contains(&failures), "{list:#}");
    let delta = step(&r.report, "repeated list", "server 5xx delta");
    let actual: f64 = delta["assertions"][0]["actual"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        actual as usize, failures,
        "the server counted exactly the 5xx the client saw"
    );
    b.stop().await;
}

#[tokio::test]
async fn database_outage_fails_health_and_wait_ready_exits_3() {
    let b = postgres_backend().await;
    lab(&b.url(), "db-outage", json!({"down": true})).await;
    let r = verify(&b.url(), &["scenarios/health.yaml"]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    let s = step(
        &r.report,
        "health",
        "health is healthy with the database connected",
    );
    assert_eq!(s["status"], 503);
    let subjects = failed_subjects(s);
    assert!(
        subjects.contains(&"status".to_string())
            && subjects.contains(&"$.database.status".to_string()),
        "{subjects:?}"
    );

    let t0 = std::time::Instant::now();
    let r = verify(&b.url(), &["scenarios/health.yaml", "--wait-ready", "2s"]).await;
    assert_eq!(r.code, 3, "{}", r.out);
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(r.report["ready"]["ready"], false);
    assert!(
        r.out.contains("waiting") && r.out.contains("HTTP 503"),
        "{}",
        r.out
    );
    assert!(
        r.junit.contains("<testcase name=\"wait-ready\""),
        "{}",
        r.junit
    );
    assert!(
        r.junit
            .contains("<error message=\"target never became ready"),
        "{}",
        r.junit
    );
    assert!(r.junit.contains("type=\"not-ready\""), "{}", r.junit);
    b.stop().await;
}

#[tokio::test]
async fn wait_ready_waits_for_recovery() {
    let b = sqlite_backend().await;
    lab(&b.url(), "db-outage", json!({"down": true})).await;
    let url = b.url();
    let restore = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        lab(&url, "db-outage", json!({"down": false})).await;
    });
    let r = verify(&b.url(), &["scenarios/health.yaml", "--wait-ready", "30s"]).await;
    restore.await.unwrap();
    assert_eq!(r.code, 0, "{}", r.out);
    let ready = &r.report["ready"];
    assert_eq!(ready["ready"], true);
    assert!(
        ready["attempts"].as_u64().unwrap() >= 4,
        "failures then 3 successes: {ready:#}"
    );
    assert!(r.out.contains("ok 3/3"), "{}", r.out);
    b.stop().await;
}

#[tokio::test]
async fn soak_counts_failed_passes_per_step() {
    let b = sqlite_backend().await;
    lab(
        &b.url(),
        "errors",
        json!({"route": "/api/health", "rate": 0.3}),
    )
    .await;
    let r = verify(&b.url(), &["scenarios/health.yaml", "--soak", "2s"]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    let passes = r.report["soak_passes"].as_u64().unwrap();
    assert!(passes >= 2, "{passes}");
    // The first step runs in every pass; the repeated one only when the
    // first passed. Over all passes at a 30% error rate some must fail.
    let first = step(
        &r.report,
        "health",
        "health is healthy with the database connected",
    );
    assert_eq!(first["soak"]["runs"].as_u64().unwrap(), passes, "{first:#}");
    let repeated = step(&r.report, "health", "every task answers healthy");
    let failures = first["soak"]["failures"].as_u64().unwrap()
        + repeated["soak"]["failures"].as_u64().unwrap();
    assert!(failures >= 1, "{:#}", r.report);
    let failing = if first["soak"]["failures"].as_u64().unwrap() > 0 {
        first
    } else {
        repeated
    };
    assert!(
        failing["message"].as_str().unwrap().starts_with("failed "),
        "{failing:#}"
    );
    assert!(r.out.contains("soak pass 1:"), "{}", r.out);
    b.stop().await;
}

#[tokio::test]
async fn secrets_from_the_environment_never_reach_reports() {
    let b = sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("secret.yaml");
    std::fs::write(
        &sc,
        "name: secret\nsteps:\n  - name: with token\n    request:\n      path: /api/projects?t=${env.POSTDEPLOY_TEST_SECRET}\n      headers:\n        X-Api-Key: ${env.POSTDEPLOY_TEST_SECRET}\n    expect: { status: 418 }\n",
    )
    .unwrap();
    let junit = dir.path().join("j.xml");
    let json = dir.path().join("r.json");
    let o = support::postdeploy_command()
        .args([
            "verify",
            "--target",
            &b.url(),
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            sc.to_str().unwrap(),
        ])
        .current_dir(support::root())
        .env("CI", "true")
        .env("POSTDEPLOY_TEST_SECRET", "s3cr3t-value-42")
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for f in [&junit, &json] {
        let body = std::fs::read_to_string(f).unwrap();
        assert!(
            !body.contains("s3cr3t-value-42"),
            "secret leaked into {}",
            f.display()
        );
        assert!(body.contains("***"), "{body}");
    }
    assert!(!text(&o).contains("s3cr3t-value-42"));
    b.stop().await;
}

#[test]
fn bundled_files_exist() {
    for f in [
        "scenarios/health.yaml",
        "scenarios/metrics.yaml",
        "scenarios/projects-crud.yaml",
        "scenarios/logs.yaml",
        "scenarios/server-log.yaml",
    ] {
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(f).is_file(),
            "{f}"
        );
    }
}
