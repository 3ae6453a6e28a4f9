//! Metrics: the registry, the contract's families, the HTTP middleware that
//! records them, and the Prometheus 0.0.4 text rendering.
//!
//! The registry belongs to the app state, not to the process, because tests
//! and the harness run several backends in one process and each must count
//! only its own traffic.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::error_type;
use crate::state::AppState;

const HTTP_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0];
const DB_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0];

/// Every family this module exports, as (name, type, help).
const FAMILIES: [(&str, &str, &str); 8] = [
    (
        "http_request_duration_seconds",
        "histogram",
        "Duration of HTTP requests in seconds",
    ),
    (
        "http_requests_total",
        "counter",
        "Total number of HTTP requests",
    ),
    (
        "http_request_errors_total",
        "counter",
        "Total number of HTTP request errors",
    ),
    (
        "db_query_duration_seconds",
        "histogram",
        "Duration of database queries in seconds",
    ),
    (
        "db_queries_total",
        "counter",
        "Total number of database queries",
    ),
    (
        "db_query_errors_total",
        "counter",
        "Total number of database query errors",
    ),
    ("backend_info", "gauge", "Backend application information"),
    (
        "backend_uptime_seconds",
        "gauge",
        "Application uptime in seconds",
    ),
];

/// `route` label for requests no route matched: a fixed value keeps the
/// label set bounded whatever URLs clients send.
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpErrorLabels {
    pub method: String,
    pub route: String,
    pub status_code: String,
    pub error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DbLabels {
    pub query_type: &'static str,
    pub table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DbErrorLabels {
    pub query_type: &'static str,
    pub table: &'static str,
    pub error_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    version: String,
    environment: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

fn db_histogram() -> Histogram {
    Histogram::new(DB_BUCKETS)
}

/// The database families, cloned into the store (families are shared handles).
#[derive(Clone)]
pub struct DbMetrics {
    duration: HistogramFamily<DbLabels>,
    total: Family<DbLabels, Counter>,
    errors: Family<DbErrorLabels, Counter>,
}

impl DbMetrics {
    pub fn record(
        &self,
        query_type: &'static str,
        table: &'static str,
        elapsed: Duration,
        error: Option<&'static str>,
    ) {
        let labels = DbLabels { query_type, table };
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.total.get_or_create(&labels).inc();
        if let Some(error_type) = error {
            self.errors
                .get_or_create(&DbErrorLabels {
                    query_type,
                    table,
                    error_type,
                })
                .inc();
        }
    }
}

pub struct Telemetry {
    registry: Registry,
    http_duration: HistogramFamily<HttpLabels>,
    http_total: Family<HttpLabels, Counter>,
    http_errors: Family<HttpErrorLabels, Counter>,
    uptime: Gauge<f64, AtomicU64>,
    pub db: DbMetrics,
    started: Instant,
}

impl Telemetry {
    pub fn new(environment: &str) -> Self {
        let mut registry = Registry::default();
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(http_histogram);
        let http_total = Family::<HttpLabels, Counter>::default();
        let http_errors = Family::<HttpErrorLabels, Counter>::default();
        let db = DbMetrics {
            duration: Family::new_with_constructor(db_histogram),
            total: Family::default(),
            errors: Family::default(),
        };
        let info = Family::<InfoLabels, Gauge>::default();
        info.get_or_create(&InfoLabels {
            version: crate::VERSION.to_owned(),
            environment: environment.to_owned(),
        })
        .set(1);
        let uptime = Gauge::<f64, AtomicU64>::default();

        // prometheus-client appends `_total` to counter sample names itself.
        registry.register(
            "http_request_duration_seconds",
            "Duration of HTTP requests in seconds",
            http_duration.clone(),
        );
        registry.register(
            "http_requests",
            "Total number of HTTP requests",
            http_total.clone(),
        );
        registry.register(
            "http_request_errors",
            "Total number of HTTP request errors",
            http_errors.clone(),
        );
        registry.register(
            "db_query_duration_seconds",
            "Duration of database queries in seconds",
            db.duration.clone(),
        );
        registry.register(
            "db_queries",
            "Total number of database queries",
            db.total.clone(),
        );
        registry.register(
            "db_query_errors",
            "Total number of database query errors",
            db.errors.clone(),
        );
        registry.register("backend_info", "Backend application information", info);
        registry.register(
            "backend_uptime_seconds",
            "Application uptime in seconds",
            uptime.clone(),
        );

        Telemetry {
            registry,
            http_duration,
            http_total,
            http_errors,
            uptime,
            db,
            started: Instant::now(),
        }
    }

    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn record_http(
        &self,
        method: &str,
        route: &str,
        status: axum::http::StatusCode,
        elapsed: Duration,
    ) {
        let labels = HttpLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status_code: status.as_u16().to_string(),
        };
        self.http_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.http_total.get_or_create(&labels).inc();
        if status.is_client_error() || status.is_server_error() {
            self.http_errors
                .get_or_create(&HttpErrorLabels {
                    method: labels.method,
                    route: labels.route,
                    status_code: labels.status_code,
                    error_type: error_type(status).to_owned(),
                })
                .inc();
        }
    }

    /// The exposition in Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        self.uptime.set(self.uptime_seconds());
        let mut open_metrics = String::with_capacity(8192);
        if prometheus_client::encoding::text::encode_registry(&mut open_metrics, &self.registry)
            .is_err()
        {
            open_metrics.clear();
        }
        let mut out = crate::process::render();
        out.push_str(&to_prometheus_text(&open_metrics));
        // prometheus-client omits families without series; the original
        // always announced them, and scrapers may look for the TYPE line.
        for (name, kind, help) in FAMILIES {
            if !out.contains(&format!("# TYPE {name} ")) {
                let _ = write!(out, "# HELP {name} {help}.\n# TYPE {name} {kind}\n");
            }
        }
        out
    }
}

/// prometheus-client writes OpenMetrics; 0.0.4 differs in that a counter's
/// HELP/TYPE lines carry the full `_total` sample name, and there is no
/// `# EOF`, `# UNIT` or `_created`.
fn to_prometheus_text(om: &str) -> String {
    let mut counters: Vec<&str> = Vec::new();
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.push(name);
        }
    }
    let mut out = String::with_capacity(om.len() + 64);
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        if let Some((prefix, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(&name) && !name.ends_with("_total") {
                let _ = writeln!(out, "{prefix}{name}_total {tail}");
                continue;
            }
        } else if !line.starts_with('#') {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            if line[..name_end].ends_with("_created") {
                continue;
            }
            // prom-client (the original) writes whole bucket bounds as `1`, not `1.0`.
            if let Some(i) = line.find(".0\"")
                && line[..i]
                    .rfind("le=\"")
                    .is_some_and(|j| line[j + 4..i].bytes().all(|b| b.is_ascii_digit()))
            {
                out.push_str(&line[..i]);
                out.push_str(&line[i + 2..]);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Records every request (except scrapes of `/api/metrics`) under its route
/// template, and writes the optional per-request log line. Runs outside the
/// lab's fault injection so injected answers are counted like real ones.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(&req);
    if &*route == "/api/metrics" {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = state.request_log().then(|| req.uri().path().to_owned());
    let res = next.run(req).await;
    let elapsed = start.elapsed();
    state
        .telemetry()
        .record_http(method.as_str(), &route, res.status(), elapsed);
    if let Some(path) = path {
        tracing::info!(
            method = %method,
            route = %route,
            path = %path,
            status = res.status().as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
    res
}

/// The contract's `:param` form of axum's `{param}` template.
pub fn route_label(req: &Request) -> Arc<str> {
    match req.extensions().get::<MatchedPath>() {
        Some(m) => {
            // `/api/projects/` is the same route as `/api/projects`.
            let p = m.as_str();
            let p = if p.len() > 1 {
                p.strip_suffix('/').unwrap_or(p)
            } else {
                p
            };
            if p.contains('{') {
                Arc::from(p.replace('{', ":").replace('}', ""))
            } else {
                Arc::from(p)
            }
        }
        None => Arc::from(UNMATCHED_ROUTE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_is_0_0_4() {
        let t = Telemetry::new("development");
        t.record_http(
            "GET",
            "/api/health",
            axum::http::StatusCode::OK,
            Duration::from_millis(2),
        );
        t.record_http(
            "GET",
            "/api/projects/:id",
            axum::http::StatusCode::NOT_FOUND,
            Duration::from_millis(2),
        );
        t.db.record(
            "select",
            "projects",
            Duration::from_millis(1),
            Some("QueryFailedError"),
        );
        let text = t.render();
        assert!(!text.contains("# EOF"));
        assert!(text.contains("# TYPE http_requests_total counter\n"));
        assert!(text.contains("# TYPE db_query_errors_total counter\n"));
        assert!(text.contains(
            "http_requests_total{method=\"GET\",route=\"/api/health\",status_code=\"200\"} 1\n"
        ));
        assert!(text.contains("backend_info{version=\"1.0.0\",environment=\"development\"} 1\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"/api/health\",status_code=\"200\"} 1\n"));
        assert!(text.contains("error_type=\"NotFoundException\""));
        assert!(text.contains("backend_uptime_seconds "));
    }
}
