//! Health's database probe, shared by concurrent health requests.
//!
//! Under a burst of health checks (load balancers, monitors, load tests) one
//! `SELECT 1` per request spends the database on probes. Here, requests that
//! arrive while a probe is running share the *next* probe, one that starts
//! after they arrived, so every answer still reflects a `SELECT 1` begun after
//! its request came in — never an older result — while the database sees at
//! most one probe at a time. Sequential checks each run their own probe.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::store::{PING_TIMEOUT, Store, StoreError};

#[derive(Clone)]
struct Outcome {
    id: u64,
    result: Result<(), StoreError>,
}

#[derive(Default)]
struct State {
    running: bool,
    /// Id of the latest probe started.
    started: u64,
    /// Someone is waiting for a probe after the running one.
    wanted: bool,
}

pub struct Probe {
    state: Mutex<State>,
    tx: watch::Sender<Outcome>,
}

impl Default for Probe {
    fn default() -> Self {
        let (tx, _) = watch::channel(Outcome {
            id: 0,
            result: Ok(()),
        });
        Probe {
            state: Mutex::default(),
            tx,
        }
    }
}

impl Probe {
    pub async fn check(self: &Arc<Self>, store: &Store) -> Result<(), StoreError> {
        let mut rx = self.tx.subscribe();
        let target = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.running {
                st.wanted = true;
                st.started + 1
            } else {
                st.running = true;
                st.started += 1;
                // Spawned, so a client that hangs up does not cancel the
                // probe others are waiting for.
                tokio::spawn(Self::run(self.clone(), store.clone(), st.started));
                st.started
            }
        };
        // The running probe plus ours, each bounded by the ping deadline.
        let deadline = PING_TIMEOUT * 2 + std::time::Duration::from_millis(200);
        match tokio::time::timeout(deadline, rx.wait_for(|o| o.id >= target)).await {
            Ok(Ok(o)) => o.result.clone(),
            Ok(Err(_)) => Err(StoreError::Unavailable("health probe stopped".into())),
            Err(_) => Err(StoreError::Unavailable("health probe timed out".into())),
        }
    }

    async fn run(self: Arc<Self>, store: Store, mut id: u64) {
        loop {
            let result = store.ping().await;
            self.tx.send_replace(Outcome { id, result });
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.wanted {
                st.wanted = false;
                st.started += 1;
                id = st.started;
            } else {
                st.running = false;
                return;
            }
        }
    }
}
