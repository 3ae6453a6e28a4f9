//! Running one command step: render its command line, run it (killed with
//! its process group on timeout or at a signal), judge what it printed.

use std::path::PathBuf;

use crate::check::lines;
use crate::command::{self, DEFAULT_MAX_OUTPUT, DEFAULT_TIMEOUT, RunError, Spec};
use crate::outcome::{CommandReport, Phase, StepReport, Verdict};
use crate::scenario::model::{CommandLine, Scenario, Step};
use crate::scenario::template::{Scope, redact};
use crate::signals;

use super::ms;

/// A word of a command line as a person would paste it into a shell.
fn quoted(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+${}".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

pub(super) fn render(step: &Step, cmd: &CommandLine, scope: &Scope) -> Result<Spec, String> {
    let argv = match cmd {
        CommandLine::Argv(v) => v
            .iter()
            .map(|a| scope.render(a))
            .collect::<Result<Vec<_>, _>>()?,
        CommandLine::Shell(s) => vec!["sh".into(), "-c".into(), scope.render(s)?],
    };
    let env = step
        .env
        .iter()
        .map(|(k, v)| Ok((k.clone(), scope.render(v)?)))
        .collect::<Result<_, String>>()?;
    let cwd = step
        .cwd
        .as_deref()
        .map(|c| scope.render(c).map(PathBuf::from))
        .transpose()?;
    Ok(Spec {
        argv,
        env,
        cwd,
        timeout: step.timeout.as_ref().map_or(DEFAULT_TIMEOUT, |d| d.value.0),
        max_output: step
            .max_output
            .as_ref()
            .map_or(DEFAULT_MAX_OUTPUT, |m| m.value),
    })
}

pub async fn execute(step: &Step, phase: Phase, sc: &Scenario, scope: &mut Scope) -> StepReport {
    let mut report = super::step::skipped(step, phase, String::new());
    report.message = None;
    let secrets = scope.secrets().to_vec();
    let Some(cmd) = &step.command else {
        report.verdict = Verdict::Error;
        report.message = Some("the step has neither `request` nor `command`".into());
        return report;
    };
    let spec = match render(step, &cmd.value, scope) {
        Ok(s) => s,
        Err(e) => {
            report.verdict = Verdict::Error;
            report.message = Some(redact(
                &format!("could not build the command: {e}"),
                &secrets,
            ));
            return report;
        }
    };
    let line = redact(
        &spec
            .argv
            .iter()
            .map(|a| quoted(a))
            .collect::<Vec<_>>()
            .join(" "),
        &secrets,
    );
    report.url = line.clone();
    report.request_excerpt = format!("$ {line}\n");
    let mut cr = CommandReport {
        line,
        ..CommandReport::default()
    };
    // A step (not a teardown step) stops at the first signal: the program
    // is killed with its group. A teardown command runs on until the
    // teardown is abandoned, which drops (and so kills) it.
    let run = command::run(&spec);
    let result = if phase == Phase::Step {
        tokio::select! {
            r = run => Some(r),
            _ = signals::stop_requested() => None,
        }
    } else {
        Some(run.await)
    };
    let out = match result {
        None => {
            report.verdict = Verdict::Error;
            report.message = Some(format!(
                "{} {}: the command's process group was killed",
                crate::outcome::INTERRUPTED,
                signals::first().map_or("a signal", |s| s.upper())
            ));
            report.command = Some(cr);
            return report;
        }
        Some(Ok(out)) => out,
        Some(Err(e)) => {
            report.verdict = Verdict::Error;
            if let RunError::Timeout(d, partial) = &e {
                report.latency_ms = Some(ms(*d));
                fill(&mut cr, partial);
                report.response_excerpt = summary(&cr);
            }
            report.message = Some(redact(&format!("{}: {e}", cr.line), &secrets));
            report.command = Some(cr);
            return report;
        }
    };
    report.latency_ms = Some(ms(out.duration));
    fill(&mut cr, &out);
    let judged = lines::judge(&step.expect, &out, scope);
    report.assertions = judged.assertions;
    cr.matches = judged
        .matches
        .into_iter()
        .map(|mut m| {
            m.subject = redact(&m.subject, &secrets);
            m.lines = m.lines.iter().map(|l| redact(l, &secrets)).collect();
            m
        })
        .collect();
    for (k, v) in judged.captured {
        if sc.secrets.contains(&k) {
            if let Some(text) = v.as_str() {
                crate::secrets::register(text);
                scope.add_secret(text.to_string());
            }
        }
        scope.set(&k, v);
    }
    let secrets = scope.secrets().to_vec();
    for a in &mut report.assertions {
        a.actual = redact(&a.actual, &secrets);
        a.expected = redact(&a.expected, &secrets);
        a.subject = redact(&a.subject, &secrets);
    }
    report.response_excerpt = summary(&cr);
    report.verdict = if report.assertions.iter().all(|a| a.passed) {
        Verdict::Passed
    } else {
        Verdict::Failed
    };
    report.command = Some(cr);
    report
}

fn fill(cr: &mut CommandReport, out: &command::Output) {
    cr.exit_code = out.exit_code;
    cr.signal = out.signal;
    cr.stdout_lines = String::from_utf8_lossy(&out.stdout).lines().count();
    cr.stderr_lines = String::from_utf8_lossy(&out.stderr).lines().count();
    cr.stdout_dropped_bytes = out.stdout_dropped;
    cr.stderr_dropped_bytes = out.stderr_dropped;
}

/// The text JUnit's `system-out` and the JSON excerpt carry: the outcome
/// and the lines each assertion matched (already redacted).
fn summary(cr: &CommandReport) -> String {
    let exit = match (cr.exit_code, cr.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "no exit code".into(),
    };
    let mut s = format!(
        "{exit}; stdout {} line(s), stderr {} line(s)",
        cr.stdout_lines, cr.stderr_lines
    );
    for (name, dropped) in [
        ("stdout", cr.stdout_dropped_bytes),
        ("stderr", cr.stderr_dropped_bytes),
    ] {
        if dropped > 0 {
            s.push_str(&format!(
                "; {name}: {dropped} bytes past the output cap dropped"
            ));
        }
    }
    s.push('\n');
    for m in &cr.matches {
        s.push_str(&format!("{}: {} matching line(s)\n", m.subject, m.count));
        for l in &m.lines {
            s.push_str(&format!("  {l}\n"));
        }
    }
    s
}
