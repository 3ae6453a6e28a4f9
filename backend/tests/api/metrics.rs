//! After a known sequence of requests the exposition shows exactly what was
//! sent, per route template and status.

use serde_json::json;

use crate::support::{TestApp, sample};

async fn counters_match_the_traffic(app: &mut TestApp) {
    let c = app.client.clone();
    for path in ["/api/health", "/api/health", "/api/health/"] {
        assert_eq!(c.get(path).await.status, 200);
    }
    let mut id = String::new();
    for _ in 0..2 {
        let r = c
            .post_json("/api/projects", &json!({"title": "t", "description": "d"}))
            .await;
        assert_eq!(r.status, 201);
        id = r.json()["id"].as_str().expect("id").to_owned();
    }
    assert_eq!(c.post_json("/api/projects", &json!({})).await.status, 400);
    assert_eq!(c.get(&format!("/api/projects/{id}")).await.status, 200);
    for _ in 0..2 {
        assert_eq!(c.get("/api/projects/not-a-uuid").await.status, 400);
    }
    assert_eq!(c.get("/nowhere/at/all").await.status, 404);
    // Scrapes in between are not counted.
    let _ = c.metrics().await;
    let res = c.get("/api/metrics").await;
    assert_eq!(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = res.text;

    let expect = [
        ("GET", "/api/health", "200", 3.0),
        ("POST", "/api/projects", "201", 2.0),
        ("POST", "/api/projects", "400", 1.0),
        ("GET", "/api/projects/:id", "200", 1.0),
        ("GET", "/api/projects/:id", "400", 2.0),
        ("GET", "unmatched", "404", 1.0),
    ];
    for (method, route, status, n) in expect {
        let labels = [
            ("method", method),
            ("route", route),
            ("status_code", status),
        ];
        assert_eq!(
            sample(&text, "http_requests_total", &labels),
            n,
            "{method} {route} {status}\n{text}"
        );
        assert_eq!(
            sample(&text, "http_request_duration_seconds_count", &labels),
            n,
            "{method} {route} {status}"
        );
        let inf = [
            ("method", method),
            ("route", route),
            ("status_code", status),
            ("le", "+Inf"),
        ];
        assert_eq!(
            sample(&text, "http_request_duration_seconds_bucket", &inf),
            n
        );
    }
    let err = |route, status, kind, n: f64| {
        let labels = [
            (
                "method",
                if route == "/api/projects" {
                    "POST"
                } else {
                    "GET"
                },
            ),
            ("route", route),
            ("status_code", status),
            ("error_type", kind),
        ];
        assert_eq!(
            sample(&text, "http_request_errors_total", &labels),
            n,
            "{route} {status} {kind}"
        );
    };
    err("/api/projects", "400", "BadRequestException", 1.0);
    err("/api/projects/:id", "400", "BadRequestException", 2.0);
    err("unmatched", "404", "NotFoundException", 1.0);
    assert!(
        !text.contains("route=\"/api/metrics\""),
        "scrapes are not counted"
    );
    assert!(!text.contains("/nowhere"), "raw URLs never become labels");

    // Database figures, recorded around every query.
    let db = |qt, table| [("query_type", qt), ("table", table)];
    assert_eq!(
        sample(&text, "db_queries_total", &db("insert", "projects")),
        2.0
    );
    assert_eq!(
        sample(&text, "db_queries_total", &db("select", "projects")),
        1.0
    );
    assert_eq!(
        sample(&text, "db_queries_total", &db("select", "none")),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            "db_query_duration_seconds_count",
            &db("insert", "projects")
        ),
        2.0
    );
    assert!(
        sample(
            &text,
            "db_query_duration_seconds_sum",
            &db("insert", "projects")
        ) > 0.0
    );

    // Families and format details of the contract.
    for family in [
        "# TYPE http_request_duration_seconds histogram",
        "# TYPE http_requests_total counter",
        "# TYPE http_request_errors_total counter",
        "# TYPE db_query_duration_seconds histogram",
        "# TYPE db_queries_total counter",
        "# TYPE db_query_errors_total counter",
        "# TYPE backend_info gauge",
        "# TYPE backend_uptime_seconds gauge",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_open_fds gauge",
        "# TYPE process_max_fds gauge",
        "# TYPE process_start_time_seconds gauge",
    ] {
        assert!(text.contains(family), "missing {family:?}");
    }
    assert_eq!(
        sample(
            &text,
            "backend_info",
            &[("version", "1.0.0"), ("environment", "development")]
        ),
        1.0
    );
    assert!(!text.contains("# EOF") && !text.contains("# UNIT") && !text.contains("_created"));
    let buckets: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("http_request_duration_seconds_bucket")
                && l.contains("route=\"/api/health\"")
        })
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        buckets,
        [
            "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "2.5", "5", "10", "+Inf"
        ]
    );
    let db_buckets = text
        .lines()
        .filter(|l| {
            l.starts_with("db_query_duration_seconds_bucket") && l.contains("query_type=\"insert\"")
        })
        .count();
    assert_eq!(db_buckets, 10, "9 bounds + +Inf");
    // Every sample line parses as `name{labels} value`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, value) = line.rsplit_once(' ').expect("sample line");
        assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
    }
}

async fn database_errors_are_counted(app: &mut TestApp) {
    let c = app.client.clone();
    c.lab("POST", "/api/lab/db-outage", Some(json!({"down": true})))
        .await;
    assert_eq!(c.get("/api/projects").await.status, 503);
    let text = c.metrics().await;
    let labels = [
        ("query_type", "select"),
        ("table", "projects"),
        ("error_type", "ConnectionError"),
    ];
    assert_eq!(
        sample(&text, "db_query_errors_total", &labels),
        1.0,
        "{text}"
    );
    let labels = [
        ("method", "GET"),
        ("route", "/api/projects"),
        ("status_code", "503"),
        ("error_type", "ServiceUnavailableException"),
    ];
    assert_eq!(sample(&text, "http_request_errors_total", &labels), 1.0);
}

crate::both_engines!(counters_match_the_traffic, database_errors_are_counted);

async fn burst_of_health_checks(coalesce: bool) -> (f64, usize) {
    let storage = crate::support::Storage::new(crate::support::Engine::Postgres).await;
    let app = TestApp::spawn_with(crate::support::Engine::Postgres, storage, |mut c| {
        c.health_coalesce = coalesce;
        c
    })
    .await;
    let mut tasks = Vec::new();
    for _ in 0..48 {
        let c = app.client.clone();
        tasks.push(tokio::spawn(async move { c.get("/api/health").await }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.expect("join");
        assert_eq!(r.json()["database"]["status"], "connected");
        ok += usize::from(r.status == 200);
    }
    let text = app.client.metrics().await;
    app.finish().await;
    (
        sample(
            &text,
            "db_queries_total",
            &[("query_type", "select"), ("table", "none")],
        ),
        ok,
    )
}

/// Concurrent health checks share probes (each still started after the
/// request arrived); with coalescing off every request runs its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_health_checks_share_fresh_probes() {
    let (probes, ok) = burst_of_health_checks(true).await;
    assert_eq!(ok, 48);
    assert!((1.0..=48.0).contains(&probes), "{probes}");
    let (probes, ok) = burst_of_health_checks(false).await;
    assert_eq!(ok, 48);
    assert_eq!(probes, 48.0);
}
