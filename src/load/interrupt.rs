//! Ctrl-C for load runs.
//!
//! goose 0.19 installs its own handler with `ctrlc::set_handler`, which
//! overwrites whatever SIGINT handler exists (tokio's included) and exits
//! the process on a second Ctrl-C, before any report is written. `ctrlc`
//! accepts only one handler per process, so ours is installed through it
//! first; goose's attempt then fails and it carries on without one. The
//! first Ctrl-C stops the run (reports are still written); a second one
//! exits at once with 130.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Notify;

static PRESSED: Notify = Notify::const_new();
static COUNT: AtomicU32 = AtomicU32::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the process's Ctrl-C handler (once).
pub fn install() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                if COUNT.fetch_add(1, Ordering::AcqRel) >= 1 {
                    std::process::exit(130);
                }
                PRESSED.notify_one();
            })
            .map_err(|e| e.to_string())
        })
        .clone()
}

/// Resolves at the next Ctrl-C (call [`install`] first).
pub async fn ctrl_c() {
    PRESSED.notified().await;
}
