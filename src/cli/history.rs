//! `postdeploy history`: list, show, prune, import and draw the runs the
//! store keeps.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::json;

use super::args::{HistoryAction, HistoryCmd};
use crate::app::gate::history_error;
use crate::error::Error;
use crate::exit::Exit;
use crate::history::{self, RunKind, Store};

pub async fn run(a: HistoryCmd) -> Result<Exit, Error> {
    let store = Store::open(&history::location(a.history.as_deref()))
        .await
        .map_err(history_error)?;
    let result = action(&store, a.action).await;
    store.close().await;
    result
}

async fn action(store: &Store, action: HistoryAction) -> Result<Exit, Error> {
    let mut out = super::stdout();
    match action {
        HistoryAction::List { kind, limit, json } => {
            let kind = match kind.as_deref() {
                None => None,
                Some("load") => Some(RunKind::Load),
                Some("verify") => Some(RunKind::Verify),
                Some(k) => {
                    return Err(Error::usage(format!("--kind {k}: expected load or verify")));
                }
            };
            let rows = store
                .list(kind, None, i64::from(limit))
                .await
                .map_err(history_error)?;
            if !json {
                let _ = writeln!(
                    out,
                    "{:>6}  {:<6}  {:<20}  {:<12}  {:<9}  {:<16}  what",
                    "id", "kind", "started (UTC)", "label", "verdict", "fingerprint"
                );
            }
            for r in rows {
                let m = &r.doc.meta;
                let verdict = verdict_word(m);
                if json {
                    let _ = writeln!(
                        out,
                        "{}",
                        json!({
                            "id": r.id, "kind": r.kind.key(), "started_at": m.started_at,
                            "label": m.label(), "verdict": verdict, "accepted": r.accepted,
                            "fingerprint": r.fingerprint, "describe": r.doc.fingerprint.describe(),
                            "commit": m.provenance.commit, "deploy_id": m.provenance.deploy_id,
                            "regressions": m.regressions,
                        })
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "{:>6}  {:<6}  {:<20}  {:<12}  {:<9}  {:<16}  {}",
                        r.id,
                        r.kind.key(),
                        m.started_at.format("%Y-%m-%d %H:%M:%S"),
                        truncate(&m.label(), 12),
                        verdict,
                        r.fingerprint,
                        r.doc.fingerprint.describe()
                    );
                }
            }
            Ok(Exit::Passed)
        }
        HistoryAction::Show { run, json } => {
            let row = store.row(run).await.map_err(history_error)?;
            let m = &row.doc.meta;
            let mut doc = json!({
                "id": row.id,
                "kind": row.kind.key(),
                "fingerprint": row.fingerprint,
                "accepted": row.accepted,
                "verdict": verdict_word(m),
                "meta": row.doc,
            });
            if row.kind == RunKind::Load {
                let rec = store.load_run(run).await.map_err(history_error)?;
                let names: BTreeMap<&String, serde_json::Value> = rec
                    .names
                    .iter()
                    .map(|(k, n)| {
                        (
                            k,
                            json!({
                                "count": n.count, "failed": n.failed, "errors": n.errors,
                                "p50_ms": n.quantile_ms(0.5), "p95_ms": n.quantile_ms(0.95),
                                "p99_ms": n.quantile_ms(0.99), "max_ms": n.quantile_ms(1.0),
                                "blocks": n.blocks.len(), "block_secs": rec.block_secs,
                            }),
                        )
                    })
                    .collect();
                doc["requests"] = json!(names);
            }
            if json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&doc).unwrap_or_default()
                );
                return Ok(Exit::Passed);
            }
            let _ = writeln!(
                out,
                "run #{} ({}) {} · {}\n  started {} · stopped by {} · {}\n  fingerprint {}: {}",
                row.id,
                row.kind.key(),
                m.label(),
                verdict_word(m),
                m.started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                m.stopped_by,
                if row.accepted {
                    "accepted as a baseline"
                } else {
                    "not a baseline"
                },
                row.fingerprint,
                row.doc.fingerprint.describe()
            );
            if let Some(line) = m.provenance.line() {
                let _ = writeln!(out, "  {line}");
            }
            if !m.regressions.is_empty() {
                let _ = writeln!(out, "  regressed: {}", m.regressions.join(", "));
            }
            if let Some(names) = doc["requests"].as_object() {
                let _ = writeln!(
                    out,
                    "  {:<32} {:>9} {:>7} {:>10} {:>10} {:>10}",
                    "request", "count", "failed", "p50 ms", "p95 ms", "p99 ms"
                );
                for (k, v) in names {
                    let f = |x: &serde_json::Value| {
                        x.as_f64()
                            .map(|v| format!("{v:.3}"))
                            .unwrap_or_else(|| "–".into())
                    };
                    let _ = writeln!(
                        out,
                        "  {:<32} {:>9} {:>7} {:>10} {:>10} {:>10}",
                        truncate(k, 32),
                        v["count"],
                        v["failed"],
                        f(&v["p50_ms"]),
                        f(&v["p95_ms"]),
                        f(&v["p99_ms"])
                    );
                }
            }
            Ok(Exit::Passed)
        }
        HistoryAction::Prune { keep } => {
            let n = store.prune(keep as usize).await.map_err(history_error)?;
            let _ = writeln!(
                out,
                "pruned {n} run(s); kept the newest {keep} of each fingerprint in {}",
                store.location()
            );
            Ok(Exit::Passed)
        }
        HistoryAction::Import { runs, env } => {
            for p in runs {
                let mut rec = history::files::read_run(&p).map_err(Error::Usage)?;
                if rec.meta.env.is_none() && env.is_some() {
                    rec.meta.env = env.clone();
                    rec.fingerprint.scope = env.clone().unwrap_or_default();
                }
                let id = store.insert_load(&rec).await.map_err(history_error)?;
                let _ = writeln!(out, "{} → run #{id}", p.display());
            }
            Ok(Exit::Passed)
        }
        HistoryAction::Trend { out: file, limit } => {
            report::check_writable(&file)
                .map_err(|e| Error::usage(format!("{}: {e:#}", file.display())))?;
            let page = super::trend::page(store, limit as usize)
                .await
                .map_err(history_error)?;
            report::write_file(&file, crate::report::html::trend::render(&page).as_bytes())
                .map_err(Error::internal)?;
            let _ = writeln!(out, "trend: {}", file.display());
            Ok(Exit::Passed)
        }
    }
}

use crate::report;

fn verdict_word(m: &history::RunMeta) -> &'static str {
    if m.stop().is_some_and(|s| s.signal().is_some()) {
        "stopped"
    } else if m.regressed {
        "regressed"
    } else if m.passed {
        "passed"
    } else {
        "failed"
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
