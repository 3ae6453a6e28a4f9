//! The open model (`--rate`): requests on a fixed schedule of intended send
//! times, latency measured from the intended time (as wrk2 does), so a
//! stalling server cannot hide behind coordinated omission.
//!
//! Slot `i` of the schedule is due at `t0 + i / rate`. Scenarios take turns
//! by weight (weights 2 and 1 give A, A, B, A, A, B, ...); an iteration of a
//! scenario with `k` requests (steps plus teardown) takes `k` consecutive
//! slots. Because later steps need the captures of earlier ones, an
//! iteration runs as one task started at its first slot: step `j` is sent
//! at its own slot's time or, if the previous step answered later than
//! that, right after it, and is measured from its slot's time either way.
//! Think times do not apply (the schedule sets the pace). At most
//! `max_in_flight` iterations run at once; when the cap is reached the
//! scheduler waits, and the late requests are still measured from their
//! intended times.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::Semaphore;

use super::exec::{self, Shared, Timing};

pub async fn run(sh: Arc<Shared>, rate: f64, max_in_flight: usize, deadline: Instant) {
    let mut order: Vec<usize> = Vec::new();
    for (i, sc) in sh.plan.scenarios.iter().enumerate() {
        order.extend(std::iter::repeat_n(i, sc.weight as usize));
    }
    if order.is_empty() || rate <= 0.0 {
        return;
    }
    // `acquire_many` counts in u32: the cap must fit it, not be truncated.
    let cap = max_in_flight.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(cap));
    let t0 = Instant::now();
    let mut slot: u64 = 0;
    let mut turn = 0usize;
    loop {
        let sc = order[turn % order.len()];
        turn += 1;
        let due = std::time::Duration::try_from_secs_f64(slot as f64 / rate)
            .ok()
            .and_then(|d| t0.checked_add(d));
        let Some(due) = due.filter(|d| *d < deadline) else {
            break;
        };
        if sh.stop.is_set() {
            break;
        }
        if !sh
            .stop
            .sleep(due.saturating_duration_since(Instant::now()))
            .await
        {
            break;
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = sh.stop.wait() => break,
        };
        let timing = Timing::Open { t0, slot, rate };
        slot = slot.saturating_add(sh.plan.scenarios[sc].requests_per_iteration().max(1) as u64);
        let sh = sh.clone();
        sh.users.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            exec::iteration(&sh, sc, timing).await;
            sh.users.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    // Every request has a timeout, so in-flight iterations end.
    let _ = permits.acquire_many(cap as u32).await;
}
