//! `postdeploy load` through the real binary against the backend on a fresh
//! PostgreSQL database, with the bundled `scenarios/projects-crud.yaml`:
//! every report file is written, summary.json matches its schema, and three
//! independent counts agree — summary.json, latency.hlog read back, and the
//! server's own metrics delta. No project is left behind.
//!
//! The short case (5 s, 16 users) runs by default. The issue's full case
//! (30 s, 64 users, plus a headless-Chromium screenshot of report.html) is
//! `#[ignore]`d; run it on a release build:
//!
//! ```text
//! cargo test --release --test it load_pg:: -- --ignored
//! ```
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (see `tests/support`).

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{postdeploy, postgres_backend, text};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

const REPORT_FILES: &[&str] = &[
    "summary.json",
    "latency.hlog",
    "junit.xml",
    "report.html",
    "all.hgrm",
];

/// Recorded latencies in latency.hlog: (untagged total, per tag).
fn hlog_counts(path: &Path) -> (u64, BTreeMap<String, u64>) {
    let log = std::fs::read(path).expect("latency.hlog");
    let (mut untagged, mut per_tag) = (0u64, BTreeMap::<String, u64>::new());
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(iv) = entry.expect("latency.hlog parses") {
            let n = support::decode_histogram(iv.encoded_histogram()).len();
            match iv.tag() {
                Some(t) => *per_tag.entry(t.as_str().to_string()).or_default() += n,
                None => untagged += n,
            }
        }
    }
    (untagged, per_tag)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Runs projects-crud.yaml against a fresh PostgreSQL backend and checks
/// artifacts, schema and counts; returns the report directory's owner and
/// path for further checks.
async fn crud_run(users: u32, duration: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let b = postgres_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let scenario = support::root().join("scenarios/projects-crud.yaml");
    let users_s = users.to_string();
    let o = postdeploy(&[
        "load",
        scenario.to_str().unwrap(),
        "--target",
        &b.url(),
        "--users",
        &users_s,
        "--duration",
        duration,
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Every artifact, non-empty; one .hgrm per request name.
    for f in REPORT_FILES {
        let len = std::fs::metadata(out.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}\n{}", text(&o)))
            .len();
        assert!(len > 0, "{f} is empty");
    }
    let s: Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap())
        .expect("summary.json is JSON");
    support::validate_summary(&s);
    assert_eq!(s["run"]["model"], "closed");
    assert_eq!(u(&s["run"]["users"]), u64::from(users));
    assert_eq!(s["passed"], true, "{}", s["slo"]);
    let requests = s["requests"].as_object().expect("requests");
    assert!(requests.len() >= 9, "{:?}", requests.keys());
    for (name, r) in requests {
        let hgrm = r["hgrm"].as_str().unwrap();
        assert!(out.join(hgrm).is_file(), "{name}: no {hgrm}");
        assert_eq!(u(&r["failed"]), 0, "{name}: {}", r["errors"]);
    }

    // summary.json: the total is the sum of its names, every request answered.
    let all = &s["all"];
    let count = u(&all["count"]);
    let per_name: u64 = requests.values().map(|r| u(&r["count"])).sum();
    assert_eq!(count, per_name);
    assert_eq!(u(&all["responses"]), count, "transport errors: {}", all);
    let iterations = u(&requests["create project"]["count"]);
    assert!(
        iterations >= u64::from(users),
        "only {iterations} iterations"
    );
    for (name, r) in requests {
        // Each step runs once per iteration; an iteration cut by the end of
        // the run stops part-way (its teardown still runs).
        let c = u(&r["count"]);
        assert!(
            c + 1 >= iterations / 2 && c <= iterations + u64::from(users),
            "{name}: {c} against {iterations} creates"
        );
    }

    // latency.hlog, read back: the same counts, per tag and untagged.
    let (untagged, per_tag) = hlog_counts(&out.join("latency.hlog"));
    assert_eq!(untagged, count, "untagged hlog intervals vs summary.json");
    for (name, r) in requests {
        let tag = r["hlog_tag"].as_str().unwrap();
        assert_eq!(
            per_tag.get(tag).copied().unwrap_or(0),
            u(&r["responses"]),
            "{name} (tag {tag})"
        );
    }
    assert_eq!(per_tag.values().sum::<u64>(), count);

    // The server's own metrics delta.
    let server = &s["server"];
    assert!(server.is_object(), "no server section: {s}");
    assert_eq!(
        server["warnings"].as_array().map(Vec::len),
        Some(0),
        "{server}"
    );
    // The backend leaves its own /api/metrics out of http_requests_total:
    // the scenario's two scrapes per iteration are the whole difference.
    let mut client_routes: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in requests.values() {
        let path = r["path"].as_str().unwrap();
        let route = match path {
            "/api/metrics" => continue,
            p if p.starts_with("/api/projects/") => "/api/projects/:id",
            p => p,
        };
        *client_routes
            .entry((r["method"].as_str().unwrap().to_string(), route.to_string()))
            .or_default() += u(&r["count"]);
    }
    let server_routes: BTreeMap<(String, String), u64> = server["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["method"].as_str().unwrap().to_string(),
                    r["route"].as_str().unwrap().to_string(),
                ),
                r["requests"].as_f64().unwrap() as u64,
            )
        })
        .collect();
    assert_eq!(client_routes, server_routes, "client vs server per route");
    let scrapes: u64 = requests
        .values()
        .filter(|r| r["path"] == "/api/metrics")
        .map(|r| u(&r["count"]))
        .sum();
    assert_eq!(
        server["total_requests"].as_f64(),
        Some((count - scrapes) as f64),
        "client and server disagree: {server}"
    );
    assert_eq!(server["total_5xx"].as_f64(), Some(0.0), "{server}");

    // Teardown deleted what every iteration created.
    let left: Value = reqwest::get(format!("{}/api/projects", b.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        left.as_array().map(Vec::len),
        Some(0),
        "left behind: {left}"
    );
    b.stop().await;
    (dir, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_on_postgres_counts_agree_across_summary_hlog_and_server() {
    let _ = crud_run(16, "5s").await;
}

/// The full case in a default test run when `POSTDEPLOY_LONG=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_case_when_postdeploy_long_is_set() {
    if std::env::var("POSTDEPLOY_LONG").as_deref() != Ok("1") {
        eprintln!("POSTDEPLOY_LONG is not 1: the 30 s case is skipped");
        return;
    }
    full_case().await;
}

/// The issue's full case: 30 s, 64 users, then a headless-Chromium
/// screenshot of report.html. Slow; run with `--release -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "30 s run and a Chromium screenshot: cargo test --release --test it load_pg:: -- --ignored"]
async fn crud_on_postgres_30s_64_users_full_report_and_screenshot() {
    full_case().await;
}

/// 30 s, 64 users, every check of `crud_run`, then a screenshot of
/// report.html that must be more than 20 KB. Keep the screenshot (and its
/// page) with `POSTDEPLOY_KEEP_SCREENSHOT=FILE.png`.
async fn full_case() {
    let (dir, out) = crud_run(64, "30s").await;
    let png = dir.path().join("report.png");
    let shot = tokio::process::Command::new(support::root().join("scripts/screenshot-report"))
        .arg(out.join("report.html"))
        .arg(&png)
        .kill_on_drop(true)
        .output();
    let shot = tokio::time::timeout(std::time::Duration::from_secs(120), shot)
        .await
        .expect("screenshot within 120 s")
        .expect("running scripts/screenshot-report");
    assert!(shot.status.success(), "{}", text(&shot));
    let size = std::fs::metadata(&png).expect("report.png").len();
    assert!(
        size > 20 * 1024,
        "{size} bytes: too small to hold the charts"
    );
    if let Ok(keep) = std::env::var("POSTDEPLOY_KEEP_SCREENSHOT") {
        std::fs::copy(&png, &keep).expect("copying the screenshot");
        std::fs::copy(
            out.join("report.html"),
            Path::new(&keep).with_extension("html"),
        )
        .expect("copying report.html");
    }
}
