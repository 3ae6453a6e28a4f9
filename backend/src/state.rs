//! The state every handler shares. Cheap to clone (one `Arc`), and owned per
//! server: two backends in one process share nothing.

use std::sync::Arc;

use crate::config::Config;
use crate::lab::Lab;
use crate::probe::Probe;
use crate::store::Store;
use crate::telemetry::Telemetry;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    store: Store,
    telemetry: Telemetry,
    lab: Lab,
    probe: Arc<Probe>,
    instance: String,
}

impl AppState {
    /// Connects the store (and migrates) for `config`.
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let telemetry = Telemetry::new(&config.environment);
        let lab = Lab::default();
        let store = Store::connect(&config, telemetry.db.clone(), lab.outage_flag()).await?;
        let instance = config.instance_id.clone().unwrap_or_else(host_name);
        Ok(AppState(Arc::new(Inner {
            config,
            store,
            telemetry,
            lab,
            probe: Arc::default(),
            instance,
        })))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn telemetry(&self) -> &Telemetry {
        &self.0.telemetry
    }

    pub fn lab(&self) -> &Lab {
        &self.0.lab
    }

    pub fn probe(&self) -> &Arc<Probe> {
        &self.0.probe
    }

    pub fn instance(&self) -> &str {
        &self.0.instance
    }

    pub fn request_log(&self) -> bool {
        self.0.config.request_log
    }
}

/// The kernel's host name (the container id on ECS/Docker), read without
/// unsafe FFI.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
