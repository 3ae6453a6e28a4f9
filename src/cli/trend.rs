//! The data of `history trend`: stored runs grouped by fingerprint, their
//! percentiles per request name and their verify steps, shaped for the
//! page renderer ([`crate::report::html::trend`]). Read from the store's columns
//! only: no histogram is decoded, so a thousand runs draw in well under a
//! second.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::store::RunRow;
use crate::history::{HistoryError, RunKind, RunMeta, Store};
use crate::report::html::trend::{
    LoadGroup, Percentiles, RequestTrend, RunVerdict, SloLine, StepPoint, StepTrend, TrendPage,
    TrendRun, VerifyTrend,
};

/// Every run the page can hold: the newest `limit` per fingerprint.
const MAX_ROWS: i64 = 1_000_000;

pub async fn page(store: &Store, limit: usize) -> Result<TrendPage, HistoryError> {
    let rows = store.list(None, None, MAX_ROWS).await?;
    let names = store.name_points().await?;
    let steps = store.step_points().await?;

    // Oldest first within each group.
    let mut groups: BTreeMap<String, Vec<&RunRow>> = BTreeMap::new();
    let mut verify_rows: Vec<&RunRow> = Vec::new();
    for r in rows.iter().rev() {
        match r.kind {
            RunKind::Load => groups.entry(r.fingerprint.clone()).or_default().push(r),
            RunKind::Verify => verify_rows.push(r),
        }
    }
    let mut by_run: BTreeMap<i64, Vec<&crate::history::store::NamePoint>> = BTreeMap::new();
    for p in &names {
        by_run.entry(p.run_id).or_default().push(p);
    }
    let mut load_groups = Vec::new();
    for runs in groups.values_mut() {
        if runs.len() > limit {
            runs.drain(..runs.len() - limit);
        }
        let Some(latest) = runs.last() else { continue };
        let mut request_names: BTreeSet<&str> = BTreeSet::new();
        for r in runs.iter() {
            for p in by_run.get(&r.id).into_iter().flatten() {
                request_names.insert(&p.name);
            }
        }
        let requests = request_names
            .iter()
            .map(|name| {
                let points = runs
                    .iter()
                    .map(|r| {
                        by_run
                            .get(&r.id)
                            .and_then(|ps| ps.iter().find(|p| p.name == *name))
                            .and_then(|p| {
                                Some(Percentiles {
                                    p50_ms: p.p50_ms?,
                                    p95_ms: p.p95_ms?,
                                    p99_ms: p.p99_ms?,
                                })
                            })
                    })
                    .collect();
                let slo_lines = latest
                    .doc
                    .slos
                    .iter()
                    .filter(|s| s.scope == *name || s.scope == crate::verdict::slo::WHOLE_RUN)
                    .map(|s| SloLine {
                        label: format!(
                            "{} ≤ {} ms{}",
                            s.metric,
                            s.threshold_ms,
                            if s.scope == *name { "" } else { " (whole run)" }
                        ),
                        threshold_ms: s.threshold_ms,
                    })
                    .collect();
                let prefix = format!("{name} ");
                let regressed_runs = runs
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        r.doc
                            .meta
                            .regressions
                            .iter()
                            .any(|x| x.starts_with(&prefix))
                    })
                    .map(|(i, _)| i)
                    .collect();
                RequestTrend {
                    name: name.to_string(),
                    points,
                    slo_lines,
                    regressed_runs,
                }
            })
            .collect();
        load_groups.push(LoadGroup {
            fingerprint: latest.doc.fingerprint.describe(),
            runs: runs.iter().map(|r| trend_run(r.id, &r.doc.meta)).collect(),
            requests,
        });
    }
    // Newest activity first.
    load_groups.sort_by(|a, b| {
        let last = |g: &LoadGroup| g.runs.last().map(|r| r.started_at.clone());
        last(b).cmp(&last(a))
    });

    if verify_rows.len() > limit {
        verify_rows.drain(..verify_rows.len() - limit);
    }
    let verify = (!verify_rows.is_empty()).then(|| {
        let index: BTreeMap<i64, usize> = verify_rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        let mut by_step: BTreeMap<String, Vec<Option<StepPoint>>> = BTreeMap::new();
        for s in &steps {
            let Some(&i) = index.get(&s.run_id) else {
                continue;
            };
            let Some(latency_ms) = s.step.latency_ms else {
                continue;
            };
            let key = format!("{}: {}", s.step.scenario, s.step.name);
            let v = by_step
                .entry(key)
                .or_insert_with(|| vec![None; verify_rows.len()]);
            v[i] = Some(StepPoint {
                latency_ms,
                passed: s.step.verdict == "passed",
            });
        }
        VerifyTrend {
            runs: verify_rows
                .iter()
                .map(|r| trend_run(r.id, &r.doc.meta))
                .collect(),
            steps: by_step
                .into_iter()
                .map(|(name, points)| StepTrend { name, points })
                .collect(),
        }
    });
    Ok(TrendPage {
        title: format!("postdeploy trend: {}", store.location()),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        groups: load_groups,
        verify,
    })
}

fn trend_run(id: i64, m: &RunMeta) -> TrendRun {
    let mut m = m.clone();
    m.id = Some(id);
    TrendRun {
        id,
        label: m.label(),
        started_at: m
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        verdict: if m.stopped_by.starts_with("sig") {
            RunVerdict::Interrupted
        } else if m.regressed {
            RunVerdict::Regressed
        } else if m.passed {
            RunVerdict::Passed
        } else {
            RunVerdict::Failed
        },
        regressed: m.regressions.clone(),
    }
}
