//! `postdeploy load`: drive the scenarios as load and measure what happens.
//!
//! Two models. Closed (default): `users` users ramped up over `ramp`, each
//! looping through its scenario (goose schedules the users; see
//! [`goose_driver`]). Open (`rate`): requests on a fixed schedule, measured
//! from their intended send times (see [`open`]). Both run iterations
//! through [`exec`] with one shared HTTP client ([`client`]) and record into
//! per-thread shards ([`recorder`]) that this module's monitor loop merges
//! once a second: the second's histograms go straight to the
//! [`crate::measure::IntervalLog`] (the report's `latency.hlog`), and only their
//! scalars ([`crate::measure::Interval`]) stay in memory, so a run of hours takes no
//! more memory than a run of a minute, bar a few bytes a second.
//!
//! A run is bounded by `duration` (ramp included) and optionally by
//! `max_requests`; a signal (`interrupt`: SIGINT or SIGTERM) stops it
//! early. In every case the requests already in flight finish (each has a
//! timeout), teardown steps of begun iterations run, and the measurements of
//! what ran are returned. After a signal, `abandon` (the second signal, or
//! `teardown_timeout` since the first: [`crate::signals::abandon`]) cuts the
//! drain and teardown short, and the measurements so far are still returned.

mod client;
mod exec;
mod goose_driver;

mod open;
pub mod out;
mod plan;
mod recorder;
pub mod server;
pub mod shard;
mod stop;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::event::{Event, LoadProgress, Sink};
use crate::http::HttpOptions;
use crate::prepare::RequestDefaults;
use crate::scenario::ScenarioFile;

use crate::measure::{IntervalLog, Measurements, Model, ScenarioInfo, Settings, StopReason};
use crate::signals::Signal;

/// Default cap on iterations in flight in the open model. Each one in
/// flight holds a connection: a server that stalls would otherwise make the
/// tester open thousands (at ~50 KB each); past the cap, sends wait and are
/// still measured from their intended times.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1_000;
/// Bounds of the run's numbers: far beyond any real load test, near enough
/// that no clock or counter arithmetic can overflow inside them.
pub const MAX_RUN: Duration = crate::scenario::values::MAX_DURATION;
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1_000_000.0;
pub const MAX_IN_FLIGHT: usize = 1_000_000;
pub const MAX_USERS: u32 = 100_000;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub request: RequestDefaults,
    /// `--var`s, overriding scenario `vars`.
    pub vars: BTreeMap<String, String>,
    pub users: u32,
    pub ramp: Duration,
    /// Whole run, ramp included.
    pub duration: Duration,
    /// Open model: requests per second.
    pub rate: Option<f64>,
    pub max_requests: Option<u64>,
    /// Open model: iterations allowed in flight at once.
    pub max_in_flight: usize,
    /// Path of the target's Prometheus metrics (None: no cross-check).
    pub metrics_path: Option<String>,
    pub http: HttpOptions,
    /// After a signal: how long in-flight requests and the teardown of begun
    /// iterations may take before they are abandoned.
    pub teardown_timeout: Duration,
    /// The target is the embedded backend (reports say so).
    pub target_local: bool,
    /// Begin at this time (`--start-at`), after the first metrics scrape.
    pub start_at: Option<shard::StartAt>,
    /// A shard: keep the raw metrics scrapes for `merge` instead of
    /// comparing them (other shards' requests fall between them too).
    pub keep_scrapes: bool,
}

/// Why a run could not be done at all (a run that ran always returns
/// measurements, whatever the target answered).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The options make no sense: the caller's exit code 2.
    #[error("{0}")]
    Invalid(String),
    /// postdeploy itself failed: exit code 4.
    #[error("{0}")]
    Internal(String),
    /// A signal came while waiting for `--start-at`: nothing was sent.
    #[error("interrupted by {0} before the start time; nothing was sent")]
    Interrupted(Signal),
}

impl LoadOptions {
    pub fn validate(&self, scenarios: &[&ScenarioFile]) -> Result<(), LoadError> {
        if scenarios.is_empty() {
            return Err(LoadError::Invalid("no scenario to run".into()));
        }
        if self.duration.is_zero() {
            return Err(LoadError::Invalid(
                "--duration must be longer than 0".into(),
            ));
        }
        if self.duration > MAX_RUN {
            return Err(LoadError::Invalid(format!(
                "--duration must be at most {}",
                humantime::format_duration(MAX_RUN)
            )));
        }
        if self.ramp > self.duration {
            return Err(LoadError::Invalid(
                "--ramp must not be longer than --duration (the ramp is part of the run)".into(),
            ));
        }
        match self.rate {
            Some(r) if !(r.is_finite() && (MIN_RATE..=MAX_RATE).contains(&r)) => {
                return Err(LoadError::Invalid(format!(
                    "--rate must be a number of requests per second from {MIN_RATE} to {MAX_RATE}, got {r}"
                )));
            }
            None if self.users == 0 => {
                return Err(LoadError::Invalid("--users must be at least 1".into()));
            }
            _ => {}
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            return Err(LoadError::Invalid(format!(
                "--max-in-flight must be from 1 to {MAX_IN_FLIGHT}"
            )));
        }
        if self.users > MAX_USERS {
            return Err(LoadError::Invalid(format!(
                "--users must be at most {MAX_USERS}"
            )));
        }
        if self.teardown_timeout > MAX_RUN {
            return Err(LoadError::Invalid(format!(
                "--teardown-timeout must be at most {}",
                humantime::format_duration(MAX_RUN)
            )));
        }
        if self.max_requests == Some(0) {
            return Err(LoadError::Invalid(
                "--max-requests must be at least 1".into(),
            ));
        }
        if scenarios.iter().all(|l| l.scenario.steps.is_empty()) {
            return Err(LoadError::Invalid(
                "the scenarios have no steps to send".into(),
            ));
        }
        Ok(())
    }

    pub fn settings(&self, scenarios: &[&ScenarioFile]) -> Settings {
        Settings {
            target: self.request.target.to_string(),
            target_local: self.target_local,
            model: if self.rate.is_some() {
                Model::Open
            } else {
                Model::Closed
            },
            users: self.users,
            ramp: self.ramp,
            duration: self.duration,
            rate: self.rate,
            max_requests: self.max_requests,
            scenarios: scenarios
                .iter()
                .map(|l| ScenarioInfo {
                    name: l.scenario.name.clone(),
                    file: l.path.display().to_string(),
                    sha256: l.sha256.clone(),
                    weight: l.scenario.weight.value,
                })
                .collect(),
            regress: {
                let mut m: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
                for l in scenarios {
                    for (scope, metrics) in &l.scenario.regress {
                        m.entry(scope.clone()).or_default().extend(metrics.clone());
                    }
                }
                m
            },
        }
    }
}

/// The request names a run of `scenarios` can measure: step and teardown
/// names (steps of the same name share one), as `--slo` scopes name them.
pub fn request_names(scenarios: &[&ScenarioFile]) -> std::collections::BTreeSet<String> {
    scenarios
        .iter()
        .flat_map(|l| l.scenario.steps.iter().chain(&l.scenario.teardown))
        .map(|s| s.value.name.clone())
        .collect()
}

/// Runs the load test until the duration, `max_requests` or `interrupt`
/// ends it; emits a progress event once a second and streams each second's
/// histograms to `log`.
pub async fn run(
    scenarios: &[&ScenarioFile],
    opts: &LoadOptions,
    interrupt: impl Future<Output = Signal>,
    abandon: impl Future<Output = ()>,
    sink: &mut dyn Sink,
    log: &mut dyn IntervalLog,
) -> Result<Measurements, LoadError> {
    opts.validate(scenarios)?;
    let plan = plan::compile(scenarios, &opts.vars, &opts.request);
    let names: Vec<String> = plan
        .names
        .iter()
        .map(|n| n.name.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let recorders = recorder::Recorders::new(plan.names.clone());
    let client =
        client::LoadClient::new(&opts.http).map_err(|e| LoadError::Internal(e.to_string()))?;
    let scraper =
        crate::http::Client::new(&opts.http).map_err(|e| LoadError::Internal(e.to_string()))?;
    let metrics_url = match &opts.metrics_path {
        Some(p) => Some(crate::prepare::join(&opts.request.target, p).map_err(LoadError::Invalid)?),
        None => None,
    };
    let before = match &metrics_url {
        Some(u) => Some(server::scrape(&scraper, u).await),
        None => None,
    };
    if let Some(Err(w)) = &before {
        sink.event(&Event::LoadWarning { message: w });
    }
    tokio::pin!(interrupt);
    // The scrape above comes first: every shard's scrape then precedes
    // every shard's first request, which `merge`'s cross-check relies on.
    if let Some(start) = &opts.start_at {
        let wait = (start.at - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            sig = &mut interrupt => {
                return Err(LoadError::Interrupted(sig));
            }
        }
    }
    let target = opts.request.target.to_string();
    sink.event(&Event::LoadStarted {
        target: &target,
        local: opts.target_local,
        open: opts.rate.is_some(),
        users: opts.users,
        rate: opts.rate,
        duration: opts.duration,
    });

    let shared = Arc::new(exec::Shared::new(
        plan,
        client,
        recorders.clone(),
        opts.max_requests,
    ));
    let started_at = chrono::Utc::now();
    let cpu_before = process_cpu();
    let start = opts.start_at.map(|st| {
        let skew_s = (started_at - st.at).as_seconds_f64();
        crate::measure::StartReport {
            at: st.at,
            skew_s,
            max_skew_s: st.max_skew.as_secs_f64(),
            late: skew_s > st.max_skew.as_secs_f64(),
        }
    });
    let mut log_error = log
        .begin(started_at, &names)
        .err()
        .map(|e| format!("the interval log could not be started: {e}"));
    let t0 = Instant::now();
    let deadline = t0
        .checked_add(opts.duration)
        .ok_or_else(|| LoadError::Invalid("--duration is too long".into()))?;
    let pacer = opts.rate.map(|r| Arc::new(open::Pacer::new(r)));
    let attack = {
        let sh = shared.clone();
        let pacer = pacer.clone();
        let (users, ramp, cap) = (opts.users, opts.ramp, opts.max_in_flight);
        async move {
            match pacer {
                Some(p) => open::run(sh, p, cap, deadline)
                    .await
                    .map_err(|e| format!("starting the scheduler thread: {e}")),
                None => goose_driver::run(sh, users, ramp)
                    .await
                    .map_err(|e| e.to_string()),
            }
        }
    };
    // Boxed, not stack-pinned, so that an abandoned attack can be dropped.
    let mut attack = Box::pin(attack);
    tokio::pin!(abandon);
    let mut interrupted = false;
    let mut abandoned = false;
    let mut monitor = Monitor {
        t0,
        deadline,
        last: t0,
        names: &names,
        intervals: Vec::new(),
        log,
        log_error: &mut log_error,
    };
    let mut next = t0 + Duration::from_secs(1);
    let result = loop {
        tokio::select! {
            r = &mut attack => break r,
            _ = tokio::time::sleep_until(next.into()) => {
                monitor.tick(next, false, &shared, &recorders, sink);
                next += Duration::from_secs(1);
            }
            _ = tokio::time::sleep_until(deadline.into()), if !shared.stop.is_set() => {
                shared.stop.trigger(StopReason::Duration);
            }
            sig = &mut interrupt, if !interrupted => {
                interrupted = true;
                shared.stop.trigger(StopReason::Interrupted(sig));
                sink.event(&Event::Stopping { signal: sig, teardown_timeout: opts.teardown_timeout });
            }
            _ = &mut abandon, if interrupted => {
                abandoned = true;
                break Ok(());
            }
        }
    };
    // An abandoned attack is dropped here: its tasks die with the process,
    // which exits once the reports are written.
    drop(attack);
    let ended = Instant::now();
    if ended > monitor.last || monitor.intervals.is_empty() {
        monitor.tick(ended, true, &shared, &recorders, sink);
    }
    let intervals = std::mem::take(&mut monitor.intervals);
    if let Err(e) = monitor.log.finish()
        && monitor.log_error.is_none()
    {
        *monitor.log_error = Some(format!("the interval log could not be finished: {e}"));
    }
    // Reported with the run's other warnings (`Measurements::interval_log_error`).
    drop(monitor);
    let ended_at = chrono::Utc::now();
    let generator = process_cpu()
        .zip(cpu_before)
        .map(|(a, b)| crate::measure::GeneratorUse {
            cpu: a.saturating_sub(b),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        });
    result.map_err(LoadError::Internal)?;
    let requests = recorders.totals();
    let mut scrapes = None;
    let server = match (before, &metrics_url) {
        (Some(Ok(before)), Some(url)) if opts.keep_scrapes && !abandoned => {
            match server::scrape(&scraper, url).await {
                Ok(after) => {
                    scrapes = Some(crate::measure::RawScrapes {
                        before: (before.at, before.text),
                        after: (after.at, after.text),
                    });
                    None
                }
                Err(w) => Some(crate::measure::ServerCheck {
                    warnings: vec![w],
                    ..Default::default()
                }),
            }
        }
        // A target that would not let the teardown finish may not answer a
        // scrape either; the run is ending on the user's word.
        (Some(Ok(_)), Some(_)) if abandoned => Some(crate::measure::ServerCheck {
            warnings: vec![
                "server metrics were not scraped after the run: the teardown was abandoned".into(),
            ],
            ..Default::default()
        }),
        (Some(Ok(before)), Some(url)) => Some(match server::scrape(&scraper, url).await {
            Ok(after) => {
                // The server does not count scrapes of its own metrics.
                let metrics_path = url.path();
                let responses = requests
                    .values()
                    .filter(|r| r.path.split('?').next() != Some(metrics_path))
                    .map(|r| r.histogram.len())
                    .sum();
                server::compare(&before.exposition, &after.exposition, responses)
            }
            Err(w) => crate::measure::ServerCheck {
                warnings: vec![w],
                ..Default::default()
            },
        }),
        (Some(Err(w)), _) => Some(crate::measure::ServerCheck {
            warnings: vec![w],
            ..Default::default()
        }),
        _ => None,
    };
    if let Some(s) = &server {
        for w in &s.warnings {
            sink.event(&Event::LoadWarning { message: w });
        }
    }
    let failed: BTreeMap<String, crate::measure::RequestStats> = requests
        .iter()
        .filter(|(_, r)| !r.failures.is_empty())
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect();
    if !failed.is_empty() {
        sink.event(&Event::LoadFailures { requests: &failed });
    }
    Ok(Measurements {
        started_at,
        ended_at,
        elapsed: ended.duration_since(t0),
        stopped_by: shared.stop.reason().unwrap_or(StopReason::Duration),
        teardown_abandoned: abandoned,
        requests,
        names,
        intervals,
        interval_log_error: log_error,
        server,
        generator,
        start,
        scrapes,
        shards: Vec::new(),
        schedule: pacer.map(|p| p.stats()),
    })
}

/// Builds one interval per second, streams its histograms to the log and
/// keeps its scalars, and reports progress.
struct Monitor<'a> {
    t0: Instant,
    deadline: Instant,
    last: Instant,
    names: &'a [String],
    intervals: Vec<crate::measure::Interval>,
    log: &'a mut dyn IntervalLog,
    /// The first failure to write the log; later seconds are not written.
    log_error: &'a mut Option<String>,
}

impl Monitor<'_> {
    fn tick(
        &mut self,
        now: Instant,
        finished: bool,
        shared: &exec::Shared,
        recorders: &recorder::Recorders,
        sink: &mut dyn Sink,
    ) {
        let users = shared.users.load(Ordering::Relaxed);
        let length = now.duration_since(self.last);
        let t = recorders.collect(self.last.duration_since(self.t0), length, users);
        self.last = now;
        let secs = length.as_secs_f64();
        sink.event(&Event::LoadProgress(LoadProgress {
            elapsed: now.duration_since(self.t0),
            remaining: self.deadline.saturating_duration_since(now),
            users,
            // The last report gives the whole run's rate.
            rps: match (finished, secs > 0.0) {
                (true, _) => {
                    t.total_requests as f64 / now.duration_since(self.t0).as_secs_f64().max(1e-9)
                }
                (false, true) => t.requests as f64 / secs,
                (false, false) => 0.0,
            },
            requests: t.total_requests,
            errors: t.total_errors,
            p95: Duration::from_micros(t.p95_us),
            finished,
        }));
        if self.log_error.is_none()
            && let Err(e) = self.log.write(&t.interval)
        {
            *self.log_error = Some(format!(
                "the interval log stopped at {:.0} s: {e}",
                t.interval.start.as_secs_f64()
            ));
        }
        self.intervals.push(t.interval.scalars(self.names));
    }
}

/// CPU time (user + system) this process has used so far.
fn process_cpu() -> Option<Duration> {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return None;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Some(tv(u.ru_utime) + tv(u.ru_stime))
}
