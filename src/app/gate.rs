//! The baseline side of `load` and `compare`: opening the history, picking
//! the baseline, refusing runs that were not made alike, and recording the
//! run. Everything a user can get wrong here (a corrupt store, an unknown
//! run id, a baseline of another scenario set) is found before the attack.

use std::path::PathBuf;

use crate::error::Error;
use crate::history::{self, Fingerprint, HistoryError, LoadRecord, Store};
use crate::scenario::ScenarioFile;
use crate::verdict::regress::gate::{self, Regression};
use crate::verdict::regress::stats::Bootstrap;
use crate::verdict::regress::tolerance::Tolerances;

/// The gate's options, as `load`, `merge` and `compare` take them; the
/// CLI fills them from its flags.
#[derive(Debug, Clone, Default)]
pub struct GateOptions {
    /// `--baseline`: see [`Choice::parse`].
    pub baseline: String,
    /// How many accepted runs form an automatic baseline.
    pub baseline_runs: u32,
    pub judge: JudgeOptions,
}

/// How a comparison is judged and written, the same whichever command
/// made it (`load`, `merge`, `compare`).
#[derive(Debug, Clone, Default)]
pub struct JudgeOptions {
    pub force_compare: bool,
    /// Regression tolerances (`--regress`), on top of the scenarios' own.
    pub regress: Vec<String>,
    pub regress_warn: bool,
    pub markdown: Option<PathBuf>,
    pub bmf: Option<PathBuf>,
}

/// How the baseline is chosen (`--baseline`).
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Auto,
    None,
    Run(i64),
    Commit(String),
    Deploy(String),
    Path(PathBuf),
}

impl Choice {
    pub fn parse(s: &str) -> Result<Choice, Error> {
        let t = s.trim();
        Ok(match t {
            "auto" => Choice::Auto,
            "none" => Choice::None,
            _ if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => Choice::Run(
                t.parse()
                    .map_err(|_| Error::usage(format!("--baseline {t}: not a run id")))?,
            ),
            _ => {
                if let Some(c) = t.strip_prefix("commit:") {
                    Choice::Commit(c.to_string())
                } else if let Some(d) = t.strip_prefix("deploy:") {
                    Choice::Deploy(d.to_string())
                } else {
                    let p = PathBuf::from(t);
                    if !p.exists() {
                        return Err(Error::usage(format!(
                            "--baseline {t}: expected auto, none, a run id, commit:SHA, deploy:ID or an existing report directory / summary.json"
                        )));
                    }
                    Choice::Path(p)
                }
            }
        })
    }
}

/// Errors of the store are the user's to fix: exit 2, nothing sent.
pub fn history_error(e: HistoryError) -> Error {
    Error::Usage(e.to_string())
}

/// Tolerances of the scenarios and the flags, checked against the names
/// the run can measure.
pub fn tolerances(
    scenarios: &[&ScenarioFile],
    specs: &[String],
    names: Option<&std::collections::BTreeSet<String>>,
) -> Result<Tolerances, Error> {
    let mut t = Tolerances::default();
    for s in scenarios {
        t.add_scenario(&s.path.display().to_string(), &s.scenario.regress)
            .map_err(Error::Usage)?;
    }
    t.add_cli(specs).map_err(Error::Usage)?;
    if let Some(names) = names {
        let unknown = t.unknown_scopes(names);
        if !unknown.is_empty() {
            return Err(Error::usage(format!(
                "regression tolerances name requests this run does not send: {}; known: {}",
                unknown.join(", "),
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(t)
}

/// The gate of one `load` run, prepared before the attack.
pub struct Gate {
    pub store: Option<Store>,
    choice: Choice,
    /// An explicit baseline, loaded before the attack.
    fixed: Option<(LoadRecord, String)>,
    pub tolerances: Tolerances,
    pub boot: Bootstrap,
    k: usize,
    warn: bool,
}

impl Gate {
    /// Whether the run's interval blocks are used: stored in the history,
    /// or compared with an explicit baseline. Reading an hour's interval
    /// log back is seconds of work a run with neither need not do.
    pub fn needs_blocks(&self) -> bool {
        self.store.is_some() || self.fixed.is_some()
    }

    pub async fn prepare(
        a: &GateOptions,
        history: Option<&str>,
        no_history: bool,
        tolerances: Tolerances,
        planned: &Fingerprint,
    ) -> Result<Gate, Error> {
        let choice = Choice::parse(&a.baseline)?;
        let store = if no_history {
            None
        } else {
            Some(
                Store::open(&history::location(history))
                    .await
                    .map_err(history_error)?,
            )
        };
        let fixed = match &choice {
            Choice::Auto | Choice::None => None,
            Choice::Path(p) => {
                let r = history::files::read_run(p)
                    .map_err(|e| Error::usage(format!("--baseline: {e}")))?;
                Some((r, format!("{}", p.display())))
            }
            c => {
                let Some(s) = &store else {
                    return Err(Error::usage(
                        "--baseline names a stored run, but --no-history leaves no store to find it in",
                    ));
                };
                let id = match c {
                    Choice::Run(id) => *id,
                    Choice::Commit(sha) => s
                        .find_by(history::store::ByColumn::Commit, sha)
                        .await
                        .map_err(history_error)?,
                    Choice::Deploy(d) => s
                        .find_by(history::store::ByColumn::Deploy, d)
                        .await
                        .map_err(history_error)?,
                    _ => unreachable!("handled above"),
                };
                let r = s.load_run(id).await.map_err(history_error)?;
                Some((r, format!("run {id}")))
            }
        };
        if let Some((r, source)) = &fixed {
            refuse_unlike(&r.fingerprint, planned, source, a.judge.force_compare)?;
        }
        Ok(Gate {
            store,
            choice,
            fixed,
            tolerances,
            boot: Bootstrap::default(),
            k: a.baseline_runs as usize,
            warn: a.judge.regress_warn,
        })
    }

    /// Compares the finished run with its baseline; None with `--baseline
    /// none`. An interrupted run is not compared: it covered less than its
    /// baseline did.
    pub async fn judge(&self, current: &LoadRecord) -> Result<Option<Regression>, Error> {
        if self.choice == Choice::None {
            return Ok(None);
        }
        if !current
            .meta
            .stop()
            .is_some_and(crate::measure::StopReason::covered_plan)
        {
            return Ok(Some(Regression::first_run(
                "none".into(),
                format!(
                    "not compared: the run was stopped by {}",
                    current.meta.stopped_by
                ),
                &self.boot,
            )));
        }
        let (baseline, source) = match &self.fixed {
            Some((r, source)) => (vec![r.clone()], source.clone()),
            None => {
                let Some(store) = &self.store else {
                    return Ok(Some(Regression::first_run(
                        "auto".into(),
                        "no history (--no-history): nothing to compare with".into(),
                        &self.boot,
                    )));
                };
                let ids = store
                    .baseline_ids(&current.fingerprint, self.k, current.meta.id)
                    .await
                    .map_err(history_error)?;
                let mut runs = Vec::new();
                for id in &ids {
                    runs.push(store.load_run(*id).await.map_err(history_error)?);
                }
                if runs.is_empty() {
                    return Ok(Some(Regression::first_run(
                        format!("auto (last {} accepted)", self.k),
                        format!(
                            "first run of this fingerprint ({}): nothing to compare with; it passes and becomes the baseline",
                            current.fingerprint.describe()
                        ),
                        &self.boot,
                    )));
                }
                (
                    runs,
                    format!(
                        "auto: last {} accepted comparable run{} ({})",
                        ids.len(),
                        if ids.len() == 1 { "" } else { "s" },
                        ids.iter()
                            .map(|i| format!("#{i}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }
        };
        let mut r = gate::judge(&baseline, current, &self.tolerances, &self.boot, source);
        r.warn_only = self.warn;
        Ok(Some(r))
    }
}

/// Exit 2 naming each difference, unless `--force-compare`.
pub fn refuse_unlike(
    base: &Fingerprint,
    current: &Fingerprint,
    source: &str,
    force: bool,
) -> Result<(), Error> {
    let d = base.differences(current);
    if d.is_empty() || force {
        return Ok(());
    }
    Err(Error::usage(format!(
        "the baseline ({source}) was not made like this run, so their latencies cannot be compared:\n  - {}\n(pass --force-compare to compare anyway)",
        d.join("\n  - ")
    )))
}

/// `--markdown` and `--bmf` files of a comparison.
pub fn write_extras(
    r: &Regression,
    current: &LoadRecord,
    markdown: Option<&std::path::Path>,
    bmf: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if let Some(p) = markdown {
        crate::report::write_file(p, crate::report::regress::markdown(r).as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = bmf {
        let doc = crate::report::regress::bmf(r, &current_values(current));
        crate::report::write_file(p, &serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// The current run's own figures, for Bencher even where nothing was
/// compared (the first run of a fingerprint).
fn current_values(
    r: &LoadRecord,
) -> Vec<(String, crate::verdict::regress::tolerance::RMetric, f64)> {
    use crate::verdict::regress::tolerance::RMetric;
    let mut v = Vec::new();
    for (name, n) in &r.names {
        for m in [RMetric::P50, RMetric::P95, RMetric::P99] {
            if let Some(x) = n.quantile_ms(m.quantile().unwrap_or(0.5)) {
                v.push((name.clone(), m, x));
            }
        }
        if n.count > 0 {
            v.push((
                name.clone(),
                RMetric::ErrorRate,
                n.failed as f64 / n.count as f64,
            ));
        }
        if r.elapsed_s > 0.0 {
            v.push((
                name.clone(),
                RMetric::Rate,
                n.histogram.len() as f64 / r.elapsed_s,
            ));
        }
    }
    v
}
