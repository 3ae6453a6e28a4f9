//! The open model (`--rate`): requests on a fixed schedule of intended send
//! times, latency measured from the intended time (as wrk2 does), so a
//! stalling server cannot hide behind coordinated omission.
//!
//! Slot `i` of the schedule is due at `t0 + i / rate`, and every slot is one
//! request. Slots are handed out one at a time from one queue: to an
//! iteration waiting to send its next step (or teardown) if there is one,
//! else to a new iteration. So an iteration whose step fails gives its
//! remaining slots back, and `--rate` stays the rate the server is offered
//! whatever the scenarios do. New iterations take turns by scenario weight
//! (weights 2 and 1 give A, A, B, A, A, B, ...). Think times do not apply
//! (the schedule sets the pace). At most `max_in_flight` iterations run at
//! once; when the cap is reached a due slot waits for a continuing iteration
//! or a free place, and the late request is still measured from its
//! intended time.
//!
//! The schedule runs on a dedicated thread, not on a tokio timer: tokio's
//! timer wheel has millisecond granularity, and since latency is measured
//! from the intended time, any lateness of the scheduler is added to every
//! request (about 0.7 ms at 200 req/s). The thread sleeps until
//! a [`Margin`] before a slot is due (as much as its own sleeps have lately
//! overshot, at most [`SPIN_AHEAD`]), then spins (yielding the core to the
//! runtime's workers, unless a neighbour took it: [`Yielding`]) until it
//! is, and releases the slot to the runtime.
//! How late each request actually went out is recorded, so a report can
//! tell a late generator from a slow server.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Notify, oneshot};

use super::exec::{self, Shared, Timing};
use crate::measure::{ScheduleStats, new_histogram};

/// The most the scheduler spins before a slot: a sleep that overshoots by
/// more than this on a loaded machine shows as lateness, not as more spin.
/// Measured on 2 busy cores, a fixed 1 ms margin gave a lateness p99 of
/// 26–29 µs for ~1 ms of CPU per request at 200 req/s (a whole core at
/// 2,000 req/s); a fixed 250 µs cut that CPU to a third but let p99 reach
/// 120–160 µs when the cores were busy. Hence [`Margin`]: as little spin as
/// the machine's own sleeps need, up to this.
pub const SPIN_AHEAD: Duration = Duration::from_millis(1);

/// The least the scheduler spins before a slot.
const MIN_SPIN: Duration = Duration::from_micros(50);

/// How far ahead of a slot the scheduler stops sleeping and starts to spin:
/// twice the worst overshoot of its last [`Margin::WINDOW`] timed sleeps,
/// plus 20 µs, within [`MIN_SPIN`]..=[`SPIN_AHEAD`]. A sleep ends late by
/// what the kernel and the hypervisor take to run the thread again: tens of
/// µs on an idle machine, hundreds on a busy one. A fixed margin had to be
/// sized for the busy case and burnt that much CPU before every slot on an
/// idle one; this one follows what the sleeps actually do. It starts at
/// the most, so the first slots are on time while it learns.
#[derive(Debug)]
pub struct Margin {
    recent: [Duration; Margin::WINDOW],
    next: usize,
    /// Worked out when a sleep is recorded, not read from the window on
    /// every turn of the spin loop.
    ahead: Duration,
}

impl Default for Margin {
    fn default() -> Self {
        Margin {
            recent: [SPIN_AHEAD; Margin::WINDOW],
            next: 0,
            ahead: SPIN_AHEAD,
        }
    }
}

impl Margin {
    const WINDOW: usize = 64;

    /// A timed sleep ended `late` after it was meant to.
    pub fn record(&mut self, late: Duration) {
        self.recent[self.next] = late;
        self.next = (self.next + 1) % Self::WINDOW;
        let worst = self.recent.iter().fold(Duration::ZERO, |a, &b| a.max(b));
        self.ahead = (worst * 2 + Duration::from_micros(20)).clamp(MIN_SPIN, SPIN_AHEAD);
    }

    pub fn get(&self) -> Duration {
        self.ahead
    }
}

/// Whether the spin before a slot may give the core away. A yield hands
/// the core to whatever else is runnable there: the runtime's own workers
/// hand it back when their work is done, but a CPU-bound neighbour (a
/// build, a batch job, even one at the lowest priority) keeps it until the
/// kernel next switches tasks, a millisecond or more, and every request of
/// that slot goes out that late. Measured on 2 cores with a `SCHED_IDLE`
/// busy loop on the generator's core: lateness p50 0.9–1.2 ms at 2,000
/// req/s (up to 1.4 ms at 200), against 10 µs without it.
///
/// So a yield that took longer than [`Yielding::LONG`], most of it spent
/// by this thread waiting on the run queue while this process's own
/// threads did not run (someone else did), stops yielding for
/// [`Yielding::PAUSE`], and the spin takes naps of [`Yielding::NAP`]
/// instead: a thread whose sleep ends preempts the neighbour at once
/// (lateness p50 27–49 µs with the busy loop). The run-queue wait
/// (`/proc/thread-self/schedstat`) tells a neighbour from the host of a
/// virtual machine pausing the thread; judged by the CPU time alone, naps
/// ran most of the time with no neighbour (lateness p50 at 2,000 req/s 46
/// µs instead of 10; with the run-queue wait, 13). The CPU time counts the
/// workers on other cores too, so on a bigger machine a neighbour can hide
/// behind them: measured only on 2 cores, the generator pinned to one.
///
/// Tried and dropped: a spin without yields or naps (the workers, on the
/// same core, waited for it: p50 1.9 and 3.7 ms at 2,000 req/s in two runs
/// of three); naps after any long yield (our own workers' turns are long
/// too, and a nap on an idle core costs a wake-up: lateness p50 at 2,000
/// req/s 49–172 µs with no neighbour); naps after three long yields in a
/// row (short ones in between broke the streak: with the neighbour, 0.67
/// and 1.04 ms at 200 req/s in two runs of three).
#[derive(Debug, Default)]
struct Yielding {
    paused_until: Option<Instant>,
}

impl Yielding {
    const LONG: Duration = Duration::from_micros(200);
    const PAUSE: Duration = Duration::from_secs(1);
    const NAP: Duration = Duration::from_micros(50);

    /// Whether the spin may yield at `now`.
    fn allowed(&self, now: Instant) -> bool {
        self.paused_until.is_none_or(|t| now >= t)
    }

    /// A yield begun at `from` returned at `now`; over it the clocks moved
    /// from `before` to `after`.
    fn record(&mut self, from: Instant, now: Instant, before: Clocks, after: Clocks) {
        let took = now.saturating_duration_since(from);
        let ours = before.cpu.zip(after.cpu).map(|(a, b)| b.saturating_sub(a));
        // Unknown where /proc is not: then the CPU time decides alone.
        let queued = before
            .queued
            .zip(after.queued)
            .map(|(a, b)| b.saturating_sub(a));
        if took > Self::LONG
            && ours.is_some_and(|o| o < took / 2)
            && queued.is_none_or(|q| q > took / 2)
        {
            self.paused_until = Some(now + Self::PAUSE);
        }
    }
}

/// What a yield is judged by, read just before and just after it.
#[derive(Debug, Clone, Copy, Default)]
struct Clocks {
    /// CPU time of the whole process.
    cpu: Option<Duration>,
    /// How long this thread has waited on a run queue, in all.
    queued: Option<Duration>,
}

/// Reads [`Clocks`] for the thread that made it: `/proc/thread-self` names
/// the thread that opens it.
struct ClockReader {
    #[cfg(target_os = "linux")]
    schedstat: Option<std::fs::File>,
}

impl ClockReader {
    fn for_this_thread() -> Self {
        ClockReader {
            #[cfg(target_os = "linux")]
            schedstat: std::fs::File::open("/proc/thread-self/schedstat").ok(),
        }
    }

    fn read(&self) -> Clocks {
        Clocks {
            cpu: process_cpu(),
            queued: self.queued(),
        }
    }

    #[cfg(target_os = "linux")]
    fn queued(&self) -> Option<Duration> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 96];
        let n = self.schedstat.as_ref()?.read_at(&mut buf, 0).ok()?;
        run_delay(std::str::from_utf8(&buf[..n]).ok()?)
    }

    #[cfg(not(target_os = "linux"))]
    fn queued(&self) -> Option<Duration> {
        None
    }
}

/// The second of schedstat's three numbers: nanoseconds spent runnable
/// but waiting for a CPU.
fn run_delay(schedstat: &str) -> Option<Duration> {
    let ns = schedstat.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// CPU time of the whole process so far: across a yield, it tells our own
/// workers' turn from a neighbour's.
fn process_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec, which we own.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            return Some(Duration::new(
                u64::try_from(ts.tv_sec).ok()?,
                u32::try_from(ts.tv_nsec).ok()?,
            ));
        }
    }
    None
}

/// Lets the scheduler thread's sleeps end on time: Linux otherwise lets a
/// normal thread's timers fire up to 50 µs late to batch wake-ups.
fn precise_timers() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack; it
    // reads no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
    }
}

/// The schedule shared by the scheduler thread and the iterations.
pub struct Pacer {
    rate: f64,
    state: Mutex<State>,
    /// Wakes the scheduler thread: a waiter arrived, an iteration ended, or
    /// the schedule is closed.
    changed: Condvar,
    /// Read by the scheduler thread while it spins, without the lock.
    closed: AtomicBool,
    /// The scheduler thread is done: no slot will be handed out any more.
    ended: Notify,
    /// The last iteration ended after the schedule closed.
    drained: Notify,
    /// Send time minus intended time of every request sent on a slot (µs).
    lateness: Mutex<Histogram<u64>>,
    /// Slots that came due while the schedule ran (used or not).
    offered: AtomicU64,
    /// How long the schedule ran (µs), set when it ends.
    window_us: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Iterations waiting for a slot for their next request, oldest first.
    waiting: VecDeque<oneshot::Sender<Instant>>,
    in_flight: usize,
    closed: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking iteration leaves consistent counters behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pacer {
    pub fn new(rate: f64) -> Self {
        Pacer {
            rate,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            closed: AtomicBool::new(false),
            ended: Notify::new(),
            drained: Notify::new(),
            lateness: Mutex::new(new_histogram()),
            offered: AtomicU64::new(0),
            window_us: AtomicU64::new(0),
        }
    }

    /// The intended send time of this iteration's next request: the next
    /// slot no older waiter takes. None once the schedule is over (the run
    /// is stopping): steps then stop, teardown steps go out at once.
    pub async fn next_slot(&self) -> Option<Instant> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = lock(&self.state);
            if st.closed {
                return None;
            }
            st.waiting.push_back(tx);
        }
        self.changed.notify_one();
        rx.await.ok()
    }

    /// Records how late a request went out compared with its slot.
    pub fn sent(&self, due: Instant) {
        let late = Instant::now().saturating_duration_since(due);
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        lock(&self.lateness).saturating_record(us.max(1));
    }

    /// Ends the schedule: the thread stops handing out slots and waiting
    /// iterations are released empty-handed.
    fn close(&self) {
        let waiting = {
            let mut st = lock(&self.state);
            st.closed = true;
            std::mem::take(&mut st.waiting)
        };
        self.closed.store(true, Ordering::Release);
        self.changed.notify_all();
        drop(waiting);
    }

    /// What the schedule offered and delivered so far.
    pub fn stats(&self) -> ScheduleStats {
        let lateness = lock(&self.lateness).clone();
        let window = Duration::from_micros(self.window_us.load(Ordering::Acquire));
        let secs = window.as_secs_f64();
        ScheduleStats {
            offered_rate: self.rate,
            delivered_rate: if secs > 0.0 {
                lateness.len() as f64 / secs
            } else {
                0.0
            },
            offered: self.offered.load(Ordering::Relaxed),
            delivered: lateness.len(),
            window,
            lateness,
        }
    }

    /// The scheduler thread's loop: one slot after another until the
    /// deadline or until the schedule is closed.
    fn schedule(
        self: &Arc<Self>,
        sh: &Arc<Shared>,
        rt: &tokio::runtime::Handle,
        order: &[usize],
        cap: usize,
        t0: Instant,
        deadline: Instant,
    ) {
        precise_timers();
        let mut slot: u64 = 0;
        let mut turn = 0usize;
        let mut margin = Margin::default();
        let mut yielding = Yielding::default();
        let clocks = ClockReader::for_this_thread();
        let mut end = deadline;
        'slots: loop {
            let due = Duration::try_from_secs_f64(slot as f64 / self.rate)
                .ok()
                .and_then(|d| t0.checked_add(d));
            let Some(due) = due.filter(|d| *d < deadline) else {
                break;
            };
            if !self.wait_until(due, &mut margin, &mut yielding, &clocks) {
                end = Instant::now().min(deadline);
                break;
            }
            self.offered.fetch_add(1, Ordering::Relaxed);
            slot += 1;
            let mut st = lock(&self.state);
            loop {
                if st.closed {
                    end = Instant::now().min(deadline);
                    break 'slots;
                }
                // A waiter whose iteration was dropped frees the slot for
                // the next one.
                while let Some(tx) = st.waiting.pop_front() {
                    if tx.send(due).is_ok() {
                        continue 'slots;
                    }
                }
                if st.in_flight < cap {
                    st.in_flight += 1;
                    break;
                }
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            drop(st);
            let sc = order[turn % order.len()];
            turn += 1;
            sh.users.fetch_add(1, Ordering::Relaxed);
            // Made before the task: a task the runtime drops unpolled (it is
            // shutting down) still gives its place back.
            let done = InFlight(self.clone(), sh.clone());
            rt.spawn(async move {
                let InFlight(pacer, sh) = &done;
                let mut lane = sh.client.borrow_lane();
                exec::iteration(sh, sc, Timing::Open { first: due, pacer }, &mut lane).await;
            });
        }
        let window = end.saturating_duration_since(t0);
        self.window_us.store(
            u64::try_from(window.as_micros()).unwrap_or(u64::MAX),
            Ordering::Release,
        );
        self.close();
        self.ended.notify_one();
    }

    /// Sleeps, then spins, until `due`; false if the schedule closed first.
    fn wait_until(
        &self,
        due: Instant,
        margin: &mut Margin,
        yielding: &mut Yielding,
        clocks: &ClockReader,
    ) -> bool {
        // The clocks read after one yield stand for those before the next
        // (nanoseconds apart): two system calls a turn of the spin, not
        // four. Any sleep makes them stale.
        let mut last: Option<Clocks> = None;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            let now = Instant::now();
            if now >= due {
                return true;
            }
            let ahead = margin.get();
            let left = due - now;
            if left > ahead {
                last = None;
                let st = lock(&self.state);
                if st.closed {
                    return false;
                }
                let wake = due - ahead;
                // Woken early by every waiter and every ended iteration;
                // the loop just sleeps again. Only a sleep that ran its
                // course says how late this machine wakes the thread.
                let timed_out = self
                    .changed
                    .wait_timeout(st, wake.saturating_duration_since(now))
                    .is_ok_and(|(_, r)| r.timed_out());
                if timed_out {
                    margin.record(Instant::now().saturating_duration_since(wake));
                }
            } else if yielding.allowed(now) {
                let before = last.unwrap_or_else(|| clocks.read());
                std::thread::yield_now();
                let after = clocks.read();
                yielding.record(now, Instant::now(), before, after);
                last = Some(after);
            } else {
                last = None;
                // Off the run queue, so the wake-up preempts the neighbour
                // (a yielder stays queued and waits for the next switch);
                // the core is busy, so it does not sleep through the nap.
                std::thread::sleep(left.min(Yielding::NAP));
            }
        }
    }
}

/// One iteration's place under the in-flight cap, given back however the
/// iteration ends.
struct InFlight(Arc<Pacer>, Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.1.users.fetch_sub(1, Ordering::Relaxed);
        let mut st = lock(&self.0.state);
        st.in_flight -= 1;
        let idle = st.closed && st.in_flight == 0;
        drop(st);
        self.0.changed.notify_one();
        if idle {
            self.0.drained.notify_one();
        }
    }
}

/// Ends the schedule and joins its thread however the run ends, an
/// abandoned (dropped) run included: the thread never outlives the run.
struct Scheduler {
    pacer: Arc<Pacer>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.pacer.close();
        if let Some(t) = self.thread.take() {
            // Prompt: the thread checks `closed` while it sleeps and spins.
            let _ = t.join();
        }
    }
}

pub async fn run(
    sh: Arc<Shared>,
    pacer: Arc<Pacer>,
    max_in_flight: usize,
    deadline: Instant,
) -> std::io::Result<()> {
    let mut order: Vec<usize> = Vec::new();
    for (i, sc) in sh.plan.scenarios.iter().enumerate() {
        order.extend(std::iter::repeat_n(i, sc.weight as usize));
    }
    if order.is_empty() || pacer.rate <= 0.0 {
        return Ok(());
    }
    let cap = max_in_flight.max(1);
    let t0 = Instant::now();
    let rt = tokio::runtime::Handle::current();
    let thread = {
        let (sh, pacer) = (sh.clone(), pacer.clone());
        std::thread::Builder::new()
            .name("postdeploy-schedule".into())
            .spawn(move || pacer.schedule(&sh, &rt, &order, cap, t0, deadline))?
    };
    let scheduler = Scheduler {
        pacer: pacer.clone(),
        thread: Some(thread),
    };
    tokio::select! {
        _ = pacer.ended.notified() => {}
        _ = sh.stop.wait() => pacer.close(),
    }
    // Every request has a timeout, so in-flight iterations end.
    loop {
        let drained = pacer.drained.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        {
            let st = lock(&pacer.state);
            if st.closed && st.in_flight == 0 {
                break;
            }
        }
        drained.await;
    }
    drop(scheduler);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_yield_to_a_neighbour_stops_yielding_for_a_while() {
        let us = Duration::from_micros;
        let at = |cpu: u64, queued: Option<u64>| Clocks {
            cpu: Some(us(cpu)),
            queued: queued.map(us),
        };
        let mut y = Yielding::default();
        let t = Instant::now();
        let back = t + us(1_200);
        assert!(y.allowed(t));
        // A short yield; a long one our own workers used; a long one the
        // host took (the thread was never queued): yield on.
        y.record(t, t + us(150), at(0, Some(0)), at(10, Some(140)));
        y.record(t, back, at(0, Some(0)), at(1_100, Some(1_150)));
        y.record(t, back, at(0, Some(0)), at(20, Some(30)));
        assert!(y.allowed(back));
        // Without the process's CPU time nothing tells who ran.
        let unknown = Clocks::default();
        y.record(t, back, unknown, unknown);
        assert!(y.allowed(back));
        // Someone else kept the core while the thread waited its turn:
        // nap for a while...
        y.record(t, back, at(0, Some(0)), at(30, Some(1_150)));
        assert!(!y.allowed(back));
        assert!(!y.allowed(back + Yielding::PAUSE - us(1)));
        // ...then try again.
        assert!(y.allowed(back + Yielding::PAUSE));
        // Where the run-queue wait is unknown, the CPU time decides.
        let mut y = Yielding::default();
        y.record(t, back, at(0, None), at(30, None));
        assert!(!y.allowed(back));
    }

    #[test]
    fn schedstat_gives_the_run_queue_wait() {
        assert_eq!(
            run_delay("81522 123456 7\n"),
            Some(Duration::from_nanos(123_456))
        );
        assert_eq!(run_delay("81522\n"), None);
        assert_eq!(run_delay("a b c"), None);
        #[cfg(target_os = "linux")]
        {
            let r = ClockReader::for_this_thread();
            let (a, b) = (r.read(), r.read());
            let (qa, qb) = (a.queued.expect("schedstat"), b.queued.expect("schedstat"));
            assert!(qb >= qa, "{qa:?} then {qb:?}");
        }
    }

    #[test]
    fn the_process_cpu_clock_runs_with_work() {
        let a = process_cpu().expect("a process CPU clock on unix");
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let b = process_cpu().expect("a process CPU clock on unix");
        assert!(b > a, "{a:?} then {b:?}");
    }

    #[test]
    fn the_spin_margin_follows_the_sleeps_worst_overshoot() {
        let mut m = Margin::default();
        // Until it has seen a window of sleeps, it spins the most.
        assert_eq!(m.get(), SPIN_AHEAD);
        for _ in 0..Margin::WINDOW {
            m.record(Duration::from_micros(30));
        }
        assert_eq!(m.get(), Duration::from_micros(80));
        // One slow wake-up widens it at once...
        m.record(Duration::from_micros(200));
        assert_eq!(m.get(), Duration::from_micros(420));
        // ...until a whole window has passed without another.
        for _ in 0..Margin::WINDOW - 1 {
            m.record(Duration::from_micros(30));
        }
        assert_eq!(m.get(), Duration::from_micros(420));
        m.record(Duration::from_micros(30));
        assert_eq!(m.get(), Duration::from_micros(80));
        // Never less than the floor, never more than the ceiling.
        for _ in 0..Margin::WINDOW {
            m.record(Duration::ZERO);
        }
        assert_eq!(m.get(), MIN_SPIN);
        m.record(Duration::from_millis(30));
        assert_eq!(m.get(), SPIN_AHEAD);
    }
}
