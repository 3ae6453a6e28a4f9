//! JUnit XML, the one builder every report goes through: a verify run
//! ([`verify`]), a load run or a merge ([`load`]), and the regression gate
//! ([`regress`]), alone in `compare` or as a suite of a load run's file.
//! One place decides the document's root, its Jenkins compatibility and
//! the properties every suite carries.
//!
//! quick-junit rather than junit-report: it strips characters XML cannot
//! carry (response bodies contain anything) and writes the attributes
//! Jenkins' schema requires.

pub mod load;
pub mod regress;
pub mod verify;

use std::time::Duration;

use quick_junit::{Report, TestSuite};

use crate::report::escape::xml_safe;

/// A `junit.xml` document being built.
pub struct Junit(Report);

impl Junit {
    pub fn new(name: &str) -> Junit {
        Junit(Report::new(name))
    }

    pub fn set_time(&mut self, t: Duration) {
        self.0.set_time(t);
    }

    pub fn add_suite(&mut self, suite: TestSuite) {
        self.0.add_test_suite(suite);
    }

    /// The document's text, as CI systems read it.
    pub fn render(self) -> anyhow::Result<String> {
        Ok(jenkins_compatible(self.0.to_string()?))
    }
}

/// quick-junit writes a `skipped` count on the `<testsuites>` root; the
/// schema Jenkins validates against does not allow it there (it does on
/// each `<testsuite>`), so we drop that one attribute.
fn jenkins_compatible(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml;
    };
    let Some(end) = xml[start..].find('>').map(|e| start + e) else {
        return xml;
    };
    let root = &xml[start..end];
    match root.find(" skipped=\"") {
        Some(i) => {
            let attr_start = start + i;
            let value_start = attr_start + " skipped=\"".len();
            match xml[value_start..end].find('"') {
                Some(j) => format!("{}{}", &xml[..attr_start], &xml[value_start + j + 1..]),
                None => xml,
            }
        }
        None => xml,
    }
}

/// `target` and `target.local`: which deployment a suite checked, and
/// whether it was the embedded backend instead.
fn add_target(suite: &mut TestSuite, target: &str, local: bool) {
    suite.add_property(("target", xml_safe(target).as_str()));
    suite.add_property(("target.local", if local { "true" } else { "false" }));
}

fn add_tool(suite: &mut TestSuite) {
    suite.add_property(("tool", concat!("postdeploy ", env!("CARGO_PKG_VERSION"))));
}

/// The run's provenance as `provenance.KEY` properties (labels as
/// `provenance.label.KEY`), shared by the verify and load reports.
fn add_provenance(suite: &mut TestSuite, prov: &crate::provenance::Provenance) {
    for (k, v) in prov.pairs() {
        suite.add_property((
            xml_safe(&format!("provenance.{k}")).as_str(),
            xml_safe(&v).as_str(),
        ));
    }
}
