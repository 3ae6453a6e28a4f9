//! The closed model on goose 0.19: the only module that names a goose type.
//!
//! What goose does here: it spawns the users, ramps them up at
//! `users / ramp` per second and assigns scenarios by weight. What it does
//! not do: send requests or measure anything. Each goose scenario has one
//! transaction, which loops the user through whole iterations (steps,
//! think times, teardown) of [`exec::iteration`] with our client and
//! recorders until our stop. Whole iterations, because a stop falling
//! between "create" and "delete" would leak what the run created; all of
//! them in one goose transaction, because goose's own turn around each
//! transaction cost CPU on every request and gave us nothing we use.
//!
//! Goose's own machinery is switched off: metrics (`NoMetrics`: our
//! recorders are the measurements, and goose's per-request bookkeeping would
//! cost CPU), printing (`NoPrintMetrics`, `Quiet`), the telnet controller
//! (`NoTelnet`; the WebSocket controller and every log/report file are off
//! by default in 0.19 and stay unset), and its HTTP client is one shared,
//! cookie-less client that is never used. Goose installs a Ctrl-C handler
//! with `ctrlc::set_handler`; [`super::interrupt`] installs ours through
//! `ctrlc` first, so goose's attempt fails harmlessly, and our stop reaches
//! goose by
//! calling [`goose::trigger_killswitch`]. Goose also initializes a `log`
//! logger (printing to stdout) and sets the global `log` level: we install a
//! silent logger first and restore the level afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{GooseUser, Scenario, Transaction, TransactionFunction};
use goose::prelude::GooseAttack;

use super::client::Lane;
use super::exec::{self, Shared, Timing};

/// Goose's killswitch is process-global: two closed runs at once would stop
/// each other.
static RUNNING: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("another closed-model load run is active in this process")]
    Busy,
    #[error("goose: {0}")]
    Goose(String),
}

struct NoLog;

impl log::Log for NoLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        false
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

static NO_LOG: NoLog = NoLog;

fn goose_err(e: impl std::fmt::Display) -> DriverError {
    DriverError::Goose(e.to_string())
}

fn iteration_fn(sh: Arc<Shared>, sc: usize) -> TransactionFunction {
    Arc::new(move |user: &mut GooseUser| {
        let sh = sh.clone();
        Box::pin(async move {
            if sh.stop.is_set() {
                // Goose calls us again until it notices the stop; do not spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Ok(());
            }
            // The user's own connection lives in its goose session data,
            // for as long as the user.
            if user.get_session_data::<Lane>().is_none() {
                user.set_session_data(Lane::default());
            }
            let lane = user
                .get_session_data_mut::<Lane>()
                .expect("the lane was set above");
            // The user's iterations back to back, in this one call: goose's
            // own turn around each transaction (clock reads, metric structs
            // and names built even with metrics off, its exit-channel poll)
            // was about 2.5% of a request's CPU in a profile against nginx.
            // Goose still spawns, ramps and assigns the users; our stop
            // ends this loop, and goose's exit follows it (`attack`).
            while !sh.stop.is_set() {
                exec::iteration(&sh, sc, Timing::Closed, lane).await;
                // An iteration that fails before any I/O (a template that
                // cannot render) never yields to the runtime by itself.
                tokio::task::coop::consume_budget().await;
            }
            Ok(())
        })
    })
}

fn on_start_fn(sh: Arc<Shared>) -> TransactionFunction {
    Arc::new(move |_user: &mut GooseUser| {
        let sh = sh.clone();
        Box::pin(async move {
            sh.users.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    })
}

/// Runs the closed model until `sh.stop` is triggered (by the caller's
/// deadline, `--max-requests` or Ctrl-C); returns when every user has
/// finished its current iteration.
pub async fn run(sh: Arc<Shared>, users: u32, ramp: Duration) -> Result<(), DriverError> {
    if RUNNING.swap(true, Ordering::AcqRel) {
        return Err(DriverError::Busy);
    }
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            RUNNING.store(false, Ordering::Release);
        }
    }
    let _release = Release;
    let _ = log::set_logger(&NO_LOG);
    let level = log::max_level();
    let result = attack(sh, users, ramp).await;
    log::set_max_level(level);
    result
}

async fn attack(sh: Arc<Shared>, users: u32, ramp: Duration) -> Result<(), DriverError> {
    let mut attack =
        GooseAttack::initialize_with_config(GooseConfiguration::default()).map_err(goose_err)?;
    for (i, sc) in sh.plan.scenarios.iter().enumerate() {
        let scenario = Scenario::new(&sc.name)
            .set_weight(sc.weight as usize)
            .map_err(goose_err)?
            .register_transaction(
                Transaction::new(on_start_fn(sh.clone()))
                    .set_name("start")
                    .set_on_start(),
            )
            .register_transaction(Transaction::new(iteration_fn(sh.clone(), i)).set_name(&sc.name));
        attack = attack.register_scenario(scenario);
    }
    let rate = if ramp.is_zero() {
        // Everyone at once.
        1_000_000.0
    } else {
        f64::from(users) / ramp.as_secs_f64()
    };
    let host = sh
        .plan
        .request
        .target
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let client = goose::client::GooseClientBuilder::new().without_cookies();
    let attack = *attack
        .set_default(GooseDefault::Host, host.as_str())
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::Users, users as usize)
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::IncreaseRate, format!("{rate}").as_str())
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::NoMetrics, true)
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::NoPrintMetrics, true)
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::NoErrorSummary, true)
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::NoTelnet, true)
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::NoGzip, true)
        .map_err(goose_err)?;
    let attack = *attack
        .set_default(GooseDefault::Quiet, 1usize)
        .map_err(goose_err)?;
    let attack = attack
        .set_client_builder_without_cookies(client)
        .map_err(goose_err)?;
    // Goose resets its killswitch as the run starts, so a stop that came
    // before (or during) its start-up is re-sent until goose has ended.
    let nudger = {
        let sh = sh.clone();
        tokio::spawn(async move {
            sh.stop.wait().await;
            loop {
                goose::trigger_killswitch("postdeploy stop");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let result = attack.execute().await;
    nudger.abort();
    goose::reset_killswitch();
    result.map(|_| ()).map_err(goose_err)
}
