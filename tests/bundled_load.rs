//! The bundled scenarios as a load gate: `postdeploy load scenarios/` at 16
//! users for 8 s against a freshly started backend on a fresh PostgreSQL
//! database. A fresh server is the hard case for its own metrics: its
//! histograms hold a handful of observations, the first (cold) queries
//! among them, exactly when the scenarios read them.
//!
//! - ten runs in a row pass (the gate does not flake);
//! - the backend lab's latency fault on health fails the run, and the
//!   console says which assertion failed and why.
//!
//! Slow (~90 s): ten real runs. PostgreSQL comes from `TEST_DATABASE_URL`.

// The helpers are shared with tests/it, which uses all of them; this
// binary uses a few.
#[allow(dead_code)]
mod support;

use serde_json::{Value, json};
use support::{lab, postdeploy, postgres_backend, text};

const RUNS: usize = 10;

/// One load run at a time: two at once on a small machine would measure
/// each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One load run of every bundled scenario; returns the process output and
/// summary.json.
async fn load_bundled(
    url: &str,
    dir: &std::path::Path,
    users: &str,
) -> (std::process::Output, Value) {
    let out = dir.join("run");
    let scenarios = support::root().join("scenarios");
    let o = postdeploy(&[
        "load",
        scenarios.to_str().unwrap(),
        "--target",
        url,
        "--users",
        users,
        "--duration",
        "8s",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let summary = std::fs::read(out.join("summary.json"))
        .unwrap_or_else(|e| panic!("summary.json: {e}\n{}", text(&o)));
    let s: Value = serde_json::from_slice(&summary).expect("summary.json is JSON");
    support::validate_summary(&s);
    (o, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_scenarios_pass_under_load_ten_runs_in_a_row() {
    let _one = ONE_AT_A_TIME.lock().await;
    // Every run is made and judged, so a failure shows how often, not only
    // that it happened once.
    let mut failed: Vec<String> = Vec::new();
    for run in 1..=RUNS {
        let b = postgres_backend().await;
        let dir = tempfile::tempdir().unwrap();
        // 8 users: every SLO holds on a debug build on two busy cores
        // (16 users queued the health p99 past its 200 ms there).
        let (o, s) = load_bundled(&b.url(), dir.path(), "8").await;
        b.stop().await;
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let requests = s["requests"].as_object().expect("requests");
        // Every bundled scenario ran, the metrics one included.
        assert!(
            requests.contains_key("server-side latency within budget"),
            "{:?}",
            requests.keys()
        );
        let clean = requests
            .values()
            .all(|r| r["failed"] == 0 && r["failures"] == json!([]));
        if o.status.code() != Some(0) || s["passed"] != true || !clean || out.contains("  FAIL ") {
            let why: Vec<&str> = out
                .lines()
                .filter(|l| {
                    l.starts_with("  FAIL ")
                        || l.starts_with("         ")
                        || l.contains("SLO BREACHED")
                })
                .collect();
            failed.push(format!(
                "run {run}: exit {:?}\n{}\n{}",
                o.status.code(),
                why.join("\n"),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {RUNS} runs failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_fault_on_health_fails_the_load_gate_and_names_the_assertion() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = postgres_backend().await;
    lab(
        &b.url(),
        "latency",
        json!({"route": "/api/health", "fixedMs": 300}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    // 16 users: enough health requests despite the fault for the metrics
    // step's 100-sample minimum.
    let (o, s) = load_bundled(&b.url(), dir.path(), "16").await;
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(s["passed"], false);

    // The server's own histogram sees the fault: the metrics scenario's
    // step fails, and the console line names the assertion with expected
    // beside actual (interpolated inside the backend's (0.1, 0.5] bucket)
    // and the number of observations.
    let server_side = r#"histogram http_request_duration_seconds{route="/api/health"} p95: expected < 0.2, got 0."#;
    assert!(
        out.contains("  FAIL server-side latency within budget: "),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains(server_side))
        .unwrap_or_else(|| panic!("no reason line with `{server_side}`:\n{out}"));
    assert!(line.trim_end().ends_with("samples)"), "{line}");

    // The client sees it too: under load the health step's 200 ms budget
    // is judged as its p99, which carries the whole 300 ms fault (plus
    // whatever queueing the machine adds: 100 ms on a slow one).
    let breach = r#"BREACHED p99 of "health is healthy with the database connected" was "#;
    let p99_ms: f64 = out
        .lines()
        .find_map(|l| l.split_once(breach))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no breach of the health step's p99:\n{out}"));
    assert!(p99_ms >= 300.0, "{p99_ms} ms\n{out}");

    // summary.json carries the same reasons.
    let f = &s["requests"]["server-side latency within budget"]["failures"];
    let first = &f[0];
    assert_eq!(
        first["key"], r#"metric:histogram http_request_duration_seconds{route="/api/health"} p95"#,
        "{f:#}"
    );
    assert!(
        first["example"].as_str().unwrap().starts_with(server_side),
        "{f:#}"
    );
    // And so do JUnit (the error budget's failure text) and report.html.
    let run = dir.path().join("run");
    let xml = support::junit_valid(&run.join("junit.xml"));
    let escaped = server_side
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    assert!(xml.contains(&escaped), "{xml}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("Why requests failed"),
        "no reasons in report.html"
    );
    assert!(
        html.contains(&escaped),
        "reason line missing from report.html"
    );
    b.stop().await;
}
