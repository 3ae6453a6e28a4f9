//! Judging what a command printed: its exit code and assertions on its
//! lines (regexes, counts, JSONPath on structured log lines). Pure, like
//! the rest of the engine: the runner executes, this only judges.

use serde::Serialize;
use serde_json::Value;

use super::{AssertionResult, Kind, Observed, Response};
use crate::command::Output;
use crate::scenario::model::{Comparison, Expect, LineAssert, Stream};
use crate::scenario::template::Scope;

/// Offending or matching lines shown per assertion.
pub const SHOWN_LINES: usize = 5;
/// Characters kept of each shown line.
const LINE_CHARS: usize = 200;

/// The lines one assertion matched, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct LineMatches {
    pub subject: String,
    pub count: usize,
    /// The first few matching lines, truncated.
    pub lines: Vec<String>,
}

/// The verdict on a command's output.
#[derive(Debug, Default)]
pub struct Judged {
    pub assertions: Vec<AssertionResult>,
    pub matches: Vec<LineMatches>,
    /// Named regex groups of the first matching line of each assertion.
    pub captured: Vec<(String, Value)>,
}

pub fn judge(expect: &Expect, out: &Output, scope: &Scope) -> Judged {
    let mut j = Judged::default();
    if let Some(want) = expect.exit_code.as_ref().map(|c| c.value) {
        let actual = match (out.exit_code, out.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "no exit code".into(),
        };
        j.assertions.push(AssertionResult::new(
            Kind::ExitCode,
            "exit_code",
            want.to_string(),
            actual,
            out.exit_code.map(i64::from) == Some(want),
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for a in &expect.lines {
        let text = match a.stream {
            Stream::Stdout => &stdout,
            Stream::Stderr => &stderr,
        };
        judge_one(a, text, scope, &mut j);
    }
    j
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

fn judge_one(a: &LineAssert, text: &str, scope: &Scope, j: &mut Judged) {
    let regex = a
        .none_match
        .as_ref()
        .map(|p| ("none_match", p))
        .or(a.some_match.as_ref().map(|p| ("some_match", p)))
        .or(a.matches.as_ref().map(|p| ("match", p)));
    let mut subject = format!("{} lines", stream_name(a.stream));
    if let Some((op, p)) = regex {
        subject.push_str(&format!(" {op} /{}/", p.0.as_str()));
    }
    if let Some(b) = &a.json_path {
        subject.push_str(&format!(" json_path {}", b.path.source));
    }
    let mut count = 0usize;
    let mut shown = Vec::new();
    for line in text.lines() {
        let caps = match regex {
            Some((_, p)) => match p.0.captures(line) {
                Some(c) => Some(c),
                None => continue,
            },
            None => None,
        };
        if let Some(b) = &a.json_path {
            if !json_line_holds(b, line, scope) {
                continue;
            }
        }
        if count == 0 {
            if let (Some(c), Some((_, p))) = (&caps, regex) {
                for name in p.0.capture_names().flatten() {
                    if let Some(m) = c.name(name) {
                        j.captured
                            .push((name.to_string(), Value::String(m.as_str().to_string())));
                    }
                }
            }
        }
        count += 1;
        if shown.len() < SHOWN_LINES {
            shown.push(truncate(line));
        }
    }
    let (expected, passed) = if a.none_match.is_some() {
        ("no line".to_string(), count == 0)
    } else if a.some_match.is_some() {
        ("at least one line".to_string(), count >= 1)
    } else {
        match &a.count {
            Some(c) => count_check(c, count),
            None => ("a count".to_string(), false),
        }
    };
    let actual = if count == 0 {
        "no line".to_string()
    } else {
        let more = if count > shown.len() {
            format!("\n  … and {} more", count - shown.len())
        } else {
            String::new()
        };
        format!("{count} line(s):\n  {}{more}", shown.join("\n  "))
    };
    j.assertions.push(AssertionResult::new(
        Kind::Lines,
        subject.clone(),
        expected,
        actual,
        passed,
    ));
    j.matches.push(LineMatches {
        subject,
        count,
        lines: shown,
    });
}

/// Whether a line is JSON on which the body assertion holds.
fn json_line_holds(b: &crate::scenario::model::BodyAssert, line: &str, scope: &Scope) -> bool {
    let line = line.trim();
    if !line.starts_with('{') && !line.starts_with('[') {
        return false;
    }
    let resp = Response {
        status: 0,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::copy_from_slice(line.as_bytes()),
        latency: std::time::Duration::ZERO,
    };
    let obs = Observed::new(&resp);
    if obs.json().is_err() {
        return false;
    }
    let results = super::body::assert(b, &obs, scope);
    !results.is_empty() && results.iter().all(|r| r.passed)
}

fn count_check(c: &Comparison, n: usize) -> (String, bool) {
    match c {
        Comparison::Exactly(want) => (format!("{want} line(s)"), n as u64 == *want),
        Comparison::Ops(o) => {
            let x = n as f64;
            let mut parts = Vec::new();
            let mut ok = true;
            for (op, bound) in [
                ("==", o.equals),
                ("<", o.lt),
                ("<=", o.le),
                (">", o.gt),
                (">=", o.ge),
            ] {
                if let Some(b) = bound {
                    parts.push(format!("{op} {b}"));
                    ok &= match op {
                        "==" => x == b,
                        "<" => x < b,
                        "<=" => x <= b,
                        ">" => x > b,
                        _ => x >= b,
                    };
                }
            }
            (format!("count {}", parts.join(" and ")), ok)
        }
    }
}

fn truncate(line: &str) -> String {
    if line.chars().count() <= LINE_CHARS {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(LINE_CHARS).collect::<String>())
    }
}
