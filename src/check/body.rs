//! JSONPath body assertions and header assertions.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::{AssertionResult, Kind, Observed, Response};
use crate::scenario::model::{BodyAssert, Comparison, HeaderExpect, JsonType};
use crate::scenario::template::Scope;

/// The value a path selects: the node itself, or an array of all nodes
/// when it selects several (so `length` and `contains` work on wildcards).
fn select(path: &JsonPath, json: &Value) -> Option<Value> {
    let nodes = path.query(json).all();
    match nodes.len() {
        0 => None,
        1 => Some(nodes[0].clone()),
        _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
    }
}

/// The first node a path selects, for captures and distinct counts.
pub(super) fn first(path: &JsonPath, obs: &Observed<'_>) -> Result<Value, String> {
    let json = obs.json().map_err(str::to_string)?;
    path.query(json)
        .all()
        .first()
        .map(|v| (*v).clone())
        .ok_or_else(|| "matched nothing".to_string())
}

pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

pub(super) fn assert(b: &BodyAssert, obs: &Observed<'_>, scope: &Scope) -> Vec<AssertionResult> {
    let subject = b.path.source.clone();
    let r = |expected: String, actual: String, ok: bool| {
        AssertionResult::new(Kind::Body, subject.clone(), expected, actual, ok)
    };
    let json = match obs.json() {
        Ok(j) => j,
        Err(e) => return vec![r("a JSON body".into(), e.to_string(), false)],
    };
    let value = select(&b.path.path, json);
    let mut out = Vec::new();
    if let Some(want) = b.exists {
        let got = value.is_some();
        let actual = match &value {
            Some(v) => show(v),
            None => "nothing".into(),
        };
        out.push(r(
            if want {
                "exists".into()
            } else {
                "absent".into()
            },
            actual,
            got == want,
        ));
    }
    let has_value_ops = b.equals.is_some()
        || b.not_equals.is_some()
        || b.matches.is_some()
        || b.contains.is_some()
        || b.length.is_some()
        || b.json_type.is_some()
        || [b.lt, b.le, b.gt, b.ge].iter().any(Option::is_some);
    if !has_value_ops {
        return out;
    }
    let Some(v) = value else {
        out.push(r("a value".into(), "nothing at this path".into(), false));
        return out;
    };
    let render = |x: &Value| scope.render_json(x);
    if let Some(e) = &b.equals {
        match render(&e.value) {
            Ok(want) => out.push(r(
                format!("== {}", show(&want)),
                show(&v),
                json_eq(&v, &want),
            )),
            Err(err) => out.push(r("== (template)".into(), err, false)),
        }
    }
    if let Some(e) = &b.not_equals {
        match render(&e.value) {
            Ok(want) => out.push(r(
                format!("!= {}", show(&want)),
                show(&v),
                !json_eq(&v, &want),
            )),
            Err(err) => out.push(r("!= (template)".into(), err, false)),
        }
    }
    for (op, bound) in [("<", b.lt), ("<=", b.le), (">", b.gt), (">=", b.ge)] {
        let Some(bound) = bound else { continue };
        let expected = format!("{op} {bound}");
        match v.as_f64() {
            Some(x) => out.push(r(expected, show(&v), compare(op, x, bound))),
            None => out.push(r(expected, format!("{} (not a number)", show(&v)), false)),
        }
    }
    if let Some(p) = &b.matches {
        let text = match &v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push(r(
            format!("matches /{}/", p.0.as_str()),
            show(&v),
            p.0.is_match(&text),
        ));
    }
    if let Some(c) = &b.contains {
        match render(&c.value) {
            Ok(want) => {
                let ok = match (&v, &want) {
                    (Value::String(s), Value::String(w)) => s.contains(w.as_str()),
                    (Value::Array(a), w) => a.iter().any(|x| json_eq(x, w)),
                    (Value::Object(m), Value::String(k)) => m.contains_key(k),
                    _ => false,
                };
                out.push(r(format!("contains {}", show(&want)), show(&v), ok));
            }
            Err(err) => out.push(r("contains (template)".into(), err, false)),
        }
    }
    if let Some(cmp) = &b.length {
        let len = match &v {
            Value::String(s) => Some(s.chars().count()),
            Value::Array(a) => Some(a.len()),
            Value::Object(m) => Some(m.len()),
            _ => None,
        };
        let (expected, ok) = length_check(cmp, len);
        let actual = match len {
            Some(n) => format!("length {n}"),
            None => format!("{} has no length", json_type_name(&v)),
        };
        out.push(r(expected, actual, ok));
    }
    if let Some(t) = b.json_type {
        let name = json_type_name(&v);
        let ok = match t {
            JsonType::Number => matches!(v, Value::Number(_)),
            JsonType::Integer => name == "integer" || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            JsonType::String => name == "string",
            JsonType::Boolean => name == "boolean",
            JsonType::Array => name == "array",
            JsonType::Object => name == "object",
            JsonType::Null => name == "null",
        };
        let want = serde_json::to_value(t)
            .ok()
            .and_then(|x| x.as_str().map(String::from))
            .unwrap_or_default();
        out.push(r(format!("type {want}"), format!("type {name}"), ok));
    }
    out
}

fn compare(op: &str, x: f64, bound: f64) -> bool {
    match op {
        "<" => x < bound,
        "<=" => x <= bound,
        ">" => x > bound,
        ">=" => x >= bound,
        _ => false,
    }
}

fn length_check(cmp: &Comparison, len: Option<usize>) -> (String, bool) {
    match cmp {
        Comparison::Exactly(n) => (format!("length == {n}"), len == Some(*n as usize)),
        Comparison::Ops(ops) => {
            let mut parts = Vec::new();
            let mut ok = len.is_some();
            let l = len.unwrap_or(0) as f64;
            for (op, bound) in [
                ("==", ops.equals),
                ("<", ops.lt),
                ("<=", ops.le),
                (">", ops.gt),
                (">=", ops.ge),
            ] {
                if let Some(b) = bound {
                    parts.push(format!("{op} {b}"));
                    ok &= if op == "==" {
                        l == b
                    } else {
                        compare(op, l, b)
                    };
                }
            }
            (format!("length {}", parts.join(" and ")), ok)
        }
    }
}

pub(super) fn header(
    name: &str,
    h: &HeaderExpect,
    resp: &Response,
    scope: &Scope,
) -> Vec<AssertionResult> {
    let subject = format!("header {}", name.to_ascii_lowercase());
    let values: Vec<String> = resp
        .headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let actual = if values.is_empty() {
        "absent".to_string()
    } else {
        values.join(", ")
    };
    let r = |expected: String, ok: bool| {
        AssertionResult::new(Kind::Header, subject.clone(), expected, actual.clone(), ok)
    };
    let mut out = Vec::new();
    if let Some(want) = h.present {
        out.push(r(
            if want {
                "present".into()
            } else {
                "absent".into()
            },
            values.is_empty() != want,
        ));
    }
    let rendered = |s: &str| scope.render(s).unwrap_or_else(|e| format!("<{e}>"));
    if let Some(e) = &h.equals {
        let want = rendered(&e.value);
        out.push(r(format!("== {want:?}"), values.contains(&want)));
    }
    if let Some(p) = &h.matches {
        out.push(r(
            format!("matches /{}/", p.0.as_str()),
            values.iter().any(|v| p.0.is_match(v)),
        ));
    }
    if let Some(c) = &h.contains {
        let want = rendered(&c.value);
        out.push(r(
            format!("contains {want:?}"),
            values.iter().any(|v| v.contains(want.as_str())),
        ));
    }
    out
}
