//! The moving-block bootstrap of quantile and rate deltas (module doc of
//! `stats` for the method).

use super::side::{Side, Terms};
use super::{Estimate, Series, SplitMix64, percentile};

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
