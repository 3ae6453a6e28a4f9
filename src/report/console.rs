//! The console reporter: one line per step, expectations beside what came
//! back for failures, a spinner on a terminal and plain lines in CI.

use std::collections::BTreeMap;
use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use crate::event::{Event, LoadProgress, Sink};
use crate::measure::RequestStats;
use crate::measure::fmt_duration;
use crate::outcome::{Phase, RunReport, StepReport, Verdict};

pub struct Console<W: Write> {
    out: W,
    spinner: Option<ProgressBar>,
    interactive: bool,
    /// Said on the line after the run's first one.
    provenance: Option<String>,
}

impl<W: Write> Console<W> {
    /// `interactive`: draw a spinner while a step runs (a terminal, not CI).
    pub fn new(out: W, interactive: bool) -> Self {
        Console {
            out,
            spinner: None,
            interactive,
            provenance: None,
        }
    }

    /// The run's provenance line ([`crate::provenance::Provenance::line`]),
    /// printed right after the header line.
    pub fn with_provenance(mut self, line: Option<String>) -> Self {
        self.provenance = line;
        self
    }

    fn provenance_line(&mut self) {
        if let Some(p) = self.provenance.take() {
            self.line(&format!("  {p}"));
        }
    }

    /// Something the reader must know that is not a verdict.
    pub fn warning(&mut self, msg: &str) {
        self.line(&format!("warning: {msg}"));
    }

    /// A line of the run's closing summary.
    pub fn print(&mut self, s: &str) {
        self.line(s);
    }

    fn line(&mut self, s: &str) {
        if let Some(sp) = &self.spinner {
            sp.finish_and_clear();
        }
        self.spinner = None;
        // Output is best effort: a closed pipe must not abort the gate.
        let _ = writeln!(self.out, "{s}");
    }
}

/// Said whenever the target is the embedded backend: a reader must never
/// mistake that run for a check of the deployment.
fn local_note(local: bool) -> &'static str {
    if local {
        " (the embedded local backend, not a deployment)"
    } else {
        ""
    }
}

pub fn step_line(r: &StepReport) -> String {
    let tag = match r.verdict {
        Verdict::Passed => "PASS",
        Verdict::Failed => "FAIL",
        Verdict::Error => "ERR ",
        Verdict::Skipped => "SKIP",
    };
    let name = match r.phase {
        Phase::Step => r.name.clone(),
        Phase::Teardown => format!("teardown: {}", r.name),
    };
    if r.verdict == Verdict::Skipped {
        return format!(
            "  {tag} {name} ({})",
            r.message.as_deref().unwrap_or("skipped")
        );
    }
    if let Some(c) = &r.command {
        return command_line(r, c, tag, &name);
    }
    let path = url::Url::parse(&r.url)
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
        .unwrap_or_else(|_| r.url.clone());
    let status = r
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "---".into());
    let latency = match (r.latency_ms, r.budget_ms) {
        (Some(l), Some(b)) => format!(
            "{} / {}",
            fmt_duration(from_ms(l)),
            fmt_duration(from_ms(b))
        ),
        (Some(l), None) => fmt_duration(from_ms(l)),
        _ => String::new(),
    };
    let reps = if r.latencies_ms.len() > 1 {
        format!(" x{}", r.latencies_ms.len())
    } else {
        String::new()
    };
    let soak = r
        .soak
        .map(|c| format!("  [{} runs, {} failed]", c.runs, c.failures))
        .unwrap_or_default();
    let mut detail = format!("{} {path} -> {status}{reps}", r.method);
    if !latency.is_empty() {
        detail.push_str(&format!(", {latency}"));
    }
    let mut s = format!("  {tag} {name}  ({detail}){soak}");
    for a in r.failures() {
        s.push_str(&format!("\n         {}", a.describe()));
    }
    for a in r.assertions.iter().filter(|a| a.warning.is_some()) {
        s.push_str(&format!(
            "\n         warning: {}: {}",
            a.subject,
            a.warning.as_deref().unwrap_or("")
        ));
    }
    if let Some(m) = r
        .message
        .as_deref()
        .filter(|_| r.verdict != Verdict::Passed)
    {
        s.push_str(&format!("\n         {m}"));
    }
    s
}

/// A command step: the command, its exit code, and per `lines` assertion
/// how many lines matched (the failing ones with the lines themselves).
fn command_line(
    r: &StepReport,
    c: &crate::outcome::CommandReport,
    tag: &str,
    name: &str,
) -> String {
    let exit = match (c.exit_code, c.signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => "no exit".into(),
    };
    let took = r
        .latency_ms
        .map(|l| format!(", {}", fmt_duration(from_ms(l))))
        .unwrap_or_default();
    let counts: Vec<String> = c
        .matches
        .iter()
        .map(|m| format!("{} matched", m.count))
        .collect();
    let counts = if counts.is_empty() {
        String::new()
    } else {
        format!(", lines: {}", counts.join(" / "))
    };
    let soak = r
        .soak
        .map(|c| format!("  [{} runs, {} failed]", c.runs, c.failures))
        .unwrap_or_default();
    // One line on the console: newlines shown as `\n`, long lines cut.
    let mut shown: String = c.line.replace('\n', "\\n");
    if shown.chars().count() > 120 {
        shown = format!("{}…", shown.chars().take(120).collect::<String>());
    }
    let mut s = format!("  {tag} {name}  ($ {shown} -> {exit}{counts}{took}){soak}");
    for a in r.failures() {
        s.push_str(&format!(
            "\n         {}: expected {}, got {}",
            a.subject,
            a.expected,
            a.actual.replace('\n', "\n         ")
        ));
    }
    if let Some(m) = r
        .message
        .as_deref()
        .filter(|_| r.verdict != Verdict::Passed)
    {
        s.push_str(&format!("\n         {m}"));
    }
    s
}

fn from_ms(v: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(v / 1000.0)
}

pub fn summary_line(r: &RunReport) -> String {
    let mut counts = [0usize; 4];
    for s in r.scenarios.iter().flat_map(|s| &s.steps) {
        counts[match s.verdict {
            Verdict::Passed => 0,
            Verdict::Failed => 1,
            Verdict::Error => 2,
            Verdict::Skipped => 3,
        }] += 1;
    }
    let verdict = if let Some(sig) = r.stopped_by {
        format!("INTERRUPTED by {sig}")
    } else if r.ready.as_ref().is_some_and(|x| !x.ready) {
        "NOT READY".into()
    } else if r.passed {
        "PASSED".into()
    } else {
        "FAILED".into()
    };
    format!(
        "{verdict}: {} passed, {} failed, {} errors, {} skipped in {}",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        fmt_duration(from_ms(r.duration_ms))
    )
}

impl<W: Write> Sink for Console<W> {
    fn event(&mut self, e: &Event<'_>) {
        match e {
            Event::RunStarted {
                target,
                local,
                scenarios,
            } => {
                let target = target.trim_end_matches('/');
                self.line(&format!(
                    "postdeploy verify: {scenarios} scenario(s) against {target}{}",
                    local_note(*local)
                ));
                self.provenance_line();
            }
            Event::ReadyAttempt {
                attempt,
                passed,
                streak,
                needed,
                summary,
                elapsed,
            } => {
                let mark = if *passed {
                    format!("ok {streak}/{needed}")
                } else {
                    "waiting".into()
                };
                self.line(&format!(
                    "  ready #{attempt:<3} {:>6.1}s  {mark:<8} {summary}",
                    elapsed.as_secs_f64()
                ));
            }
            Event::ScenarioStarted { name } => self.line(name),
            Event::StepStarted { step, .. } => {
                if self.interactive {
                    let sp = ProgressBar::new_spinner();
                    sp.set_style(
                        ProgressStyle::with_template("  {spinner} {msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    sp.set_message(step.to_string());
                    sp.enable_steady_tick(std::time::Duration::from_millis(80));
                    self.spinner = Some(sp);
                }
            }
            Event::StepFinished { report, .. } => {
                let l = step_line(report);
                self.line(&l);
            }
            Event::SoakPass {
                pass,
                failed_steps,
                remaining,
            } => {
                self.line(&format!(
                    "soak pass {pass}: {failed_steps} failed step(s), {:.0}s left",
                    remaining.as_secs_f64()
                ));
            }
            Event::RunFinished { report } => {
                if let Some(r) = report.ready.as_ref().filter(|r| !r.ready) {
                    self.line(&format!(
                        "target not ready after {:.1}s ({} attempts): {}",
                        r.waited_ms / 1000.0,
                        r.attempts,
                        r.last
                    ));
                }
                let l = summary_line(report);
                self.line(&l);
            }
            Event::LoadStarted {
                target,
                local,
                open,
                users,
                rate,
                duration,
            } => {
                let target = target.trim_end_matches('/');
                let shape = match (open, rate) {
                    (true, Some(r)) => format!("open model, {r} requests/s"),
                    _ => format!("closed model, {users} users"),
                };
                self.line(&format!(
                    "postdeploy load: {shape} for {} against {target}{}",
                    humantime::format_duration(*duration),
                    local_note(*local)
                ));
                self.provenance_line();
            }
            Event::LoadProgress(p) => self.load_progress(p),
            Event::LoadWarning { message } => self.line(&format!("warning: {message}")),
            Event::Stopping {
                signal,
                teardown_timeout,
            } => self.line(&format!(
                "{signal}: stopping; finishing requests in flight and teardown (at most {}; send it again to skip the teardown)",
                humantime::format_duration(*teardown_timeout)
            )),
            Event::LoadFailures { requests } => {
                for l in load_failure_lines(requests) {
                    self.line(&l);
                }
            }
            Event::LoadJudged { lines } => {
                for l in lines.iter() {
                    self.line(l);
                }
            }
        }
    }
}

/// The closing summary of a judged load run: shards, schedule, objectives,
/// an interruption, the regression gate, and where it was all written.
pub fn judged_lines(
    m: &crate::measure::Measurements,
    verdict: &crate::verdict::LoadVerdict,
    planned: std::time::Duration,
    history: Option<(&str, i64)>,
    reports: &std::path::Path,
) -> Vec<String> {
    let mut out = Vec::new();
    for s in &m.shards {
        out.push(format!(
            "  shard {:>3}: {} requests ({} failed), {:.1}/s of {:.1}/s, p50 {}{}",
            s.index,
            s.requests,
            s.failed,
            s.achieved_rps,
            s.expected_rps,
            s.p50_ms.map_or("-".into(), |p| format!("{p:.3} ms")),
            if s.flags.is_empty() {
                String::new()
            } else {
                format!("  SATURATED? {}", s.flags.join("; "))
            }
        ));
    }
    if let Some(s) = &m.schedule {
        out.push(format!("  {}", super::schedule::console_line(s)));
    }
    for r in &verdict.slo_results {
        let mark = if r.passed { "ok      " } else { "BREACHED" };
        out.push(format!("  SLO {mark} {}", r.message));
    }
    if let Some(sig) = m.stopped_by.signal() {
        out.push(format!(
            "INTERRUPTED by {sig}: the run covered {:.1} s of {:.1} s and cannot pass{}",
            m.elapsed.as_secs_f64(),
            planned.as_secs_f64(),
            if m.teardown_abandoned {
                "; the teardown was abandoned"
            } else {
                ""
            }
        ));
    }
    if let Some(r) = &verdict.regression {
        for line in super::regress::console_lines(r) {
            out.push(format!("  {line}"));
        }
    }
    if let Some((loc, id)) = history {
        out.push(format!("history: run #{id} in {loc}"));
    }
    out.push(format!("reports: {}", reports.display()));
    out
}

impl<W: Write> Console<W> {
    /// A live line on a terminal; in CI a plain line every 10 s.
    fn load_progress(&mut self, p: &LoadProgress) {
        let text = load_progress_line(p);
        if p.finished {
            self.line(&format!("  {text}"));
        } else if self.interactive {
            let sp = self.spinner.get_or_insert_with(|| {
                let sp = ProgressBar::new_spinner();
                sp.set_style(
                    ProgressStyle::with_template("  {spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                sp.enable_steady_tick(std::time::Duration::from_millis(120));
                sp
            });
            sp.set_message(text);
        } else if (p.elapsed.as_secs_f64().round() as u64) % 10 == 0 && !p.remaining.is_zero() {
            self.line(&format!("  {text}"));
        }
    }
}

/// Why a load run's requests failed: per request name with failures, how
/// many, then its most frequent reasons, each as one expected-versus-actual
/// example, so a red CI run names the assertion without opening
/// summary.json.
pub fn load_failure_lines(requests: &BTreeMap<String, RequestStats>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, r) in requests.iter().filter(|(_, r)| !r.failures.is_empty()) {
        out.push(format!(
            "  FAIL {name}: {} of {} requests failed",
            r.error_count(),
            r.count
        ));
        for f in &r.failures {
            out.push(format!("         {} x {}", f.count, f.example));
        }
        let shown: u64 = r.failures.iter().map(|f| f.count).sum();
        let rest = r.error_count().saturating_sub(shown);
        if rest > 0 {
            out.push(format!(
                "         {rest} x other reasons (see summary.json)"
            ));
        }
    }
    out
}

pub fn load_progress_line(p: &LoadProgress) -> String {
    format!(
        "{:>5.0}s elapsed, {:>4.0}s left  {:>5} users  {:>9.1} req/s  {} requests, {} errors  p95 {}",
        p.elapsed.as_secs_f64(),
        p.remaining.as_secs_f64(),
        p.users,
        p.rps,
        p.requests,
        p.errors,
        fmt_duration(p.p95)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{FailureReason, new_histogram};

    #[test]
    fn failure_lines_name_the_assertion_and_count_the_rest() {
        let reason = |key: &str, count, example: &str| FailureReason {
            key: key.into(),
            count,
            example: example.into(),
        };
        let failing = RequestStats {
            method: "GET".into(),
            path: "/api/metrics".into(),
            histogram: new_histogram(),
            count: 300,
            errors: [
                ("metric:x".to_string(), 9),
                ("status:status".to_string(), 3),
            ]
            .into(),
            failures: vec![reason(
                "metric:x",
                9,
                r#"histogram x p95 by t: expected < 0.1, got {t="a"} 0.13 (23 samples)"#,
            )],
        };
        let mut clean = failing.clone();
        clean.errors.clear();
        clean.failures.clear();
        let requests: BTreeMap<String, RequestStats> =
            [("a".to_string(), clean), ("b".to_string(), failing)].into();
        assert_eq!(
            load_failure_lines(&requests),
            [
                "  FAIL b: 12 of 300 requests failed",
                r#"         9 x histogram x p95 by t: expected < 0.1, got {t="a"} 0.13 (23 samples)"#,
                "         3 x other reasons (see summary.json)",
            ]
        );
    }
}
