//! Parser and query behaviour on the real capture of the original service
//! plus hand-written edge cases.

use std::collections::BTreeMap;

use postdeploy::metrics::{self, Exposition, MetricKind, QueryError, Selector, delta, parse};

const FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/nestjs-prom-client-metrics.txt"
));

fn fixture() -> Exposition {
    parse(FIXTURE).expect("fixture parses")
}

fn sel(s: &str) -> Selector {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-12,
        "expected {expected}, got {actual}"
    );
}

/// Sample lines of the fixture, counted by name without using the parser.
fn sample_names_in_text(text: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap().to_string();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

#[test]
fn fixture_keeps_every_family_in_order() {
    let e = fixture();
    let declared: Vec<&str> = FIXTURE
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(declared.len(), 39);
    let parsed: Vec<&str> = e.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(parsed, declared);
    for line in FIXTURE.lines().filter_map(|l| l.strip_prefix("# HELP ")) {
        let (name, help) = line.split_once(' ').unwrap();
        assert_eq!(e.family(name).unwrap().help.as_deref(), Some(help));
    }
}

#[test]
fn fixture_keeps_every_sample() {
    let e = fixture();
    let expected = sample_names_in_text(FIXTURE);
    assert_eq!(expected.values().sum::<usize>(), 245);
    let mut parsed = BTreeMap::new();
    for s in e.families.iter().flat_map(|f| &f.samples) {
        *parsed.entry(s.name.clone()).or_insert(0) += 1;
    }
    assert_eq!(parsed, expected);
}

#[test]
fn fixture_kinds_and_children() {
    let e = fixture();
    let h = e.family("http_request_duration_seconds").unwrap();
    assert_eq!(h.kind, MetricKind::Histogram);
    assert_eq!(h.samples.len(), 11 * 13);
    let count = |suffix: &str| {
        h.samples
            .iter()
            .filter(|s| s.name == format!("http_request_duration_seconds{suffix}"))
            .count()
    };
    assert_eq!(
        (count("_bucket"), count("_sum"), count("_count")),
        (121, 11, 11)
    );

    let gc = e.family("nodejs_gc_duration_seconds").unwrap();
    assert_eq!((gc.kind, gc.samples.len()), (MetricKind::Histogram, 27));

    for name in [
        "http_requests_total",
        "http_request_errors_total",
        "process_cpu_seconds_total",
    ] {
        assert_eq!(e.family(name).unwrap().kind, MetricKind::Counter, "{name}");
    }
    assert_eq!(
        e.family("backend_uptime_seconds").unwrap().kind,
        MetricKind::Gauge
    );
}

#[test]
fn fixture_declared_but_empty_families_are_visible() {
    let e = fixture();
    let db = e
        .family("db_query_duration_seconds")
        .expect("declared family kept");
    assert_eq!(db.kind, MetricKind::Histogram);
    assert_eq!(
        db.help.as_deref(),
        Some("Duration of database queries in seconds")
    );
    assert!(db.samples.is_empty());
    for name in ["db_queries_total", "db_query_errors_total"] {
        let f = e.family(name).unwrap();
        assert_eq!(
            (f.kind, f.samples.len()),
            (MetricKind::Counter, 0),
            "{name}"
        );
    }
    let f = e.family("nodejs_active_requests").unwrap();
    assert_eq!((f.kind, f.samples.len()), (MetricKind::Gauge, 0));
}

#[test]
fn family_lookup_by_sample_name() {
    let e = fixture();
    let by_child = |n: &str| e.family(n).map(|f| f.name.as_str());
    assert_eq!(
        by_child("http_request_duration_seconds_bucket"),
        Some("http_request_duration_seconds")
    );
    assert_eq!(
        by_child("http_request_duration_seconds_count"),
        Some("http_request_duration_seconds")
    );
    assert_eq!(
        by_child("db_query_duration_seconds_sum"),
        Some("db_query_duration_seconds")
    );
    // An exact family name wins over suffix stripping.
    assert_eq!(
        by_child("nodejs_active_resources_total"),
        Some("nodejs_active_resources_total")
    );
    // Gauges have no children.
    assert_eq!(by_child("backend_uptime_seconds_count"), None);
    assert_eq!(by_child("no_such_metric"), None);
}

#[test]
fn fixture_values_and_labels() {
    let e = fixture();
    let one = |s: &str| {
        let v = e.select(&sel(s));
        assert_eq!(v.len(), 1, "{s}");
        v[0].value
    };
    assert_eq!(one("process_cpu_user_seconds_total"), 10.980479);
    assert_eq!(one("process_start_time_seconds"), 1795822455.0);
    assert_eq!(one("backend_uptime_seconds"), 2013.048);
    assert_eq!(
        one(r#"nodejs_heap_space_size_used_bytes{space="old"}"#),
        28132568.0
    );
    assert_eq!(
        one(
            r#"http_request_duration_seconds_sum{method="POST",route="/api/projects",status_code="201"}"#
        ),
        0.14900000000000002
    );
    let info = e.select(&sel("nodejs_version_info"));
    let labels: Vec<(&str, &str)> = info[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("version", "v20.20.2"),
            ("major", "20"),
            ("minor", "20"),
            ("patch", "2")
        ]
    );
    assert!(info[0].timestamp_ms.is_none());
}

#[test]
fn fixture_selectors_and_sums() {
    let e = fixture();
    let sum = |s: &str| e.sum(&sel(s));
    assert_eq!(sum("http_requests_total"), Some(64.0));
    assert_eq!(sum("http_request_duration_seconds_count"), Some(64.0));
    assert_eq!(sum(r#"http_requests_total{status_code=~"5.."}"#), None);
    assert_eq!(
        sum(r#"http_requests_total{status_code=~"4.."}"#),
        Some(20.0)
    );
    assert_eq!(
        sum(r#"http_requests_total{route="/api/projects/:id",method!="GET"}"#),
        Some(20.0)
    );
    assert_eq!(
        sum(r#"http_request_errors_total{error_type!~"Bad.*"}"#),
        Some(7.0)
    );
    // Anchored: "4" alone matches no status code.
    assert_eq!(sum(r#"http_requests_total{status_code=~"4"}"#), None);
    assert_eq!(
        e.select(&sel(r#"http_requests_total{route=~"/api/projects.*"}"#))
            .len(),
        10
    );
}

#[test]
fn fixture_quantile_for_one_route() {
    let e = fixture();
    let s = sel(r#"http_request_duration_seconds{route="/api/health"}"#);
    // Buckets 0.001:1 0.005:3 0.01:3 0.05:4 ... +Inf:4.
    // p95: rank 3.8 lies in (0.01, 0.05] holding 1 obs, 0.8 of the way in.
    let p95 = e.histogram_quantile(0.95, &s, &[]).unwrap();
    assert_eq!(p95.len(), 1);
    assert!(p95[0].0.is_empty());
    assert_close(p95[0].1, 0.01 + 0.04 * 0.8);
    // p50: rank 2 lies in (0.001, 0.005] holding 2 obs, half way.
    let p50 = e.histogram_quantile(0.5, &s, &[]).unwrap();
    assert_close(p50[0].1, 0.001 + 0.004 * 0.5);
}

#[test]
fn fixture_quantile_summed_over_routes() {
    let e = fixture();
    let s = sel("http_request_duration_seconds");
    // Summed cumulative counts of all 11 series:
    // 0.001:11 0.005:35 0.01:52 0.05:63 0.1..+Inf:64.
    let p95 = e.histogram_quantile(0.95, &s, &[]).unwrap();
    assert_close(p95[0].1, 0.01 + 0.04 * (60.8 - 52.0) / 11.0);
    let p50 = e.histogram_quantile(0.5, &s, &[]).unwrap();
    assert_close(p50[0].1, 0.001 + 0.004 * (32.0 - 11.0) / 24.0);

    let by_route = e.histogram_quantile(0.95, &s, &["route"]).unwrap();
    let routes: Vec<&str> = by_route.iter().map(|(l, _)| l[0].1.as_str()).collect();
    assert_eq!(
        routes,
        ["/api/health", "/api/projects", "/api/projects/:id"]
    );
    // /api/projects = GET 200 + POST 201 + POST 400:
    // 0.001:7 0.005:18 0.01:28 0.05:30 0.1..+Inf:31; rank 29.45.
    assert_close(by_route[1].1, 0.01 + 0.04 * (29.45 - 28.0) / 2.0);
    assert_eq!(
        by_route[0].0,
        [("route".to_string(), "/api/health".to_string())]
    );

    // The `_bucket` spelling of the name is accepted too.
    let same = e
        .histogram_quantile(0.95, &sel("http_request_duration_seconds_bucket"), &[])
        .unwrap();
    assert_eq!(same, p95);
}

#[test]
fn fixture_quantile_errors_and_empty() {
    let e = fixture();
    assert_eq!(
        e.histogram_quantile(0.95, &sel("db_query_duration_seconds"), &[]),
        Ok(vec![])
    );
    assert_eq!(
        e.histogram_quantile(0.95, &sel("nope_seconds"), &[]),
        Err(QueryError::NoSuchFamily("nope_seconds".into()))
    );
    assert!(matches!(
        e.histogram_quantile(0.5, &sel("http_requests_total"), &[]),
        Err(QueryError::NotAHistogram {
            kind: MetricKind::Counter,
            ..
        })
    ));
    assert!(matches!(
        e.histogram_quantile(95.0, &sel("http_request_duration_seconds"), &[]),
        Err(QueryError::InvalidQuantile(_))
    ));
    assert!(matches!(
        e.histogram_quantile(f64::NAN, &sel("http_request_duration_seconds"), &[]),
        Err(QueryError::InvalidQuantile(_))
    ));
}

#[test]
fn fixture_delta_between_scrapes() {
    let before = fixture();
    let after_text = FIXTURE.replace(
        "http_requests_total{method=\"GET\",route=\"/api/health\",status_code=\"200\"} 4\n",
        "http_requests_total{method=\"GET\",route=\"/api/health\",status_code=\"200\"} 10\n\
         http_requests_total{method=\"GET\",route=\"/api/health\",status_code=\"503\"} 2\n",
    );
    assert_ne!(after_text, FIXTURE);
    let after = parse(&after_text).unwrap();
    assert_eq!(
        delta(
            &before,
            &after,
            &sel(r#"http_requests_total{status_code=~"5.."}"#)
        ),
        2.0
    );
    assert_eq!(delta(&before, &after, &sel("http_requests_total")), 8.0);
    assert_eq!(delta(&before, &before, &sel("http_requests_total")), 0.0);
}

#[test]
fn delta_treats_reset_as_restart() {
    let before = parse("c_total{a=\"x\"} 10\nc_total{a=\"y\"} 5\n").unwrap();
    // x restarted and counted 3 since; y went up by 1; label order differs.
    let after = parse("c_total{a=\"x\"} 3\nc_total{a=\"y\"} 6\n").unwrap();
    assert_eq!(delta(&before, &after, &sel("c_total")), 4.0);
}

#[test]
fn missing_series_behave() {
    let empty = parse("").unwrap();
    let some = parse("# TYPE c counter\nc_total{a=\"x\"} 4\n# TYPE h histogram\n").unwrap();
    let c = sel("c_total");
    assert_eq!(empty.sum(&c), None);
    assert_eq!(some.sum(&sel(r#"c_total{a="y"}"#)), None);
    assert!(empty.select(&c).is_empty());
    assert_eq!(delta(&empty, &empty, &c), 0.0);
    // Series appeared: counts from 0.
    assert_eq!(delta(&empty, &some, &c), 4.0);
    // Series vanished: treated as a reset to 0, not as -4.
    assert_eq!(delta(&some, &empty, &c), 0.0);
    assert_eq!(
        empty.histogram_quantile(0.5, &sel("h"), &[]),
        Err(QueryError::NoSuchFamily("h".into()))
    );
    assert_eq!(
        some.histogram_quantile(0.5, &sel("h"), &["route"]),
        Ok(vec![])
    );
    let zero = parse(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n",
    )
    .unwrap();
    let v = zero.histogram_quantile(0.5, &sel("h"), &[]).unwrap();
    assert!(v[0].1.is_nan());
    let no_inf = parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n").unwrap();
    assert!(matches!(
        no_inf.histogram_quantile(0.5, &sel("h"), &[]),
        Err(QueryError::MissingInfBucket { .. })
    ));
}

#[test]
fn awkward_label_values_survive() {
    let text = r#"# TYPE req counter
req{path="/a,b",msg="say \"hi\"",eq="a=b",brace="x}y",bs="C:\\dir",nl="l1\nl2",} 1
"#;
    let e = parse(text).unwrap();
    let s = &e.family("req").unwrap().samples[0];
    let labels: Vec<(&str, &str)> = s
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("path", "/a,b"),
            ("msg", "say \"hi\""),
            ("eq", "a=b"),
            ("brace", "x}y"),
            ("bs", "C:\\dir"),
            ("nl", "l1\nl2"),
        ]
    );
    assert_eq!(
        e.sum(&sel(r#"req{path="/a,b",msg="say \"hi\""}"#)),
        Some(1.0)
    );
}

#[test]
fn colons_values_timestamps_and_untyped() {
    let text = "# HELP job:http_requests:rate5m Rate with \\\\ and\\nnewline.\n\
                # TYPE job:http_requests:rate5m gauge\n\
                job:http_requests:rate5m{job=\"api\",ns:pod=\"a\"} 3.5e2 1520879607789\n\
                # a free-form comment\n\
                \n\
                plain_untyped   +Inf\n\
                plain_untyped{x=\"1\"}\t-Inf\n\
                nan_untyped NaN -5\n\
                exp_untyped 1.5E-3\n";
    let e = parse(text).unwrap();
    let f = e.family("job:http_requests:rate5m").unwrap();
    assert_eq!(f.kind, MetricKind::Gauge);
    assert_eq!(f.help.as_deref(), Some("Rate with \\ and\nnewline."));
    assert_eq!(f.samples[0].value, 350.0);
    assert_eq!(f.samples[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(f.samples[0].label("ns:pod"), Some("a"));

    let u = e.family("plain_untyped").unwrap();
    assert_eq!(u.kind, MetricKind::Untyped);
    assert_eq!(u.help, None);
    assert_eq!(u.samples.len(), 2);
    assert_eq!(u.samples[0].value, f64::INFINITY);
    assert_eq!(u.samples[1].value, f64::NEG_INFINITY);
    let n = &e.family("nan_untyped").unwrap().samples[0];
    assert!(n.value.is_nan());
    assert_eq!(n.timestamp_ms, Some(-5));
    assert_eq!(e.select(&sel("exp_untyped"))[0].value, 0.0015);
    assert_eq!(e.families.len(), 4);
}

#[test]
fn openmetrics_children_attach_to_declared_family() {
    let text = "# TYPE foo counter\n\
                # UNIT foo seconds\n\
                # HELP foo A counter.\n\
                foo_total 17.0 1520879607.789\n\
                foo_created 1520872607.123\n\
                # TYPE lat histogram\n\
                lat_bucket{le=\"0.5\"} 1 # {trace_id=\"KOO5S4vxi0o\"} 0.25\n\
                lat_bucket{le=\"+Inf\"} 2\n\
                lat_sum 1.1\n\
                lat_count 2\n\
                lat_created 1520430000.123\n\
                # TYPE sz summary\n\
                sz{quantile=\"0.9\"} 3\n\
                sz_sum 10\n\
                sz_count 4\n\
                # TYPE build info\n\
                build_info{version=\"1.2\"} 1\n\
                # TYPE q gaugehistogram\n\
                q_bucket{le=\"+Inf\"} 2\n\
                q_gsum 3\n\
                q_gcount 2\n\
                # TYPE st stateset\n\
                st{st=\"a\"} 1\n\
                # TYPE u unknown\n\
                u 1\n\
                # EOF\n";
    let e = parse(text).unwrap();
    let kinds: Vec<(&str, MetricKind, usize)> = e
        .families
        .iter()
        .map(|f| (f.name.as_str(), f.kind, f.samples.len()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("foo", MetricKind::Counter, 2),
            ("lat", MetricKind::Histogram, 5),
            ("sz", MetricKind::Summary, 3),
            ("build", MetricKind::Info, 1),
            ("q", MetricKind::GaugeHistogram, 3),
            ("st", MetricKind::StateSet, 1),
            ("u", MetricKind::Unknown, 1),
        ]
    );
    let foo = e.family("foo_total").unwrap();
    assert_eq!(foo.help.as_deref(), Some("A counter."));
    assert_eq!(foo.samples[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(
        e.histogram_quantile(0.5, &sel("lat"), &[]).unwrap()[0].1,
        0.5
    );
}

/// (input, line, column, message fragment)
const MALFORMED: &[(&str, usize, usize, &str)] = &[
    ("ok 1\na{b=\"c} 1\n", 2, 5, "unterminated label value"),
    ("a{b=\"c\"d=\"e\"} 1\n", 1, 8, "expected ',' or '}'"),
    ("# TYPE a gauge\n\na 1x\n", 3, 3, "invalid sample value"),
    ("a{b=\"\\t\"} 1\n", 1, 6, "invalid escape sequence"),
    ("a 1 12.5\n", 1, 5, "invalid timestamp"),
    ("9a 1\n", 1, 1, "expected metric name"),
    ("a{b=\"c\"}1\n", 1, 9, "expected whitespace"),
    ("# TYPE a histo\n", 1, 10, "unknown metric type"),
    ("a{b=\"1\",b=\"2\"} 1\n", 1, 9, "duplicate label"),
    ("a 1\na 2\n", 2, 1, "duplicate sample"),
    ("a 1 2 3\n", 1, 7, "unexpected text after sample"),
    ("a{=\"x\"} 1\n", 1, 3, "expected label name"),
    ("a{b='c'} 1\n", 1, 5, "expected '\"'"),
    ("a{b \"c\"} 1\n", 1, 5, "expected '='"),
    ("a\n", 1, 2, "expected whitespace"),
    ("a 1\n# EOF\nb 2\n", 3, 1, "content after # EOF"),
    ("# TYPE a\n", 1, 9, "expected whitespace"),
    ("# HELP a bad \\x escape\n", 1, 14, "invalid escape"),
    ("a{b=\"é\"} é\n", 1, 10, "invalid sample value"),
];

#[test]
fn malformed_lines_are_rejected_with_position() {
    for &(input, line, column, fragment) in MALFORMED {
        let e = parse(input).expect_err(input);
        assert_eq!((e.line, e.column), (line, column), "{input:?}: {e}");
        assert!(e.message.contains(fragment), "{input:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("line {line}, column {column}: "))
        );
    }
}

#[test]
fn crlf_line_endings_are_accepted() {
    let e = parse("# TYPE a gauge\r\na{b=\"c\"} 1\r\n").unwrap();
    assert_eq!(e.family("a").unwrap().samples[0].value, 1.0);
}

#[test]
fn reexports_are_usable() {
    let _: fn(&str) -> Result<Exposition, metrics::ParseError> = metrics::parse;
}
