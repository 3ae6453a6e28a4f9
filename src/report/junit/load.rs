//! `junit.xml` of a load run: one test case per SLO result, error budgets
//! included (see `slo` for the default budget), so CI shows which objective
//! broke and by how much. A breach is a `<failure>` whose text names the
//! request, the measured value and the threshold.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{Junit, add_provenance, add_target, add_tool};
use crate::measure::{Measurements, Settings};
use crate::provenance::Provenance;
use crate::report::escape::xml_safe;
use crate::verdict::slo::{Metric, SloResult, WHOLE_RUN};

pub fn render(
    settings: &Settings,
    m: &Measurements,
    results: &[SloResult],
    regression: Option<&crate::verdict::regress::Regression>,
    prov: &Provenance,
) -> anyhow::Result<String> {
    let mut report = Junit::new("postdeploy load");
    report.set_time(m.elapsed);
    let mut suite = TestSuite::new("load SLOs");
    suite.set_time(m.elapsed);
    suite.set_timestamp(m.started_at.fixed_offset());
    add_target(&mut suite, &settings.target, settings.target_local);
    add_tool(&mut suite);
    add_provenance(&mut suite, prov);
    for s in &settings.scenarios {
        suite.add_property((
            format!("scenario.{}.sha256", xml_safe(&s.name)).as_str(),
            s.sha256.as_str(),
        ));
    }
    if let Some(sig) = m.stopped_by.signal() {
        suite.add_test_case(interrupted_case(sig, settings, m));
    }
    for r in results {
        suite.add_test_case(case(r, m));
    }
    if let Some(s) = &m.server {
        if !s.warnings.is_empty() {
            suite.set_system_out(xml_safe(&format!("warnings:\n{}", s.warnings.join("\n"))));
        }
    }
    report.add_suite(suite);
    if let Some(r) = regression {
        let mut s = super::regress::suite(r);
        s.set_timestamp(m.started_at.fixed_offset());
        report.add_suite(s);
    }
    report.render()
}

/// An interrupted run is an `<error>`: CI must not read a partial run's
/// held SLOs as a pass.
fn interrupted_case(
    sig: crate::signals::Signal,
    settings: &Settings,
    m: &Measurements,
) -> TestCase {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
    s.set_type("interrupted");
    let ran = m.elapsed.as_secs_f64();
    let asked = settings.duration.as_secs_f64();
    let msg = format!(
        "run interrupted by {sig} after {ran:.1} s of {asked:.1} s; the rest of the attack was skipped"
    );
    s.set_message(xml_safe(&msg));
    let teardown = if m.teardown_abandoned {
        "the teardown of begun iterations was abandoned: what they created may remain on the target"
    } else {
        "the teardown of begun iterations ran"
    };
    s.set_description(xml_safe(&format!("{msg}\n{teardown}")));
    let mut c = TestCase::new("run interrupted", s);
    c.set_classname("whole run");
    c.set_time(m.elapsed);
    c
}

/// Test case name: what is checked, e.g. `p95 <= 200 ms`. A request
/// name's error-rate check is its error budget, whether set for the name,
/// inherited from the whole run or the zero default (`slo` explains).
fn case_name(r: &SloResult) -> String {
    let bound = format!("{} {}", r.op.symbol(), r.metric.show(r.threshold));
    if r.metric == Metric::ErrorRate && r.scope != WHOLE_RUN {
        format!("error budget: error_rate {bound}")
    } else {
        format!("{} {bound}", r.metric.key())
    }
}

fn case(r: &SloResult, m: &Measurements) -> TestCase {
    let status = if r.passed {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_type("slo");
        s.set_message(xml_safe(&r.message));
        // Why the requests failed, as the console says it: the reader of a
        // red CI run should not have to open summary.json.
        let why = match m.requests.get(&r.scope) {
            Some(stats) if !stats.failures.is_empty() => {
                let one = std::collections::BTreeMap::from([(r.scope.clone(), stats.clone())]);
                format!(
                    "\n{}",
                    crate::report::console::load_failure_lines(&one).join("\n")
                )
            }
            _ => String::new(),
        };
        // GitLab shows the element text, not the message attribute.
        s.set_description(xml_safe(&format!(
            "{}\n(objective from {}){why}",
            r.message, r.origin
        )));
        s
    };
    let mut c = TestCase::new(xml_safe(&case_name(r)), status);
    let class = if r.scope == WHOLE_RUN {
        "whole run".to_string()
    } else {
        r.scope.clone()
    };
    c.set_classname(xml_safe(&class));
    c.set_time(Duration::ZERO);
    c
}
