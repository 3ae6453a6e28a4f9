//! Variable references and header names: what a value may name.

use std::collections::BTreeSet;

use serde_saphyr::Location;

use super::Validator;
use crate::scenario::template::{VarRef, references};

impl Validator<'_> {
    pub(super) fn check_header_name(&mut self, name: &str, at: Location) {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            self.err(at, format!("invalid header name `{name}`"));
        }
    }

    pub(super) fn check_refs(&mut self, s: &str, at: Location, defined: &BTreeSet<String>) {
        match references(s) {
            Ok(refs) => self.check_ref_list(refs, at, defined),
            Err(e) => self.err(at, e),
        }
    }

    pub(super) fn check_ref_list(
        &mut self,
        refs: Vec<VarRef>,
        at: Location,
        defined: &BTreeSet<String>,
    ) {
        for r in refs {
            match r {
                VarRef::Var(n) if !defined.contains(&n) => {
                    let hint = defined
                        .iter()
                        .map(|d| (strsim::damerau_levenshtein(&n, d), d))
                        .filter(|(d, _)| *d <= 2)
                        .min()
                        .map(|(_, d)| format!("; did you mean `{d}`?"))
                        .unwrap_or_else(|| {
                            if !n.starts_with(crate::tf::PREFIX) {
                                " (define it in `vars`, pass `--var`, or capture it in an earlier step)"
                            } else if defined.iter().any(|d| d.starts_with(crate::tf::PREFIX)) {
                                " (no such Terraform output in --tf-outputs)"
                            } else {
                                " (pass --tf-outputs FILE, the output of `terraform output -json`)"
                            }
                            .to_string()
                        });
                    let near = format!(r"(?P<at>\$\{{\s*{}\s*\}})", regex::escape(&n));
                    self.err_near(at, &near, format!("undefined variable `{n}`{hint}"));
                }
                VarRef::Env(n) if std::env::var_os(&n).is_none() => {
                    let near = format!(r"(?P<at>\$\{{\s*env\.{}\s*\}})", regex::escape(&n));
                    self.err_near(
                        at,
                        &near,
                        format!("environment variable `{n}` is not set (export it before running)"),
                    );
                }
                _ => {}
            }
        }
    }
}
