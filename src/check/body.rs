//! JSONPath body assertions and header assertions.

use std::borrow::Cow;

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

/// The node a path made only of member names and non-negative indices
/// (`$.a.b[0]`, `$['a']`) selects, found without building a node list.
/// `None`: the path has other selectors; `Some(None)`: it selects nothing.
pub(super) fn select_plain<'v>(source: &str, json: &'v Value) -> Option<Option<&'v Value>> {
    // One pass: a selector that is not plain ends the walk with `None`.
    let mut rest = source.trim().strip_prefix('$')?;
    let mut node = Some(json);
    while let Some((seg, next)) = super::seek::next_seg(rest)? {
        node = match (node, seg) {
            (Some(Value::Object(m)), super::seek::Seg::Key(name)) => m.get(name),
            (Some(Value::Array(a)), super::seek::Seg::Index(i)) => a.get(i),
            _ => None,
        };
        rest = next;
    }
    Some(node)
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

/// An expected value with its templates rendered; borrowed (no copy) when
/// it has none, which is the usual case.
fn render_cow<'v>(scope: &Scope, v: &'v Value) -> Result<Cow<'v, Value>, String> {
    fn templated(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains("${"),
            Value::Array(a) => a.iter().any(templated),
            Value::Object(m) => m.iter().any(|(k, x)| k.contains("${") || templated(x)),
            _ => false,
        }
    }
    if templated(v) {
        scope.render_json(v).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(v))
    }
}

fn has_value_ops(b: &BodyAssert) -> bool {
    b.equals.is_some()
        || b.not_equals.is_some()
        || b.matches.is_some()
        || b.contains.is_some()
        || b.length.is_some()
        || b.json_type.is_some()
        || [b.lt, b.le, b.gt, b.ge].iter().any(Option::is_some)
}

fn contains_ok(v: &Value, want: &Value) -> bool {
    match (v, want) {
        (Value::String(s), Value::String(w)) => s.contains(w.as_str()),
        (Value::Array(a), w) => a.iter().any(|x| json_eq(x, w)),
        (Value::Object(m), Value::String(k)) => m.contains_key(k),
        _ => false,
    }
}

fn length_of(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        Value::Object(m) => Some(m.len()),
        _ => None,
    }
}

fn type_ok(t: JsonType, v: &Value) -> bool {
    let name = json_type_name(v);
    match t {
        JsonType::Number => matches!(v, Value::Number(_)),
        JsonType::Integer => name == "integer" || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        JsonType::String => name == "string",
        JsonType::Boolean => name == "boolean",
        JsonType::Array => name == "array",
        JsonType::Object => name == "object",
        JsonType::Null => name == "null",
    }
}

/// Whether every check of `b` passes: the verdict of [`assert`] without
/// building its results. Nothing is allocated for a path of plain names
/// and indices and an expected value without templates; a path selecting
/// several nodes takes the full path.
pub(super) fn passes(b: &BodyAssert, obs: &Observed<'_>, scope: &Scope) -> bool {
    let sought;
    let value = match obs.seek(&b.path.source) {
        Some(Ok(v)) => {
            sought = v;
            sought.as_ref()
        }
        Some(Err(())) => return false,
        None => {
            let Ok(json) = obs.json() else {
                return false;
            };
            match select_plain(&b.path.source, json) {
                Some(v) => v,
                None => {
                    let nodes = b.path.path.query(json).all();
                    if nodes.len() > 1 {
                        return assert(b, obs, scope).iter().all(|r| r.passed);
                    }
                    nodes.first().copied()
                }
            }
        }
    };
    if b.exists.is_some_and(|want| value.is_some() != want) {
        return false;
    }
    if !has_value_ops(b) {
        return true;
    }
    let Some(v) = value else {
        return false;
    };
    let eq = |e: &Option<serde_saphyr::Spanned<Value>>, same: bool| {
        e.as_ref()
            .is_none_or(|e| render_cow(scope, &e.value).is_ok_and(|want| json_eq(v, &want) == same))
    };
    eq(&b.equals, true)
        && eq(&b.not_equals, false)
        && [("<", b.lt), ("<=", b.le), (">", b.gt), (">=", b.ge)]
            .iter()
            .all(|(op, bound)| {
                bound.is_none_or(|bound| v.as_f64().is_some_and(|x| compare(op, x, bound)))
            })
        && b.matches.as_ref().is_none_or(|p| match v {
            Value::String(s) => p.0.is_match(s),
            other => p.0.is_match(&other.to_string()),
        })
        && b.contains
            .as_ref()
            .is_none_or(|c| render_cow(scope, &c.value).is_ok_and(|want| contains_ok(v, &want)))
        && b.length
            .as_ref()
            .is_none_or(|cmp| length_ok(cmp, length_of(v)))
        && b.json_type.is_none_or(|t| type_ok(t, v))
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
    if !has_value_ops(b) {
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
                let ok = contains_ok(&v, &want);
                out.push(r(format!("contains {}", show(&want)), show(&v), ok));
            }
            Err(err) => out.push(r("contains (template)".into(), err, false)),
        }
    }
    if let Some(cmp) = &b.length {
        let len = length_of(&v);
        let (expected, ok) = length_check(cmp, len);
        let actual = match len {
            Some(n) => format!("length {n}"),
            None => format!("{} has no length", json_type_name(&v)),
        };
        out.push(r(expected, actual, ok));
    }
    if let Some(t) = b.json_type {
        let name = json_type_name(&v);
        let ok = type_ok(t, &v);
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

fn length_bounds(ops: &crate::scenario::model::NumOps) -> [(&'static str, Option<f64>); 5] {
    [
        ("==", ops.equals),
        ("<", ops.lt),
        ("<=", ops.le),
        (">", ops.gt),
        (">=", ops.ge),
    ]
}

fn length_ok(cmp: &Comparison, len: Option<usize>) -> bool {
    match cmp {
        Comparison::Exactly(n) => len == Some(*n as usize),
        Comparison::Ops(ops) => {
            let l = len.unwrap_or(0) as f64;
            len.is_some()
                && length_bounds(ops).iter().all(|(op, bound)| {
                    bound.is_none_or(|b| {
                        if *op == "==" {
                            l == b
                        } else {
                            compare(op, l, b)
                        }
                    })
                })
        }
    }
}

fn length_check(cmp: &Comparison, len: Option<usize>) -> (String, bool) {
    let ok = length_ok(cmp, len);
    match cmp {
        Comparison::Exactly(n) => (format!("length == {n}"), ok),
        Comparison::Ops(ops) => {
            let parts: Vec<String> = length_bounds(ops)
                .iter()
                .filter_map(|(op, bound)| bound.map(|b| format!("{op} {b}")))
                .collect();
            (format!("length {}", parts.join(" and ")), ok)
        }
    }
}

pub(super) fn header_subject(name: &str) -> String {
    format!("header {}", name.to_ascii_lowercase())
}

/// Whether every check of a header expectation passes: the verdict of
/// [`header`] without its strings (templated values take the full path).
pub(super) fn header_passes(name: &str, h: &HeaderExpect, resp: &Response, scope: &Scope) -> bool {
    let templated = |s: &Option<serde_saphyr::Spanned<String>>| {
        s.as_ref().is_some_and(|e| e.value.contains("${"))
    };
    if templated(&h.equals) || templated(&h.contains) {
        return header(name, h, resp, scope).iter().all(|r| r.passed);
    }
    let values = || {
        resp.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
    };
    h.present
        .is_none_or(|want| values().next().is_some() == want)
        && h.equals
            .as_ref()
            .is_none_or(|e| values().any(|v| v == e.value.as_str()))
        && h.matches
            .as_ref()
            .is_none_or(|p| values().any(|v| p.0.is_match(&v)))
        && h.contains
            .as_ref()
            .is_none_or(|c| values().any(|v| v.contains(c.value.as_str())))
}

pub(super) fn header(
    name: &str,
    h: &HeaderExpect,
    resp: &Response,
    scope: &Scope,
) -> Vec<AssertionResult> {
    let subject = header_subject(name);
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
