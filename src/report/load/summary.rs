//! `summary.json`: the machine-readable record of a load run, versioned by
//! [`crate::rundir::FORMAT`] and described by `schemas/report.schema.json`. Every request
//! name carries its full latency histogram (HdrHistogram V2 + DEFLATE,
//! base64) so later tooling can merge runs and compare them without the raw
//! data; the percentiles beside it are conveniences, in milliseconds.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::rundir::{FORMAT, Names};
use crate::measure::codec::encode_histogram;
use crate::measure::{
    MAX_LATENCY_US, Measurements, Model, RequestStats, SIGFIG, Settings, StopReason,
};
use crate::verdict::LoadVerdict;
use crate::verdict::slo::all_data;


pub use crate::provenance::Provenance;

/// Milliseconds from a microsecond histogram value.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Latency figures of a histogram; all null when nothing completed.
fn latency(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({
            "min": null, "mean": null, "stdev": null, "p50": null, "p90": null,
            "p95": null, "p99": null, "p99_9": null, "max": null
        });
    }
    let q = |x: f64| ms(h.value_at_quantile(x));
    // Same figures as the .hgrm footer (Java's summation order).
    let (mean, stdev) = super::hgrm::mean_stdev(h);
    json!({
        "min": ms(h.min()),
        "mean": mean / 1000.0,
        "stdev": stdev / 1000.0,
        "p50": q(0.50),
        "p90": q(0.90),
        "p95": q(0.95),
        "p99": q(0.99),
        "p99_9": q(0.999),
        "max": ms(h.max()),
    })
}

struct Figures<'a> {
    histogram: &'a Histogram<u64>,
    count: u64,
    errors: BTreeMap<String, u64>,
}

fn figures(f: &Figures<'_>, elapsed_s: f64) -> Value {
    let failed: u64 = f.errors.values().sum();
    json!({
        "count": f.count,
        "responses": f.histogram.len(),
        "failed": failed,
        "errors": f.errors,
        "error_rate": if f.count == 0 { 0.0 } else { failed as f64 / f.count as f64 },
        "rps": if elapsed_s > 0.0 { f.count as f64 / elapsed_s } else { 0.0 },
        "latency_ms": latency(f.histogram),
        "histogram": encode_histogram(f.histogram),
    })
}

fn request(name: &str, r: &RequestStats, names: &Names, elapsed_s: f64) -> Value {
    let mut v = figures(
        &Figures {
            histogram: &r.histogram,
            count: r.count,
            errors: r.errors.clone(),
        },
        elapsed_s,
    );
    let stem = names.stem(name);
    v["method"] = json!(r.method);
    v["path"] = json!(r.path);
    v["hlog_tag"] = json!(stem);
    v["hgrm"] = json!(format!("{stem}.hgrm"));
    v["failures"] = json!(r.failures);
    v
}

fn model(m: Model) -> &'static str {
    match m {
        Model::Closed => "closed",
        Model::Open => "open",
    }
}

fn stop(s: StopReason) -> &'static str {
    s.key()
}

/// The open model's schedule: the rate asked for beside the rate sent, and
/// how late the generator itself was (µs), so a slow server is not blamed
/// for a late generator. Null in the closed model, which has no schedule.
fn schedule(m: &Measurements) -> Value {
    let Some(s) = &m.schedule else {
        return Value::Null;
    };
    let h = &s.lateness;
    let q = |x: f64| (!h.is_empty()).then(|| h.value_at_quantile(x));
    json!({
        "offered_rate": s.offered_rate,
        "delivered_rate": s.delivered_rate,
        "offered": s.offered,
        "delivered": s.delivered,
        "window_s": s.window.as_secs_f64(),
        "lateness_us": {
            "p50": q(0.50),
            "p99": q(0.99),
            "max": (!h.is_empty()).then(|| h.max()),
            "histogram": encode_histogram(h),
        },
    })
}

/// The whole `summary.json` document.
pub fn summary_json(
    settings: &Settings,
    m: &Measurements,
    verdict: &LoadVerdict,
    provenance: &Provenance,
    ident: &super::RunIdentity,
) -> Value {
    let names = Names::new(m.requests.keys());
    let elapsed_s = m.elapsed.as_secs_f64();
    let mut requests = serde_json::Map::new();
    for (name, r) in &m.requests {
        requests.insert(name.clone(), request(name, r, &names, elapsed_s));
    }
    let all = all_data(m);
    let mut all_errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in m.requests.values() {
        for (k, v) in &r.errors {
            *all_errors.entry(k.clone()).or_default() += v;
        }
    }
    let mut all_v = figures(
        &Figures {
            histogram: &all.histogram,
            count: all.count,
            errors: all_errors,
        },
        elapsed_s,
    );
    all_v["hlog_tag"] = Value::Null;
    all_v["hgrm"] = json!(format!("{}.hgrm", super::ALL_STEM));

    let server = m.server.as_ref().map(|s| {
        json!({
            "total_requests": s.total_requests,
            "total_5xx": s.total_5xx,
            "routes": s.routes.iter().map(|r| json!({
                "method": r.method,
                "route": r.route,
                "requests": r.requests,
                "errors_5xx": r.errors_5xx,
                "p95_ms": r.p95_seconds.map(|p| p * 1000.0),
            })).collect::<Vec<_>>(),
            "warnings": s.warnings,
        })
    });
    let slo_results = &verdict.slo_results;
    let slo_passed = slo_results.iter().all(|r| r.passed);
    let passed = verdict.passed;
    let shard = ident.shard.as_ref().map(|sh| {
        let mut v = json!(sh);
        v["start"] = json!(m.start);
        v["scrapes"] = match &m.scrapes {
            Some(sc) => json!({
                "before": crate::rundir::SCRAPE_BEFORE_FILE,
                "before_at": sc.before.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "after": crate::rundir::SCRAPE_AFTER_FILE,
                "after_at": sc.after.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
            None => Value::Null,
        };
        v
    });
    let generator = m.generator.map(|g| {
        json!({ "cpu_s": g.cpu.as_secs_f64(), "cores": g.cores, "cpu_share": g.share(m.elapsed) })
    });
    let shards = (!m.shards.is_empty()).then(|| json!(m.shards));
    json!({
        "format": FORMAT,
        "tool": { "name": "postdeploy", "version": env!("CARGO_PKG_VERSION") },
        "run": {
            "uid": ident.uid,
            "env": ident.env,
            "target": settings.target,
            "target_local": settings.target_local,
            "git_commit": provenance.commit,
            "deploy_id": provenance.deploy_id,
            "provenance": provenance,
            "model": model(settings.model),
            "users": settings.users,
            "rate": settings.rate,
            "ramp_s": settings.ramp.as_secs_f64(),
            "duration_s": settings.duration.as_secs_f64(),
            "max_requests": settings.max_requests,
            "regress": settings.regress,
            "scenarios": settings.scenarios.iter().map(|s| json!({
                "name": s.name, "file": s.file, "sha256": s.sha256, "weight": s.weight,
            })).collect::<Vec<_>>(),
            "started_at": m.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "ended_at": m.ended_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "elapsed_s": elapsed_s,
            "stopped_by": stop(m.stopped_by),
            "teardown_abandoned": m.teardown_abandoned,
        },
        "histogram_encoding": {
            "format": "HdrHistogram V2 compressed (DEFLATE), base64",
            "unit": "us",
            "lowest_discernible": 1,
            "highest_trackable": MAX_LATENCY_US,
            "significant_digits": SIGFIG,
        },
        "requests": requests,
        "all": all_v,
        "server": server,
        "schedule": schedule(m),
        "slo": { "passed": slo_passed, "results": slo_results },
        "regression": verdict.regression,
        "history": ident.history.as_ref().map(|(location, id)| json!({ "location": location, "run_id": id })),
        "passed": passed,
        "shard": shard,
        "shards": shards,
        "generator": generator,
        "files": {
            "summary": super::SUMMARY_FILE,
            "hlog": super::HLOG_FILE,
            "junit": super::JUNIT_FILE,
            "html": super::HTML_FILE,
        },
    })
}
