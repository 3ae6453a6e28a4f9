//! Latency and error recording without a global lock on the hot path.
//!
//! Every worker thread records into its own shard (an `Arc<Mutex<Shard>>`
//! kept in a thread-local and registered once with the run's [`Recorders`]).
//! Only that thread and, once a second, the collector ever lock a shard, so
//! the mutex is uncontended. The collector swaps each shard's contents with
//! a spare (O(1) under the lock) and merges outside it, which builds the
//! per-second [`IntervalHistograms`] and the run totals.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::measure::{
    FailureReason, IntervalHistograms, IntervalStats, RequestStats, TOP_REASONS, new_histogram,
};

/// A histogram for one interval: same lowest value and precision as
/// [`new_histogram`], but sized to what it holds (it grows as values are
/// added). A full-range histogram is ~190 KB; a run keeps one per name per
/// second, so a long run would otherwise hold hundreds of MB.
fn interval_histogram() -> Histogram<u64> {
    let mut h =
        Histogram::new_with_bounds(1, 2, crate::measure::SIGFIG).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Why one request failed: its stable reason key and how to describe the
/// failure to a person. The description is only built the first time a key
/// is seen in a shard's second, so a run failing every request does not
/// format a string per request.
pub struct Failure<'a> {
    pub key: &'a str,
    pub example: &'a dyn Fn() -> String,
}

/// A reason's count and its first example.
struct Reason {
    count: u64,
    example: String,
}

/// What one request name accumulated in one shard since the last swap.
struct Slot {
    histogram: Histogram<u64>,
    count: u64,
    errors: u64,
    reasons: BTreeMap<String, Reason>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            histogram: new_histogram(),
            count: 0,
            errors: 0,
            reasons: BTreeMap::new(),
        }
    }

    fn clear(&mut self) {
        self.histogram.reset();
        self.count = 0;
        self.errors = 0;
        self.reasons.clear();
    }
}

/// One thread's recordings, one slot per request name.
struct Shard {
    slots: Vec<Slot>,
}

impl Shard {
    fn new(names: usize) -> Self {
        Shard {
            slots: (0..names).map(|_| Slot::new()).collect(),
        }
    }
}

static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's shard for each live run (usually one), keyed by run id.
    static LOCAL: RefCell<Vec<(u64, Arc<Mutex<Shard>>)>> = const { RefCell::new(Vec::new()) };
}

/// Request names known up front, so the hot path indexes a `Vec` instead of
/// hashing a string.
#[derive(Debug, Clone)]
pub struct Name {
    pub name: String,
    pub method: String,
    pub path: String,
}

/// The run's set of shards plus the totals merged so far.
pub struct Recorders {
    id: u64,
    names: Vec<Name>,
    shards: Mutex<Vec<Arc<Mutex<Shard>>>>,
    /// Collector-side state: totals and a spare shard to swap in.
    merged: Mutex<Merged>,
}

struct Merged {
    totals: Vec<Total>,
    spare: Shard,
    /// All names together, for "p95 so far" in progress events.
    all: Histogram<u64>,
}

struct Total {
    histogram: Histogram<u64>,
    count: u64,
    errors: BTreeMap<String, u64>,
    /// First example per reason key. Keys name assertions of the scenario
    /// (or a fixed set of transport errors), never values, so this stays
    /// as small as the scenario.
    examples: BTreeMap<String, String>,
}

/// What the collector took for one interval, plus run-wide figures.
pub struct Tick {
    pub interval: IntervalHistograms,
    pub requests: u64,
    pub errors: u64,
    pub total_requests: u64,
    pub total_errors: u64,
    /// p95 over everything recorded so far (µs); 0 before the first response.
    pub p95_us: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while recording leaves consistent counters behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorders {
    pub fn new(names: Vec<Name>) -> Arc<Self> {
        let n = names.len();
        Arc::new(Recorders {
            id: NEXT_RUN.fetch_add(1, Ordering::Relaxed),
            names,
            shards: Mutex::new(Vec::new()),
            merged: Mutex::new(Merged {
                totals: (0..n)
                    .map(|_| Total {
                        histogram: new_histogram(),
                        count: 0,
                        errors: BTreeMap::new(),
                        examples: BTreeMap::new(),
                    })
                    .collect(),
                spare: Shard::new(n),
                all: new_histogram(),
            }),
        })
    }

    /// Records one request under name index `idx`. `latency_us` is `None`
    /// when no response arrived (transport error); `error` says why a
    /// failed request failed.
    pub fn record(&self, idx: usize, latency_us: Option<u64>, error: Option<Failure<'_>>) {
        self.with_shard(|shard| {
            let slot = &mut shard.slots[idx];
            slot.count += 1;
            if let Some(l) = latency_us {
                slot.histogram.saturating_record(l.max(1));
            }
            if let Some(f) = error {
                slot.errors += 1;
                match slot.reasons.get_mut(f.key) {
                    Some(r) => r.count += 1,
                    None => {
                        slot.reasons.insert(
                            f.key.to_string(),
                            Reason {
                                count: 1,
                                example: (f.example)(),
                            },
                        );
                    }
                }
            }
        });
    }

    fn with_shard(&self, f: impl FnOnce(&mut Shard)) {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let shard = match local.iter().find(|(id, _)| *id == self.id) {
                Some((_, s)) => s.clone(),
                None => {
                    // Forget shards of finished runs (only this thread holds them).
                    local.retain(|(_, s)| Arc::strong_count(s) > 1);
                    let s = Arc::new(Mutex::new(Shard::new(self.names.len())));
                    lock(&self.shards).push(s.clone());
                    local.push((self.id, s.clone()));
                    s
                }
            };
            drop(local);
            f(&mut lock(&shard));
        });
    }

    /// Takes everything recorded since the last call as one interval.
    pub fn collect(&self, start: Duration, length: Duration, users: u32) -> Tick {
        let shards: Vec<Arc<Mutex<Shard>>> = lock(&self.shards).clone();
        let mut merged = lock(&self.merged);
        let merged = &mut *merged;
        let mut per_name: Vec<IntervalStats> = Vec::new();
        let mut used = vec![false; self.names.len()];
        for shard in &shards {
            {
                let mut s = lock(shard);
                std::mem::swap(&mut s.slots, &mut merged.spare.slots);
            }
            for (i, slot) in merged.spare.slots.iter_mut().enumerate() {
                if slot.count == 0 {
                    continue;
                }
                if !used[i] {
                    used[i] = true;
                }
                if per_name.len() < self.names.len() {
                    per_name = (0..self.names.len())
                        .map(|_| IntervalStats {
                            histogram: interval_histogram(),
                            count: 0,
                            errors: 0,
                        })
                        .collect();
                }
                let iv = &mut per_name[i];
                let _ = iv.histogram.add(&slot.histogram);
                iv.count += slot.count;
                iv.errors += slot.errors;
                let total = &mut merged.totals[i];
                total.count += slot.count;
                for (k, r) in &mut slot.reasons {
                    *total.errors.entry(k.clone()).or_default() += r.count;
                    if !total.examples.contains_key(k) {
                        total
                            .examples
                            .insert(k.clone(), std::mem::take(&mut r.example));
                    }
                }
                slot.clear();
            }
        }
        let mut tick = Tick {
            interval: IntervalHistograms {
                start,
                length,
                users,
                per_name: BTreeMap::new(),
            },
            requests: 0,
            errors: 0,
            total_requests: 0,
            total_errors: 0,
            p95_us: 0,
        };
        for (i, iv) in per_name.into_iter().enumerate() {
            if !used[i] {
                continue;
            }
            let _ = merged.totals[i].histogram.add(&iv.histogram);
            let _ = merged.all.add(&iv.histogram);
            tick.requests += iv.count;
            tick.errors += iv.errors;
            match tick.interval.per_name.get_mut(&self.names[i].name) {
                // Two steps sharing a name (in different scenarios) share a
                // request name.
                Some(prev) => {
                    let _ = prev.histogram.add(&iv.histogram);
                    prev.count += iv.count;
                    prev.errors += iv.errors;
                }
                None => {
                    tick.interval
                        .per_name
                        .insert(self.names[i].name.clone(), iv);
                }
            }
        }
        for t in &merged.totals {
            tick.total_requests += t.count;
            tick.total_errors += t.errors.values().sum::<u64>();
        }
        tick.p95_us = if merged.all.is_empty() {
            0
        } else {
            merged.all.value_at_quantile(0.95)
        };
        tick
    }

    /// The run totals per request name (call after the last `collect`).
    pub fn totals(&self) -> BTreeMap<String, RequestStats> {
        let merged = lock(&self.merged);
        let mut out: BTreeMap<String, RequestStats> = BTreeMap::new();
        let mut examples: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        for (i, t) in merged.totals.iter().enumerate() {
            let n = &self.names[i];
            let ex = examples.entry(n.name.as_str()).or_default();
            for (k, e) in &t.examples {
                ex.entry(k.as_str()).or_insert(e.as_str());
            }
            match out.get_mut(&n.name) {
                Some(prev) => {
                    let _ = prev.histogram.add(&t.histogram);
                    prev.count += t.count;
                    for (k, v) in &t.errors {
                        *prev.errors.entry(k.clone()).or_default() += v;
                    }
                }
                None => {
                    out.insert(
                        n.name.clone(),
                        RequestStats {
                            method: n.method.clone(),
                            path: n.path.clone(),
                            histogram: t.histogram.clone(),
                            count: t.count,
                            errors: t.errors.clone(),
                            failures: Vec::new(),
                        },
                    );
                }
            }
        }
        for (name, r) in &mut out {
            r.failures = top_reasons(&r.errors, &examples[name.as_str()]);
        }
        out
    }
}

/// The [`TOP_REASONS`] most frequent reasons, most frequent first (ties by
/// key, so reports are stable).
fn top_reasons(
    errors: &BTreeMap<String, u64>,
    examples: &BTreeMap<&str, &str>,
) -> Vec<FailureReason> {
    let mut v: Vec<FailureReason> = errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| FailureReason {
            key: k.clone(),
            count: *n,
            example: examples.get(k.as_str()).copied().unwrap_or(k).to_string(),
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v.truncate(TOP_REASONS);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<Name> {
        ["a", "b"]
            .iter()
            .map(|n| Name {
                name: n.to_string(),
                method: "GET".into(),
                path: format!("/{n}"),
            })
            .collect()
    }

    #[test]
    fn records_from_many_threads_merge_into_intervals_and_totals() {
        let r = Recorders::new(names());
        std::thread::scope(|s| {
            for t in 0..4 {
                let r = &r;
                s.spawn(move || {
                    for i in 0..100u64 {
                        let example = || format!("status: expected 200, got 50{t}");
                        let err = (i % 10 == 0).then_some(Failure {
                            key: "status:status",
                            example: &example,
                        });
                        r.record(t % 2, Some(1000 + i), err);
                    }
                });
            }
        });
        let tick = r.collect(Duration::ZERO, Duration::from_secs(1), 4);
        assert_eq!(tick.requests, 400);
        assert_eq!(tick.errors, 40);
        assert_eq!(tick.interval.per_name["a"].count, 200);
        // A second collect sees nothing new but keeps totals.
        let tick2 = r.collect(Duration::from_secs(1), Duration::from_secs(1), 4);
        assert_eq!(tick2.requests, 0);
        assert_eq!(tick2.total_requests, 400);
        let totals = r.totals();
        assert_eq!(totals["b"].count, 200);
        assert_eq!(totals["b"].errors["status:status"], 20);
        assert_eq!(totals["b"].histogram.len(), 200);
        let f = &totals["b"].failures;
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].key.as_str(), f[0].count), ("status:status", 20));
        assert!(
            f[0].example.starts_with("status: expected 200, got 50"),
            "{f:?}"
        );
    }

    #[test]
    fn keeps_the_most_frequent_reasons_each_with_its_first_example() {
        let r = Recorders::new(names());
        // Seven distinct reasons, reason k failing k+1 times.
        for k in 0..7u64 {
            for i in 0..=k {
                let key = format!("body:$.f{k}");
                let example = move || format!("$.f{k}: expected 1, got {i}");
                r.record(
                    0,
                    Some(10),
                    Some(Failure {
                        key: &key,
                        example: &example,
                    }),
                );
            }
            // Split over two intervals: the first example must survive.
            r.collect(Duration::from_secs(k), Duration::from_secs(1), 1);
        }
        let f = &r.totals()["a"].failures;
        let keys: Vec<(&str, u64)> = f.iter().map(|f| (f.key.as_str(), f.count)).collect();
        assert_eq!(
            keys,
            [
                ("body:$.f6", 7),
                ("body:$.f5", 6),
                ("body:$.f4", 5),
                ("body:$.f3", 4),
                ("body:$.f2", 3)
            ]
        );
        assert_eq!(f[0].example, "$.f6: expected 1, got 0");
        assert_eq!(r.totals()["b"].failures, []);
    }

    #[test]
    fn transport_errors_count_without_latency() {
        let r = Recorders::new(names());
        r.record(
            0,
            None,
            Some(Failure {
                key: "transport:connect",
                example: &|| "connection refused".to_string(),
            }),
        );
        r.collect(Duration::ZERO, Duration::from_secs(1), 1);
        let t = r.totals();
        assert_eq!(t["a"].count, 1);
        assert_eq!(t["a"].histogram.len(), 0);
        assert_eq!(t["a"].error_count(), 1);
    }
}
