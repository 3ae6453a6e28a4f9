//! `terraform output -json` as run inputs: the deployment a pipeline just
//! applied names its own URL, so a gate never hard-codes one. Outputs are
//! read once, sensitive ones are registered as secrets before anything is
//! printed, and values are reached by path (`api_url`, `endpoints.api`,
//! `subnets.0`) from `${tf.PATH}` in scenarios and flags.
//!
//! The usual way this input goes wrong is not Terraform's: the
//! hashicorp/setup-terraform action wraps the binary and mixes its own lines
//! into stdout (setup-terraform #20), so every "not outputs" error names it.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

/// The prefix of Terraform references in templates: `${tf.api_url}`.
pub const PREFIX: &str = "tf.";
/// The short form of a flag that is one output: `--target tf:api_url`.
pub const SHORT: &str = "tf:";

const WRAPPER_HINT: &str = "if it came from GitHub Actions, the hashicorp/setup-terraform wrapper is the likely cause (it mixes its own lines into the stdout of `terraform output -json`, setup-terraform #20): set `terraform_wrapper: false`";

#[derive(Debug, thiserror::Error)]
pub enum TfError {
    #[error("--tf-outputs {source_name}: cannot read it: {error}")]
    Read { source_name: String, error: String },
    /// Anything that is not the JSON `terraform output -json` prints.
    #[error(
        "--tf-outputs {source_name} is not the JSON of `terraform output -json`: {why}; {WRAPPER_HINT}"
    )]
    NotOutputs { source_name: String, why: String },
    /// A reference to an output (or a part of one) that is not there.
    #[error("Terraform output `{path}` not found: {why}")]
    Missing { path: String, why: String },
    /// `${tf.X}` or `tf:X` in a flag without `--tf-outputs`.
    #[error("{flag} `{value}` refers to a Terraform output, but no --tf-outputs FILE was given")]
    NoOutputs { flag: String, value: String },
}

/// One output as Terraform prints it.
#[derive(Debug, Clone)]
pub struct Output {
    pub sensitive: bool,
    pub value: Value,
}

/// The outputs of one `terraform output -json`.
#[derive(Debug, Clone, Default)]
pub struct TfOutputs {
    outputs: BTreeMap<String, Output>,
}

impl TfOutputs {
    /// Reads a file, or stdin for `-`.
    pub fn read(path: &Path) -> Result<TfOutputs, TfError> {
        let source_name = path.display().to_string();
        let text = if path == Path::new("-") {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| TfError::Read {
                    source_name: "-".into(),
                    error: e.to_string(),
                })?;
            s
        } else {
            std::fs::read_to_string(path).map_err(|e| TfError::Read {
                source_name: source_name.clone(),
                error: e.to_string(),
            })?
        };
        TfOutputs::parse(&text, &source_name)
    }

    /// Parses the text of `terraform output -json`. Nothing of the input
    /// is echoed in an error: it may hold sensitive values not yet known.
    pub fn parse(text: &str, source_name: &str) -> Result<TfOutputs, TfError> {
        let not = |why: String| TfError::NotOutputs {
            source_name: source_name.to_string(),
            why,
        };
        if text.trim().is_empty() {
            return Err(not("it is empty".into()));
        }
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            let first = text.lines().next().unwrap_or("").trim_start();
            if first.starts_with("[command]") {
                not("it starts with a `[command]` line, not with JSON".into())
            } else {
                not(format!(
                    "invalid JSON at line {} column {}",
                    e.line(),
                    e.column()
                ))
            }
        })?;
        let Value::Object(map) = doc else {
            return Err(not("it is not a JSON object of outputs".into()));
        };
        if map.contains_key("format_version")
            && (map.contains_key("planned_values")
                || map.contains_key("values")
                || map.contains_key("resource_changes"))
        {
            return Err(not(
                "it is a plan or state from `terraform show -json`, not outputs".into(),
            ));
        }
        let mut outputs = BTreeMap::new();
        for (name, o) in map {
            let Value::Object(mut o) = o else {
                return Err(not(format!(
                    "output `{name}` is not an object with `value`"
                )));
            };
            let Some(value) = o.remove("value") else {
                return Err(not(format!("output `{name}` has no `value`")));
            };
            let sensitive = match o.get("sensitive") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(not(format!(
                        "output `{name}`: `sensitive` is not a boolean"
                    )));
                }
            };
            outputs.insert(name, Output { sensitive, value });
        }
        Ok(TfOutputs { outputs })
    }

    /// Registers every sensitive value (each string in it, each number of
    /// six characters or more, and the JSON text of maps and lists) as a
    /// secret of the run.
    pub fn register_secrets(&self) {
        for o in self.outputs.values().filter(|o| o.sensitive) {
            register_all(&o.value);
        }
    }

    /// The value at `path` (`api_url`, `endpoints.api`, `subnets.0`).
    pub fn get(&self, path: &str) -> Result<&Value, TfError> {
        let mut parts = path.split('.');
        let name = parts.next().unwrap_or("");
        let missing = |why: String| TfError::Missing {
            path: path.to_string(),
            why,
        };
        let mut v = match self.outputs.get(name) {
            Some(o) => &o.value,
            None => {
                return Err(missing(format!(
                    "no output named `{name}`{}",
                    did_you_mean(name, self.outputs.keys())
                )));
            }
        };
        let mut at = name.to_string();
        for p in parts {
            v = match v {
                Value::Object(m) => m.get(p).ok_or_else(|| {
                    missing(format!(
                        "`{at}` has no key `{p}`{}",
                        did_you_mean(p, m.keys())
                    ))
                })?,
                Value::Array(a) => {
                    let i: usize = p
                        .parse()
                        .map_err(|_| missing(format!("`{at}` is a list: `{p}` is not an index")))?;
                    a.get(i).ok_or_else(|| {
                        missing(format!("`{at}` has {} item(s), no index {i}", a.len()))
                    })?
                }
                _ => return Err(missing(format!("`{at}` is not a map or a list"))),
            };
            at = format!("{at}.{p}");
        }
        Ok(v)
    }

    /// Every output and every part of one as a run variable named
    /// `tf.PATH`: strings as they are, anything else as its JSON text.
    /// Scenario validation then sees `${tf.PATH}` as defined (and offers a
    /// did-you-mean for a misspelt one).
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, o) in &self.outputs {
            flatten(&format!("{PREFIX}{name}"), &o.value, &mut out);
        }
        out
    }

    /// Substitutes `${tf.PATH}` in a flag's value (and the short form
    /// `tf:PATH` for the whole value); other `${...}` are left alone.
    pub fn render_flag(
        outputs: Option<&TfOutputs>,
        flag: &str,
        value: &str,
    ) -> Result<String, TfError> {
        let refers = value.trim().starts_with(SHORT) || value.contains("${tf.");
        if !refers {
            return Ok(value.to_string());
        }
        let Some(tf) = outputs else {
            return Err(TfError::NoOutputs {
                flag: flag.to_string(),
                value: value.to_string(),
            });
        };
        if let Some(path) = value.trim().strip_prefix(SHORT) {
            return Ok(text(tf.get(path.trim())?));
        }
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find("${tf.") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let path = after[..end].trim().trim_start_matches(PREFIX);
            out.push_str(&text(tf.get(path)?));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    out.insert(prefix.to_string(), text(v));
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), x, out);
            }
        }
        _ => {}
    }
}

fn register_all(v: &Value) {
    match v {
        Value::String(s) => crate::secrets::register(s),
        // A short number masked everywhere would corrupt every figure of
        // every report (status codes, latencies); long ones (account
        // numbers, PINs of six digits and more) are masked.
        Value::Number(n) if n.to_string().len() >= 6 => crate::secrets::register(&n.to_string()),
        Value::Number(_) => {}
        Value::Array(a) => a.iter().for_each(register_all),
        Value::Object(m) => m.values().for_each(register_all),
        Value::Bool(_) | Value::Null => {}
    }
    if matches!(v, Value::Array(_) | Value::Object(_)) {
        crate::secrets::register(&v.to_string());
    }
}

fn did_you_mean<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let known: Vec<&String> = known.collect();
    let near = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|(d, _)| *d <= 2 || name.len() > 3 && *d <= name.len() / 3)
        .min();
    match near {
        Some((_, k)) => format!("; did you mean `{k}`?"),
        None if known.is_empty() => " (there are none)".into(),
        None => format!(
            " (there are: {})",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> TfOutputs {
        let doc = json!({
            "api_url": {"sensitive": false, "type": "string", "value": "http://x.test/"},
            "endpoints": {"sensitive": false, "type": ["object", {"api": "string"}], "value": {"api": "http://a/"}},
            "subnets": {"sensitive": false, "type": ["list", "string"], "value": ["s-1", "s-2"]},
            "port": {"sensitive": false, "type": "number", "value": 8080},
        });
        TfOutputs::parse(&doc.to_string(), "f").unwrap()
    }

    #[test]
    fn paths_reach_nested_values() {
        let tf = sample();
        assert_eq!(tf.get("endpoints.api").unwrap(), "http://a/");
        assert_eq!(tf.get("subnets.1").unwrap(), "s-2");
        let vars = tf.vars();
        assert_eq!(vars["tf.port"], "8080");
        assert_eq!(vars["tf.subnets.0"], "s-1");
        assert!(tf.get("subnets.2").is_err());
        let e = tf.get("api_ur").unwrap_err().to_string();
        assert!(e.contains("did you mean `api_url`"), "{e}");
    }

    #[test]
    fn flags_take_both_forms() {
        let tf = sample();
        let r = |v| TfOutputs::render_flag(Some(&tf), "--target", v).unwrap();
        assert_eq!(r("tf:api_url"), "http://x.test/");
        assert_eq!(r("${tf.endpoints.api}v1"), "http://a/v1");
        assert_eq!(r("plain ${x}"), "plain ${x}");
        assert!(TfOutputs::render_flag(None, "--target", "tf:api_url").is_err());
    }
}
