//! Increases between two scrapes, reset-aware.
//!
//! Counters (and histogram buckets, which are counters) only go up while a
//! process lives; a lower reading means the process restarted in between.
//! Every delta in the tool goes through [`increase`], so the server
//! cross-check of a load run, `delta_from` on a sample and `delta_from` on a
//! histogram agree, and a restart can never produce a negative delta that
//! would pass `le: 0`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::parse::{Family, MetricKind, Sample};
use super::selector::Selector;

/// How much a counter grew between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Increase {
    /// Never negative (unless a reading itself was).
    pub value: f64,
    /// `after < before`: the counter was reset in between (a restart), and
    /// `value` counts only what happened since the reset (Prometheus'
    /// `increase()` convention). Reports say so: part of the window is lost.
    pub reset: bool,
}

/// `after - before`, or `after` when the counter went down (a reset).
pub fn increase(before: f64, after: f64) -> Increase {
    if after < before {
        Increase {
            value: after,
            reset: true,
        }
    } else {
        Increase {
            value: after - before,
            reset: false,
        }
    }
}

/// A family holding per-series increases, and how many series were reset.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyDelta {
    pub family: Family,
    /// Series (for a histogram: label sets without `le`) seen reset.
    pub resets: usize,
}

fn sorted(labels: &[(String, String)]) -> Vec<(String, String)> {
    let mut l = labels.to_vec();
    l.sort();
    l
}

type SeriesKey = (String, Vec<(String, String)>);

fn series_key(s: &Sample) -> SeriesKey {
    (s.name.clone(), sorted(&s.labels))
}

/// The histogram series a sample belongs to: its labels without `le`.
fn histogram_series(s: &Sample) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = s
        .labels
        .iter()
        .filter(|(k, _)| k != "le")
        .cloned()
        .collect();
    l.sort();
    l
}

/// Per series `after - before` through [`increase`], as a family with the
/// same name and kind; a series missing before counts from 0.
///
/// For a histogram the reset is decided per series (all its buckets and its
/// count together): if any of them went down the process restarted, and
/// every bucket takes its `after` value. Deciding per bucket would mix
/// pre- and post-restart counts into a histogram that never existed.
pub fn family_delta(before: Option<&Family>, after: &Family) -> FamilyDelta {
    let previous: HashMap<SeriesKey, f64> = before
        .map(|f| f.samples.iter().map(|s| (series_key(s), s.value)).collect())
        .unwrap_or_default();
    let prev = |s: &Sample| previous.get(&series_key(s)).copied().unwrap_or(0.0);
    let mut out = after.clone();
    let histogram = matches!(
        after.kind,
        MetricKind::Histogram | MetricKind::GaugeHistogram
    );
    if !histogram {
        let mut resets = 0;
        for s in &mut out.samples {
            let inc = increase(prev(s), s.value);
            resets += usize::from(inc.reset);
            s.value = inc.value;
        }
        return FamilyDelta {
            family: out,
            resets,
        };
    }
    // Sums may legitimately go down (negative observations): only counts
    // and buckets reveal a reset.
    let counts = |name: &str| {
        name.ends_with("_bucket") || name.ends_with("_count") || name.ends_with("_gcount")
    };
    let mut reset_series: Vec<Vec<(String, String)>> = Vec::new();
    for s in after.samples.iter().filter(|s| counts(&s.name)) {
        if increase(prev(s), s.value).reset {
            let key = histogram_series(s);
            if !reset_series.contains(&key) {
                reset_series.push(key);
            }
        }
    }
    for s in &mut out.samples {
        if !reset_series.contains(&histogram_series(s)) {
            s.value -= prev(s);
        }
    }
    FamilyDelta {
        family: out,
        resets: reset_series.len(),
    }
}

/// Key under which a histogram capture is stored in a scenario variable.
const SNAPSHOT_KEY: &str = "histogram_snapshot";

/// The samples of histogram `family` whose labels match `sel`, as a JSON
/// value a scenario variable can hold until a later `delta_from`.
pub fn snapshot_to_json(family: &Family, sel: &Selector) -> Value {
    let compiled = sel.compile();
    let samples: Vec<Value> = family
        .samples
        .iter()
        .filter(|s| compiled.matches_labels(s))
        .map(|s| {
            let labels: serde_json::Map<String, Value> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect();
            json!([s.name, labels, s.value])
        })
        .collect();
    json!({ SNAPSHOT_KEY: family.name, "samples": samples })
}

/// The family a [`snapshot_to_json`] value holds; `None` for any other
/// value (e.g. a number captured from a counter).
pub fn snapshot_from_json(v: &Value) -> Option<Family> {
    let name = v.get(SNAPSHOT_KEY)?.as_str()?;
    let samples = v
        .get("samples")?
        .as_array()?
        .iter()
        .map(|s| {
            let name = s.get(0)?.as_str()?.to_string();
            let labels = s
                .get(1)?
                .as_object()?
                .iter()
                .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect::<Option<Vec<_>>>()?;
            let value = s.get(2)?.as_f64()?;
            Some(Sample {
                name,
                labels,
                value,
                timestamp_ms: None,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Family {
        name: name.to_string(),
        help: None,
        kind: MetricKind::Histogram,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::parse;

    #[test]
    fn increase_is_after_minus_before_without_reset() {
        assert_eq!(
            increase(3.0, 10.0),
            Increase {
                value: 7.0,
                reset: false
            }
        );
        assert_eq!(increase(5.0, 5.0).value, 0.0);
    }

    #[test]
    fn a_lower_reading_is_a_reset_and_counts_after_never_negative() {
        let inc = increase(10.0, 4.0);
        assert_eq!(
            inc,
            Increase {
                value: 4.0,
                reset: true
            }
        );
        // A restart to zero: nothing since, never -10.
        let inc = increase(10.0, 0.0);
        assert!(inc.reset);
        assert_eq!(inc.value, 0.0);
    }

    /// Histogram `h` with series `a` and `b`, each as (observations up to
    /// 0.1, observations in all, sum).
    fn two_series(a: (u64, u64, f64), b: (u64, u64, f64)) -> String {
        let mut o = String::from("# TYPE h histogram\n");
        for (q, (fast, all, sum)) in [("a", a), ("b", b)] {
            o.push_str(&format!(
                "h_bucket{{q=\"{q}\",le=\"0.1\"}} {fast}\n\
                 h_bucket{{q=\"{q}\",le=\"+Inf\"}} {all}\n\
                 h_count{{q=\"{q}\"}} {all}\n\
                 h_sum{{q=\"{q}\"}} {sum}\n"
            ));
        }
        o
    }

    fn before() -> String {
        two_series((10, 12, 3.0), (5, 5, 0.2))
    }

    #[test]
    fn histogram_delta_is_bucket_wise_and_resets_per_series() {
        // a grew; b restarted: its first bucket went from 5 to 2 while its
        // +Inf bucket alone would look like growth (5 to 6). Taken per
        // bucket that would be 2 below 0.1 out of 1 in all.
        let after = two_series((10, 15, 4.0), (2, 6, 0.1));
        let b = parse(&before()).unwrap();
        let a = parse(&after).unwrap();
        let d = family_delta(b.family("h"), a.family("h").unwrap());
        assert_eq!(d.resets, 1);
        let v = |name: &str, q: &str, le: Option<&str>| {
            d.family
                .samples
                .iter()
                .find(|s| s.name == name && s.label("q") == Some(q) && s.label("le") == le)
                .unwrap()
                .value
        };
        assert_eq!(v("h_bucket", "a", Some("0.1")), 0.0);
        assert_eq!(v("h_bucket", "a", Some("+Inf")), 3.0);
        assert_eq!(v("h_count", "a", None), 3.0);
        assert_eq!(v("h_bucket", "b", Some("0.1")), 2.0);
        assert_eq!(v("h_bucket", "b", Some("+Inf")), 6.0);
        assert_eq!(v("h_count", "b", None), 6.0);
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let b = parse(&before()).unwrap();
        let sel: Selector = "h{q=\"a\"}".parse().unwrap();
        let v = snapshot_to_json(b.family("h").unwrap(), &sel);
        let f = snapshot_from_json(&v).unwrap();
        assert_eq!(f.name, "h");
        assert_eq!(f.samples.len(), 4);
        assert!(f.samples.iter().all(|s| s.label("q") == Some("a")));
        assert_eq!(snapshot_from_json(&Value::from(3.0)), None);
    }
}
