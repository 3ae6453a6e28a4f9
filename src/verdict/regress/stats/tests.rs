use hdrhistogram::Histogram;

use super::block::politis_white;
use super::proportions::normal_quantile;
use super::side::{Side, Terms};
use super::*;
use crate::measure::new_histogram;

/// The reports' quantile rule, which the bootstrap's point estimates must
/// reproduce exactly.
fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    crate::measure::ms(h.value_at_quantile(q))
}

/// `blocks` histograms with a spread of values, including repeats and a
/// few far-out ones, so the grid has shared and private buckets.
fn blocks(seed: u64, n: usize, scale: f64) -> Vec<Sparse> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let mut h = new_histogram();
            for _ in 0..50 + rng.below(50) {
                let u = rng.unit();
                let v = (scale * 1000.0 * (1.0 + 30.0 * u * u * u)) as u64;
                h.record(v.max(1)).unwrap();
            }
            if rng.below(10) == 0 {
                h.record((scale * 900_000.0) as u64).unwrap();
            }
            Sparse::from_histogram(&h)
        })
        .collect()
}

fn sum(parts: &[&[Sparse]]) -> Histogram<u64> {
    let mut s = new_histogram();
    for h in parts.iter().flat_map(|p| p.iter()) {
        s.add(h.to_histogram()).unwrap();
    }
    s
}

const QS: [f64; 9] = [0.0, 0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0];

#[test]
fn point_estimates_equal_value_at_quantile_of_the_sum() {
    let (b1, b2, c) = (blocks(1, 40, 1.0), blocks(2, 33, 1.1), blocks(3, 37, 1.3));
    let baseline = [Series::full(&b1, 1), Series::full(&b2, 2)];
    let current = Series::full(&c, 1);
    let est = Bootstrap::default()
        .quantile_deltas(&baseline, &current, &QS)
        .unwrap();
    let (sb, sc) = (sum(&[&b1, &b2]), sum(&[&c]));
    for (q, e) in QS.iter().zip(&est) {
        assert_eq!(
            e.value,
            quantile_ms(&sc, *q) - quantile_ms(&sb, *q),
            "q = {q}"
        );
    }
    // And each side on its own, bit for bit in µs.
    let mut side = Side::new(&baseline, &Bootstrap::default(), Some(&QS)).unwrap();
    let got = side.quantiles_ms(&side.all(), &QS).unwrap();
    for (q, ms) in QS.iter().zip(got) {
        assert_eq!(ms, quantile_ms(&sb, *q), "q = {q}");
    }
}

#[test]
fn resampled_quantiles_equal_value_at_quantile_of_the_weighted_sum() {
    let b = blocks(4, 30, 1.0);
    let cfg = Bootstrap::default();
    let mut side = Side::new(&[Series::full(&b, 1)], &cfg, Some(&QS)).unwrap();
    let mut rng = SplitMix64::new(9);
    let (mut coef, mut terms) = (Vec::new(), Terms::new());
    for _ in 0..20 {
        side.draw(&mut rng, &mut coef, &mut terms);
        // A window [s, e) is -1 at row s and +1 at row e, so a block's
        // weight is minus the running sum of the coefficients.
        let w: Vec<i64> = coef[..b.len()]
            .iter()
            .scan(0, |acc, c| {
                *acc -= c;
                Some(*acc)
            })
            .collect();
        assert!(w.iter().all(|&k| k >= 0));
        assert_eq!(
            w.iter().sum::<i64>() as usize,
            b.len(),
            "a resample is as long as the run"
        );
        let mut s = new_histogram();
        for (h, &k) in b.iter().zip(&w) {
            for _ in 0..k {
                s.add(h.to_histogram()).unwrap();
            }
        }
        let got = side.quantiles_ms(&terms, &QS).unwrap();
        for (q, ms) in QS.iter().zip(got) {
            assert_eq!(ms, quantile_ms(&s, *q), "q = {q}");
        }
    }
}

#[test]
fn same_inputs_same_answer() {
    let (b, c) = (blocks(5, 60, 1.0), blocks(6, 60, 1.0));
    let run = || {
        let cfg = Bootstrap::default();
        let base = [Series::full(&b, 1)];
        let cur = Series::full(&c, 1);
        (
            cfg.quantile_deltas(&base, &cur, &[0.5, 0.99]),
            cfg.rate_delta(&base, &cur),
        )
    };
    assert_eq!(run(), run());
    let (q, r) = run();
    for e in q.unwrap().into_iter().chain(r) {
        assert!(e.low <= e.high, "{e:?}");
    }
}

#[test]
fn a_shift_shows_in_the_interval() {
    let (b, c) = (blocks(7, 60, 1.0), blocks(8, 60, 2.0));
    let est = Bootstrap::default()
        .quantile_deltas(&[Series::full(&b, 1)], &Series::full(&c, 1), &[0.5])
        .unwrap();
    assert!(est[0].low > 0.0, "{est:?}");
}

#[test]
fn too_few_blocks_or_samples_is_none() {
    let cfg = Bootstrap::default();
    let (short, long) = (blocks(9, 9, 1.0), blocks(10, 60, 1.0));
    // 9 one-second blocks hold one 5-second bootstrap block.
    assert!(
        cfg.quantile_deltas(&[Series::full(&long, 1)], &Series::full(&short, 1), &[0.5])
            .is_none()
    );
    assert!(
        cfg.rate_delta(&[Series::full(&short, 1)], &Series::full(&long, 1))
            .is_none()
    );
    // With 5-second stored blocks, 2 of them are enough.
    assert!(
        cfg.rate_delta(
            &[Series::full(&short[..2], 5)],
            &Series::full(&long[..2], 5)
        )
        .is_some()
    );
    let empty: Vec<Sparse> = vec![Sparse::default(); 60];
    assert!(
        cfg.quantile_deltas(&[Series::full(&long, 1)], &Series::full(&empty, 1), &[0.5])
            .is_none()
    );
    assert!(
        cfg.quantile_deltas(&[], &Series::full(&long, 1), &[0.5])
            .is_none()
    );
    // No responses is a rate of zero, not missing data.
    let r = cfg
        .rate_delta(&[Series::full(&long, 1)], &Series::full(&empty, 1))
        .unwrap();
    assert!(r.value < 0.0 && r.high < 0.0, "{r:?}");
}

#[test]
fn rate_counts_the_partial_last_block() {
    let hundred = {
        let mut h = new_histogram();
        h.record_n(1000, 100).unwrap();
        Sparse::from_histogram(&h)
    };
    let mut b: Vec<Sparse> = vec![hundred.clone(); 10];
    // The last 10-second block covered 5 s and holds 50 responses.
    let mut last = new_histogram();
    last.record_n(1000, 50).unwrap();
    *b.last_mut().unwrap() = Sparse::from_histogram(&last);
    let partial = Series {
        blocks: &b,
        block_secs: 10,
        covered_secs: 95.0,
    };
    let full: Vec<Sparse> = vec![hundred; 10];
    let e = Bootstrap::default()
        .rate_delta(&[Series::full(&full, 10)], &partial)
        .unwrap();
    assert_eq!(e.value, 0.0);
    assert!(e.low.abs() < 1e-9 && e.high.abs() < 1e-9, "{e:?}");
}

#[test]
fn newcombe_matches_the_published_example() {
    // Newcombe (1998), table II, example (a): 56/70 vs 48/80, method 10:
    // 0.0524 to 0.3339.
    let e = proportion_delta(56, 70, 48, 80, 0.95).unwrap();
    assert!((e.value - 0.2).abs() < 1e-12);
    assert!((e.low - 0.0524).abs() < 5e-5, "{e:?}");
    assert!((e.high - 0.3339).abs() < 5e-5, "{e:?}");
    // Example (h): 0/10 vs 0/20, -0.1611 to 0.2775.
    let e = proportion_delta(0, 10, 0, 20, 0.95).unwrap();
    assert_eq!(e.value, 0.0);
    assert!((e.low + 0.1611).abs() < 5e-5, "{e:?}");
    assert!((e.high - 0.2775).abs() < 5e-5, "{e:?}");
}

#[test]
fn proportions_are_well_behaved_at_the_edges() {
    let e = proportion_delta(0, 1_000_000, 0, 1_000_000, 0.95).unwrap();
    assert!(e.low < 0.0 && e.high > 0.0 && e.high < 1e-5, "{e:?}");
    let e = proportion_delta(10, 10, 0, 10, 0.95).unwrap();
    assert!(e.low > 0.0 && e.high <= 1.0, "{e:?}");
    assert!(proportion_delta(0, 0, 0, 10, 0.95).is_none());
    assert!(proportion_delta(1, 10, 0, 0, 0.95).is_none());
    assert!(proportion_delta(11, 10, 0, 10, 0.95).is_none());
    assert!(proportion_delta(1, 10, 0, 10, 1.0).is_none());
}

#[test]
fn normal_quantiles() {
    assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
    assert!((normal_quantile(0.995) - 2.575_829_304).abs() < 1e-8);
    assert!((normal_quantile(0.5)).abs() < 1e-12);
    assert!((normal_quantile(0.01) + 2.326_347_874).abs() < 1e-8);
}

#[test]
fn splitmix_reference_stream() {
    // First outputs for seed 1234567 from the reference C implementation.
    let mut r = SplitMix64::new(1_234_567);
    assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
    assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
}

#[test]
fn block_length_grows_with_correlation() {
    let mut rng = SplitMix64::new(3);
    let white: Vec<f64> = (0..300).map(|_| rng.unit()).collect();
    let mut level = 0.0;
    let ar: Vec<f64> = (0..300)
        .map(|_| {
            level = 0.9 * level + rng.unit() - 0.5;
            level
        })
        .collect();
    let (w, a) = (politis_white(&white), politis_white(&ar));
    assert!(w < 3.0, "white noise: {w}");
    assert!(a > 8.0, "AR(0.9): {a}");
}
