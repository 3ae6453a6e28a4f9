//! The few PromQL-like evaluations post-deploy checks need on a single scrape
//! (or a pair of scrapes): select, sum, histogram_quantile, counter delta.

use std::collections::HashMap;

use super::parse::{Exposition, Family, MetricKind, Sample, parse_float, resolve_family};

/// A `by` grouping's label values, in the order the `by` names were given.
pub type LabelSet = Vec<(String, String)>;
use super::selector::Selector;

/// Why a quantile could not be computed at all. Per-group "no observations"
/// is not an error (it is NaN, as in PromQL); these are caller or exporter
/// mistakes that must not look like a passing value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("quantile {0} is outside [0, 1]")]
    InvalidQuantile(f64),
    #[error("no metric family named {0}")]
    NoSuchFamily(String),
    #[error("{name} is a {kind:?}, not a histogram")]
    NotAHistogram { name: String, kind: MetricKind },
    #[error("bucket sample {name} has no numeric \"le\" label")]
    InvalidBucket { name: String },
    #[error("histogram {name} has no +Inf bucket for {labels:?}")]
    MissingInfBucket {
        name: String,
        labels: Vec<(String, String)>,
    },
}

/// One group of a quantile query.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileGroup {
    /// The `by` labels present, in the order the `by` names were given.
    pub labels: LabelSet,
    /// NaN when the group has no observations.
    pub value: f64,
    /// The group's +Inf bucket: how many observations the quantile is over.
    pub observations: f64,
}

/// Label set identifying one series, order-insensitive.
type SeriesKey = (String, Vec<(String, String)>);

fn series_key(s: &Sample) -> SeriesKey {
    let mut labels = s.labels.clone();
    labels.sort();
    (s.name.clone(), labels)
}

impl Exposition {
    /// Family by its declared name, or by any of its sample names
    /// (`foo_bucket`, `foo_count`, `foo_total`, ...), using the same rules the
    /// parser used to file samples.
    pub fn family(&self, name: &str) -> Option<&Family> {
        let lookup = |n: &str| {
            self.families
                .iter()
                .position(|f| f.name == n)
                .map(|i| (i, self.families[i].kind))
        };
        resolve_family(name, lookup).map(|i| &self.families[i])
    }

    /// Samples whose full name equals `sel.metric` and whose labels satisfy
    /// every matcher, in exposition order.
    pub fn select(&self, sel: &Selector) -> Vec<&Sample> {
        let compiled = sel.compile();
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| compiled.matches(s))
            .collect()
    }

    /// `None` when nothing matches, so "no such series" cannot be mistaken
    /// for a legitimate zero.
    pub fn sum(&self, sel: &Selector) -> Option<f64> {
        let selected = self.select(sel);
        (!selected.is_empty()).then(|| selected.iter().map(|s| s.value).sum())
    }

    /// PromQL's `histogram_quantile(q, sum by (le, <by>) (<sel>_bucket))` on
    /// one scrape (cumulative since process start, not a rate).
    ///
    /// `sel.metric` is the histogram's base name (a trailing `_bucket` is
    /// tolerated). Matching bucket series are summed per `le` within each
    /// group of `by` label values; `by = []` gives one group over all series.
    /// Groups come back in first-seen order, keyed by the `by` labels that are
    /// present (absent and empty are the same group, as in PromQL).
    ///
    /// Edge cases, deliberately close to PromQL:
    /// - q outside [0, 1] or NaN is an error (PromQL returns ±Inf; here it is
    ///   almost certainly a typo such as 95 for 0.95);
    /// - a group with zero observations yields NaN, which fails any `<`/`>`
    ///   assertion instead of passing it;
    /// - a declared family with no matching buckets yields `Ok(vec![])`, so
    ///   "declared but empty" is distinguishable from "missing" (an error);
    /// - the rank is linearly interpolated inside its bucket, the lowest
    ///   bucket starting at 0 (or returning its bound if that is <= 0);
    /// - a rank landing in the +Inf bucket returns the highest finite bound;
    /// - q = 0 returns the lower bound of the first non-empty bucket;
    /// - non-monotonic bucket counts are raised to the running maximum;
    /// - a group without a +Inf bucket is an error (PromQL: NaN), because
    ///   every conforming exporter writes one.
    pub fn histogram_quantile(
        &self,
        q: f64,
        sel: &Selector,
        by: &[&str],
    ) -> Result<Vec<(LabelSet, f64)>, QueryError> {
        Ok(self
            .histogram_quantiles(q, sel, by)?
            .into_iter()
            .map(|g| (g.labels, g.value))
            .collect())
    }

    /// [`Exposition::histogram_quantile`] with each group's number of
    /// observations, so a caller can refuse to judge a quantile taken over
    /// a handful of them.
    pub fn histogram_quantiles(
        &self,
        q: f64,
        sel: &Selector,
        by: &[&str],
    ) -> Result<Vec<QuantileGroup>, QueryError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(QueryError::InvalidQuantile(q));
        }
        let base = sel.metric.strip_suffix("_bucket").unwrap_or(&sel.metric);
        let family = self
            .families
            .iter()
            .find(|f| f.name == base)
            .ok_or_else(|| QueryError::NoSuchFamily(base.to_string()))?;
        if !matches!(
            family.kind,
            MetricKind::Histogram | MetricKind::GaugeHistogram
        ) {
            return Err(QueryError::NotAHistogram {
                name: base.to_string(),
                kind: family.kind,
            });
        }
        let bucket_name = format!("{base}_bucket");
        let compiled = sel.compile();

        let mut groups: Vec<(LabelSet, Vec<(f64, f64)>)> = Vec::new();
        let mut index: HashMap<LabelSet, usize> = HashMap::new();
        for s in family
            .samples
            .iter()
            .filter(|s| s.name == bucket_name && compiled.matches_labels(s))
        {
            let le =
                s.label("le")
                    .and_then(parse_float)
                    .ok_or_else(|| QueryError::InvalidBucket {
                        name: s.name.clone(),
                    })?;
            let key: LabelSet = by
                .iter()
                .filter_map(|b| {
                    s.label(b)
                        .filter(|v| !v.is_empty())
                        .map(|v| (b.to_string(), v.to_string()))
                })
                .collect();
            let i = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push((le, s.value));
        }

        groups
            .into_iter()
            .map(|(labels, mut buckets)| {
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                buckets.dedup_by(|next, kept| {
                    let same = next.0 == kept.0;
                    if same {
                        kept.1 += next.1;
                    }
                    same
                });
                if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
                    return Err(QueryError::MissingInfBucket {
                        name: base.to_string(),
                        labels,
                    });
                }
                let value = bucket_quantile(q, &mut buckets);
                let observations = buckets.last().map_or(0.0, |b| b.1);
                Ok(QuantileGroup {
                    labels,
                    value,
                    observations,
                })
            })
            .collect()
    }
}

/// `buckets`: (upper bound, cumulative count), sorted, unique bounds, +Inf
/// last. Mirrors Prometheus' `bucketQuantile`.
fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    for i in 1..buckets.len() {
        if buckets[i].1 < buckets[i - 1].1 {
            buckets[i].1 = buckets[i - 1].1;
        }
    }
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let total = buckets[n - 1].1;
    if total.is_nan() || total <= 0.0 {
        return f64::NAN;
    }
    let mut rank = q * total;
    let b = if rank == 0.0 {
        buckets.iter().position(|b| b.1 > 0.0)
    } else {
        buckets[..n - 1].iter().position(|b| b.1 >= rank)
    }
    .unwrap_or(n - 1);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Increase of the selected counters between two scrapes, for checks like
/// "no new 5xx during the test".
///
/// Per series (full name + label set): `after - before`, a series missing
/// from a scrape counting as 0. If `after < before` the counter was reset
/// (process restart between scrapes), and, as PromQL's `increase` does,
/// `after` itself is taken as the increase since the reset
/// ([`super::delta::increase`]). A series that
/// vanished therefore contributes 0, not a negative amount. Meant for
/// counters; for gauges subtract [`Exposition::sum`] results instead.
pub fn delta(before: &Exposition, after: &Exposition, sel: &Selector) -> f64 {
    let previous: HashMap<SeriesKey, f64> = before
        .select(sel)
        .into_iter()
        .map(|s| (series_key(s), s.value))
        .collect();
    after
        .select(sel)
        .into_iter()
        .map(|s| {
            let b = previous.get(&series_key(s)).copied().unwrap_or(0.0);
            super::delta::increase(b, s.value).value
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
        bucket_quantile(q, &mut buckets.to_vec())
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn interpolates_inside_bucket() {
        let b = [(1.0, 10.0), (2.0, 20.0), (INF, 20.0)];
        assert_eq!(quantile(0.5, &b), 1.0);
        assert_eq!(quantile(0.75, &b), 1.5);
        assert_eq!(quantile(0.25, &b), 0.5);
        assert_eq!(quantile(1.0, &b), 2.0);
    }

    #[test]
    fn rank_in_inf_bucket_returns_highest_finite_bound() {
        let b = [(1.0, 1.0), (2.0, 2.0), (INF, 10.0)];
        assert_eq!(quantile(0.9, &b), 2.0);
    }

    #[test]
    fn zero_observations_and_single_bucket_are_nan() {
        assert!(quantile(0.5, &[(1.0, 0.0), (INF, 0.0)]).is_nan());
        assert!(quantile(0.5, &[(INF, 5.0)]).is_nan());
    }

    #[test]
    fn q_zero_is_lower_bound_of_first_nonempty_bucket() {
        let b = [(1.0, 0.0), (2.0, 0.0), (4.0, 3.0), (INF, 3.0)];
        assert_eq!(quantile(0.0, &b), 2.0);
    }

    #[test]
    fn non_monotonic_counts_are_repaired() {
        // Read as (2, 5): rank 6 lies 1 of 3 into (2, 3]; unrepaired it would be 2.5.
        let b = [(1.0, 5.0), (2.0, 4.0), (3.0, 8.0), (INF, 8.0)];
        assert_eq!(quantile(0.75, &b), 2.0 + 1.0 / 3.0);
    }

    #[test]
    fn non_positive_lowest_bound_is_returned_as_is() {
        let b = [(-1.0, 5.0), (1.0, 10.0), (INF, 10.0)];
        assert_eq!(quantile(0.2, &b), -1.0);
    }
}
