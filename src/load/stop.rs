//! The one way a load run ends early or on time: a flag the hot path reads
//! with a single atomic load, a notification for tasks that sleep, and the
//! first reason recorded.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::measure::StopReason;

#[derive(Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: Notify,
    reason: OnceLock<StopReason>,
}

impl Stop {
    /// Stops the run; only the first reason is kept.
    pub fn trigger(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason.get().copied()
    }

    /// Resolves once the run is stopped.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps `d` unless the run stops first; true if it slept the whole
    /// time. A zero `d` returns at once: a tokio timer would wait for its
    /// next millisecond tick, which caps a schedule at 1,000 sends/s.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        if d.is_zero() {
            return !self.is_set();
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.wait() => false,
        }
    }
}
