//! SIGINT and SIGTERM sent to the real binary mid-run, against the real
//! backend on a fresh PostgreSQL database: the run tears down what it
//! created, writes every report marked with the signal, and exits 130/143.

use crate::support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Backend, junit_valid, lab, postgres_backend, validate_summary};
use serde_json::{Value, json};

async fn project_rows(b: &Backend) -> i64 {
    use sqlx::Connection;
    let url = &b.db.as_ref().expect("a PostgreSQL backend").url;
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    let n: (i64,) = sqlx::query_as("SELECT count(*) FROM projects")
        .fetch_one(&mut c)
        .await
        .expect("count projects");
    n.0
}

fn spawn(args: &[&str]) -> tokio::process::Child {
    support::postdeploy_command()
        .args(args)
        .current_dir(support::root())
        .env("CI", "true")
        .env_remove("POSTDEPLOY_TARGET")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn postdeploy")
}

fn send(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("still running").to_string();
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid])
        .status()
        .expect("kill");
    assert!(ok.success());
}

/// Waits for the exit, at most `limit`; returns the code and the output.
async fn finish(child: tokio::process::Child, limit: Duration) -> (Option<i32>, String) {
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("postdeploy did not exit within {limit:?} of the signal"))
        .expect("wait");
    let text = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// `load` of the projects CRUD flow for a minute: long enough that only a
/// signal ends it.
fn spawn_crud_load(url: &str, users: u32, out: &Path) -> tokio::process::Child {
    spawn(&[
        "load",
        "scenarios/projects-crud.yaml",
        "--target",
        url,
        "--users",
        &users.to_string(),
        "--duration",
        "60s",
        "--out",
        out.to_str().unwrap(),
    ])
}

fn read_json(p: &Path) -> Value {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).expect("JSON")
}

async fn load_interrupted(sig: &str, code: i32, key: &str) {
    let b = postgres_backend().await;
    let before = project_rows(&b).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let url = b.url();
    let child = spawn_crud_load(&url, 16, &out);
    tokio::time::sleep(Duration::from_secs(3)).await;
    send(&child, sig);
    let (status, text) = finish(child, Duration::from_secs(40)).await;
    assert_eq!(status, Some(code), "{text}");
    let summary = read_json(&out.join("summary.json"));
    validate_summary(&summary);
    assert_eq!(summary["run"]["stopped_by"], key, "{text}");
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["run"]["teardown_abandoned"], false);
    let created = summary["requests"]["create project"]["count"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        created > 0,
        "the run created nothing before the signal: {text}"
    );
    let xml = junit_valid(&out.join("junit.xml"));
    assert!(xml.contains("run interrupted"), "{xml}");
    assert!(
        xml.contains(&format!("interrupted by {}", sig_name(sig))),
        "{xml}"
    );
    for f in ["latency.hlog", "report.html", "all.hgrm"] {
        assert!(out.join(f).is_file(), "{f} missing: {text}");
    }
    assert!(text.contains("INTERRUPTED"), "{text}");
    assert_eq!(
        project_rows(&b).await,
        before,
        "the teardown must delete every project the run created"
    );
    b.stop().await;
}

fn sig_name(sig: &str) -> &'static str {
    match sig {
        "TERM" => "SIGTERM",
        _ => "SIGINT",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_load_tears_down_and_reports() {
    load_interrupted("TERM", 143, "sigterm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_load_tears_down_and_reports() {
    load_interrupted("INT", 130, "sigint").await;
}

async fn soak_interrupted(sig: &str, code: i32, key: &str) {
    let b = postgres_backend().await;
    let before = project_rows(&b).await;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("verify.json");
    let url = b.url();
    let child = spawn(&[
        "verify",
        "scenarios/projects-crud.yaml",
        "--target",
        &url,
        "--soak",
        "10m",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    send(&child, sig);
    let (status, text) = finish(child, Duration::from_secs(40)).await;
    assert_eq!(status, Some(code), "{text}");
    let xml = junit_valid(&junit);
    assert!(xml.contains("run interrupted"), "{xml}");
    let v = read_json(&json);
    assert_eq!(v["stopped_by"], key);
    assert_eq!(v["passed"], false);
    assert!(v["soak_passes"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        text.contains(&format!("INTERRUPTED by {}", sig_name(sig))),
        "{text}"
    );
    assert_eq!(project_rows(&b).await, before, "{text}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_verify_soak_with_junit_and_json() {
    soak_interrupted("TERM", 143, "sigterm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_a_verify_soak_with_junit_and_json() {
    soak_interrupted("INT", 130, "sigint").await;
}

/// With `--target local` the embedded backend must outlive the teardown
/// that the signal starts: it is stopped only after the reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_with_the_local_target_still_tears_down_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("verify.json");
    let child = spawn(&[
        "verify",
        "scenarios/projects-crud.yaml",
        "--target",
        "local",
        "--soak",
        "1m",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    send(&child, "TERM");
    let (status, text) = finish(child, Duration::from_secs(40)).await;
    assert_eq!(status, Some(143), "{text}");
    junit_valid(&junit);
    let v = read_json(&json);
    assert_eq!(v["target_local"], true);
    assert_eq!(v["stopped_by"], "sigterm");
    let teardown: Vec<&Value> = v["scenarios"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["phase"] == "teardown")
        .collect();
    assert!(!teardown.is_empty(), "{v:#}");
    for s in teardown {
        assert_ne!(s["verdict"], "error", "teardown failed: {s:#}\n{text}");
    }
}

/// How a stalled teardown is cut short after the first SIGTERM.
enum Abandon {
    SecondSignal,
    /// `--teardown-timeout 2s`, no second signal.
    Timeout,
}

/// A load of the CRUD flow whose teardown DELETEs stall for 20 s, stopped
/// by SIGTERM: the teardown is abandoned (by `how`), and every report is
/// still written from what was measured, marked so.
async fn stalled_teardown(how: Abandon) {
    let b = postgres_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let url = b.url();
    let out_arg = out.to_str().unwrap();
    let mut args = vec![
        "load",
        "scenarios/projects-crud.yaml",
        "--target",
        &url,
        "--users",
        "4",
        "--duration",
        "60s",
        "--out",
        out_arg,
    ];
    if matches!(how, Abandon::Timeout) {
        args.extend(["--teardown-timeout", "2s"]);
    }
    let child = spawn(&args);
    tokio::time::sleep(Duration::from_secs(2)).await;
    lab(
        &url,
        "latency",
        json!({"route": "/api/projects/:id", "method": "DELETE", "fixedMs": 20000}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Timed from the signal that should end the wait: the second one, or
    // the first when the 2 s timeout must do it (and must have waited).
    let mut t = Instant::now();
    send(&child, "TERM");
    if matches!(how, Abandon::SecondSignal) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        t = Instant::now();
        send(&child, "TERM");
    }
    let (status, text) = finish(child, Duration::from_secs(15)).await;
    let took = t.elapsed();
    match how {
        Abandon::SecondSignal => assert!(
            took < Duration::from_secs(8),
            "the second signal must not wait for the teardown: {took:?}: {text}"
        ),
        Abandon::Timeout => assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(10),
            "exit {took:?} after the signal, with a 2 s teardown timeout: {text}"
        ),
    }
    assert_eq!(status, Some(143), "{text}");
    let summary = read_json(&out.join("summary.json"));
    validate_summary(&summary);
    assert_eq!(summary["run"]["stopped_by"], "sigterm");
    assert_eq!(summary["run"]["teardown_abandoned"], true, "{text}");
    let xml = junit_valid(&out.join("junit.xml"));
    assert!(
        xml.contains("teardown of begun iterations was abandoned"),
        "{xml}"
    );
    lab(&url, "reset", json!({})).await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_abandons_a_slow_teardown_but_still_reports() {
    stalled_teardown(Abandon::SecondSignal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_teardown_timeout_abandons_a_slow_teardown_but_still_reports() {
    stalled_teardown(Abandon::Timeout).await;
}
