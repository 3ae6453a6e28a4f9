//! Fault state of the lab and the middleware that injects it.
//!
//! The harness's own tests use these faults to prove that a post-deploy check
//! catches them. The middleware sits inside the metrics layer so that injected
//! latency and injected 5xx answers are measured like real ones. With no
//! fault set the cost per request is one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::AppError;
use crate::state::AppState;
use crate::telemetry::route_label;

/// Route prefix the faults never touch, so a stalled or failing server can
/// still be reset.
pub const PREFIX: &str = "/api/lab";

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatencyRule {
    pub route: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub fixed_ms: u64,
    pub jitter_ms: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRule {
    pub route: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub rate: f64,
    pub status: u16,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StallRule {
    pub every_ms: u64,
    pub pause_ms: u64,
    #[serde(skip)]
    pub since: Option<Instant>,
}

/// What `GET /api/lab/status` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabStatus {
    pub latency: Vec<LatencyRule>,
    pub errors: Vec<ErrorRule>,
    pub db_down: bool,
    pub stall: Option<StallRule>,
}

#[derive(Default)]
struct Rules {
    latency: Vec<LatencyRule>,
    errors: Vec<ErrorRule>,
    stall: Option<StallRule>,
}

/// Shared fault state. `db_down` is also held by the store.
#[derive(Default)]
pub struct Lab {
    any_rule: AtomicBool,
    rules: RwLock<Rules>,
    db_down: Arc<AtomicBool>,
}

impl Lab {
    pub fn outage_flag(&self) -> Arc<AtomicBool> {
        self.db_down.clone()
    }

    pub fn status(&self) -> LabStatus {
        let r = self.read();
        LabStatus {
            latency: r.latency.clone(),
            errors: r.errors.clone(),
            db_down: self.db_down.load(Ordering::Relaxed),
            stall: r.stall,
        }
    }

    pub fn set_latency(&self, rule: LatencyRule) {
        self.edit(|r| {
            r.latency
                .retain(|l| !(l.route == rule.route && l.method == rule.method));
            if rule.fixed_ms > 0 || rule.jitter_ms > 0 {
                r.latency.push(rule);
            }
        });
    }

    pub fn set_errors(&self, rule: ErrorRule) {
        self.edit(|r| {
            r.errors
                .retain(|l| !(l.route == rule.route && l.method == rule.method));
            if rule.rate > 0.0 {
                r.errors.push(rule);
            }
        });
    }

    pub fn set_stall(&self, every_ms: u64, pause_ms: u64) {
        self.edit(|r| {
            r.stall = (every_ms > 0 && pause_ms > 0).then(|| StallRule {
                every_ms,
                pause_ms,
                since: Some(Instant::now()),
            });
        });
    }

    pub fn set_db_down(&self, down: bool) {
        self.db_down.store(down, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        self.edit(|r| *r = Rules::default());
        self.db_down.store(false, Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner())
    }

    fn edit(&self, f: impl FnOnce(&mut Rules)) {
        let mut r = self.rules.write().unwrap_or_else(|p| p.into_inner());
        f(&mut r);
        let any = !r.latency.is_empty() || !r.errors.is_empty() || r.stall.is_some();
        self.any_rule.store(any, Ordering::Release);
    }

    /// Faults that apply to this request, decided up front so the lock is not
    /// held across an await.
    fn plan(&self, method: &Method, route: &str) -> Plan {
        let r = self.read();
        let matches = |rule_route: &str, rule_method: &Option<String>| {
            // `*` spares the scrape endpoint so faults can be observed while injected.
            ((rule_route == "*" && route != "/api/metrics") || rule_route == route)
                && rule_method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
        };
        // The most specific rule wins: an exact route over `*`.
        let latency = r
            .latency
            .iter()
            .filter(|l| matches(&l.route, &l.method))
            .min_by_key(|l| u8::from(l.route == "*"))
            .map(|l| {
                let jitter = if l.jitter_ms > 0 {
                    fastrand::u64(0..=l.jitter_ms)
                } else {
                    0
                };
                Duration::from_millis(l.fixed_ms + jitter)
            });
        let error = r
            .errors
            .iter()
            .filter(|e| matches(&e.route, &e.method))
            .min_by_key(|e| u8::from(e.route == "*"))
            .and_then(|e| (fastrand::f64() < e.rate).then_some(e.status));
        Plan {
            latency,
            error,
            stall: r.stall,
        }
    }
}

struct Plan {
    latency: Option<Duration>,
    error: Option<u16>,
    stall: Option<StallRule>,
}

/// Sleeps until the current stall window (if any) is over. Windows start
/// `every` after the rule was set and repeat every `every`.
async fn wait_out_stall(stall: Option<StallRule>) {
    let Some(StallRule {
        every_ms,
        pause_ms,
        since: Some(since),
    }) = stall
    else {
        return;
    };
    let elapsed = since.elapsed().as_millis() as u64;
    if elapsed < every_ms {
        return;
    }
    let into_cycle = elapsed % every_ms;
    if into_cycle < pause_ms {
        tokio::time::sleep(Duration::from_millis(pause_ms - into_cycle)).await;
    }
}

pub async fn inject(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let lab = state.lab();
    if !lab.any_rule.load(Ordering::Acquire) || req.uri().path().starts_with(PREFIX) {
        return next.run(req).await;
    }
    let route = route_label(&req);
    let plan = lab.plan(req.method(), &route);
    wait_out_stall(plan.stall).await;
    if let Some(d) = plan.latency {
        tokio::time::sleep(d).await;
    }
    let res = match plan.error {
        Some(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            AppError::Injected(status).into_response()
        }
        None => next.run(req).await,
    };
    // A response in flight when a pause begins waits for it to end too.
    wait_out_stall(plan.stall).await;
    res
}
