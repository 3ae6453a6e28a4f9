//! GitHub Actions without a token: a Markdown job summary (appended to the
//! file `GITHUB_STEP_SUMMARY` names) and `::error` workflow commands that
//! GitHub turns into annotations on the scenario file's failing step.
//! Pure functions of the finished reports; the CLI decides whether GitHub
//! is there and writes the result through the secrets redaction.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::measure::{Measurements, Settings};
use crate::outcome::{Phase, RunReport, StepReport, Verdict};
use crate::provenance::Provenance;
use crate::report::escape::md_cell;
use crate::scenario::ScenarioFile;
use crate::verdict::LoadVerdict;

/// Whether the run is inside GitHub Actions (annotations make sense).
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v.trim() == "true")
}

/// The job summary file, when GitHub gives one.
pub fn step_summary_path() -> Option<std::path::PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// Appends to the job summary (earlier steps' summaries are kept), with
/// the run's secrets masked.
pub fn append_summary(path: &Path, markdown: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(&crate::secrets::global().redact_bytes(markdown.as_bytes()))
        .with_context(|| format!("appending to {}", path.display()))
}

fn provenance_line(p: &Provenance) -> String {
    let pairs = p.pairs();
    if pairs.is_empty() {
        return String::new();
    }
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{k} `{}`", v.replace('`', "'")))
        .collect::<Vec<_>>()
        .join(" · ");
    format!("{body}\n\n")
}

/// Why a step did not pass, in one line.
pub fn step_reason(s: &StepReport) -> String {
    let failed: Vec<String> = s.failures().map(|a| a.describe()).collect();
    if !failed.is_empty() {
        failed.join("; ")
    } else {
        s.message.clone().unwrap_or_else(|| "failed".into())
    }
}

fn step_name(s: &StepReport) -> String {
    match s.phase {
        Phase::Step => s.name.clone(),
        Phase::Teardown => format!("teardown: {}", s.name),
    }
}

fn bad(s: &StepReport) -> bool {
    matches!(s.verdict, Verdict::Failed | Verdict::Error)
}

/// A job summary's first lines: the verdict as a reader scanning a
/// pipeline's summaries looks for it, then what was tested.
fn heading(command: &str, interrupted: bool, passed: bool, target: &str, local: bool) -> String {
    let word = match (interrupted, passed) {
        (true, _) => "🛑 INTERRUPTED",
        (false, true) => "✅ PASSED",
        (false, false) => "❌ FAILED",
    };
    format!(
        "### postdeploy {command}: {word}\n\nTarget `{target}`{}\n\n",
        if local {
            " (the embedded local backend, not a deployment)"
        } else {
            ""
        }
    )
}

/// The job summary of a verify run.
pub fn verify_markdown(r: &RunReport) -> String {
    let mut o = heading(
        "verify",
        r.stopped_by.is_some(),
        r.passed,
        &r.target,
        r.target_local,
    );
    o.push_str(&provenance_line(&r.provenance));
    if let Some(ready) = r.ready.as_ref().filter(|x| !x.ready) {
        let _ = writeln!(
            o,
            "**Never ready** after {} attempts ({:.1} s): {}\n",
            ready.attempts,
            ready.waited_ms / 1000.0,
            md_cell(&ready.last)
        );
    }
    let steps: Vec<&StepReport> = r.scenarios.iter().flat_map(|s| &s.steps).collect();
    let count = |v: Verdict| steps.iter().filter(|s| s.verdict == v).count();
    let _ = writeln!(
        o,
        "{} passed, {} failed, {} errors, {} skipped\n",
        count(Verdict::Passed),
        count(Verdict::Failed),
        count(Verdict::Error),
        count(Verdict::Skipped)
    );
    let failed: Vec<(&str, &StepReport)> = r
        .scenarios
        .iter()
        .flat_map(|sc| {
            sc.steps
                .iter()
                .filter(|s| bad(s))
                .map(|s| (sc.name.as_str(), s))
        })
        .collect();
    if !failed.is_empty() {
        o.push_str("| Scenario | Step | Verdict | Reason |\n|---|---|---|---|\n");
        for (sc, s) in failed {
            let verdict = if s.verdict == Verdict::Error {
                "error"
            } else {
                "failed"
            };
            let _ = writeln!(
                o,
                "| {} | {} | {verdict} | {} |",
                md_cell(sc),
                md_cell(&step_name(s)),
                md_cell(&step_reason(s))
            );
        }
        o.push('\n');
    }
    let mut lat: Vec<f64> = steps.iter().filter_map(|s| s.latency_ms).collect();
    if !lat.is_empty() {
        lat.sort_by(f64::total_cmp);
        let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
        let _ = writeln!(
            o,
            "Step latency: median {:.1} ms · p95 {:.1} ms · max {:.1} ms over {} step(s)\n",
            q(0.5),
            q(0.95),
            q(1.0),
            lat.len()
        );
    }
    o
}

/// The job summary of a load run.
pub fn load_markdown(
    settings: &Settings,
    m: &Measurements,
    verdict: &LoadVerdict,
    prov: &Provenance,
) -> String {
    let mut o = heading(
        "load",
        m.stopped_by.signal().is_some(),
        verdict.passed,
        &settings.target,
        settings.target_local,
    );
    o.push_str(&provenance_line(prov));
    let all = m.all();
    let elapsed = m.elapsed.as_secs_f64();
    let failed: u64 = m
        .requests
        .values()
        .map(|r| r.errors.values().sum::<u64>())
        .sum();
    let _ = write!(
        o,
        "{} requests in {elapsed:.1} s ({:.1}/s), {failed} failed",
        all.count,
        if elapsed > 0.0 {
            all.count as f64 / elapsed
        } else {
            0.0
        }
    );
    if !all.histogram.is_empty() {
        let q = |x: f64| crate::measure::quantile_ms(&all.histogram, x).unwrap_or_default();
        let _ = write!(
            o,
            " · p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
            q(0.5),
            q(0.95),
            q(0.99),
            crate::measure::ms(all.histogram.max())
        );
    }
    o.push_str("\n\n");
    let breached: Vec<_> = verdict.slo_results.iter().filter(|r| !r.passed).collect();
    if breached.is_empty() {
        let _ = writeln!(o, "All {} objective(s) held.\n", verdict.slo_results.len());
    } else {
        o.push_str("| Scope | Objective | Measured | Reason |\n|---|---|---|---|\n");
        for r in breached {
            let scope = if r.scope == crate::verdict::slo::WHOLE_RUN {
                "whole run"
            } else {
                r.scope.as_str()
            };
            let measured = r
                .actual
                .map(|a| r.metric.show(a))
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(
                o,
                "| {} | {} {} {} | {} | {} |",
                md_cell(scope),
                r.metric.key(),
                r.op.symbol(),
                md_cell(&r.metric.show(r.threshold)),
                md_cell(&measured),
                md_cell(r.reason.as_deref().unwrap_or(&r.message))
            );
        }
        o.push('\n');
    }
    if let Some(r) = &verdict.regression {
        o.push_str(&crate::report::regress::markdown(r));
    }
    o
}

/// Escapes workflow-command data (`%`, CR, LF).
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes workflow-command properties (also `:` and `,`).
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The line of a step in its scenario file.
fn step_line(files: &[&ScenarioFile], scenario: &str, s: &StepReport) -> Option<u64> {
    let f = files.iter().find(|f| f.scenario.name == scenario)?;
    let steps = match s.phase {
        Phase::Step => &f.scenario.steps,
        Phase::Teardown => &f.scenario.teardown,
    };
    steps
        .iter()
        .find(|st| st.value.name == s.name)
        .map(|st| st.referenced.line())
}

/// One `::error file=...,line=...,title=...::message` per failing step,
/// so GitHub marks the step in the scenario file.
pub fn verify_annotations(r: &RunReport, files: &[&ScenarioFile]) -> Vec<String> {
    let mut out = Vec::new();
    for sc in &r.scenarios {
        for s in sc.steps.iter().filter(|s| bad(s)) {
            let mut props = format!("file={}", property(&sc.file));
            if let Some(line) = step_line(files, &sc.name, s) {
                let _ = write!(props, ",line={line}");
            }
            let title = format!("{}: {}", sc.name, step_name(s));
            let _ = write!(props, ",title={}", property(&title));
            out.push(format!("::error {props}::{}", data(&step_reason(s))));
        }
    }
    if let Some(ready) = r.ready.as_ref().filter(|x| !x.ready) {
        out.push(format!(
            "::error title=target never ready::{}",
            data(&format!(
                "not ready after {} attempts: {}",
                ready.attempts, ready.last
            ))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(data("50% a\nb"), "50%25 a%0Ab");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(md_cell("a|b\nc"), "a\\|b<br>c");
    }
}
