//! Confidence intervals for "current minus baseline" of latency quantiles,
//! achieved rate and error rate.
//!
//! Latency and rate use a moving-block bootstrap over the stored interval
//! histograms: a run is cut into blocks of consecutive seconds, blocks are
//! drawn with replacement (overlapping start positions) and concatenated
//! until the run's length is reached, and the drawn histograms are added
//! exactly. Keeping seconds together keeps their correlation inside the
//! resample, which is what makes the interval as wide as a rerun's scatter
//! rather than as narrow as a million independent requests would suggest.
//!
//! Block length: `max(min_block_secs, L_opt)` seconds, rounded up to whole
//! stored blocks. `L_opt` is chosen per run by the Politis–White (2004)
//! rule with the Patton–Politis–White (2009) correction for the
//! moving-block bootstrap, so it grows like n^(1/3) with the number of
//! stored blocks n, and is longer when the data are more strongly
//! correlated. (Doubling it was tried: on the synthetic data it did not
//! lower the false-positive rate.) It is estimated on
//! the series whose sum the statistic actually depends on: for a quantile,
//! the per-block count of responses at or below the run's own quantile (the
//! quantile's influence function, summed per block; the largest choice over
//! the asked quantiles wins, since too short blocks understate the noise);
//! for the achieved rate, the per-block rate. The floor of
//! `min_block_secs` guards against a run too short for the estimate to see
//! its own correlation.
//!
//! Cost: an HDR counts array has ~20–30k buckets, so resamples never add
//! whole histograms. Each side keeps the sorted grid of its non-empty bucket
//! values and, per run, prefix sums over its blocks; a drawn window of
//! blocks is then two lookups, and a resample's quantile is a binary search
//! over the grid whose probes sum a few signed rows (see `Side`).
//!
//! The random stream is a SplitMix64 defined here, not `rand`: the same
//! inputs must give the same verdict on every machine and every release,
//! and `rand`'s streams are not a stability promise.

use hdrhistogram::Histogram;

use crate::measure::Sparse;

/// One run's samples of one request name.
///
/// `blocks` are consecutive intervals of `block_secs` seconds each, except
/// that the last may be partial: `covered_secs` is the run's length, which
/// decides how many seconds the last block counts for in the achieved rate.
/// All histograms must share one configuration
/// (`crate::measure::new_histogram`).
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub blocks: &'a [Sparse],
    pub block_secs: u32,
    pub covered_secs: f64,
}

impl<'a> Series<'a> {
    /// A series whose blocks are all full, the common case for tests and for
    /// runs whose length is a multiple of the interval.
    pub fn full(blocks: &'a [Sparse], block_secs: u32) -> Self {
        Series {
            blocks,
            block_secs,
            covered_secs: blocks.len() as f64 * f64::from(block_secs),
        }
    }

    /// Seconds each block covers: `block_secs`, except the last, which gets
    /// what remains of `covered_secs` (never less than a millisecond or more
    /// than a full block, so a slightly inconsistent length cannot make a
    /// block weightless or divide by zero).
    fn block_seconds(&self) -> impl Iterator<Item = f64> + '_ {
        let full = f64::from(self.block_secs.max(1));
        let n = self.blocks.len();
        let last = (self.covered_secs - (n.saturating_sub(1)) as f64 * full).clamp(1e-3, full);
        (0..n).map(move |i| if i + 1 == n { last } else { full })
    }
}

/// How the bootstrap runs. The defaults are what the regression gate uses;
/// changing `seed` or `resamples` changes the intervals slightly, so keep
/// them fixed for comparable verdicts.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrap {
    pub resamples: u32,
    pub seed: u64,
    /// Shortest block in seconds, whatever the block-length rule estimates.
    pub min_block_secs: u32,
    /// Two-sided confidence of the percentile intervals, in (0, 1).
    pub confidence: f64,
    /// Replaces the data-driven `L_opt` (in seconds) when set; still subject
    /// to `min_block_secs`. There to show what ignoring the correlation does
    /// (`Some(1)` with `min_block_secs: 1` is a per-second i.i.d. bootstrap),
    /// not for the gate.
    pub fixed_block_secs: Option<u32>,
}

/// The default seed: any constant works, it only has to never change.
pub const DEFAULT_SEED: u64 = 0x9D2C_5680_1B6E_4A7F;

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 2000,
            seed: DEFAULT_SEED,
            min_block_secs: 5,
            confidence: 0.95,
            fixed_block_secs: None,
        }
    }
}

/// A point estimate with its confidence interval. The percentile interval
/// need not be centred on `value` (quantiles are discrete and skewed), so
/// classify on `low`/`high`, never on `value` ± something.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Bootstrap {
    /// For each q in `quantiles`: Δ = latency_ms(current, q) −
    /// latency_ms(pooled baseline, q), the point estimate from the full data
    /// and a percentile-bootstrap interval at `confidence`.
    ///
    /// Baseline runs are pooled: each is resampled by its own moving blocks
    /// and the resampled runs are added, so run boundaries are never
    /// bridged by a block. Current and baseline are resampled independently.
    /// All quantiles of one resample come from the same draw, so the
    /// intervals are consistent with each other.
    ///
    /// None when either side has no samples, or when a run with blocks has
    /// fewer than 2 bootstrap blocks (callers report "inconclusive: too few
    /// samples"), or when more than half the resamples drew only empty
    /// blocks (a name seen in a few seconds of a long run).
    pub fn quantile_deltas(
        &self,
        baseline: &[Series],
        current: &Series,
        quantiles: &[f64],
    ) -> Option<Vec<Estimate>> {
        let mut base = Side::new(baseline, self, Some(quantiles))?;
        let mut cur = Side::new(std::slice::from_ref(current), self, Some(quantiles))?;
        if base.total() == 0 || cur.total() == 0 {
            return None;
        }
        let points: Vec<f64> = {
            let b = base.quantiles_ms(&base.all(), quantiles)?;
            let c = cur.quantiles_ms(&cur.all(), quantiles)?;
            c.iter().zip(&b).map(|(c, b)| c - b).collect()
        };

        let mut rng_b = SplitMix64::new(self.seed);
        let mut rng_c = SplitMix64::new(self.seed ^ CURRENT_STREAM);
        let (mut coef, mut wb, mut wc) = (Vec::new(), Terms::new(), Terms::new());
        let mut deltas: Vec<Vec<f64>> =
            vec![Vec::with_capacity(self.resamples as usize); quantiles.len()];
        for _ in 0..self.resamples {
            base.draw(&mut rng_b, &mut coef, &mut wb);
            cur.draw(&mut rng_c, &mut coef, &mut wc);
            // Both streams advance every time, so a skipped resample does
            // not shift the rest of the draws.
            let (Some(b), Some(c)) = (
                base.quantiles_ms(&wb, quantiles),
                cur.quantiles_ms(&wc, quantiles),
            ) else {
                continue;
            };
            for (i, d) in deltas.iter_mut().enumerate() {
                d.push(c[i] - b[i]);
            }
        }
        if deltas
            .first()
            .is_some_and(|d| (d.len() as u64) * 2 < u64::from(self.resamples))
        {
            return None;
        }
        Some(
            points
                .into_iter()
                .zip(deltas)
                .map(|(value, mut d)| self.estimate(value, &mut d))
                .collect(),
        )
    }

    /// Δ of achieved rate (responses per second: histogram counts / covered
    /// seconds), with an interval from the same moving-block resampling.
    /// A resample's rate is its drawn counts over its drawn seconds, so a
    /// partial last block weighs what it covered.
    ///
    /// None when either side covers no time or a run has fewer than 2
    /// bootstrap blocks. Zero responses is a rate (0/s), not missing data.
    pub fn rate_delta(&self, baseline: &[Series], current: &Series) -> Option<Estimate> {
        let base = Side::new(baseline, self, None)?;
        let cur = Side::new(std::slice::from_ref(current), self, None)?;
        let value = cur.rate(&cur.all()) - base.rate(&base.all());
        let mut rng_b = SplitMix64::new(self.seed ^ RATE_STREAM);
        let mut rng_c = SplitMix64::new(self.seed ^ RATE_STREAM ^ CURRENT_STREAM);
        let (mut coef, mut wb, mut wc) = (Vec::new(), Terms::new(), Terms::new());
        let mut deltas = Vec::with_capacity(self.resamples as usize);
        for _ in 0..self.resamples {
            base.draw(&mut rng_b, &mut coef, &mut wb);
            cur.draw(&mut rng_c, &mut coef, &mut wc);
            deltas.push(cur.rate(&wc) - base.rate(&wb));
        }
        Some(self.estimate(value, &mut deltas))
    }

    fn estimate(&self, value: f64, deltas: &mut [f64]) -> Estimate {
        deltas.sort_by(f64::total_cmp);
        let alpha = (1.0 - self.confidence).clamp(0.0, 1.0);
        Estimate {
            value,
            low: percentile(deltas, alpha / 2.0),
            high: percentile(deltas, 1.0 - alpha / 2.0),
        }
    }
}

/// Distinguishes the current side's random stream from the baseline's, and
/// the rate's from the quantiles', so no two draws are the same sequence.
const CURRENT_STREAM: u64 = 0xA5A5_5A5A_C3C3_3C3C;
const RATE_STREAM: u64 = 0x0F0F_F0F0_6969_9696;

/// The latency at quantile q in ms, exactly as `Histogram::value_at_quantile`
/// gives it (µs / 1000): the bootstrap's point estimates are defined to
/// equal this on the summed histograms, so reports and gate agree.
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    us_to_ms(h.value_at_quantile(q))
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Two-proportion comparison for error rates: Δ = x_c/n_c − x_b/n_b with
/// Newcombe's hybrid score interval (his method 10, built from the two
/// Wilson intervals). Errors are counted per request, not per block: an
/// error burst makes this interval too narrow, which the caller's tolerance
/// and noise floor must absorb. Chosen over the Wald interval because it
/// stays inside [−1, 1] and is not degenerate with zero errors, the usual
/// case. None if n_c or n_b is 0, x > n, or `confidence` is outside (0, 1).
pub fn proportion_delta(
    x_c: u64,
    n_c: u64,
    x_b: u64,
    n_b: u64,
    confidence: f64,
) -> Option<Estimate> {
    if n_c == 0 || n_b == 0 || x_c > n_c || x_b > n_b || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let z = normal_quantile(0.5 + confidence / 2.0);
    let (p1, l1, u1) = wilson(x_c, n_c, z);
    let (p2, l2, u2) = wilson(x_b, n_b, z);
    let value = p1 - p2;
    Some(Estimate {
        value,
        low: value - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        high: value + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
    })
}

/// (p, low, high) of the Wilson score interval.
fn wilson(x: u64, n: u64, z: f64) -> (f64, f64, f64) {
    let n = n as f64;
    let p = x as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (p, (centre - half).max(0.0), (centre + half).min(1.0))
}

/// Inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error < 1.2e-9, ample for a confidence level).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// Linear interpolation between order statistics (Hyndman–Fan type 7) of
/// an ascending, non-empty slice.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let (i, frac) = (h.floor() as usize, h.fract());
    match sorted.get(i + 1) {
        Some(next) if frac > 0.0 => sorted[i] + frac * (next - sorted[i]),
        _ => sorted[i],
    }
}

/// The count `value_at_quantile` walks to: ceil(q · total), at least 1,
/// with q capped at 1. Computed with the same float operations so the
/// resampled quantiles follow exactly the rule the reports use.
fn count_at_quantile(q: f64, total: u64) -> u64 {
    let q = if q > 1.0 { 1.0 } else { q };
    ((q * total as f64).ceil() as u64).max(1)
}

/// One side of a comparison (the pooled baseline runs, or the current run).
///
/// Counts are kept as prefix sums over each run's blocks ("rows": row j of
/// a run is the sum of its first j blocks), so a drawn window of
/// consecutive blocks costs two row lookups however long it is, and a
/// resample is a short signed combination of rows.
///
/// For quantiles, what a probe of the binary search needs is a "column":
/// per row, the responses up to one grid value. Columns are built on first
/// use and kept: the resamples' quantiles cluster around the full data's,
/// so a few hundred of the grid's thousands of values are ever probed.
struct Side {
    runs: Vec<Run>,
    /// Responses in the run's blocks before each row.
    counts: Vec<u64>,
    /// Seconds covered before each row.
    secs: Vec<f64>,
    /// Non-empty bucket values of all blocks, ascending, as
    /// `value_at_quantile` reports them (the bucket's highest equivalent
    /// value) …
    grid: Vec<u64>,
    /// … and the bucket's lowest equivalent value, which it reports for q = 0.
    grid_low: Vec<u64>,
    /// Each block's non-empty buckets, `values[span.0..span.1]` ascending,
    /// with the block's cumulative count at each in `cum`.
    spans: Vec<(usize, usize)>,
    values: Vec<u64>,
    cum: Vec<u64>,
    /// Built on demand, one per grid value; each has one entry per row.
    columns: Vec<Option<Box<[u64]>>>,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    /// The run's first row; it has `len + 1` rows.
    row: usize,
    /// Stored blocks.
    len: usize,
    /// Stored blocks per bootstrap block.
    boot_len: usize,
}

/// A resample (or the full data) as a signed combination of rows: a window
/// of blocks [s, e) is −1 at row s and +1 at row e.
type Terms = Vec<(usize, i64)>;

impl Side {
    /// None when the side has no blocks at all or a run with blocks has
    /// fewer than 2 bootstrap blocks. Quantile grids are built only when
    /// `quantiles` are given.
    fn new(series: &[Series], cfg: &Bootstrap, quantiles: Option<&[f64]>) -> Option<Side> {
        let series: Vec<&Series> = series.iter().filter(|s| !s.blocks.is_empty()).collect();
        if series.is_empty() {
            return None;
        }
        let mut side = Side {
            runs: Vec::with_capacity(series.len()),
            counts: Vec::new(),
            secs: Vec::new(),
            grid: Vec::new(),
            grid_low: Vec::new(),
            spans: Vec::new(),
            values: Vec::new(),
            cum: Vec::new(),
            columns: Vec::new(),
        };
        for s in &series {
            side.runs.push(Run {
                row: side.counts.len(),
                len: s.blocks.len(),
                boot_len: 1,
            });
            let (mut n, mut t) = (0, 0.0);
            side.counts.push(0);
            side.secs.push(0.0);
            for (h, secs) in s.blocks.iter().zip(s.block_seconds()) {
                n += h.len();
                t += secs;
                side.counts.push(n);
                side.secs.push(t);
            }
        }
        if quantiles.is_some() {
            side.build_grid(&series);
        }
        for (i, s) in series.iter().enumerate() {
            let (run, block_secs) = (side.runs[i], f64::from(s.block_secs.max(1)));
            let l_opt_blocks = match cfg.fixed_block_secs {
                Some(secs) => f64::from(secs) / block_secs,
                None => side.block_len(run, quantiles),
            };
            let min_blocks = f64::from(cfg.min_block_secs) / block_secs;
            let boot_len = (l_opt_blocks.max(min_blocks).ceil() as usize).max(1);
            if run.len / boot_len < 2 {
                return None;
            }
            side.runs[i].boot_len = boot_len;
        }
        Some(side)
    }

    fn build_grid(&mut self, series: &[&Series]) {
        for h in series.iter().flat_map(|s| s.blocks.iter()) {
            let start = self.values.len();
            let mut acc = 0;
            for &(v, n) in &h.buckets {
                acc += n;
                self.values.push(v);
                self.cum.push(acc);
            }
            self.spans.push((start, self.values.len()));
        }
        let mut grid = self.values.clone();
        grid.sort_unstable();
        grid.dedup();
        let template = crate::measure::new_histogram();
        self.grid_low = grid
            .iter()
            .map(|&v| template.lowest_equivalent(v))
            .collect();
        self.columns = vec![None; grid.len()];
        self.grid = grid;
    }

    /// Per row, the responses up to grid[i] in the blocks before it.
    fn column(&mut self, i: usize) -> &[u64] {
        if self.columns[i].is_none() {
            let limit = self.grid[i];
            let mut col = Vec::with_capacity(self.counts.len());
            let mut spans = self.spans.iter();
            for run in &self.runs {
                let mut acc = 0;
                col.push(acc);
                for &(start, end) in spans.by_ref().take(run.len) {
                    let k = self.values[start..end].partition_point(|&v| v <= limit);
                    if k > 0 {
                        acc += self.cum[start + k - 1];
                    }
                    col.push(acc);
                }
            }
            self.columns[i] = Some(col.into_boxed_slice());
        }
        self.columns[i].as_deref().expect("built above")
    }

    fn total(&self) -> u64 {
        self.runs.iter().map(|r| self.counts[r.row + r.len]).sum()
    }

    /// The full data: each run once, whole.
    fn all(&self) -> Terms {
        self.runs.iter().flat_map(|r| whole(*r)).collect()
    }

    /// One resample: per run, overlapping windows of `boot_len` blocks
    /// starting anywhere in the run, concatenated until the run's length,
    /// the last window cut short. `coef` is scratch space, one per row.
    fn draw(&self, rng: &mut SplitMix64, coef: &mut Vec<i64>, terms: &mut Terms) {
        coef.clear();
        coef.resize(self.counts.len(), 0);
        for run in &self.runs {
            let starts = (run.len - run.boot_len + 1) as u64;
            let mut filled = 0;
            while filled < run.len {
                let start = run.row + rng.below(starts) as usize;
                let take = run.boot_len.min(run.len - filled);
                coef[start] -= 1;
                coef[start + take] += 1;
                filled += take;
            }
        }
        terms.clear();
        terms.extend(
            coef.iter()
                .enumerate()
                .filter(|&(_, &c)| c != 0)
                .map(|(row, &c)| (row, c)),
        );
    }

    fn rate(&self, terms: &Terms) -> f64 {
        let (mut n, mut s) = (0i64, 0.0);
        for &(row, c) in terms {
            n += c * self.counts[row] as i64;
            s += c as f64 * self.secs[row];
        }
        if s > 0.0 { n as f64 / s } else { 0.0 }
    }

    /// Responses up to grid[i] in the blocks the terms select.
    fn count_to(&mut self, terms: &Terms, i: usize) -> u64 {
        let col = self.column(i);
        let n: i64 = terms.iter().map(|&(row, c)| c * col[row] as i64).sum();
        n as u64
    }

    /// The quantiles (ms) of the blocks the terms select, added; None when
    /// they hold no responses.
    fn quantiles_ms(&mut self, terms: &Terms, quantiles: &[f64]) -> Option<Vec<f64>> {
        let g = self.grid.len();
        let total = self.count_to(terms, g.checked_sub(1)?);
        if total == 0 {
            return None;
        }
        Some(
            quantiles
                .iter()
                .map(|&q| {
                    let i =
                        first_reaching(g, count_at_quantile(q, total), |i| self.count_to(terms, i));
                    us_to_ms(if q == 0.0 {
                        self.grid_low[i]
                    } else {
                        self.grid[i]
                    })
                })
                .collect(),
        )
    }

    /// `L_opt` in stored blocks for one run (see the module doc): the
    /// largest Politis–White estimate over the series each statistic
    /// depends on.
    fn block_len(&mut self, run: Run, quantiles: Option<&[f64]>) -> f64 {
        let rows = run.row..run.row + run.len;
        let Some(qs) = quantiles else {
            let rate: Vec<f64> = rows
                .map(|r| {
                    (self.counts[r + 1] - self.counts[r]) as f64 / (self.secs[r + 1] - self.secs[r])
                })
                .collect();
            return politis_white(&rate);
        };
        let whole: Terms = whole(run).into();
        let mut longest: f64 = 1.0;
        for &q in qs {
            let Some(i) = self.quantile_index(&whole, q) else {
                continue;
            };
            let col = self.column(i);
            let below: Vec<f64> = rows.clone().map(|r| (col[r + 1] - col[r]) as f64).collect();
            longest = longest.max(politis_white(&below));
        }
        longest
    }

    fn quantile_index(&mut self, terms: &Terms, q: f64) -> Option<usize> {
        let g = self.grid.len();
        let total = self.count_to(terms, g.checked_sub(1)?);
        (total > 0)
            .then(|| first_reaching(g, count_at_quantile(q, total), |i| self.count_to(terms, i)))
    }
}

/// A whole run as terms.
fn whole(run: Run) -> [(usize, i64); 2] {
    [(run.row + run.len, 1), (run.row, -1)]
}

/// The smallest grid index whose cumulative count reaches `target`, where
/// `at(len - 1)` (the total) is known to reach it: the bucket
/// `value_at_quantile` stops at.
fn first_reaching(len: usize, target: u64, mut at: impl FnMut(usize) -> u64) -> usize {
    let (mut lo, mut hi) = (0, len - 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at(mid) >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Politis & White (2004) automatic block length, with the Patton, Politis
/// & White (2009) correction for the moving-block bootstrap, in elements of
/// `y`. Returns 1 for series too short or too flat to say anything.
fn politis_white(y: &[f64]) -> f64 {
    let n = y.len();
    if n < 4 {
        return 1.0;
    }
    let nf = n as f64;
    let mean = y.iter().sum::<f64>() / nf;
    let x: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let acov = |k: usize| -> f64 {
        x[..n - k]
            .iter()
            .zip(&x[k..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / nf
    };
    let g0 = acov(0);
    if g0 <= 0.0 {
        return 1.0;
    }
    // Smallest lag after which K_n consecutive autocorrelations are all
    // insignificant; twice that is the bandwidth of the flat-top window.
    let k_n = ((nf.log10().sqrt()).ceil() as usize).max(5);
    let m_max = ((nf.sqrt()).ceil() as usize + k_n).min(n - 1);
    let crit = 2.0 * (nf.log10() / nf).sqrt();
    let rho: Vec<f64> = (0..=(m_max + k_n).min(n - 1))
        .map(|k| acov(k) / g0)
        .collect();
    let m_hat = (0..=m_max)
        .find(|&m| (m + 1..=(m + k_n).min(n - 1)).all(|k| rho[k].abs() < crit))
        .unwrap_or(m_max);
    let big_m = (2 * m_hat).min(m_max);
    if big_m == 0 {
        return 1.0;
    }
    let flat_top = |t: f64| {
        let t = t.abs();
        if t <= 0.5 {
            1.0
        } else if t <= 1.0 {
            2.0 * (1.0 - t)
        } else {
            0.0
        }
    };
    let (mut g, mut g_zero) = (0.0, g0);
    for k in 1..=big_m {
        let lam = flat_top(k as f64 / big_m as f64);
        let gk = acov(k);
        g += 2.0 * lam * k as f64 * gk;
        g_zero += 2.0 * lam * gk;
    }
    let d = 4.0 / 3.0 * g_zero * g_zero;
    if d <= 0.0 {
        return 1.0;
    }
    let b = (2.0 * g * g / d).cbrt() * nf.cbrt();
    let b_max = (3.0 * nf.sqrt()).min(nf / 3.0).ceil();
    b.clamp(1.0, b_max.max(1.0))
}

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and its stream is
/// fixed by its definition, so a seed means the same draws forever.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0) by multiply-high; the bias is below 2^-50
    /// for the block counts used here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[cfg(test)]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::new_histogram;

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
}
