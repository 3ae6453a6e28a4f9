//! One side of a comparison, arranged so a resample costs a few lookups
//! rather than whole-histogram additions.

use super::block::politis_white;
use super::{Bootstrap, Series, SplitMix64};
use crate::measure::ms;

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
pub(super) struct Side {
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
pub(super) type Terms = Vec<(usize, i64)>;

impl Side {
    /// None when the side has no blocks at all or a run with blocks has
    /// fewer than 2 bootstrap blocks. Quantile grids are built only when
    /// `quantiles` are given.
    pub(super) fn new(
        series: &[Series],
        cfg: &Bootstrap,
        quantiles: Option<&[f64]>,
    ) -> Option<Side> {
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

    pub(super) fn total(&self) -> u64 {
        self.runs.iter().map(|r| self.counts[r.row + r.len]).sum()
    }

    /// The full data: each run once, whole.
    pub(super) fn all(&self) -> Terms {
        self.runs.iter().flat_map(|r| whole(*r)).collect()
    }

    /// One resample: per run, overlapping windows of `boot_len` blocks
    /// starting anywhere in the run, concatenated until the run's length,
    /// the last window cut short. `coef` is scratch space, one per row.
    pub(super) fn draw(&self, rng: &mut SplitMix64, coef: &mut Vec<i64>, terms: &mut Terms) {
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

    pub(super) fn rate(&self, terms: &Terms) -> f64 {
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
    pub(super) fn quantiles_ms(&mut self, terms: &Terms, quantiles: &[f64]) -> Option<Vec<f64>> {
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
                    ms(if q == 0.0 {
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
