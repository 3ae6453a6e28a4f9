//! `junit.xml` of a verify run: one `testsuite` per scenario, one
//! `testcase` per step. A failed expectation is a `<failure>`, a transport
//! fault an `<error>` (the Hurl convention CI systems render best);
//! excerpts go to `system-out`.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{Junit, add_provenance, add_target, add_tool};
use crate::outcome::{RunReport, StepReport, Verdict};
use crate::report::escape::xml_safe;

pub fn render(run: &RunReport) -> anyhow::Result<String> {
    let mut report = Junit::new("postdeploy verify");
    report.set_time(Duration::from_secs_f64(run.duration_ms / 1000.0));
    if let Some(r) = &run.ready {
        if !r.ready {
            let mut suite = TestSuite::new("readiness");
            add_meta(&mut suite, run);
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_type("not-ready");
            status.set_message(xml_safe(&format!(
                "target never became ready after {} attempts",
                r.attempts
            )));
            status.set_description(xml_safe(&format!("last attempt: {}", r.last)));
            let mut case = TestCase::new("wait-ready", status);
            case.set_classname("readiness");
            case.set_time(Duration::from_secs_f64(r.waited_ms / 1000.0));
            suite.add_test_case(case);
            report.add_suite(suite);
        }
    }
    if let Some(sig) = run.stopped_by {
        let mut suite = TestSuite::new("run");
        add_meta(&mut suite, run);
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_type("interrupted");
        let skipped = run.skipped_by_signal();
        status.set_message(xml_safe(&format!(
            "run interrupted by {sig}; {} step(s) skipped",
            skipped.len()
        )));
        let mut text = if skipped.is_empty() {
            "no step was skipped".to_string()
        } else {
            format!("skipped:\n  {}", skipped.join("\n  "))
        };
        if run.teardown_abandoned {
            text.push_str(
                "\nthe teardown was abandoned: what the run created may remain on the target",
            );
        }
        status.set_description(xml_safe(&text));
        let mut case = TestCase::new("run interrupted", status);
        case.set_classname("run");
        case.set_time(Duration::from_secs_f64(run.duration_ms / 1000.0));
        suite.add_test_case(case);
        report.add_suite(suite);
    }
    for sc in &run.scenarios {
        let mut suite = TestSuite::new(xml_safe(&sc.name));
        add_meta(&mut suite, run);
        suite.add_property(("scenario.file", xml_safe(&sc.file).as_str()));
        suite.add_property(("scenario.sha256", sc.sha256.as_str()));
        suite.set_time(Duration::from_secs_f64(sc.duration_ms / 1000.0));
        for step in &sc.steps {
            suite.add_test_case(case(&sc.name, step));
        }
        report.add_suite(suite);
    }
    report.render()
}

fn add_meta(suite: &mut TestSuite, run: &RunReport) {
    add_target(suite, &run.target, run.target_local);
    suite.add_property(("started_at", run.started_at.as_str()));
    add_tool(suite);
    if let Some(p) = run.soak_passes {
        suite.add_property(("soak.passes", p.to_string().as_str()));
    }
    add_provenance(suite, &run.provenance);
}

fn case(scenario: &str, step: &StepReport) -> TestCase {
    let name = match step.phase {
        crate::outcome::Phase::Step => step.name.clone(),
        crate::outcome::Phase::Teardown => format!("teardown: {}", step.name),
    };
    let status = match step.verdict {
        Verdict::Passed => TestCaseStatus::success(),
        Verdict::Skipped => {
            let mut s = TestCaseStatus::skipped();
            if let Some(m) = &step.message {
                s.set_message(xml_safe(m));
            }
            s
        }
        Verdict::Failed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let fails: Vec<_> = step.failures().collect();
            let first = fails
                .first()
                .map(|a| a.describe())
                .or_else(|| step.message.clone())
                .unwrap_or_else(|| "failed".into());
            s.set_type("assertion");
            s.set_message(xml_safe(&truncate(&first, 300)));
            // GitLab shows the element text, not the message attribute.
            let mut text: Vec<String> = fails
                .iter()
                .map(|a| {
                    format!(
                        "{}\n  expected: {}\n  actual:   {}",
                        a.subject, a.expected, a.actual
                    )
                })
                .collect();
            if let Some(m) = &step.message {
                text.push(m.clone());
            }
            s.set_description(xml_safe(&text.join("\n")));
            s
        }
        Verdict::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let msg = step.message.clone().unwrap_or_else(|| "error".into());
            s.set_type("transport");
            s.set_message(xml_safe(&truncate(&msg, 300)));
            s.set_description(xml_safe(&msg));
            s
        }
    };
    let mut c = TestCase::new(xml_safe(&name), status);
    c.set_classname(xml_safe(scenario));
    if let Some(l) = step.latency_ms {
        c.set_time(Duration::from_secs_f64(l / 1000.0));
    }
    let mut out = step.request_excerpt.clone();
    if !step.response_excerpt.is_empty() {
        out.push_str("\n---\n");
        out.push_str(&step.response_excerpt);
    }
    if !out.is_empty() {
        c.set_system_out(xml_safe(&out));
    }
    c
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
