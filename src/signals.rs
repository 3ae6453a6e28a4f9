//! SIGINT and SIGTERM for every run, counted process-wide.
//!
//! CI cancels a job with SIGTERM, `timeout` and Kubernetes send SIGTERM, a
//! person presses Ctrl-C: each must still end in a torn-down target and a
//! written report. So the first signal asks the runner to stop (it drains
//! and tears down), the second abandons the teardown (the runner still
//! writes what it measured), and only the third exits at once.
//!
//! SIGINT goes through `ctrlc` because goose 0.19 calls
//! `ctrlc::set_handler`, which would replace any other SIGINT handler and
//! exit on a second Ctrl-C before any report is written. `ctrlc` accepts one
//! handler per process, so installing ours first makes goose's attempt fail
//! harmlessly. SIGTERM is not `ctrlc`'s (its `termination` feature is off and
//! could not tell the two apart), so tokio listens for it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Notify;

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Sigint,
    Sigterm,
}

impl Signal {
    /// The conventional shell exit status of a process ended by it.
    pub fn exit_status(self) -> u8 {
        match self {
            Signal::Sigint => 130,
            Signal::Sigterm => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Sigint => "sigint",
            Signal::Sigterm => "sigterm",
        }
    }

    /// As people write it: `SIGINT`.
    pub fn upper(self) -> &'static str {
        match self {
            Signal::Sigint => "SIGINT",
            Signal::Sigterm => "SIGTERM",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.upper())
    }
}

static COUNT: AtomicU32 = AtomicU32::new(0);
static FIRST: OnceLock<Signal> = OnceLock::new();
static FIRST_AT: OnceLock<std::time::Instant> = OnceLock::new();
static NOTIFY: Notify = Notify::const_new();
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

fn received(sig: Signal) {
    let _ = FIRST_AT.set(std::time::Instant::now());
    let _ = FIRST.set(sig);
    let n = COUNT.fetch_add(1, Ordering::AcqRel) + 1;
    if n >= 3 {
        // Third time: the person means it. Nothing is written.
        std::process::exit(i32::from(sig.exit_status()));
    }
    NOTIFY.notify_waiters();
}

/// Installs the process's SIGINT and SIGTERM handlers (once). Must be
/// called inside the tokio runtime, before goose starts.
pub fn install() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| received(Signal::Sigint)).map_err(|e| e.to_string())?;
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    while term.recv().await.is_some() {
                        received(Signal::Sigterm);
                    }
                });
            }
            Ok(())
        })
        .clone()
}

/// The first signal received, if any.
pub fn first() -> Option<Signal> {
    FIRST.get().copied()
}

/// When the teardown that began with the first signal must give up.
pub fn teardown_deadline(timeout: std::time::Duration) -> Option<std::time::Instant> {
    FIRST_AT.get().and_then(|t| t.checked_add(timeout))
}

/// Resolves when work that began before a signal must be abandoned: at the
/// second signal, or once `timeout` has passed since the first. Pending
/// forever while no signal arrived.
pub async fn abandon(timeout: std::time::Duration) {
    at_least(1).await;
    let deadline = teardown_deadline(timeout);
    tokio::select! {
        _ = at_least(2) => {}
        _ = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        } => {}
    }
}

/// How many stopping signals arrived so far.
pub fn count() -> u32 {
    COUNT.load(Ordering::Acquire)
}

/// Resolves once at least `n` signals have arrived (1: stop, 2: abandon
/// the teardown).
pub async fn at_least(n: u32) {
    loop {
        let notified = NOTIFY.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if count() >= n {
            return;
        }
        notified.await;
    }
}

/// Resolves at the first signal with which one it was.
pub async fn stop_requested() -> Signal {
    at_least(1).await;
    first().unwrap_or(Signal::Sigint)
}
