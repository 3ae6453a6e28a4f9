//! The checks of an HTTP request step.

use std::collections::BTreeSet;

use serde_saphyr::Location;

use super::Validator;
use super::field_at;
use crate::scenario::model::{Request, Step};
use crate::scenario::template::json_references;

impl Validator<'_> {
    /// The checks of an HTTP request step.
    pub(super) fn request(
        &mut self,
        step: &Step,
        req: &Request,
        at: Location,
        defined: &BTreeSet<String>,
    ) {
        let method_at = format!(
            r#"\bmethod\s*:\s*(?P<at>["']?{})"#,
            regex::escape(&req.method)
        );
        if http::Method::from_bytes(req.method.as_bytes()).is_err() {
            self.err_near(
                at,
                &method_at,
                format!(
                    "invalid HTTP method `{}`: a method is one token without spaces or separators (GET, POST, PATCH, ...)",
                    req.method
                ),
            );
        } else if let Some(near) = method_typo(&req.method) {
            self.err_near(
                at,
                &method_at,
                format!(
                    "unknown HTTP method `{}`; did you mean `{near}`? (extension methods far from the standard ones, such as PURGE, are allowed)",
                    req.method
                ),
            );
        }
        for (field, d) in [
            ("timeout", req.timeout),
            ("max_latency", step.expect.max_latency),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) {
                self.err_near(
                    at,
                    &field_at(field),
                    format!("`{field}` must be more than 0"),
                );
            }
        }
        if let Some(n) = step.repeat.as_ref().filter(|n| n.value > MAX_REPEAT) {
            self.err(
                n.referenced,
                format!("`repeat: {}` is more than the most allowed, {MAX_REPEAT}: a gate must not hammer the target", n.value),
            );
        }
        if req.path.value.trim().is_empty() {
            self.err(req.path.referenced, "`path` must not be empty");
        }
        self.check_refs(&req.path.value, req.path.referenced, defined);
        for (k, v) in &req.query {
            self.check_refs(k, v.referenced, defined);
            self.check_refs(&v.value, v.referenced, defined);
        }
        for (k, v) in &req.headers {
            self.check_header_name(k, v.referenced);
            self.check_refs(&v.value, v.referenced, defined);
        }
        if let Some(j) = &req.json {
            match json_references(&j.value) {
                Ok(refs) => self.check_ref_list(refs, j.referenced, defined),
                Err(e) => self.err(j.referenced, e),
            }
        }
        if let Some(b) = &req.body {
            self.check_refs(&b.value, b.referenced, defined);
        }
        if let (Some(j), Some(b)) = (&req.json, &req.body) {
            self.err(
                b.referenced,
                format!(
                    "a request has either `json` or `body`, not both (`json` is at line {})",
                    j.referenced.line()
                ),
            );
        }
        let command_only = [
            ("shell", step.shell),
            ("env", !step.env.is_empty()),
            ("cwd", step.cwd.is_some()),
            ("timeout", step.timeout.is_some()),
            ("max_output", step.max_output.is_some()),
            ("exit_code", step.expect.exit_code.is_some()),
            ("lines", !step.expect.lines.is_empty()),
        ];
        for (field, set) in command_only {
            if set {
                self.err_near(
                    at,
                    &format!(r"\b(?P<at>{field})\s*:"),
                    format!("`{field}` applies to `command` steps; this step sends a `request`"),
                );
            }
        }
    }
}

/// Most answers one step may ask for.
const MAX_REPEAT: u32 = 10_000;

/// The methods of RFC 9110 (and PATCH); the model keeps a method as written
/// (case included) and sends it as is.
const STANDARD_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// The standard method a non-standard one is a typo of: within two edits
/// (`GTE`, `POTS`). Extension methods further away (PURGE, PROPFIND) are
/// legitimate and allowed.
fn method_typo(method: &str) -> Option<&'static str> {
    if STANDARD_METHODS.contains(&method) {
        return None;
    }
    STANDARD_METHODS
        .iter()
        .map(|m| (strsim::damerau_levenshtein(method, m), *m))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, m)| m)
}
