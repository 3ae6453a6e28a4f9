//! The regression gate: per request name and metric, is the current run
//! worse than its baseline by more than both the tolerance and what the
//! baseline runs already disagree among themselves (the noise floor)?
//! Latency and rate intervals come from the block bootstrap
//! ([`super::stats`]), error rates from a two-proportion interval; the
//! verdict rule is [`super::classify`]. Everything here is a pure function
//! of the records, so `compare` reproduces a gate's verdict exactly.

use serde::Serialize;

use super::classify::{Change, classify, noise_floor};
use super::stats::{Bootstrap, Estimate, Series, proportion_delta};
use super::tolerance::{RMetric, Tolerances};
use crate::measure::quantile_ms;
use crate::record::{LoadRecord, NameRecord};

/// Fewest observations beyond a quantile on each side for it to be judged:
/// p99 needs 1,000 requests, p95 200, p50 20. Fewer, and one request moves
/// the quantile: inconclusive.
pub const MIN_TAIL: f64 = 10.0;

/// The run(s) a run was compared with.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineInfo {
    /// How it was chosen: `auto (last 5 accepted)`, `run 12`, a path...
    pub source: String,
    pub runs: Vec<BaselineRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BaselineRun {
    pub id: Option<i64>,
    pub uid: String,
    pub label: String,
    pub started_at: String,
    pub commit: Option<String>,
    pub deploy_id: Option<String>,
}

impl BaselineRun {
    pub fn of(r: &LoadRecord) -> BaselineRun {
        BaselineRun {
            id: r.meta.id,
            uid: r.meta.uid.clone(),
            label: r.meta.label(),
            started_at: r
                .meta
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            commit: r.meta.provenance.commit.clone(),
            deploy_id: r.meta.provenance.deploy_id.clone(),
        }
    }
}

/// One request name × metric.
#[derive(Debug, Clone, Serialize)]
pub struct MetricChange {
    pub name: String,
    pub metric: RMetric,
    pub unit: &'static str,
    /// The pooled baseline's and the current run's values.
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// current − baseline with its 95% interval; None when it could not be
    /// estimated (see `reason`).
    pub delta: Option<Estimate>,
    /// Δ relative to the baseline, for people (`+12.3%`).
    pub delta_pct: Option<f64>,
    /// Allowed worsening from the tolerance, in the metric's unit.
    pub tolerance: f64,
    pub tolerance_spec: String,
    pub tolerance_origin: &'static str,
    /// Spread of the metric across the baseline runs.
    pub noise_floor: f64,
    /// max(tolerance, noise floor): what the interval must clear.
    pub threshold: f64,
    pub change: Change,
    /// One line for people.
    pub reason: String,
}

/// The method's settings, recorded with every verdict so it can be
/// reproduced and defended.
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub name: &'static str,
    pub resamples: u32,
    pub seed: u64,
    pub confidence: f64,
    pub min_block_secs: u32,
    pub error_rate: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Regression {
    pub baseline: BaselineInfo,
    pub method: Method,
    pub results: Vec<MetricChange>,
    /// Some metric regressed.
    pub regressed: bool,
    /// `--regress-warn`: a regression is reported, not failed.
    pub warn_only: bool,
    /// Why nothing was compared (first run of its fingerprint), or other
    /// notes for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Percentile spectra of the pooled baseline and the current run per
    /// request name, for the overlaid charts.
    pub spectra: Vec<Spectrum>,
}

/// Latency at fixed percentiles, baseline beside current.
#[derive(Debug, Clone, Serialize)]
pub struct Spectrum {
    pub name: String,
    pub percentiles: Vec<f64>,
    pub baseline_ms: Vec<f64>,
    pub current_ms: Vec<f64>,
}

/// Where the spectra are sampled: the body, then ever finer into the tail.
pub const SPECTRUM_PERCENTILES: [f64; 12] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

fn spectrum(
    name: &str,
    base: &hdrhistogram::Histogram<u64>,
    cur: &hdrhistogram::Histogram<u64>,
) -> Option<Spectrum> {
    if base.is_empty() || cur.is_empty() {
        return None;
    }
    let at = |h: &hdrhistogram::Histogram<u64>| {
        SPECTRUM_PERCENTILES
            .iter()
            .map(|p| crate::measure::ms(h.value_at_quantile(p / 100.0)))
            .collect()
    };
    Some(Spectrum {
        name: name.to_string(),
        percentiles: SPECTRUM_PERCENTILES.to_vec(),
        baseline_ms: at(base),
        current_ms: at(cur),
    })
}

impl Regression {
    /// A run with no baseline: says so, and passes.
    pub fn first_run(source: String, note: String, boot: &Bootstrap) -> Regression {
        Regression {
            baseline: BaselineInfo {
                source,
                runs: Vec::new(),
            },
            method: method(boot),
            results: Vec::new(),
            regressed: false,
            warn_only: false,
            note: Some(note),
            spectra: Vec::new(),
        }
    }

    /// The regression fails the run.
    pub fn fails(&self) -> bool {
        self.regressed && !self.warn_only
    }

    /// `create project p95`, ... of the regressed metrics.
    pub fn regressed_labels(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| r.change == Change::Regressed)
            .map(|r| format!("{} {}", r.name, r.metric))
            .collect()
    }

    pub fn count(&self, c: Change) -> usize {
        self.results.iter().filter(|r| r.change == c).count()
    }
}

fn method(boot: &Bootstrap) -> Method {
    Method {
        name: "moving-block bootstrap over interval histograms",
        resamples: boot.resamples,
        seed: boot.seed,
        confidence: boot.confidence,
        min_block_secs: boot.min_block_secs,
        error_rate: "Newcombe hybrid score interval for a difference of proportions",
    }
}

/// Judges `current` against the pooled `baseline` runs (at least one).
pub fn judge(
    baseline: &[LoadRecord],
    current: &LoadRecord,
    tolerances: &Tolerances,
    boot: &Bootstrap,
    source: String,
) -> Regression {
    let mut results = Vec::new();
    let mut spectra = Vec::new();
    let open = current.fingerprint.model == "open";
    for (name, cur) in &current.names {
        let base: Vec<(&LoadRecord, &NameRecord)> = baseline
            .iter()
            .filter_map(|r| r.names.get(name).map(|n| (r, n)))
            .collect();
        let metrics: &[RMetric] = if open {
            &RMetric::TOLERANCE
        } else {
            &RMetric::TOLERANCE[..4]
        };
        if base.is_empty() {
            for &m in metrics {
                let (tol, origin) = tolerances.get(name, m);
                results.push(MetricChange {
                    name: name.clone(),
                    metric: m,
                    unit: m.unit(),
                    baseline: None,
                    current: value(cur, current.elapsed_s, m),
                    delta: None,
                    delta_pct: None,
                    tolerance: 0.0,
                    tolerance_spec: tol.describe(m),
                    tolerance_origin: origin,
                    noise_floor: 0.0,
                    threshold: 0.0,
                    change: Change::Inconclusive,
                    reason: "new request name: the baseline never sent it".into(),
                });
            }
            continue;
        }
        let quantile_metrics: Vec<RMetric> = metrics
            .iter()
            .copied()
            .filter(|m| m.quantile().is_some())
            .collect();
        let qs: Vec<f64> = quantile_metrics
            .iter()
            .filter_map(|m| m.quantile())
            .collect();
        let base_series: Vec<Series> = base
            .iter()
            .map(|(r, n)| Series {
                blocks: &n.blocks,
                block_secs: r.block_secs,
                covered_secs: r.elapsed_s,
            })
            .collect();
        let cur_series = Series {
            blocks: &cur.blocks,
            block_secs: current.block_secs,
            covered_secs: current.elapsed_s,
        };
        let q_deltas = boot.quantile_deltas(&base_series, &cur_series, &qs);
        let base_count: u64 = base.iter().map(|(_, n)| n.histogram.len()).sum();
        let mut pooled = crate::measure::new_histogram();
        for (_, n) in &base {
            let _ = pooled.add(&n.histogram);
        }
        spectra.extend(spectrum(name, &pooled, &cur.histogram));
        for &m in metrics {
            let (tol, origin) = tolerances.get(name, m);
            let per_run: Vec<f64> = base
                .iter()
                .filter_map(|(r, n)| value(n, r.elapsed_s, m))
                .collect();
            let floor = noise_floor(&per_run);
            let (bval, cval, delta, short) = match m {
                RMetric::P50 | RMetric::P95 | RMetric::P99 => {
                    let q = m.quantile().unwrap_or(0.5);
                    let need = (MIN_TAIL / (1.0 - q)).ceil() as u64;
                    let bval = quantile_ms(&pooled, q);
                    let cval = quantile_ms(&cur.histogram, q);
                    let i = quantile_metrics.iter().position(|x| *x == m);
                    let short = if base_count < need || cur.histogram.len() < need {
                        Some(format!(
                            "too few samples for {m}: {} and {} responses, {need} needed on each side",
                            base_count,
                            cur.histogram.len()
                        ))
                    } else if q_deltas.is_none() {
                        Some(
                            "too few blocks to resample: each run needs at least two blocks of 5 s"
                                .into(),
                        )
                    } else {
                        None
                    };
                    let d = q_deltas
                        .as_ref()
                        .and_then(|v| i.and_then(|i| v.get(i).copied()));
                    (bval, cval, d, short)
                }
                RMetric::ErrorRate => {
                    let (xb, nb) = base
                        .iter()
                        .fold((0, 0), |(x, n), (_, r)| (x + r.failed, n + r.count));
                    let d = proportion_delta(cur.failed, cur.count, xb, nb, boot.confidence);
                    let short = d.is_none().then(|| "no requests on one side".to_string());
                    (
                        (nb > 0).then(|| xb as f64 / nb as f64),
                        (cur.count > 0).then(|| cur.failed as f64 / cur.count as f64),
                        d,
                        short,
                    )
                }
                RMetric::Rate => {
                    let d = boot.rate_delta(&base_series, &cur_series);
                    let bval = mean(&per_run);
                    let short = d
                        .is_none()
                        .then(|| "too few blocks to resample the rate".to_string());
                    (bval, value(cur, current.elapsed_s, m), d, short)
                }
                // `metrics` holds only what the gate compares.
                _ => continue,
            };
            let allowance = bval.map(|b| tol.allowance(b)).unwrap_or(0.0);
            let threshold = allowance.max(floor);
            let change = match (&short, delta) {
                (None, Some(d)) => classify(d, threshold, m.higher_is_worse()),
                _ => Change::Inconclusive,
            };
            let reason = match (&short, delta) {
                (Some(s), _) => s.clone(),
                (None, None) => "no interval could be estimated".into(),
                (None, Some(d)) => explain(m, change, d, allowance, floor),
            };
            results.push(MetricChange {
                name: name.clone(),
                metric: m,
                unit: m.unit(),
                baseline: bval,
                current: cval,
                delta_pct: match (bval, delta) {
                    (Some(b), Some(d)) if b != 0.0 => Some(d.value / b * 100.0),
                    _ => None,
                },
                delta,
                tolerance: allowance,
                tolerance_spec: tol.describe(m),
                tolerance_origin: origin,
                noise_floor: floor,
                threshold,
                change,
                reason,
            });
        }
    }
    let regressed = results.iter().any(|r| r.change == Change::Regressed);
    let missing: Vec<String> = baseline
        .iter()
        .flat_map(|r| r.names.keys())
        .filter(|n| !current.names.contains_key(*n))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut notes = Vec::new();
    if !missing.is_empty() {
        notes.push(format!(
            "in the baseline but not in this run: {}",
            missing.join(", ")
        ));
    }
    if let Some(n) = moved_together(&results) {
        notes.push(n);
    }
    Regression {
        baseline: BaselineInfo {
            source,
            runs: baseline.iter().map(BaselineRun::of).collect(),
        },
        method: method(boot),
        results,
        regressed,
        warn_only: false,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        spectra,
    }
}

/// A deploy rarely slows every route at once; a busy generator or host
/// does. When (nearly) every request name's latency regressed, say so, so
/// the reader re-runs before blaming the deploy.
fn moved_together(results: &[MetricChange]) -> Option<String> {
    let mut names: std::collections::BTreeMap<&str, bool> = Default::default();
    for r in results.iter().filter(|r| r.unit == "ms") {
        *names.entry(&r.name).or_default() |= r.change == Change::Regressed;
    }
    let slower = names.values().filter(|x| **x).count();
    (names.len() >= 3 && slower * 10 >= names.len() * 8).then(|| {
        format!(
            "{slower} of {} request names regressed together: a whole-run slowdown often comes from the load generator's host or a noisy neighbour rather than the deploy; re-run to confirm",
            names.len()
        )
    })
}

/// A metric's value in one run.
fn value(n: &NameRecord, elapsed_s: f64, m: RMetric) -> Option<f64> {
    match m {
        RMetric::P50 | RMetric::P95 | RMetric::P99 => n.quantile_ms(m.quantile().unwrap_or(0.5)),
        RMetric::ErrorRate => (n.count > 0).then(|| n.failed as f64 / n.count as f64),
        RMetric::Rate => (elapsed_s > 0.0).then(|| n.histogram.len() as f64 / elapsed_s),
        _ => None,
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// `Δ +31.2 ms [+30.9, +31.6], beyond the +10% tolerance (0.03 ms) and the noise floor (0.01 ms)`.
fn explain(m: RMetric, c: Change, d: Estimate, tol: f64, floor: f64) -> String {
    let f = |v: f64| fmt_value(m, v, true);
    let interval = format!("Δ {} [{}, {}]", f(d.value), f(d.low), f(d.high));
    let bound = format!(
        "tolerance {} and noise floor {}",
        fmt_value(m, tol, false),
        fmt_value(m, floor, false)
    );
    match c {
        Change::Regressed => format!("{interval}: worse beyond the {bound}"),
        Change::Improved => format!("{interval}: better beyond the {bound}"),
        Change::Inconclusive => format!("{interval}: the interval straddles the {bound}"),
        Change::Pass => format!("{interval}: within the {bound}"),
    }
}

/// A value in its unit, for people.
pub fn fmt_value(m: RMetric, v: f64, signed: bool) -> String {
    let sign = if signed && v >= 0.0 { "+" } else { "" };
    match m {
        RMetric::ErrorRate => format!("{sign}{:.3} pt", v * 100.0),
        RMetric::Rate => format!("{sign}{v:.1}/s"),
        _ => {
            if v.abs() >= 100.0 {
                format!("{sign}{v:.0} ms")
            } else if v.abs() >= 1.0 {
                format!("{sign}{v:.2} ms")
            } else {
                format!("{sign}{v:.3} ms")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Fingerprint, RunKind, RunMeta};
    use crate::measure::Sparse;
    use crate::measure::new_histogram;

    /// A run whose names each take `ms` (times a small per-second wobble),
    /// 60 one-second blocks of 100 responses.
    /// The gate with its default tolerances and bootstrap.
    fn judge_defaults(base: &[LoadRecord], cur: &LoadRecord) -> Regression {
        judge(
            base,
            cur,
            &Tolerances::default(),
            &Bootstrap::default(),
            "t".into(),
        )
    }

    fn run(seed: u64, names: &[(&str, f64)]) -> LoadRecord {
        let mut x = seed;
        let mut rec = BTreeMap::new();
        for (name, ms) in names {
            let mut full = new_histogram();
            let mut blocks = Vec::new();
            for _ in 0..60 {
                let mut h = new_histogram();
                for _ in 0..100 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let jitter = 0.8 + 0.4 * ((x >> 11) as f64 / (1u64 << 53) as f64);
                    h.record((ms * 1000.0 * jitter) as u64).unwrap();
                }
                full.add(&h).unwrap();
                blocks.push(Sparse::from_histogram(&h));
            }
            rec.insert(
                name.to_string(),
                NameRecord {
                    count: full.len(),
                    failed: 0,
                    errors: BTreeMap::new(),
                    histogram: full,
                    blocks,
                },
            );
        }
        LoadRecord {
            meta: RunMeta {
                id: Some(seed as i64),
                uid: format!("run-{seed}"),
                kind: RunKind::Load,
                target: "http://t/".into(),
                target_local: false,
                env: None,
                started_at: chrono::Utc::now(),
                ended_at: chrono::Utc::now(),
                tool_version: "test".into(),
                provenance: Default::default(),
                stopped_by: "duration".into(),
                passed: true,
                regressed: false,
                regressions: Vec::new(),
            },
            fingerprint: Fingerprint {
                scope: "t".into(),
                scenarios: vec![],
                model: "closed".into(),
                users: Some(4),
                rate: None,
                duration_s: 60.0,
            },
            elapsed_s: 60.0,
            block_secs: 1,
            names: rec,
            slos: vec![],
            regress: BTreeMap::new(),
        }
    }

    use std::collections::BTreeMap;

    fn change(r: &Regression, name: &str, m: RMetric) -> Change {
        r.results
            .iter()
            .find(|c| c.name == name && c.metric == m)
            .map(|c| c.change)
            .unwrap()
    }

    #[test]
    fn only_the_slower_name_regresses() {
        let base = [
            run(1, &[("a", 10.0), ("b", 10.0), ("c", 10.0)]),
            run(2, &[("a", 10.0), ("b", 10.0), ("c", 10.0)]),
        ];
        let cur = run(3, &[("a", 13.0), ("b", 10.0), ("c", 10.0), ("new", 1.0)]);
        let r = judge_defaults(&base, &cur);
        assert!(r.regressed);
        for m in [RMetric::P50, RMetric::P95, RMetric::P99] {
            assert_eq!(change(&r, "a", m), Change::Regressed, "{m}");
            assert_ne!(change(&r, "b", m), Change::Regressed, "{m}");
            assert_eq!(change(&r, "new", m), Change::Inconclusive, "{m}");
        }
        assert_eq!(change(&r, "a", RMetric::ErrorRate), Change::Pass);
        assert!(r.note.is_none(), "{:?}", r.note);
        assert_eq!(r.regressed_labels(), vec!["a p50", "a p95", "a p99"]);
    }

    #[test]
    fn every_name_slower_says_suspect_the_environment() {
        let names = [("a", 10.0), ("b", 10.0), ("c", 10.0)];
        let base = [run(1, &names)];
        let cur = run(2, &[("a", 15.0), ("b", 15.0), ("c", 15.0)]);
        let r = judge_defaults(&base, &cur);
        assert!(r.regressed);
        assert!(
            r.note
                .as_deref()
                .unwrap()
                .contains("3 of 3 request names regressed together")
        );
    }

    #[test]
    fn a_wide_tolerance_lets_the_same_shift_pass() {
        let base = [run(1, &[("a", 10.0)])];
        let cur = run(3, &[("a", 13.0)]);
        let mut t = Tolerances::default();
        t.add_cli(&["a:p50:+50%".into(), "p95:+50%".into(), "p99:+60%".into()])
            .unwrap();
        let r = judge(&base, &cur, &t, &Bootstrap::default(), "t".into());
        assert!(!r.regressed, "{:#?}", r.results);
        assert_eq!(change(&r, "a", RMetric::P95), Change::Pass);
    }
}
