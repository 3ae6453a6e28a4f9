//! The regression gate's `testsuite`, in the `junit.xml` of a load run,
//! a merge and `compare`.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::report::escape::xml_safe;
use crate::report::regress::{delta, value, word};
use crate::verdict::regress::classify::Change;
use crate::verdict::regress::gate::{Regression, fmt_value};

/// JUnit: one test case per request name × metric. A regression that
/// fails the run is a `<failure>`; inconclusive is `<skipped>` with why.
pub fn suite(r: &Regression) -> TestSuite {
    let mut suite = TestSuite::new("regression gate");
    suite.add_property(("baseline", xml_safe(&r.baseline.source).as_str()));
    for (i, b) in r.baseline.runs.iter().enumerate() {
        suite.add_property((
            format!("baseline.{i}").as_str(),
            xml_safe(&format!("{} ({})", b.label, b.started_at)).as_str(),
        ));
    }
    if r.results.is_empty() {
        let mut case = TestCase::new(
            "baseline",
            TestCaseStatus::Skipped {
                message: Some(xml_safe(r.note.as_deref().unwrap_or("nothing compared")).into()),
                ty: None,
                description: None,
            },
        );
        case.set_classname("regression");
        suite.add_test_case(case);
        return suite;
    }
    for c in &r.results {
        let status = match c.change {
            Change::Regressed if !r.warn_only => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("regressed");
                s.set_message(xml_safe(&c.reason));
                s.set_description(xml_safe(&format!(
                    "{} {}: baseline {}, current {}, Δ {}, threshold {} (tolerance {} {}, noise floor {})",
                    c.name,
                    c.metric,
                    value(c, c.baseline),
                    value(c, c.current),
                    delta(c),
                    fmt_value(c.metric, c.threshold, false),
                    c.tolerance_spec,
                    c.tolerance_origin,
                    fmt_value(c.metric, c.noise_floor, false)
                )));
                s
            }
            Change::Inconclusive => TestCaseStatus::Skipped {
                message: Some(xml_safe(&format!("inconclusive: {}", c.reason)).into()),
                ty: None,
                description: None,
            },
            _ => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(format!("{} {}", xml_safe(&c.name), c.metric), status);
        case.set_classname("regression");
        if c.change == Change::Regressed && r.warn_only {
            case.set_system_out(xml_safe(&format!(
                "REGRESSED (--regress-warn): {}",
                c.reason
            )));
        } else if matches!(c.change, Change::Pass | Change::Improved) {
            case.set_system_out(xml_safe(&format!("{}: {}", word(c.change), c.reason)));
        }
        suite.add_test_case(case);
    }
    suite
}
