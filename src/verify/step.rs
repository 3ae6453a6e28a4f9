//! Running one step: render, send (possibly repeated), judge, capture.

use crate::check::{self, Context, Response};
use crate::http::{Client, Prepared, TransportError};
use crate::outcome::{Phase, StepReport, Verdict};
use crate::prepare::prepare;
use crate::scenario::ScenarioFile;
use crate::scenario::model::{Scenario, Step};
use crate::scenario::template::{Scope, redact};

use super::{VerifyOptions, ms};

const EXCERPT: usize = 2048;

pub fn skipped(step: &Step, phase: Phase, why: String) -> StepReport {
    StepReport {
        name: step.name.clone(),
        phase,
        verdict: Verdict::Skipped,
        method: match &step.request {
            Some(r) => r.method.clone(),
            None => "CMD".into(),
        },
        url: match (&step.request, &step.command) {
            (Some(r), _) => r.path.value.clone(),
            (None, Some(c)) => c.value.parts().join(" "),
            (None, None) => String::new(),
        },
        status: None,
        latency_ms: None,
        budget_ms: None,
        latencies_ms: Vec::new(),
        assertions: Vec::new(),
        message: Some(why),
        request_excerpt: String::new(),
        response_excerpt: String::new(),
        soak: None,
        command: None,
    }
}

/// A step cut short after a signal: by a second one, or by the teardown
/// timeout. An error, so the report shows what may be left on the target.
pub fn abandoned(step: &Step, phase: Phase) -> StepReport {
    StepReport {
        verdict: Verdict::Error,
        ..skipped(
            step,
            phase,
            "abandoned: a second signal or --teardown-timeout cut it short".into(),
        )
    }
}

/// The first variable the step's request needs that has no value.
pub fn missing_var(step: &Step, scope: &Scope) -> Option<String> {
    let Some(r) = &step.request else {
        return step
            .command
            .iter()
            .flat_map(|c| c.value.parts())
            .chain(step.env.values().map(String::as_str))
            .chain(step.cwd.as_deref())
            .find_map(|s| scope.missing(s));
    };
    std::iter::once(r.path.value.as_str())
        .chain(r.headers.values().map(|v| v.value.as_str()))
        .chain(r.query.values().map(|v| v.value.as_str()))
        .chain(r.body.iter().map(|b| b.value.as_str()))
        .find_map(|s| scope.missing(s))
        .or_else(|| {
            r.json.as_ref().and_then(|j| {
                crate::scenario::template::json_references(&j.value)
                    .ok()?
                    .into_iter()
                    .find_map(|v| match v {
                        crate::scenario::template::VarRef::Var(n) if scope.get(&n).is_none() => {
                            Some(n)
                        }
                        _ => None,
                    })
            })
        })
}

pub async fn execute(
    step: &Step,
    phase: Phase,
    sc: &Scenario,
    l: &ScenarioFile,
    client: &Client,
    opts: &VerifyOptions,
    scope: &mut Scope,
) -> StepReport {
    let Some(request) = &step.request else {
        return super::command::execute(step, phase, sc, scope).await;
    };
    let budget = step
        .expect
        .max_latency
        .or(sc.defaults.max_latency)
        .map(|d| d.0);
    let mut report = skipped(step, phase, String::new());
    report.message = None;
    report.budget_ms = budget.map(ms);
    let prepared = match prepare(request, &sc.defaults, &opts.request, scope) {
        Ok(p) => p,
        Err(e) => {
            report.verdict = Verdict::Error;
            report.message = Some(format!("could not build the request: {e}"));
            return report;
        }
    };
    let secrets = scope.secrets().to_vec();
    report.method = prepared.method.to_string();
    report.url = redact(prepared.url.as_str(), &secrets);
    report.request_excerpt = request_excerpt(&prepared, &secrets);
    let times = step.repeat.as_ref().map_or(1, |r| r.value).max(1);
    let mut responses: Vec<Response> = Vec::new();
    let ctx = Context {
        scope,
        schemas: &l.schemas,
        max_latency: budget,
    };
    for _ in 0..times {
        match client.send(&prepared).await {
            Ok(resp) => {
                report.latencies_ms.push(ms(resp.latency));
                let results = check::evaluate(&step.expect, &resp, &ctx);
                // For a repeated step keep every failure but only one copy
                // of each passing assertion.
                for r in results {
                    if !r.passed
                        || !report
                            .assertions
                            .iter()
                            .any(|a| a.subject == r.subject && a.passed)
                    {
                        report.assertions.push(r);
                    }
                }
                responses.push(resp);
            }
            Err(e) => {
                report.verdict = Verdict::Error;
                report.message = Some(redact(&transport_message(&e, &prepared), &secrets));
                break;
            }
        }
    }
    if times == 1 {
        report.latencies_ms.clear();
    }
    if let Some(last) = responses.last() {
        report.status = Some(last.status);
        report.latency_ms = Some(ms(last.latency));
        report.response_excerpt = redact(&response_excerpt(last), &secrets);
        if report.verdict != Verdict::Error {
            report
                .assertions
                .extend(check::distinct(&step.expect.distinct, &responses, scope));
            let (values, failures) = check::capture(&step.capture, last);
            for (k, v) in values {
                if sc.secrets.contains(&k) {
                    let text = match &v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    crate::secrets::register(&text);
                    scope.add_secret(text);
                }
                scope.set(&k, v);
            }
            report.assertions.extend(failures);
        }
    }
    for a in &mut report.assertions {
        a.actual = redact(&a.actual, &secrets);
        a.expected = redact(&a.expected, &secrets);
    }
    if report.verdict != Verdict::Error {
        report.verdict = if report.assertions.iter().all(|a| a.passed) {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
    }
    report
}

fn transport_message(e: &TransportError, p: &Prepared) -> String {
    format!("{} {}: {e}", p.method, p.url)
}

fn sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || n == "set-cookie"
        || n.contains("token")
        || n.contains("api-key")
        || n.contains("secret")
}

/// One `name: value` line per header, credentials shown as `***`.
fn header_lines(s: &mut String, headers: &reqwest::header::HeaderMap) {
    for (k, v) in headers {
        let shown = if sensitive(k.as_str()) {
            "***".to_string()
        } else {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        };
        s.push_str(&format!("{k}: {shown}\n"));
    }
}

fn request_excerpt(p: &Prepared, secrets: &[String]) -> String {
    let mut s = format!("{} {}\n", p.method, p.url);
    header_lines(&mut s, &p.headers);
    if let Some(b) = &p.body {
        s.push('\n');
        s.push_str(&truncate(&String::from_utf8_lossy(b)));
    }
    redact(&s, secrets)
}

fn response_excerpt(r: &Response) -> String {
    let mut s = format!("HTTP {}\n", r.status);
    header_lines(&mut s, &r.headers);
    if !r.body.is_empty() {
        s.push('\n');
        s.push_str(&truncate(&String::from_utf8_lossy(&r.body)));
    }
    s
}

fn truncate(s: &str) -> String {
    if s.len() <= EXCERPT {
        return s.to_string();
    }
    let mut end = EXCERPT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &s[..end], s.len() - end)
}
