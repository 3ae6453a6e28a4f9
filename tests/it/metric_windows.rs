//! `delta_from` on a histogram against the real backend: the quantile is
//! taken over exactly the observations made since the capture, and
//! `min_samples` turns a quantile over too few into a warning.

use crate::support;

use crate::support::{postdeploy, postgres_backend, text};
use serde_json::Value;

#[tokio::test]
async fn a_windowed_quantile_counts_only_what_happened_since_the_capture() {
    let b = postgres_backend().await;
    // Traffic before the capture that the window must leave out.
    for _ in 0..25 {
        reqwest::get(format!("{}/api/health", b.url()))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let scenario = support::root().join("tests/fixtures/metric-windows/windowed.yaml");
    let o = postdeploy(&[
        "verify",
        "--target",
        &b.url(),
        "--json",
        json.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let since = report["scenarios"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "since")
        .expect("step `since`")
        .clone();
    let a = since["assertions"].as_array().unwrap();
    let overall = a
        .iter()
        .find(|a| a["subject"] == "histogram db_query_duration_seconds p95 since db_before")
        .unwrap_or_else(|| panic!("{since:#}"));
    // 30 health checks, one query each: judged (>= 20), passing.
    assert_eq!(overall["passed"], true, "{overall:#}");
    assert!(
        overall["actual"]
            .as_str()
            .unwrap()
            .ends_with("(30 samples)"),
        "{overall:#}"
    );
    assert!(overall.get("warning").is_none(), "{overall:#}");
    // min_samples: 50 makes the same window inconclusive: a warning with
    // the count, on the console too.
    let by = a
        .iter()
        .find(|a| {
            a["subject"] == "histogram db_query_duration_seconds p95 by query_type since db_before"
        })
        .unwrap_or_else(|| panic!("{since:#}"));
    assert_eq!(by["passed"], true, "{by:#}");
    let w = by["warning"].as_str().unwrap();
    assert!(
        w.contains("fewer than min_samples 50")
            && w.contains(r#"{query_type="select"}"#)
            && w.contains("(30 samples)"),
        "{w}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("warning: histogram db_query_duration_seconds p95 by query_type since db_before: inconclusive"), "{out}");
    b.stop().await;
}
