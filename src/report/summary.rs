//! `summary.json`: the machine-readable record of a load run, versioned by
//! [`crate::rundir::FORMAT`] and described by `schemas/report.schema.json`. Every request
//! name carries its full latency histogram (HdrHistogram V2 + DEFLATE,
//! base64) so later tooling can merge runs and compare them without the raw
//! data; the percentiles beside it are conveniences, in milliseconds.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::measure::codec::encode_histogram;
use crate::measure::ms;
use crate::measure::{MAX_LATENCY_US, Measurements, RequestStats, SIGFIG, ServerCheck, Settings};
use crate::rundir::summary::{
    Files, Generator, HistoryRef, Latency, Lateness, NameFigures, Run, ScenarioRef, Schedule,
    Scrapes, Server, ServerRoute, ShardDoc, Slo, Summary, Tool,
};
use crate::rundir::{ALL_STEM, FORMAT, Names, RunIdentity, SCRAPE_AFTER_FILE, SCRAPE_BEFORE_FILE};
use crate::verdict::LoadVerdict;

pub use crate::provenance::Provenance;

/// A part whose type belongs to a layer above the run directory.
fn value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Latency figures of a histogram; all null when nothing completed.
fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let q = |x: f64| Some(ms(h.value_at_quantile(x)));
    // Same figures as the .hgrm footer (Java's summation order).
    let (mean, stdev) = crate::report::hgrm::mean_stdev(h);
    Latency {
        min: Some(ms(h.min())),
        mean: Some(mean / 1000.0),
        stdev: Some(stdev / 1000.0),
        p50: q(0.50),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
        p99_9: q(0.999),
        max: Some(ms(h.max())),
    }
}

fn figures(
    histogram: &Histogram<u64>,
    count: u64,
    errors: BTreeMap<String, u64>,
    elapsed_s: f64,
    hgrm: String,
) -> NameFigures {
    let failed: u64 = errors.values().sum();
    NameFigures {
        count,
        responses: histogram.len(),
        failed,
        errors,
        error_rate: if count == 0 {
            0.0
        } else {
            failed as f64 / count as f64
        },
        rps: if elapsed_s > 0.0 {
            count as f64 / elapsed_s
        } else {
            0.0
        },
        latency_ms: latency(histogram),
        histogram: encode_histogram(histogram),
        method: None,
        path: None,
        hlog_tag: None,
        hgrm,
        failures: None,
    }
}

fn request(name: &str, r: &RequestStats, names: &Names, elapsed_s: f64) -> NameFigures {
    let stem = names.stem(name);
    NameFigures {
        method: Some(r.method.clone()),
        path: Some(r.path.clone()),
        hlog_tag: Some(stem.to_string()),
        failures: Some(r.failures.clone()),
        ..figures(
            &r.histogram,
            r.count,
            r.errors.clone(),
            elapsed_s,
            format!("{stem}.hgrm"),
        )
    }
}

/// The open model's schedule: the rate asked for beside the rate sent, and
/// how late the generator itself was (µs), so a slow server is not blamed
/// for a late generator. None in the closed model, which has no schedule.
fn schedule(m: &Measurements) -> Option<Schedule> {
    let s = m.schedule.as_ref()?;
    let h = &s.lateness;
    let q = |x: f64| (!h.is_empty()).then(|| h.value_at_quantile(x));
    Some(Schedule {
        offered_rate: s.offered_rate,
        delivered_rate: s.delivered_rate,
        offered: s.offered,
        delivered: s.delivered,
        window_s: s.window.as_secs_f64(),
        lateness_us: Lateness {
            p50: q(0.50),
            p99: q(0.99),
            max: (!h.is_empty()).then(|| h.max()),
            histogram: encode_histogram(h),
        },
    })
}

fn server(s: &ServerCheck) -> Server {
    Server {
        total_requests: s.total_requests,
        total_5xx: s.total_5xx,
        routes: s
            .routes
            .iter()
            .map(|r| ServerRoute {
                method: r.method.clone(),
                route: r.route.clone(),
                requests: r.requests,
                errors_5xx: r.errors_5xx,
                p95_ms: r.p95_seconds.map(|p| p * 1000.0),
            })
            .collect(),
        warnings: s.warnings.clone(),
    }
}

/// The whole `summary.json` document, as JSON (tests index into it).
pub fn summary_json(
    settings: &Settings,
    m: &Measurements,
    verdict: &LoadVerdict,
    provenance: &Provenance,
    ident: &RunIdentity,
) -> Value {
    serde_json::to_value(summary(settings, m, verdict, provenance, ident))
        .expect("a summary is plain data")
}

/// The whole `summary.json` document.
pub fn summary(
    settings: &Settings,
    m: &Measurements,
    verdict: &LoadVerdict,
    provenance: &Provenance,
    ident: &RunIdentity,
) -> Summary {
    let names = Names::new(m.requests.keys());
    let elapsed_s = m.elapsed.as_secs_f64();
    let requests = m
        .requests
        .iter()
        .map(|(name, r)| (name.clone(), request(name, r, &names, elapsed_s)))
        .collect();
    let all = m.all();
    let mut all_errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in m.requests.values() {
        for (k, v) in &r.errors {
            *all_errors.entry(k.clone()).or_default() += v;
        }
    }
    let all = figures(
        &all.histogram,
        all.count,
        all_errors,
        elapsed_s,
        format!("{ALL_STEM}.hgrm"),
    );
    let slo_results = &verdict.slo_results;
    let shard = ident.shard.as_ref().map(|sh| ShardDoc {
        ident: sh.clone(),
        start: m.start.clone(),
        scrapes: m.scrapes.as_ref().map(|sc| Scrapes {
            before: SCRAPE_BEFORE_FILE.into(),
            before_at: sc.before.0,
            after: SCRAPE_AFTER_FILE.into(),
            after_at: sc.after.0,
        }),
    });
    Summary {
        format: FORMAT.into(),
        tool: Tool {
            name: "postdeploy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: Run {
            uid: Some(ident.uid.clone()),
            env: ident.env.clone(),
            target: settings.target.clone(),
            target_local: settings.target_local,
            git_commit: provenance.commit.clone(),
            deploy_id: provenance.deploy_id.clone(),
            provenance: provenance.clone(),
            model: settings.model,
            users: settings.users,
            rate: settings.rate,
            ramp_s: settings.ramp.as_secs_f64(),
            duration_s: settings.duration.as_secs_f64(),
            max_requests: settings.max_requests,
            regress: settings.regress.clone(),
            scenarios: settings
                .scenarios
                .iter()
                .map(|s| ScenarioRef {
                    name: s.name.clone(),
                    file: s.file.clone(),
                    sha256: s.sha256.clone(),
                    weight: s.weight,
                })
                .collect(),
            started_at: m.started_at,
            ended_at: m.ended_at,
            elapsed_s,
            stopped_by: m.stopped_by.key().into(),
            teardown_abandoned: m.teardown_abandoned,
        },
        histogram_encoding: json!({
            "format": "HdrHistogram V2 compressed (DEFLATE), base64",
            "unit": "us",
            "lowest_discernible": 1,
            "highest_trackable": MAX_LATENCY_US,
            "significant_digits": SIGFIG,
        }),
        requests,
        all: Some(all),
        server: m.server.as_ref().map(server),
        schedule: schedule(m),
        slo: Slo {
            passed: slo_results.iter().all(|r| r.passed),
            results: slo_results
                .iter()
                .map(|r| serde_json::from_value(value(r)).unwrap_or_default())
                .collect(),
        },
        regression: verdict.regression.as_ref().map(value),
        history: ident.history.as_ref().map(|(location, id)| HistoryRef {
            location: location.clone(),
            run_id: *id,
        }),
        passed: verdict.passed,
        shard,
        shards: (!m.shards.is_empty()).then(|| value(&m.shards)),
        generator: m.generator.map(|g| Generator {
            cpu_s: g.cpu.as_secs_f64(),
            cores: g.cores,
            cpu_share: Some(g.share(m.elapsed)),
        }),
        files: Files::default(),
    }
}
