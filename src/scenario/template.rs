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
        Template::parse(s)?.render(self)
    }

    /// Substitutes references in a JSON value. A string that is exactly one
    /// reference takes the referenced value with its JSON type, so a captured
    /// number stays a number in a request body.
    pub fn render_json(&self, v: &Value) -> Result<Value, String> {
        JsonTemplate::parse(v)?.render(self)
    }
}

/// A string template parsed once: rendering is then concatenation, with no
/// scanning for `${` per request. A load plan parses its requests' templates
/// once ([`crate::prepare::RequestTemplate`]); `Scope::render` parses and
/// renders in one go, so both paths share one reading of the syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Box<[Part]>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(Box<str>),
    Ref(VarRef),
}

impl Template {
    /// `$${` is a literal `${`; anything else between `${` and `}` must be a
    /// valid reference.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            if i > 0 && rest.as_bytes()[i - 1] == b'$' {
                lit.push_str(&rest[..i - 1]);
                lit.push_str("${");
                rest = &rest[i + 2..];
                continue;
            }
            lit.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{s}`"))?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit).into()));
            }
            parts.push(Part::Ref(parse_ref(after[..end].trim(), s)?));
            rest = &after[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit.into()));
        }
        Ok(Template {
            parts: parts.into(),
        })
    }

    /// The text, when the template references nothing.
    pub fn literal(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Variables the template reads (not `${env.X}`), in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(VarRef::Var(n)) => Some(n.as_str()),
            _ => None,
        })
    }

    pub fn render(&self, scope: &Scope) -> Result<String, String> {
        let mut out = String::new();
        for p in &*self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Ref(r) => match scope.lookup(r)? {
                    Value::String(v) => out.push_str(&v),
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }
}

/// A JSON value with its templates parsed once. Parts without a reference
/// stay plain values and are cloned as they are.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    Plain(Value),
    /// A string that is exactly one reference: the value keeps its type.
    Typed(VarRef),
    Str(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(Template, JsonTemplate)>),
}

impl JsonTemplate {
    pub fn parse(v: &Value) -> Result<JsonTemplate, String> {
        let t = match v {
            Value::String(s) => {
                let t = s.trim();
                if t.starts_with("${")
                    && t.ends_with('}')
                    && references(t)?.len() == 1
                    && t.matches("${").count() == 1
                {
                    JsonTemplate::Typed(parse_ref(t[2..t.len() - 1].trim(), s)?)
                } else {
                    let t = Template::parse(s)?;
                    match t.literal() {
                        Some(l) => JsonTemplate::Plain(Value::String(l.to_string())),
                        None => JsonTemplate::Str(t),
                    }
                }
            }
            Value::Array(a) => JsonTemplate::Array(
                a.iter()
                    .map(JsonTemplate::parse)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => JsonTemplate::Object(
                m.iter()
                    .map(|(k, x)| Ok((Template::parse(k)?, JsonTemplate::parse(x)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => JsonTemplate::Plain(other.clone()),
        };
        // A container of plain parts is itself plain.
        Ok(match t {
            JsonTemplate::Array(a) if a.iter().all(|x| matches!(x, JsonTemplate::Plain(_))) => {
                JsonTemplate::Plain(Value::Array(
                    a.into_iter()
                        .map(|x| match x {
                            JsonTemplate::Plain(v) => v,
                            _ => unreachable!("checked plain"),
                        })
                        .collect(),
                ))
            }
            JsonTemplate::Object(m)
                if m.iter()
                    .all(|(k, x)| k.literal().is_some() && matches!(x, JsonTemplate::Plain(_))) =>
            {
                JsonTemplate::Plain(Value::Object(
                    m.into_iter()
                        .map(|(k, x)| match x {
                            JsonTemplate::Plain(v) => {
                                (k.literal().unwrap_or_default().to_string(), v)
                            }
                            _ => unreachable!("checked plain"),
                        })
                        .collect(),
                ))
            }
            t => t,
        })
    }

    /// Variables the value reads (not `${env.X}`).
    pub fn vars(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_vars(&mut out);
        out
    }

    fn collect_vars<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            JsonTemplate::Plain(_) | JsonTemplate::Typed(VarRef::Env(_)) => {}
            JsonTemplate::Typed(VarRef::Var(n)) => out.push(n),
            JsonTemplate::Str(t) => out.extend(t.vars()),
            JsonTemplate::Array(a) => a.iter().for_each(|x| x.collect_vars(out)),
            JsonTemplate::Object(m) => m.iter().for_each(|(k, x)| {
                out.extend(k.vars());
                x.collect_vars(out);
            }),
        }
    }

    pub fn render(&self, scope: &Scope) -> Result<Value, String> {
        Ok(match self {
            JsonTemplate::Plain(v) => v.clone(),
            JsonTemplate::Typed(r) => scope.lookup(r)?,
            JsonTemplate::Str(t) => Value::String(t.render(scope)?),
            JsonTemplate::Array(a) => Value::Array(
                a.iter()
                    .map(|x| x.render(scope))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    out.insert(k.render(scope)?, x.render(scope)?);
                }
                Value::Object(out)
            }
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
    fn parsed_templates_render_as_the_scope_does() {
        let s = Scope::new(BTreeMap::from([
            ("id".to_string(), json!("abc")),
            ("n".to_string(), json!(3)),
        ]));
        let t = Template::parse("/p/${id}?n=${ n }&l=$${x}$").unwrap();
        assert_eq!(t.render(&s).unwrap(), "/p/abc?n=3&l=${x}$");
        assert_eq!(t.vars().collect::<Vec<_>>(), vec!["id", "n"]);
        assert_eq!(t.literal(), None);
        assert_eq!(Template::parse("a$${b}").unwrap().literal(), Some("a${b}"));
        assert_eq!(Template::parse("").unwrap().literal(), Some(""));
        assert!(Template::parse("${").is_err());

        let body = json!({"a": " ${n} ", "${id}": ["k", "${id}-${n}"], "c": {"d": 1}});
        let j = JsonTemplate::parse(&body).unwrap();
        assert_eq!(j.vars(), vec!["id", "id", "n", "n"]);
        assert_eq!(
            j.render(&s).unwrap(),
            json!({"a": 3, "abc": ["k", "abc-3"], "c": {"d": 1}})
        );
        assert_eq!(j.render(&s).unwrap(), s.render_json(&body).unwrap());
        let plain = json!({"c": {"d": [1, "x"]}});
        assert_eq!(
            JsonTemplate::parse(&json!({"$${k}": "$${v}"})).unwrap(),
            JsonTemplate::Plain(json!({"${k}": "${v}"}))
        );
        assert_eq!(
            JsonTemplate::parse(&plain).unwrap(),
            JsonTemplate::Plain(plain.clone())
        );
        assert!(j.render(&Scope::default()).is_err());
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
