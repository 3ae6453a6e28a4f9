//! Scalar values of the scenario format that are checked while they are
//! parsed, so that a bad duration, JSONPath, regex or status is reported at
//! its own line and column instead of surfacing mid-run.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Serialize};

use super::model::{Capture, CaptureSource, CommandLine, Comparison, Count, NumOps};

/// Implements `Deserialize` from a string through `FromStr`-like parsing and
/// a string JSON Schema with the given description.
macro_rules! string_value {
    ($ty:ident, $desc:expr, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(&raw).map_err(de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "description": $desc })
            }
        }
    };
}

/// A duration written the way people write them: `200ms`, `1.5s`, `2m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HumanDuration(pub Duration);

/// The longest duration accepted anywhere (scenario files and flags): a
/// longer one is a typo, and durations this size are what make timer
/// arithmetic overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses `200ms`, `1.5s`, `2m`, `1h 30m`; never panics: negative,
/// non-finite and out-of-range values are errors.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let too_long = || format!("duration `{s}` is longer than the most allowed, 1 year (365d)");
    let t = s.trim();
    // humantime has no fractional units ("1.5s"); handle the common case
    // of a decimal number followed by a unit ourselves.
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.contains('.') {
        let n: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration `{s}`: expected e.g. 200ms, 1.5s, 2m"))?;
        let secs = match unit.trim() {
            "ms" => n / 1e3,
            "us" | "µs" => n / 1e6,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => {
                return Err(format!(
                    "invalid duration `{s}`: expected e.g. 200ms, 1.5s, 2m"
                ));
            }
        };
        if !secs.is_finite() || secs > MAX_DURATION.as_secs_f64() {
            return Err(too_long());
        }
        return Duration::try_from_secs_f64(secs)
            .map_err(|e| format!("invalid duration `{s}`: {e}"));
    }
    if num.is_empty() {
        return Err(format!(
            "invalid duration `{s}`: expected a number followed by a unit (ms, s, m, h), e.g. 200ms, 1.5s, 2m"
        ));
    }
    if unit.is_empty() {
        return Err(format!(
            "invalid duration `{s}`: a unit is required (ms, s, m, h), e.g. `{s}ms`"
        ));
    }
    let d = humantime::parse_duration(t).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { unit, .. } => format!(
            "invalid duration `{s}`: unknown unit `{unit}` (use ms, s, m or h, e.g. 200ms, 1.5s, 2m)"
        ),
        humantime::DurationError::NumberOverflow => too_long(),
        e => format!("invalid duration `{s}`: {e} (expected e.g. 200ms, 1.5s, 2m)"),
    })?;
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

string_value!(
    HumanDuration,
    "A duration such as `200ms`, `1.5s`, `2m`.",
    |s| parse_duration(s).map(HumanDuration)
);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A compiled RFC 9535 JSONPath with its source text for reports.
#[derive(Debug, Clone)]
pub struct JsonPathExpr {
    pub source: String,
    pub path: serde_json_path::JsonPath,
}

string_value!(
    JsonPathExpr,
    "An RFC 9535 JSONPath such as `$.items[0].id`.",
    |s| serde_json_path::JsonPath::parse(s)
        .map(|path| JsonPathExpr {
            source: s.to_string(),
            path,
        })
        .map_err(|e| format!("invalid JSONPath `{s}`: {e}"))
);

/// A regular expression (Rust `regex` syntax, unanchored).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

string_value!(Pattern, "A regular expression (unanchored).", |s| {
    regex::Regex::new(s)
        .map(Pattern)
        .map_err(|e| regex_error(s, &e))
});

/// regex's syntax errors span several lines (pattern, caret, message); keep
/// one line: the reason and where in the pattern it was found.
fn regex_error(s: &str, e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let reason = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| lines.last().copied().unwrap_or("invalid"));
    // The caret line sits under the pattern line, both indented by 4.
    let at = lines
        .iter()
        .position(|l| !l.trim().is_empty() && l.trim().chars().all(|c| c == '^'))
        .filter(|&i| i >= 2)
        .map(|i| lines[i].find('^').unwrap_or(4).saturating_sub(4) + 1);
    match at {
        Some(col) => format!(
            "invalid regular expression `{s}`: {reason} (at character {col} of the pattern)"
        ),
        None => format!("invalid regular expression `{s}`: {reason}"),
    }
}

/// A PromQL-style sample selector: `name{label="v",other=~"re"}`.
#[derive(Debug, Clone)]
pub struct MetricSelector {
    pub source: String,
    pub selector: crate::metrics::Selector,
}

string_value!(
    MetricSelector,
    "A PromQL-style selector, e.g. `http_requests_total{status_code=~\"5..\"}`.",
    |s| s
        .parse::<crate::metrics::Selector>()
        .map(|selector| MetricSelector {
            source: s.to_string(),
            selector,
        })
        .map_err(|e| format!("invalid metric selector `{s}`: {e}"))
);

/// A ratio written as a fraction (`0.001`) or a percentage (`0.1%`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio(pub f64);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ratio;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a ratio such as 0.001 or 0.1%")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ratio, E> {
                check_ratio(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ratio, E> {
                check_ratio(v as f64).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ratio, E> {
                check_ratio(v as f64).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ratio, E> {
                let t = v.trim();
                let parsed = match t.strip_suffix('%') {
                    Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
                    None => t.parse::<f64>(),
                };
                parsed
                    .map_err(|_| E::custom(format!("invalid ratio `{v}`: expected 0.001 or 0.1%")))
                    .and_then(|x| check_ratio(x).map_err(E::custom))
            }
        }
        d.deserialize_any(V)
    }
}

fn check_ratio(v: f64) -> Result<Ratio, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(Ratio(v))
    } else {
        Err(format!("ratio {v} is outside 0..1 (use `5%` or `0.05`)"))
    }
}

impl JsonSchema for Ratio {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Ratio")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A ratio: 0.001 or \"0.1%\".",
            "anyOf": [
                { "type": "number", "minimum": 0, "maximum": 1 },
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*%\\s*$" }
            ]
        })
    }
}

/// Accepted statuses: a code, a list of codes and classes, or a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpec(pub Vec<StatusMatch>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    /// `2xx` is stored as 2.
    Class(u16),
}

impl StatusMatch {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Code(c) => c == status,
            StatusMatch::Class(c) => status / 100 == c,
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusMatch::Code(c) => write!(f, "{c}"),
            StatusMatch::Class(c) => write!(f, "{c}xx"),
        }
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(" or "))
    }
}

fn status_code<E: de::Error>(v: u64) -> Result<StatusMatch, E> {
    if (100..=599).contains(&v) {
        Ok(StatusMatch::Code(v as u16))
    } else {
        Err(E::custom(format!(
            "invalid HTTP status {v}: expected 100..599"
        )))
    }
}

fn status_class<E: de::Error>(v: &str) -> Result<StatusMatch, E> {
    let t = v.trim();
    if let Ok(n) = t.parse::<u64>() {
        return status_code(n);
    }
    let b = t.as_bytes();
    if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && t[1..].eq_ignore_ascii_case("xx") {
        return Ok(StatusMatch::Class(u16::from(b[0] - b'0')));
    }
    Err(E::custom(format!(
        "invalid status `{v}`: expected a code like 200 or a class like 2xx"
    )))
}

impl<'de> Deserialize<'de> for StatusSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StatusSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code (200), a class (\"2xx\") or a list of them")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusSpec, E> {
                Ok(StatusSpec(vec![status_code(v)?]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusSpec, E> {
                Err(E::custom(format!(
                    "invalid HTTP status {v}: expected 100..599"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusSpec, E> {
                Ok(StatusSpec(vec![status_class(v)?]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<StatusSpec, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<StatusItem>()? {
                    out.push(item.0);
                }
                if out.is_empty() {
                    return Err(de::Error::custom("status list is empty"));
                }
                Ok(StatusSpec(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct StatusItem(StatusMatch);

impl<'de> Deserialize<'de> for StatusItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code (200) or a class (\"2xx\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusItem, E> {
                status_code(v).map(StatusItem)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusItem, E> {
                status_class(v).map(StatusItem)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StatusSpec {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("StatusSpec")
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A status code (200), a class (\"2xx\") or a list of them.",
            "anyOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^[1-5][xX][xX]$" },
                { "type": "array", "minItems": 1, "items": {
                    "anyOf": [
                        { "type": "integer", "minimum": 100, "maximum": 599 },
                        { "type": "string", "pattern": "^[1-5][xX][xX]$" }
                    ]
                } }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Comparison {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Comparison;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a map of comparisons (equals, lt, le, gt, ge)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Comparison, E> {
                Ok(Comparison::Exactly(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Comparison, A::Error> {
                NumOps::deserialize(MapAccessDeserializer::new(map)).map(Comparison::Ops)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Capture {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Capture;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSONPath string or a map with one of path, header, metric")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Capture, E> {
                serde_json_path::JsonPath::parse(v)
                    .map(|path| {
                        Capture::Path(JsonPathExpr {
                            source: v.to_string(),
                            path,
                        })
                    })
                    .map_err(|e| E::custom(format!("invalid JSONPath `{v}`: {e}")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Capture, A::Error> {
                let src = CaptureSource::deserialize(MapAccessDeserializer::new(map))?;
                let n = usize::from(src.path.is_some())
                    + usize::from(src.header.is_some())
                    + usize::from(src.metric.is_some());
                if n != 1 {
                    return Err(de::Error::custom(
                        "a capture needs exactly one of `path`, `header` or `metric`",
                    ));
                }
                Ok(Capture::Source(src))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number or a `${var}`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count::Number)
                    .map_err(|_| E::custom("count is too large"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                if let Ok(n) = v.trim().parse::<u32>() {
                    return Ok(Count::Number(n));
                }
                match super::template::references(v) {
                    Ok(r) if !r.is_empty() => Ok(Count::Var(v.to_string())),
                    _ => Err(E::custom(format!(
                        "`{v}` is neither a whole number nor a `${{var}}`"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandLine;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of arguments (`[program, arg, ...]`) or, with `shell: true`, one string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandLine, E> {
                Ok(CommandLine::Shell(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<CommandLine, A::Error> {
                Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(CommandLine::Argv)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_range_parse() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("8760.0h"), Ok(MAX_DURATION));
    }

    #[test]
    fn bad_durations_are_errors_not_panics() {
        for (input, expect) in [
            ("0", "a unit is required"),
            ("-1s", "expected a number followed by a unit"),
            ("-1.5s", "expected a number followed by a unit"),
            ("NaN s", "expected a number followed by a unit"),
            ("inf s", "expected a number followed by a unit"),
            ("1e308s", "unknown unit"),
            ("1e308.0s", "unknown unit"),
            (
                "18446744073709551616s",
                "longer than the most allowed, 1 year",
            ),
            (
                "18446744073709551615s",
                "longer than the most allowed, 1 year",
            ),
            (
                "99999999999999999999.5h",
                "longer than the most allowed, 1 year",
            ),
            ("9999999h", "longer than the most allowed, 1 year"),
            ("366d", "longer than the most allowed, 1 year"),
            ("8760.5h", "longer than the most allowed, 1 year"),
            (
                &format!("{}.5s", "9".repeat(400)),
                "longer than the most allowed, 1 year",
            ),
            ("1.2.3s", "expected e.g."),
            ("", "expected a number followed by a unit"),
        ] {
            match parse_duration(input) {
                Ok(d) => panic!("`{input}` parsed as {d:?}"),
                Err(e) => assert!(e.contains(expect), "`{input}`: {e}"),
            }
        }
    }
}
