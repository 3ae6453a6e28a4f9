//! Does the gate keep its promises on data shaped like a load test? Every
//! run here is drawn from one distribution whose per-second latency level
//! wanders (AR(1), phi = 0.8) around a lognormal per-request latency, so
//! two runs differ the way two reruns of an unchanged deployment do. The
//! measured rates are printed (run with `--nocapture`) for the docs.
//!
//! It lives outside the crate because it tests the gate's promise through
//! its public statistics, as a user's own calibration would, and because
//! its data generator has no place in the shipped binary.

use postdeploy::measure::{Sparse, new_histogram, quantile_ms};
use postdeploy::verdict::regress::classify::{Change, classify};
use postdeploy::verdict::regress::stats::{Bootstrap, Estimate, Series, SplitMix64};

const SECS: usize = 300;
const PER_SEC: usize = 100;
/// Per-second autocorrelation of the latency level.
const PHI: f64 = 0.8;
/// Stationary standard deviation of the log latency level.
const LEVEL_SD: f64 = 0.2;
/// Standard deviation of the per-request log latency around the level.
const REQUEST_SD: f64 = 0.4;
const MEDIAN_US: f64 = 20_000.0;

const QUANTILES: [f64; 2] = [0.95, 0.99];
/// The gate's default tolerances, relative to the baseline's value.
const TOLERANCE: [f64; 2] = [0.10, 0.20];

struct Normal {
    rng: SplitMix64,
    spare: Option<f64>,
}

impl Normal {
    fn new(seed: u64) -> Self {
        Normal {
            rng: SplitMix64::new(seed),
            spare: None,
        }
    }

    /// Box–Muller; `1 - unit()` keeps the logarithm's argument in (0, 1].
    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * (1.0 - self.rng.unit()).ln()).sqrt();
        let theta = std::f64::consts::TAU * self.rng.unit();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// One run: its 1-second blocks, and its own p95/p99 in ms (what the
/// default tolerances are relative to).
struct Run {
    blocks: Vec<Sparse>,
    quantiles_ms: [f64; 2],
}

/// One run with latencies multiplied by `scale` (a pure scale shifts every
/// quantile by the same factor).
fn run(seed: u64, scale: f64) -> Run {
    let mut z = Normal::new(seed);
    let innovation = LEVEL_SD * (1.0 - PHI * PHI).sqrt();
    let mut level = LEVEL_SD * z.next();
    let mut sum = new_histogram();
    let blocks = (0..SECS)
        .map(|_| {
            level = PHI * level + innovation * z.next();
            let mut h = new_histogram();
            for _ in 0..PER_SEC {
                let us = (scale * MEDIAN_US * (level + REQUEST_SD * z.next()).exp())
                    .round()
                    .max(1.0) as u64;
                h.record(us).unwrap();
                // Recording twice is cheaper than adding 300 histograms in
                // a debug build.
                sum.record(us).unwrap();
            }
            Sparse::from_histogram(&h)
        })
        .collect();
    Run {
        blocks,
        quantiles_ms: QUANTILES
            .map(|q| quantile_ms(&sum, q).expect("every second records requests")),
    }
}

const POOL_SEED: u64 = 1_000;
const FP_PAIRS: u64 = 200;
const IID_PAIRS: u64 = 40;
const POWER_PAIRS: u64 = 30;

/// Fewer resamples than the gate's default (2000), to save debug-build
/// test time; the 2.5% tails of 1000 are still stable.
fn block() -> Bootstrap {
    Bootstrap {
        resamples: 1000,
        ..Bootstrap::default()
    }
}

/// Per-second i.i.d. resampling: what the gate would do if it ignored the
/// correlation between seconds. Few resamples suffice for the contrast.
fn iid() -> Bootstrap {
    Bootstrap {
        resamples: 300,
        min_block_secs: 1,
        fixed_block_secs: Some(1),
        ..Bootstrap::default()
    }
}

/// Tally of comparisons classified Regressed, per quantile, at zero
/// tolerance and at the default tolerance.
#[derive(Default, Clone, Copy)]
struct Tally {
    pairs: u32,
    none: u32,
    zero: [u32; 2],
    default: [u32; 2],
}

impl Tally {
    fn add(&mut self, cfg: &Bootstrap, base: &Run, cur: &Run) {
        self.pairs += 1;
        let Some(est) = cfg.quantile_deltas(
            &[Series::full(&base.blocks, 1)],
            &Series::full(&cur.blocks, 1),
            &QUANTILES,
        ) else {
            self.none += 1;
            return;
        };
        for (k, e) in est.iter().enumerate() {
            self.zero[k] += u32::from(regressed(*e, 0.0));
            self.default[k] += u32::from(regressed(*e, TOLERANCE[k] * base.quantiles_ms[k]));
        }
    }

    fn merge(mut self, other: Tally) -> Tally {
        self.pairs += other.pairs;
        self.none += other.none;
        for k in 0..2 {
            self.zero[k] += other.zero[k];
            self.default[k] += other.default[k];
        }
        self
    }

    /// Percent regressed at (zero, default) tolerance for quantile k.
    fn percent(&self, k: usize) -> (f64, f64) {
        let p = |n: u32| 100.0 * f64::from(n) / f64::from(self.pairs);
        (p(self.zero[k]), p(self.default[k]))
    }
}

/// Comparison i: run i (baseline) against run i + 1 of the same
/// distribution (current), the current run's latencies scaled by `shift`.
/// Neighbouring comparisons share a run, which halves the generation cost;
/// each one is still two independent runs. Two threads, each with half the
/// range: the debug build is slow and the target machines have two cores.
fn tally(cfg: Bootstrap, n: u64, shift: f64) -> Tally {
    let half = |lo: u64, hi: u64| {
        move || {
            let mut t = Tally::default();
            let mut base = run(POOL_SEED + lo, 1.0);
            for i in lo..hi {
                let next = run(POOL_SEED + i + 1, 1.0);
                if shift == 1.0 {
                    t.add(&cfg, &base, &next);
                } else {
                    t.add(&cfg, &base, &run(POOL_SEED + i + 1, shift));
                }
                base = next;
            }
            t
        }
    };
    std::thread::scope(|s| {
        let upper = s.spawn(half(n / 2, n));
        half(0, n / 2)().merge(upper.join().unwrap())
    })
}

fn regressed(e: Estimate, threshold: f64) -> bool {
    classify(e, threshold, true) == Change::Regressed
}

#[test]
fn few_false_positives_between_runs_of_one_distribution() {
    let moving = tally(block(), FP_PAIRS, 1.0);
    assert_eq!(
        moving.none, 0,
        "300 s of 1-s blocks always hold enough bootstrap blocks"
    );
    let per_second = tally(iid(), IID_PAIRS, 1.0);
    for (k, q) in QUANTILES.iter().enumerate() {
        let (m, i) = (moving.percent(k), per_second.percent(k));
        eprintln!(
            "false positives, p{}: moving blocks {:.1}% at zero tolerance, {:.1}% at the default tolerance \
             [{FP_PAIRS} pairs]; per-second i.i.d. {:.1}% / {:.1}% [{IID_PAIRS} pairs]",
            q * 100.0,
            m.0,
            m.1,
            i.0,
            i.1,
        );
    }
    for (k, q) in QUANTILES.iter().enumerate() {
        let (zero, default) = moving.percent(k);
        assert!(
            zero <= 5.0 && default <= 5.0,
            "p{}: {zero}% / {default}%",
            q * 100.0
        );
    }
}

#[test]
fn shifts_are_detected() {
    let block = block();
    let mut at_30 = 0.0;
    for shift in [1.1, 1.2, 1.3] {
        // The false-positive test's first comparisons, the current run
        // scaled.
        let t = tally(block, POWER_PAIRS, shift);
        assert_eq!(t.none, 0);
        for (k, q) in QUANTILES.iter().enumerate() {
            let (zero, default) = t.percent(k);
            eprintln!(
                "power, p{} +{:.0}%: {zero:.0}% regressed at zero tolerance, {default:.0}% at the default tolerance \
                 [{POWER_PAIRS} pairs]",
                q * 100.0,
                (shift - 1.0) * 100.0,
            );
        }
        if shift == 1.3 {
            at_30 = t.percent(0).0;
        }
    }
    assert!(
        at_30 >= 90.0,
        "p95 +30% detected in {at_30:.0}% of comparisons"
    );
}
