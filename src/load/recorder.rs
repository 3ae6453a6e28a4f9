//! Latency and error recording without a global lock on the hot path.
//!
//! Every worker thread records into its own shard (an `Arc<Mutex<Shard>>`
//! kept in a thread-local and registered once with the run's [`Recorders`]).
//! Only that thread and, once a second, the collector ever lock a shard, so
//! the mutex is uncontended. The collector swaps each shard's contents with
//! a spare (O(1) under the lock) and merges outside it, which builds the
//! per-second [`Interval`]s and the run totals.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::model::{Interval, IntervalStats, RequestStats, new_histogram};

/// A histogram for one interval: same lowest value and precision as
/// [`new_histogram`], but sized to what it holds (it grows as values are
/// added). A full-range histogram is ~190 KB; a run keeps one per name per
/// second, so a long run would otherwise hold hundreds of MB.
fn interval_histogram() -> Histogram<u64> {
    let mut h =
        Histogram::new_with_bounds(1, 2, super::model::SIGFIG).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// What one request name accumulated in one shard since the last swap.
struct Slot {
    histogram: Histogram<u64>,
    count: u64,
    errors: u64,
    reasons: BTreeMap<String, u64>,
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
}

/// What the collector took for one interval, plus run-wide figures.
pub struct Tick {
    pub interval: Interval,
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
                    })
                    .collect(),
                spare: Shard::new(n),
                all: new_histogram(),
            }),
        })
    }

    /// Records one request under name index `idx`. `latency_us` is `None`
    /// when no response arrived (transport error); `error` is the reason key
    /// of a failed request.
    pub fn record(&self, idx: usize, latency_us: Option<u64>, error: Option<&str>) {
        self.with_shard(|shard| {
            let slot = &mut shard.slots[idx];
            slot.count += 1;
            if let Some(l) = latency_us {
                slot.histogram.saturating_record(l.max(1));
            }
            if let Some(reason) = error {
                slot.errors += 1;
                match slot.reasons.get_mut(reason) {
                    Some(n) => *n += 1,
                    None => {
                        slot.reasons.insert(reason.to_string(), 1);
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
                for (k, v) in &slot.reasons {
                    *total.errors.entry(k.clone()).or_default() += v;
                }
                slot.clear();
            }
        }
        let mut tick = Tick {
            interval: Interval {
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
        for (i, t) in merged.totals.iter().enumerate() {
            let n = &self.names[i];
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
                        },
                    );
                }
            }
        }
        out
    }
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
                        let err = (i % 10 == 0).then_some("status:status");
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
    }

    #[test]
    fn transport_errors_count_without_latency() {
        let r = Recorders::new(names());
        r.record(0, None, Some("transport:connect"));
        r.collect(Duration::ZERO, Duration::from_secs(1), 1);
        let t = r.totals();
        assert_eq!(t["a"].count, 1);
        assert_eq!(t["a"].histogram.len(), 0);
        assert_eq!(t["a"].error_count(), 1);
    }
}
