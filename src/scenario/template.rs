//! `${var}` templating. Variables come from the scenario's `vars`, `--var`
//! and earlier captures; `${env.NAME}` reads the environment and marks the
//! value as a secret so reporters can redact it.

use std::collections::BTreeMap;

use serde_json::Value;

/// A reference found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarRef {
    Var(String),
    Env(String),
}

/// Every `${...}` reference in `s`, in order. `$${` is a literal `${`.
pub fn references(s: &str) -> Result<Vec<VarRef>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest.as_bytes()[i - 1] == b'$' {
            rest = &rest[i + 2..];
            continue;
        }
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{s}`"))?;
        let name = after[..end].trim();
        out.push(parse_ref(name, s)?);
        rest = &after[end + 1..];
    }
    Ok(out)
}

fn parse_ref(name: &str, whole: &str) -> Result<VarRef, String> {
    let valid = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    };
    if let Some(env) = name.strip_prefix("env.") {
        if valid(env) {
            return Ok(VarRef::Env(env.to_string()));
        }
    } else if valid(name) {
        return Ok(VarRef::Var(name.to_string()));
    }
    Err(format!(
        "invalid variable reference `${{{name}}}` in `{whole}`"
    ))
}

/// All references inside a JSON value's strings (and keys).
pub fn json_references(v: &Value) -> Result<Vec<VarRef>, String> {
    let mut out = Vec::new();
    walk(v, &mut |s| {
        out.extend(references(s)?);
        Ok(())
    })?;
    Ok(out)
}

fn walk(v: &Value, f: &mut impl FnMut(&str) -> Result<(), String>) -> Result<(), String> {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().try_for_each(|x| walk(x, f)),
        Value::Object(m) => m.iter().try_for_each(|(k, x)| {
            f(k)?;
            walk(x, f)
        }),
        _ => Ok(()),
    }
}

/// Values in scope while a scenario runs.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    vars: BTreeMap<String, Value>,
    /// Values that came from the environment: never written to a report.
    secrets: Vec<String>,
}

impl Scope {
    pub fn new(vars: BTreeMap<String, Value>) -> Self {
        Scope {
            vars,
            secrets: Vec::new(),
        }
    }

    pub fn set(&mut self, name: &str, v: Value) {
        self.vars.insert(name.to_string(), v);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// The first reference in `s` that has no value yet.
    pub fn missing(&self, s: &str) -> Option<String> {
        references(s).ok()?.into_iter().find_map(|r| match r {
            VarRef::Var(n) if !self.vars.contains_key(&n) => Some(n),
            VarRef::Env(n) if std::env::var(&n).is_err() => Some(format!("env.{n}")),
            _ => None,
        })
    }

    /// Registers a value that must never appear in a report.
    pub fn add_secret(&mut self, v: String) {
        if !v.is_empty() && !self.secrets.contains(&v) {
            self.secrets.push(v);
        }
    }

    fn lookup(&self, r: &VarRef) -> Result<Value, String> {
        match r {
            VarRef::Var(n) => self
                .vars
                .get(n)
                .cloned()
                .ok_or_else(|| format!("variable `{n}` has no value")),
            VarRef::Env(n) => {
                let v = std::env::var(n)
                    .map_err(|_| format!("environment variable `{n}` is not set"))?;
                Ok(Value::String(v))
            }
        }
    }

    /// Substitutes every reference in `s`.
    pub fn render(&self, s: &str) -> Result<String, String> {
        if !s.contains("${") {
            return Ok(s.to_string());
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            if i > 0 && rest.as_bytes()[i - 1] == b'$' {
                out.push_str(&rest[..i - 1]);
                out.push_str("${");
                rest = &rest[i + 2..];
                continue;
            }
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{s}`"))?;
            let r = parse_ref(after[..end].trim(), s)?;
            match self.lookup(&r)? {
                Value::String(v) => out.push_str(&v),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Substitutes references in a JSON value. A string that is exactly one
    /// reference takes the referenced value with its JSON type, so a captured
    /// number stays a number in a request body.
    pub fn render_json(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => {
                let t = s.trim();
                if t.starts_with("${")
                    && t.ends_with('}')
                    && references(t)?.len() == 1
                    && t.matches("${").count() == 1
                {
                    let r = parse_ref(t[2..t.len() - 1].trim(), s)?;
                    self.lookup(&r)?
                } else {
                    Value::String(self.render(s)?)
                }
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.render_json(x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    out.insert(self.render(k)?, self.render_json(x)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// Replaces every secret in `text` with `***`: the scope's own (values
/// it read from the environment or captured) and the run's registry
/// ([`crate::secrets`]), so a step report is clean before any writer sees
/// it.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 3 {
            out = out.replace(s.as_str(), "***");
        }
    }
    crate::secrets::redact(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_references_and_escapes() {
        let r = references("/p/${id}/x/${env.TOKEN}/$${literal}").unwrap();
        assert_eq!(
            r,
            vec![VarRef::Var("id".into()), VarRef::Env("TOKEN".into())]
        );
        assert!(references("${unclosed").is_err());
        assert!(references("${bad name}").is_err());
    }

    #[test]
    fn renders_strings_and_typed_json() {
        let s = Scope::new(BTreeMap::from([
            ("id".to_string(), json!("abc")),
            ("n".to_string(), json!(3)),
        ]));
        assert_eq!(
            s.render("/p/${id}?n=${n}&l=$${x}").unwrap(),
            "/p/abc?n=3&l=${x}"
        );
        let v = s
            .render_json(&json!({"a": "${n}", "b": "x${n}", "c": ["${id}"]}))
            .unwrap();
        assert_eq!(v, json!({"a": 3, "b": "x3", "c": ["abc"]}));
        assert!(s.render("${nope}").is_err());
    }

    #[test]
    fn env_values_become_secrets() {
        // PATH is set in every test environment.
        let mut s = Scope::default();
        let path = std::env::var("PATH").unwrap();
        s.add_secret(path.clone());
        let out = s.render("Bearer ${env.PATH}").unwrap();
        assert_eq!(out, format!("Bearer {path}"));
        assert_eq!(redact(&out, s.secrets()), "Bearer ***");
    }
}
