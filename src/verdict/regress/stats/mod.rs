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
//!
//! Files: `bootstrap` runs the resampling, `side` holds one side's prefix
//! sums and grid, `block` picks the block length, `proportions` compares
//! error rates, `rng` is the fixed random stream.

mod block;
mod bootstrap;
mod proportions;
mod rng;
mod side;

pub use bootstrap::{Bootstrap, DEFAULT_SEED};
pub use proportions::proportion_delta;
pub use rng::SplitMix64;

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
    pub(super) fn block_seconds(&self) -> impl Iterator<Item = f64> + '_ {
        let full = f64::from(self.block_secs.max(1));
        let n = self.blocks.len();
        let last = (self.covered_secs - (n.saturating_sub(1)) as f64 * full).clamp(1e-3, full);
        (0..n).map(move |i| if i + 1 == n { last } else { full })
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

/// Linear interpolation between order statistics (Hyndman–Fan type 7) of
/// an ascending, non-empty slice.
pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let (i, frac) = (h.floor() as usize, h.fract());
    match sorted.get(i + 1) {
        Some(next) if frac > 0.0 => sorted[i] + frac * (next - sorted[i]),
        _ => sorted[i],
    }
}

#[cfg(test)]
mod tests;
