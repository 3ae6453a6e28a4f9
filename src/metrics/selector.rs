//! PromQL-style instant-vector selectors (`name{label=~"re",...}`), the
//! notation people already write in dashboards and alerts, so check files can
//! reuse it verbatim.

use std::fmt;
use std::str::FromStr;

use regex::Regex;

use super::parse::Sample;

/// Picks samples by full sample name plus label matchers. The name is the
/// exact sample name (`http_requests_total`, `foo_bucket`); only
/// `histogram_quantile` takes a family base name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<LabelMatcher>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

/// `=`, `!=`, `=~`, `!~`. As in PromQL an absent label compares as the empty
/// string, so `{x=""}` matches series without `x` and `{x!="a"}` matches them
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

/// Where a selector string is wrong; column is 1-based in characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector column {column}: {message}")]
pub struct SelectorError {
    pub column: usize,
    pub message: String,
}

impl Selector {
    /// Selector on a name alone, for the common "does this exist / what is
    /// its total" check.
    pub fn new(metric: impl Into<String>) -> Self {
        Self {
            metric: metric.into(),
            matchers: Vec::new(),
        }
    }

    pub(crate) fn compile(&self) -> CompiledSelector<'_> {
        CompiledSelector {
            metric: &self.metric,
            matchers: self.matchers.iter().map(CompiledMatcher::new).collect(),
        }
    }
}

impl LabelMatcher {
    /// Validates the regex up front so a typo fails where it was written
    /// rather than as a silently empty selection.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let m = Self {
            name: name.into(),
            op,
            value: value.into(),
        };
        if matches!(op, MatchOp::Re | MatchOp::NotRe) {
            anchored(&m.value)?;
        }
        Ok(m)
    }
}

/// PromQL anchors regex matchers at both ends (and since Prometheus 3 lets
/// `.` match newlines); users expect `=~"5.."` not to match `1500`.
fn anchored(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{re})$"))
}

pub(crate) struct CompiledSelector<'a> {
    metric: &'a str,
    matchers: Vec<CompiledMatcher<'a>>,
}

impl CompiledSelector<'_> {
    pub(crate) fn matches(&self, sample: &Sample) -> bool {
        sample.name == self.metric && self.matches_labels(sample)
    }

    pub(crate) fn matches_labels(&self, sample: &Sample) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(sample.label(&m.matcher.name).unwrap_or("")))
    }
}

struct CompiledMatcher<'a> {
    matcher: &'a LabelMatcher,
    /// `None` for a hand-built matcher whose regex does not compile: it then
    /// matches nothing, because a broken filter must not widen a selection.
    re: Option<Regex>,
}

impl<'a> CompiledMatcher<'a> {
    fn new(matcher: &'a LabelMatcher) -> Self {
        let re = match matcher.op {
            MatchOp::Re | MatchOp::NotRe => anchored(&matcher.value).ok(),
            MatchOp::Eq | MatchOp::Ne => None,
        };
        Self { matcher, re }
    }

    fn matches(&self, value: &str) -> bool {
        match (self.matcher.op, &self.re) {
            (MatchOp::Eq, _) => value == self.matcher.value,
            (MatchOp::Ne, _) => value != self.matcher.value,
            (MatchOp::Re, Some(re)) => re.is_match(value),
            (MatchOp::NotRe, Some(re)) => !re.is_match(value),
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        })
    }
}

/// Renders back to PromQL syntax so reports can quote the failing selector.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if self.matchers.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let escaped = m
                .value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            write!(f, "{}{}\"{}\"", m.name, m.op, escaped)?;
        }
        f.write_str("}")
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = SelParser { s, pos: 0 };
        p.skip_ws();
        let metric = p.name("expected metric name")?.to_string();
        let mut matchers = Vec::new();
        p.skip_ws();
        if p.peek() == Some('{') {
            p.bump();
            loop {
                p.skip_ws();
                if p.peek() == Some('}') {
                    p.bump();
                    break;
                }
                matchers.push(p.matcher()?);
                p.skip_ws();
                match p.peek() {
                    Some(',') => {
                        p.bump();
                    }
                    Some('}') => {}
                    _ => return Err(p.err("expected ',' or '}'")),
                }
            }
            p.skip_ws();
        }
        if p.pos < s.len() {
            return Err(p.err("unexpected text after selector"));
        }
        Ok(Selector { metric, matchers })
    }
}

struct SelParser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> SelParser<'a> {
    fn err_at(&self, pos: usize, message: impl Into<String>) -> SelectorError {
        SelectorError {
            column: self.s[..pos].chars().count() + 1,
            message: message.into(),
        }
    }

    fn err(&self, message: impl Into<String>) -> SelectorError {
        self.err_at(self.pos, message)
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn name(&mut self, message: &str) -> Result<&'a str, SelectorError> {
        let start = self.pos;
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        {
            return Err(self.err(message));
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            self.bump();
        }
        Ok(&self.s[start..self.pos])
    }

    fn matcher(&mut self) -> Result<LabelMatcher, SelectorError> {
        let name = self.name("expected label name or '}'")?.to_string();
        self.skip_ws();
        let rest = &self.s[self.pos..];
        let (op, len) = if rest.starts_with("=~") {
            (MatchOp::Re, 2)
        } else if rest.starts_with("!~") {
            (MatchOp::NotRe, 2)
        } else if rest.starts_with("!=") {
            (MatchOp::Ne, 2)
        } else if rest.starts_with('=') {
            (MatchOp::Eq, 1)
        } else {
            return Err(self.err("expected one of =, !=, =~, !~"));
        };
        self.pos += len;
        self.skip_ws();
        let value_pos = self.pos;
        let value = self.string()?;
        LabelMatcher::new(name, op, value)
            .map_err(|e| self.err_at(value_pos, format!("invalid regex: {e}")))
    }

    /// PromQL string literals: "..." and '...' with Go-style escapes, `...`
    /// raw.
    fn string(&mut self) -> Result<String, SelectorError> {
        let open = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.err("expected quoted label value")),
        };
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err_at(open, "unterminated string")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') if quote != '`' => {
                    let esc = self.pos - 1;
                    out.push(match self.bump() {
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some('\'') => '\'',
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        _ => return Err(self.err_at(esc, "invalid escape sequence")),
                    });
                }
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(labels: &[(&str, &str)]) -> Sample {
        Sample {
            name: "m".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: 1.0,
            timestamp_ms: None,
        }
    }

    #[test]
    fn parses_all_operators_and_quotes() {
        let sel: Selector = r#" m { a="x\"y", b!='z', c=~`5..`, d!~"a|b", } "#.parse().unwrap();
        assert_eq!(sel.metric, "m");
        let ops: Vec<_> = sel.matchers.iter().map(|m| m.op).collect();
        assert_eq!(ops, [MatchOp::Eq, MatchOp::Ne, MatchOp::Re, MatchOp::NotRe]);
        assert_eq!(sel.matchers[0].value, "x\"y");
        assert_eq!(sel.matchers[2].value, "5..");
    }

    #[test]
    fn bare_name_and_colons() {
        let sel: Selector = "job:req:rate5m".parse().unwrap();
        assert_eq!(sel, Selector::new("job:req:rate5m"));
    }

    #[test]
    fn regex_is_fully_anchored() {
        let sel: Selector = r#"m{code=~"5.."}"#.parse().unwrap();
        let c = sel.compile();
        assert!(c.matches(&sample(&[("code", "503")])));
        assert!(!c.matches(&sample(&[("code", "1503")])));
        assert!(!c.matches(&sample(&[("code", "5030")])));
    }

    #[test]
    fn absent_label_is_empty_string() {
        let c_eq: Selector = r#"m{x=""}"#.parse().unwrap();
        let c_ne: Selector = r#"m{x!="a"}"#.parse().unwrap();
        assert!(c_eq.compile().matches(&sample(&[])));
        assert!(c_ne.compile().matches(&sample(&[])));
        assert!(!c_eq.compile().matches(&sample(&[("x", "a")])));
    }

    #[test]
    fn invalid_hand_built_regex_matches_nothing() {
        let sel = Selector {
            metric: "m".into(),
            matchers: vec![LabelMatcher {
                name: "x".into(),
                op: MatchOp::NotRe,
                value: "(".into(),
            }],
        };
        assert!(!sel.compile().matches(&sample(&[("x", "a")])));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("", 1, "expected metric name"),
            ("m{", 3, "expected label name"),
            ("m{a}", 4, "expected one of"),
            ("m{a=x}", 5, "expected quoted"),
            (r#"m{a="x"b="y"}"#, 8, "expected ',' or '}'"),
            (r#"m{a=~"("}"#, 6, "invalid regex"),
            (r#"m{a="x} "#, 5, "unterminated"),
            (r#"m{a="x"} z"#, 10, "unexpected text"),
            (r#"m{a="\q"}"#, 6, "invalid escape"),
        ];
        for (input, column, msg) in cases {
            let e = input.parse::<Selector>().unwrap_err();
            assert_eq!(e.column, column, "{input}: {e}");
            assert!(e.message.contains(msg), "{input}: {e}");
        }
    }

    #[test]
    fn display_round_trips() {
        let text = r#"m{a="x\"y",b=~"5.."}"#;
        let sel: Selector = text.parse().unwrap();
        assert_eq!(sel.to_string(), text);
        assert_eq!(sel.to_string().parse::<Selector>().unwrap(), sel);
    }
}
