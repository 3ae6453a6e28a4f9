//! The server's own view of the run: its Prometheus metrics scraped before
//! and after, compared per (method, route template) with what the client
//! counted. A gap between the two totals means something between them (a
//! proxy, a load balancer) answered or dropped requests.

use std::collections::{BTreeMap, HashMap};

use crate::http::{Client, Prepared};
use crate::measure::{ServerCheck, ServerRoute};
use crate::metrics::{self, Exposition, MetricKind, Selector, family_delta};

const REQUESTS: &str = "http_requests_total";
const DURATION: &str = "http_request_duration_seconds";

/// A scrape: parsed, plus its text and time for a sharded run, whose
/// cross-check `merge` takes over all shards from their raw scrapes.
pub struct Scrape {
    pub exposition: Exposition,
    pub text: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Scrapes `url`; `Err` says why the cross-check is skipped.
pub async fn scrape(client: &Client, url: &url::Url) -> Result<Scrape, String> {
    let at = chrono::Utc::now();
    let req = Prepared {
        method: http::Method::GET,
        url: url.clone(),
        headers: http::HeaderMap::new(),
        body: None,
        timeout: std::time::Duration::from_secs(10),
        follow_redirects: true,
    };
    let resp = client
        .send(&req)
        .await
        .map_err(|e| format!("scraping {url}: {e}"))?;
    if resp.status != 200 {
        return Err(format!(
            "{url} answered {}; no server-side cross-check",
            resp.status
        ));
    }
    let text = std::str::from_utf8(&resp.body)
        .map_err(|_| format!("{url} is not UTF-8 Prometheus text"))?;
    let exposition =
        metrics::parse(text).map_err(|e| format!("{url} is not Prometheus text: {e}"))?;
    Ok(Scrape {
        exposition,
        text: text.to_string(),
        at,
    })
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Compares two scrapes; `client_responses` is how many responses the client
/// received (transport errors excluded: they may never reach the server).
pub fn compare(before: &Exposition, after: &Exposition, client_responses: u64) -> ServerCheck {
    let mut check = ServerCheck::default();
    let Some(req_after) = after.family(REQUESTS) else {
        check.warnings.push(format!(
            "the target exports no {REQUESTS}; no server-side cross-check"
        ));
        return check;
    };
    let requests = family_delta(before.family(REQUESTS), req_after);
    let mut resets = requests.resets;
    let requests = requests.family;
    let mut routes: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for s in &requests.samples {
        let method = label(&s.labels, "method").to_string();
        let route = label(&s.labels, "route").to_string();
        let e = routes.entry((method, route)).or_default();
        e.0 += s.value;
        if label(&s.labels, "status_code").starts_with('5') {
            e.1 += s.value;
        }
    }
    let mut p95: HashMap<(String, String), f64> = HashMap::new();
    if let Some(dur_after) = after
        .family(DURATION)
        .filter(|f| f.kind == MetricKind::Histogram)
    {
        let d = family_delta(before.family(DURATION), dur_after);
        resets += d.resets;
        let delta = Exposition {
            families: vec![d.family],
        };
        match delta.histogram_quantile(0.95, &Selector::new(DURATION), &["method", "route"]) {
            Ok(groups) => {
                for (labels, v) in groups {
                    if v.is_finite() {
                        p95.insert(
                            (
                                label(&labels, "method").to_string(),
                                label(&labels, "route").to_string(),
                            ),
                            v,
                        );
                    }
                }
            }
            Err(e) => check.warnings.push(format!("server p95: {e}")),
        }
    }
    for ((method, route), (n, e5)) in routes {
        if n <= 0.0 {
            continue;
        }
        check.total_requests += n;
        check.total_5xx += e5;
        check.routes.push(ServerRoute {
            p95_seconds: p95.get(&(method.clone(), route.clone())).copied(),
            method,
            route,
            requests: n,
            errors_5xx: e5,
        });
    }
    if resets > 0 {
        check.warnings.push(format!(
            "{resets} server series went down during the run: the server restarted, and its figures count only what it saw since"
        ));
    }
    let client = client_responses as f64;
    let server = check.total_requests;
    let gap = (client - server).abs();
    if gap > 0.01 * client.max(server) {
        check.warnings.push(format!(
            "the client received {client_responses} responses but the server counted {server}: something between them (a proxy or load balancer) answered or dropped requests"
        ));
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The health route's counter and duration histogram after `ok` answers
    /// (5 of them under 10 ms, the rest under 100 ms) and `unavailable` 503s.
    fn scrape(ok: u64, unavailable: u64, sum: f64) -> String {
        let labels = "method=\"GET\",route=\"/api/health\",status_code=\"200\"";
        let mut o =
            format!("# TYPE http_requests_total counter\nhttp_requests_total{{{labels}}} {ok}\n");
        if unavailable > 0 {
            o.push_str(&format!(
                "http_requests_total{{method=\"GET\",route=\"/api/health\",status_code=\"503\"}} {unavailable}\n"
            ));
        }
        o.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (le, n) in [("0.01", 5), ("0.1", ok), ("+Inf", ok)] {
            o.push_str(&format!(
                "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n"
            ));
        }
        o.push_str(&format!(
            "http_request_duration_seconds_sum{{{labels}}} {sum}\nhttp_request_duration_seconds_count{{{labels}}} {ok}\n"
        ));
        o
    }

    fn before() -> String {
        scrape(5, 0, 0.01)
    }

    fn after() -> String {
        scrape(105, 2, 5.01)
    }

    #[test]
    fn deltas_per_route_with_p95_from_bucket_deltas() {
        let b = metrics::parse(&before()).unwrap();
        let a = metrics::parse(&after()).unwrap();
        let c = compare(&b, &a, 102);
        assert_eq!(c.total_requests, 102.0);
        assert_eq!(c.total_5xx, 2.0);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let r = &c.routes[0];
        assert_eq!(
            (r.method.as_str(), r.route.as_str()),
            ("GET", "/api/health")
        );
        // All 100 new observations fall in (0.01, 0.1]: p95 interpolates there,
        // not in the first bucket where the old ones were.
        let p = r.p95_seconds.unwrap();
        assert!(p > 0.01 && p <= 0.1, "{p}");
    }

    #[test]
    fn a_restart_counts_since_the_restart_and_says_so() {
        // The server restarted: its counters start over below the first
        // scrape. The delta is what it counted since, never negative.
        let after = "# TYPE http_requests_total counter\n\
http_requests_total{method=\"GET\",route=\"/api/health\",status_code=\"200\"} 3\n";
        let b = metrics::parse(&before()).unwrap();
        let a = metrics::parse(after).unwrap();
        let c = compare(&b, &a, 3);
        assert_eq!(c.total_requests, 3.0);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("restarted"), "{:?}", c.warnings);
    }

    #[test]
    fn warns_when_counts_disagree() {
        let b = metrics::parse(&before()).unwrap();
        let a = metrics::parse(&after()).unwrap();
        let c = compare(&b, &a, 150);
        assert_eq!(c.warnings.len(), 1);
    }
}
