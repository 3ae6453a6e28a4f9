//! Load-test reports from hand-built measurements (no network): the JSON
//! summary against its schema, histograms that round-trip, the interval log
//! read back with HdrHistogram's own parser, the `.hgrm` text format, JUnit
//! against the Jenkins schema, SLO parsing and judging, and a self-contained
//! HTML page.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use postdeploy::measure::{
    FailureReason, IntervalHistograms, IntervalStats, Measurements, Model, RequestStats,
    ScenarioInfo, ScheduleStats, ServerCheck, ServerRoute, Settings, StopReason, new_histogram,
};
use postdeploy::provenance::Provenance;
use postdeploy::report::html::load as html;
use postdeploy::report::{hgrm, schedule, summary, write};
use postdeploy::rundir::{self, hlog};
use postdeploy::scenario::model::Slo;
use postdeploy::scenario::values::HumanDuration;
use postdeploy::verdict::{Metric, SloSet, judge_load, parse_slo, slo_set};
use serde_json::Value;

const HEALTH: &str = "health is healthy";
const LIST: &str = "list projects";

fn settings() -> Settings {
    Settings {
        regress: Default::default(),
        target: "http://127.0.0.1:1".into(),
        target_local: false,
        model: Model::Closed,
        users: 4,
        ramp: Duration::from_secs(1),
        duration: Duration::from_secs(3),
        rate: None,
        max_requests: None,
        scenarios: vec![ScenarioInfo {
            name: "smoke".into(),
            file: "scenarios/smoke.yaml".into(),
            sha256: "ab".repeat(32),
            weight: 1,
        }],
    }
}

/// "health is healthy": 1001..=2000 µs once each (exact at 3 significant
/// digits) plus 3 timeouts and 2 bad statuses; "list projects": 100 × 300 µs.
/// Spread over three one-second intervals.
fn measurements() -> Measurements {
    fixture().0
}

/// The measurements and the per-second histograms their run streamed.
fn fixture() -> (Measurements, Vec<IntervalHistograms>) {
    let mut health = new_histogram();
    let mut list = new_histogram();
    let mut intervals: Vec<IntervalHistograms> = (0..3)
        .map(|i| IntervalHistograms {
            start: Duration::from_secs(i),
            length: Duration::from_secs(1),
            users: 4,
            per_name: BTreeMap::new(),
        })
        .collect();
    for v in 1001..=2000u64 {
        health.record(v).unwrap();
        let iv = &mut intervals[((v - 1001) / 334) as usize];
        let s = iv
            .per_name
            .entry(HEALTH.into())
            .or_insert_with(|| IntervalStats {
                histogram: new_histogram(),
                count: 0,
                errors: 0,
            });
        s.histogram.record(v).unwrap();
        s.count += 1;
    }
    for i in 0..100u64 {
        list.record(300).unwrap();
        let s = intervals[(i % 3) as usize]
            .per_name
            .entry(LIST.into())
            .or_insert_with(|| IntervalStats {
                histogram: new_histogram(),
                count: 0,
                errors: 0,
            });
        s.histogram.record(300).unwrap();
        s.count += 1;
    }
    // Timeouts have no latency; bad statuses do (they are in the histogram).
    let h = intervals[2].per_name.get_mut(HEALTH).unwrap();
    h.count += 3;
    h.errors += 5;
    let mut requests = BTreeMap::new();
    requests.insert(
        HEALTH.to_string(),
        RequestStats {
            method: "GET".into(),
            path: "/api/health".into(),
            histogram: health,
            count: 1003,
            errors: [
                ("status:status".to_string(), 2),
                ("transport:timeout".to_string(), 3),
            ]
            .into(),
            failures: vec![
                FailureReason {
                    key: "transport:timeout".into(),
                    count: 3,
                    example: "timed out after 5s".into(),
                },
                FailureReason {
                    key: "status:status".into(),
                    count: 2,
                    example: "status: expected 200, got 503".into(),
                },
            ],
        },
    );
    requests.insert(
        LIST.to_string(),
        RequestStats {
            method: "GET".into(),
            path: "/api/projects".into(),
            histogram: list,
            count: 100,
            errors: BTreeMap::new(),
            failures: Vec::new(),
        },
    );
    let started_at = chrono::DateTime::parse_from_rfc3339("2026-11-28T01:00:00Z")
        .unwrap()
        .to_utc();
    let m = Measurements {
        started_at,
        ended_at: started_at + chrono::Duration::seconds(3),
        elapsed: Duration::from_secs(3),
        stopped_by: StopReason::Duration,
        teardown_abandoned: false,
        names: requests.keys().cloned().collect(),
        intervals: intervals
            .iter()
            .map(|iv| iv.scalars(&requests.keys().cloned().collect::<Vec<_>>()))
            .collect(),
        interval_log_error: None,
        generator: None,
        start: None,
        scrapes: None,
        shards: Vec::new(),
        requests,
        schedule: None,
        server: Some(ServerCheck {
            routes: vec![
                ServerRoute {
                    method: "GET".into(),
                    route: "/api/health".into(),
                    requests: 1000.0,
                    errors_5xx: 0.0,
                    p95_seconds: Some(0.0019),
                },
                ServerRoute {
                    method: "GET".into(),
                    route: "/api/projects".into(),
                    requests: 100.0,
                    errors_5xx: 0.0,
                    p95_seconds: None,
                },
            ],
            total_requests: 1100.0,
            total_5xx: 0.0,
            warnings: vec![
                "client sent 1103 requests, the server counted 1100 (0.3% apart)".into(),
            ],
        }),
    };
    (m, intervals)
}

/// The interval log the fixture's run would have streamed.
fn streamed_log() -> (Measurements, Vec<u8>) {
    use postdeploy::measure::IntervalLog as _;
    let (m, intervals) = fixture();
    let mut log = hlog::HlogStream::new(Vec::new());
    log.begin(m.started_at, &m.names).unwrap();
    for iv in &intervals {
        log.write(iv).unwrap();
    }
    log.finish().unwrap();
    (m, log.into_inner())
}

/// Whole-run objectives that hold, one per name that breaks (health p95,
/// and list p99 from a scenario file).
fn slos() -> SloSet {
    let mut set = slo_set(
        &[],
        &[
            "p95<=2ms".to_string(),
            format!("{HEALTH}:p95<1.5ms"),
            "error_rate<1%".into(),
            "rps>=100".into(),
            "server_5xx<=0".into(),
        ],
    )
    .unwrap();
    let mut scenario = BTreeMap::new();
    scenario.insert(
        LIST.to_string(),
        Slo {
            p99: Some(HumanDuration(Duration::from_micros(200))),
            ..Slo::default()
        },
    );
    set.add_scenario("scenarios/smoke.yaml", &scenario);
    set
}

fn summary_of(m: &Measurements) -> Value {
    summary::summary_json(
        &settings(),
        m,
        &judge_load(m, &slos()),
        &Provenance {
            commit: Some("0123abc".into()),
            ..Provenance::default()
        },
        &postdeploy::rundir::RunIdentity {
            uid: "test-run".into(),
            ..Default::default()
        },
    )
}

#[test]
fn summary_matches_schema_with_exact_percentiles() {
    let m = measurements();
    let doc = summary_of(&m);
    support::validate_summary(&doc);
    assert_eq!(doc["format"], "postdeploy.load/v2");
    assert_eq!(doc["run"]["git_commit"], "0123abc");
    assert_eq!(doc["run"]["deploy_id"], Value::Null);
    assert_eq!(doc["run"]["started_at"], "2026-11-28T01:00:00.000Z");
    let h = &doc["requests"][HEALTH];
    assert_eq!(h["count"], 1003);
    assert_eq!(h["responses"], 1000);
    assert_eq!(h["failed"], 5);
    assert_eq!(h["errors"]["transport:timeout"], 3);
    // Why they failed: most frequent first, one example each.
    assert_eq!(h["failures"][0]["key"], "transport:timeout");
    assert_eq!(h["failures"][0]["count"], 3);
    assert_eq!(h["failures"][1]["example"], "status: expected 200, got 503");
    assert_eq!(doc["requests"][LIST]["failures"], serde_json::json!([]));
    assert_eq!(h["hlog_tag"], "health_is_healthy");
    assert_eq!(h["hgrm"], "health_is_healthy.hgrm");
    let lat = &h["latency_ms"];
    for (k, want) in [
        ("min", 1.001),
        ("p50", 1.5),
        ("p90", 1.9),
        ("p95", 1.95),
        ("p99", 1.99),
        ("p99_9", 1.999),
        ("max", 2.0),
    ] {
        assert_eq!(lat[k].as_f64(), Some(want), "{k}");
    }
    assert!((h["rps"].as_f64().unwrap() - 1003.0 / 3.0).abs() < 1e-9);
    let all = &doc["all"];
    assert_eq!(all["count"], 1103);
    assert_eq!(all["responses"], 1100);
    assert_eq!(all["latency_ms"]["min"].as_f64(), Some(0.3));
    assert_eq!(doc["server"]["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(doc["passed"], false);
}

#[test]
fn open_model_schedule_shows_offered_beside_delivered_and_the_generators_lateness() {
    let mut m = measurements();
    // Closed model: no schedule at all.
    assert_eq!(summary_of(&m)["schedule"], Value::Null);
    let mut lateness = new_histogram();
    for us in 1..=100u64 {
        lateness.record(us * 10).unwrap();
    }
    m.schedule = Some(ScheduleStats {
        offered_rate: 200.0,
        delivered_rate: 100.0 / 3.0,
        offered: 600,
        delivered: 100,
        window: Duration::from_secs(3),
        lateness: lateness.clone(),
    });
    let doc = summary_of(&m);
    support::validate_summary(&doc);
    let s = &doc["schedule"];
    assert_eq!(s["offered_rate"], 200.0);
    assert_eq!(s["offered"], 600);
    assert_eq!(s["delivered"], 100);
    assert_eq!(s["window_s"], 3.0);
    assert_eq!(s["lateness_us"]["p50"], 500);
    assert_eq!(s["lateness_us"]["p99"], 990);
    assert_eq!(s["lateness_us"]["max"], 1000);
    let back = support::decode_histogram(s["lateness_us"]["histogram"].as_str().unwrap());
    assert_eq!(back, lateness);
    let line = schedule::console_line(m.schedule.as_ref().unwrap());
    assert_eq!(
        line,
        "schedule: offered 200.0 req/s, delivered 33.3 req/s (100 of 600 slots); \
         generator lateness p50 0.500 ms, p99 0.990 ms, max 1.000 ms"
    );
    let page = html::render(
        &settings(),
        &m,
        &judge_load(&m, &slos()),
        &Provenance::default(),
        &["summary.json".into()],
    )
    .unwrap();
    assert!(page.contains("Schedule (open model)"));
    assert!(page.contains("<td>200.0</td><td>33.3</td><td>100 of 600</td><td>0.500</td>"));
}

#[test]
fn embedded_histograms_decode_to_the_same_counts() {
    let m = measurements();
    let doc = summary_of(&m);
    for (name, r) in &m.requests {
        let back = support::decode_histogram(doc["requests"][name]["histogram"].as_str().unwrap());
        assert_eq!(back, r.histogram, "{name}");
    }
    let all = support::decode_histogram(doc["all"]["histogram"].as_str().unwrap());
    assert_eq!(all.len(), 1100);
}

#[test]
fn empty_request_has_null_latencies_and_still_validates() {
    let mut m = measurements();
    m.requests.insert(
        "all fail".into(),
        RequestStats {
            method: "POST".into(),
            path: "/api/projects".into(),
            histogram: new_histogram(),
            count: 4,
            errors: [("transport:connect".to_string(), 4)].into(),
            failures: vec![FailureReason {
                key: "transport:connect".into(),
                count: 4,
                example: "connection refused".into(),
            }],
        },
    );
    m.server = None;
    let doc = summary_of(&m);
    support::validate_summary(&doc);
    assert_eq!(
        doc["requests"]["all fail"]["latency_ms"]["p50"],
        Value::Null
    );
    assert_eq!(doc["server"], Value::Null);
    let server = doc["slo"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "server_5xx")
        .unwrap();
    assert_eq!(server["passed"], false);
    assert_eq!(server["reason"], "server metrics unavailable");
}

#[test]
fn interval_log_reads_back_per_tag() {
    let (m, log) = streamed_log();
    let text = String::from_utf8(log.clone()).unwrap();
    assert!(
        text.contains("#[StartTime: 1795827600.000 (seconds since epoch)]"),
        "{text}"
    );
    assert!(text.contains("#[BaseTime: 1795827600.000 (seconds since epoch)]"));
    assert!(text.contains(
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    ));
    let mut per_tag: BTreeMap<String, u64> = BTreeMap::new();
    let mut untagged = 0;
    let (mut starts, mut bases) = (0, 0);
    for entry in IntervalLogIterator::new(&log) {
        match entry.expect("log parses") {
            LogEntry::StartTime(_) => starts += 1,
            LogEntry::BaseTime(_) => bases += 1,
            LogEntry::Interval(iv) => {
                let h = support::decode_histogram(iv.encoded_histogram());
                assert!(iv.duration() == Duration::from_secs(1));
                match iv.tag() {
                    Some(t) => *per_tag.entry(t.as_str().to_string()).or_default() += h.len(),
                    None => untagged += h.len(),
                }
            }
        }
    }
    assert_eq!((starts, bases), (1, 1));
    let stems = rundir::Names::new(m.requests.keys());
    for (name, r) in &m.requests {
        let transport: u64 = r
            .errors
            .iter()
            .filter(|(k, _)| k.starts_with("transport:"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(per_tag[stems.stem(name)], r.count - transport, "{name}");
        assert_eq!(per_tag[stems.stem(name)], r.histogram.len(), "{name}");
    }
    assert_eq!(untagged, 1100);
}

#[test]
fn hgrm_is_javas_percentile_distribution() {
    let mut h = new_histogram();
    for v in [1000, 1000, 1500, 2000, 2047] {
        h.record(v).unwrap();
    }
    let text = hgrm::percentile_distribution(&h, 5, 1000.0);
    // Worked by hand with Java's PercentileIterator: levels step in percent
    // (10 + 10 + 10 == 30 exactly), so 40%, 60% and 80% land on the buckets
    // that reach them; mean 1509.4 µs, deviation 457.99 µs.
    insta::assert_snapshot!(text, @r"
           Value     Percentile TotalCount 1/(1-Percentile)

           1.000 0.000000000000          2           1.00
           1.000 0.100000000000          2           1.11
           1.000 0.200000000000          2           1.25
           1.000 0.300000000000          2           1.43
           1.000 0.400000000000          2           1.67
           1.500 0.500000000000          3           2.00
           1.500 0.550000000000          3           2.22
           1.500 0.600000000000          3           2.50
           2.000 0.650000000000          4           2.86
           2.000 0.700000000000          4           3.33
           2.000 0.750000000000          4           4.00
           2.000 0.775000000000          4           4.44
           2.000 0.800000000000          4           5.00
           2.047 0.825000000000          5           5.71
           2.047 1.000000000000          5
    #[Mean    =        1.509, StdDeviation   =        0.458]
    #[Max     =        2.047, Total count    =            5]
    #[Buckets =           22, SubBuckets     =         2048]
    ");
}

#[test]
fn junit_validates_and_names_breaches() {
    let dir = tempfile::tempdir().unwrap();
    let (m, log) = streamed_log();
    std::fs::write(dir.path().join("latency.hlog"), log).unwrap();
    let outcome = judge_load(&m, &slos());
    let files = write::write_all(
        dir.path(),
        &settings(),
        &m,
        &outcome,
        &Provenance::default(),
        &rundir::RunIdentity {
            uid: "test-run".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!outcome.passed);
    let xml = support::junit_valid(&dir.path().join("junit.xml"));
    assert!(
        xml.contains("p95 of &quot;health is healthy&quot; was 1.95 ms, threshold &lt; 1.5 ms"),
        "{xml}"
    );
    assert!(
        xml.contains("p99 of &quot;list projects&quot; was 0.3 ms, threshold 0.2 ms"),
        "{xml}"
    );
    // Every objective and each name's error budget is a test case; only
    // the two breaches fail.
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, outcome.slo_results.len());
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert!(xml.contains("error budget"), "{xml}");
    let failed: Vec<(String, Metric)> = outcome
        .slo_results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| (r.scope.clone(), r.metric))
        .collect();
    assert_eq!(
        failed,
        vec![
            (HEALTH.to_string(), Metric::P95),
            (LIST.to_string(), Metric::P99)
        ]
    );
    for f in [
        "summary.json",
        "latency.hlog",
        "junit.xml",
        "report.html",
        "all.hgrm",
        "health_is_healthy.hgrm",
        "list_projects.hgrm",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
        assert!(files.contains(&dir.path().join(f)), "{f} not listed");
    }
}

#[test]
fn default_error_budget_is_zero_failures() {
    let m = measurements();
    let results = slo_set(&[], &[]).unwrap().evaluate(&m);
    let health = results.iter().find(|r| r.scope == HEALTH).unwrap();
    assert_eq!(
        (health.metric, health.threshold, health.passed),
        (Metric::ErrorRate, 0.0, false)
    );
    assert!(
        health
            .message
            .contains("error rate of \"health is healthy\" was 0.499%"),
        "{}",
        health.message
    );
    assert!(results.iter().find(|r| r.scope == LIST).unwrap().passed);
}

#[test]
fn slo_parser_accepts_and_rejects() {
    for good in [
        "p95<200ms",
        "health is healthy:p99<=500ms",
        "error_rate<0.1%",
        "error_rate<=0.001",
        "rps>=100",
        "rps > 12.5",
        "server_5xx<=0",
        "max<1.5s",
        "*:p50<=10ms",
        "a:b:p90<1s",
    ] {
        parse_slo(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    assert_eq!(parse_slo("a:b:p90<1s").unwrap().0, "a:b");
    for bad in [
        "",
        "p95",
        "p95=200ms",
        "p95<200",
        "p95<fast",
        "p42<1s",
        "rps<=100",
        "p95>=1s",
        "error_rate<2",
        "x:server_5xx<=0",
        "server_5xx<=-1",
    ] {
        let e = parse_slo(bad).expect_err(bad);
        assert_eq!(e.text, bad);
    }
    let e = slo_set(&[], &["p95<200ms".into(), "p95<=soon".into()]).unwrap_err();
    assert!(e.to_string().contains("`p95<=soon`"), "{e}");
}

#[test]
fn html_is_self_contained_with_charts() {
    let m = measurements();
    let page = html::render(
        &settings(),
        &m,
        &judge_load(&m, &slos()),
        &Provenance::default(),
        &["summary.json".into()],
    )
    .unwrap();
    assert!(
        page.matches("<svg").count() >= 4,
        "expected four inline charts"
    );
    for table in ["Service-level objectives", "Requests", "Server cross-check"] {
        assert!(page.contains(table), "{table}");
    }
    assert!(
        page.contains("client sent 1103 requests"),
        "server warning shown"
    );
    assert!(page.contains("health is healthy"));
    // The target is shown as text; nothing else may point outside the file.
    let rest = page
        .replace("http://www.w3.org/2000/svg", "")
        .replace(&settings().target, "");
    assert!(
        !rest.contains("http://") && !rest.contains("https://"),
        "external reference in the page"
    );
    for needle in ["<script", "<link", "@import", "url(", "src="] {
        assert!(!rest.contains(needle), "{needle} in the page");
    }
    // POSTDEPLOY_REPORT_DIR=dir keeps a full set of reports to look at
    // (scripts/screenshot-report dir/report.html) or feed to other tools.
    if let Ok(dir) = std::env::var("POSTDEPLOY_REPORT_DIR") {
        let v = judge_load(&m, &slos());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join("latency.hlog"),
            streamed_log().1,
        )
        .unwrap();
        write::write_all(
            std::path::Path::new(&dir),
            &settings(),
            &m,
            &v,
            &Provenance::default(),
            &rundir::RunIdentity {
                uid: "test-run".into(),
                ..Default::default()
            },
        )
        .unwrap();
    }
}

#[test]
fn objectives_for_unmeasured_names_fail_with_a_reason() {
    let m = measurements();
    let results = slo_set(&[], &["helth is healthy:p95<1s".to_string()])
        .unwrap()
        .evaluate(&m);
    let r = results
        .iter()
        .find(|r| r.scope == "helth is healthy")
        .unwrap();
    assert!(!r.passed);
    assert_eq!(r.actual, None);
    assert_eq!(
        r.reason.as_deref(),
        Some("no requests named \"helth is healthy\" were made")
    );
}

#[test]
fn provenance_prefers_the_first_ci_variable_set() {
    let env: BTreeMap<&str, &str> = [
        ("CI_COMMIT_SHA", "gitlab"),
        ("GIT_COMMIT", "jenkins"),
        ("DEPLOY_ID", "d-42"),
        ("POSTDEPLOY_DEPLOY_ID", ""),
    ]
    .into();
    let p = Provenance::from_lookup(|k| env.get(k).map(|v| v.to_string()));
    assert_eq!(p.commit.as_deref(), Some("gitlab"));
    assert_eq!(p.deploy_id.as_deref(), Some("d-42"));
}
