//! Strict line parser for the Prometheus text format 0.0.4 and OpenMetrics text.
//!
//! Strict on purpose: a post-deploy gate that silently drops a line it does not
//! understand can turn "the 5xx counter exists and is 3" into "no such series,
//! delta 0, pass". Every line is either understood completely or rejected with
//! its 1-based line and column.

use std::collections::{HashMap, HashSet};

/// One scrape, families in the order they first appear so reports read like
/// the source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
}

/// A metric family. `samples` may be empty: a family declared with HELP/TYPE
/// but never observed (e.g. a DB histogram before the first query) must stay
/// visible so a check can say "declared but empty" instead of "missing".
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: Option<String>,
    pub kind: MetricKind,
    pub samples: Vec<Sample>,
}

/// `Untyped` is the 0.0.4 spelling and also what a sample without any TYPE
/// line gets; `Unknown` is only produced by an explicit OpenMetrics
/// `# TYPE x unknown`, kept apart so the source can be reproduced faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
    Info,
    StateSet,
    GaugeHistogram,
    Unknown,
}

/// One sample line. `name` is the full sample name (with `_bucket`, `_sum`,
/// `_count`, `_total`, ...) because that is what selectors match on; labels
/// keep source order and are already unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// Label lookup; linear because real samples carry a handful of labels.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where and why the input was rejected; line and column are 1-based and the
/// column counts characters, so it matches what an editor shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl MetricKind {
    fn from_type_token(token: &str) -> Option<Self> {
        Some(match token {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            "untyped" => Self::Untyped,
            "unknown" => Self::Unknown,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            "gaugehistogram" => Self::GaugeHistogram,
            _ => return None,
        })
    }

    /// Suffixes under which a family of this kind emits child samples. Both
    /// exposition dialects are covered: 0.0.4 names counters `foo_total` in
    /// the TYPE line itself (exact match), OpenMetrics declares `foo` and
    /// emits `foo_total` (suffix match).
    pub(crate) fn child_suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["_total", "_created"],
            Self::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Self::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            Self::Summary => &["_sum", "_count", "_created"],
            Self::Info => &["_info"],
            Self::Gauge | Self::Untyped | Self::StateSet | Self::Unknown => &[],
        }
    }
}

/// Family that owns a sample name: an exact family name wins, otherwise a
/// declared base family whose kind emits that suffix. Shared by the parser
/// and [`Exposition::family`](crate::metrics::Exposition::family) so lookups
/// agree with where samples were filed.
pub(crate) fn resolve_family(
    name: &str,
    lookup: impl Fn(&str) -> Option<(usize, MetricKind)>,
) -> Option<usize> {
    if let Some((i, _)) = lookup(name) {
        return Some(i);
    }
    [
        "_bucket", "_sum", "_count", "_created", "_total", "_gsum", "_gcount", "_info",
    ]
    .iter()
    .filter_map(|suffix| Some((*suffix, name.strip_suffix(suffix)?)))
    .find_map(|(suffix, base)| {
        let (i, kind) = lookup(base)?;
        kind.child_suffixes().contains(&suffix).then_some(i)
    })
}

/// Parses a whole exposition. OpenMetrics is recognised by its mandatory
/// trailing `# EOF`, which also switches timestamps from integer
/// milliseconds (0.0.4) to float seconds (OpenMetrics).
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let openmetrics = text.lines().rev().find(|l| !l.trim().is_empty()) == Some("# EOF");
    let mut state = State {
        openmetrics,
        ..State::default()
    };
    for (i, line) in text.lines().enumerate() {
        let mut cur = Cursor {
            line,
            pos: 0,
            line_no: i + 1,
        };
        cur.skip_blanks();
        if cur.at_end() {
            continue;
        }
        if state.eof {
            return Err(cur.err("content after # EOF"));
        }
        if cur.peek() == Some('#') {
            state.comment(&mut cur)?;
        } else {
            state.sample(&mut cur)?;
        }
    }
    Ok(Exposition {
        families: state.families,
    })
}

#[derive(Default)]
struct State {
    openmetrics: bool,
    eof: bool,
    families: Vec<Family>,
    index: HashMap<String, usize>,
    typed: HashSet<usize>,
    series: HashSet<(String, Vec<(String, String)>)>,
}

impl State {
    fn family_for_declaration(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.families.push(Family {
            name: name.to_string(),
            help: None,
            kind: MetricKind::Untyped,
            samples: Vec::new(),
        });
        let i = self.families.len() - 1;
        self.index.insert(name.to_string(), i);
        i
    }

    fn comment(&mut self, cur: &mut Cursor) -> Result<(), ParseError> {
        cur.bump(); // '#'
        cur.skip_blanks();
        let keyword = cur.take_while(|c| c != ' ' && c != '\t');
        match keyword {
            "HELP" => self.help(cur),
            "TYPE" => self.type_line(cur),
            "EOF" => {
                cur.skip_blanks();
                if !cur.at_end() {
                    return Err(cur.err("unexpected text after # EOF"));
                }
                self.eof = true;
                Ok(())
            }
            // Free-form comments (and OpenMetrics `# UNIT`) carry nothing a
            // check can assert on.
            _ => Ok(()),
        }
    }

    fn help(&mut self, cur: &mut Cursor) -> Result<(), ParseError> {
        cur.expect_blanks("expected whitespace after HELP")?;
        let name_pos = cur.pos;
        let name = cur.metric_name()?;
        let text = if cur.at_end() {
            String::new()
        } else {
            cur.expect_blanks("expected whitespace after metric name")?;
            cur.help_text()?
        };
        let i = self.family_for_declaration(name);
        if self.families[i].help.is_some() {
            return Err(cur.err_at(name_pos, format!("second HELP line for {name}")));
        }
        self.families[i].help = Some(text);
        Ok(())
    }

    fn type_line(&mut self, cur: &mut Cursor) -> Result<(), ParseError> {
        cur.expect_blanks("expected whitespace after TYPE")?;
        let name_pos = cur.pos;
        let name = cur.metric_name()?;
        cur.expect_blanks("expected whitespace after metric name")?;
        let kind_pos = cur.pos;
        let token = cur.take_while(|c| c != ' ' && c != '\t');
        let kind = MetricKind::from_type_token(token)
            .ok_or_else(|| cur.err_at(kind_pos, format!("unknown metric type {token:?}")))?;
        cur.skip_blanks();
        if !cur.at_end() {
            return Err(cur.err("unexpected text after metric type"));
        }
        let i = self.family_for_declaration(name);
        if !self.typed.insert(i) {
            return Err(cur.err_at(name_pos, format!("second TYPE line for {name}")));
        }
        if !self.families[i].samples.is_empty() {
            return Err(cur.err_at(name_pos, format!("TYPE line for {name} after its samples")));
        }
        self.families[i].kind = kind;
        Ok(())
    }

    fn sample(&mut self, cur: &mut Cursor) -> Result<(), ParseError> {
        let start = cur.pos;
        let name = cur.metric_name()?;
        let labels_pos = cur.pos;
        let labels = if cur.peek() == Some('{') {
            cur.labels()?
        } else {
            Vec::new()
        };
        cur.expect_blanks("expected whitespace before the sample value")?;
        let value = cur.value()?;
        cur.skip_blanks();
        let mut timestamp_ms = None;
        if !cur.at_end() && cur.peek() != Some('#') {
            timestamp_ms = Some(cur.timestamp(self.openmetrics)?);
            cur.skip_blanks();
        }
        if cur.peek() == Some('#') {
            cur.exemplar()?;
        }
        if !cur.at_end() {
            return Err(cur.err("unexpected text after sample"));
        }

        let lookup = |n: &str| self.index.get(n).map(|&i| (i, self.families[i].kind));
        let family = match resolve_family(name, lookup) {
            Some(i) => i,
            None => self.family_for_declaration(name),
        };
        check_child(
            &self.families[family],
            name,
            &labels,
            cur,
            (start, labels_pos),
        )?;

        let labels: Vec<(String, String)> = labels.into_iter().map(|(k, v, _)| (k, v)).collect();
        let mut key = labels.clone();
        key.sort();
        if !self.series.insert((name.to_string(), key)) {
            return Err(cur.err_at(start, format!("duplicate sample for series {name}")));
        }
        self.families[family].samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
            timestamp_ms,
        });
        Ok(())
    }
}

/// Rejects samples that would make bucket or quantile maths wrong later:
/// a bucket without a numeric `le`, a summary quantile without `quantile`,
/// or a bare histogram name that has no defined meaning.
fn check_child(
    family: &Family,
    name: &str,
    labels: &[(String, String, usize)],
    cur: &Cursor,
    (name_pos, labels_pos): (usize, usize),
) -> Result<(), ParseError> {
    let required = match family.kind {
        MetricKind::Histogram | MetricKind::GaugeHistogram => {
            if name == family.name {
                return Err(cur.err_at(
                    name_pos,
                    format!("histogram {name} sample needs a _bucket/_sum/_count suffix"),
                ));
            }
            name.ends_with("_bucket").then_some("le")
        }
        MetricKind::Summary => (name == family.name).then_some("quantile"),
        _ => None,
    };
    let Some(required) = required else {
        return Ok(());
    };
    match labels.iter().find(|(k, _, _)| k == required) {
        None => Err(cur.err_at(labels_pos, format!("{name} needs a {required:?} label"))),
        Some((_, v, pos)) => match parse_float(v) {
            Some(_) => Ok(()),
            None => Err(cur.err_at(
                *pos,
                format!("{required:?} label value {v:?} is not a number"),
            )),
        },
    }
}

/// Prometheus' own float spelling: decimals with optional exponent, and the
/// case-insensitive words Inf/+Inf/-Inf/NaN. Rust's `f64::from_str` alone
/// would also accept `infinity`, which no exporter writes.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    s.parse().ok()
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

struct Cursor<'a> {
    line: &'a str,
    pos: usize,
    line_no: usize,
}

impl<'a> Cursor<'a> {
    fn err_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line_no,
            column: self.line[..pos].chars().count() + 1,
            message: message.into(),
        }
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        self.err_at(self.pos, message)
    }

    fn peek(&self) -> Option<char> {
        self.line[self.pos..].chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !pred(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.line[start..self.pos]
    }

    fn skip_blanks(&mut self) {
        self.take_while(|c| c == ' ' || c == '\t');
    }

    fn expect_blanks(&mut self, message: &str) -> Result<(), ParseError> {
        if self.take_while(|c| c == ' ' || c == '\t').is_empty() {
            return Err(self.err(message));
        }
        Ok(())
    }

    fn metric_name(&mut self) -> Result<&'a str, ParseError> {
        if !self.peek().is_some_and(is_name_start) {
            return Err(self.err("expected metric name"));
        }
        Ok(self.take_while(is_name_char))
    }

    fn help_text(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        while let Some(c) = self.bump() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let at = self.pos - 1;
            match self.bump() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') => out.push('"'),
                _ => return Err(self.err_at(at, "invalid escape sequence in HELP text")),
            }
        }
        Ok(out)
    }

    /// Labels as (name, unescaped value, byte offset of the value) so later
    /// checks can point at the offending value.
    fn labels(&mut self) -> Result<Vec<(String, String, usize)>, ParseError> {
        self.bump(); // '{'
        let mut labels: Vec<(String, String, usize)> = Vec::new();
        loop {
            self.skip_blanks();
            if self.peek() == Some('}') {
                self.bump();
                return Ok(labels);
            }
            let name_pos = self.pos;
            if !self.peek().is_some_and(is_name_start) {
                return Err(self.err("expected label name or '}'"));
            }
            let name = self.take_while(is_name_char);
            if labels.iter().any(|(k, _, _)| k == name) {
                return Err(self.err_at(name_pos, format!("duplicate label {name}")));
            }
            self.skip_blanks();
            if self.peek() != Some('=') {
                return Err(self.err("expected '=' after label name"));
            }
            self.bump();
            self.skip_blanks();
            let value_pos = self.pos;
            let value = self.quoted()?;
            labels.push((name.to_string(), value, value_pos));
            self.skip_blanks();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                _ => return Err(self.err("expected ',' or '}' after label value")),
            }
        }
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        if self.peek() != Some('"') {
            return Err(self.err("expected '\"' to start label value"));
        }
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err_at(open, "unterminated label value")),
                Some('"') => return Ok(out),
                Some('\\') => {
                    let at = self.pos - 1;
                    match self.bump() {
                        Some('\\') => out.push('\\'),
                        Some('"') => out.push('"'),
                        Some('n') => out.push('\n'),
                        _ => {
                            return Err(self.err_at(at, "invalid escape sequence in label value"));
                        }
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn token(&mut self) -> (usize, &'a str) {
        let start = self.pos;
        (start, self.take_while(|c| c != ' ' && c != '\t'))
    }

    fn value(&mut self) -> Result<f64, ParseError> {
        let (start, tok) = self.token();
        parse_float(tok).ok_or_else(|| self.err_at(start, format!("invalid sample value {tok:?}")))
    }

    fn timestamp(&mut self, openmetrics: bool) -> Result<i64, ParseError> {
        let (start, tok) = self.token();
        let bad = || self.err_at(start, format!("invalid timestamp {tok:?}"));
        if openmetrics {
            match parse_float(tok) {
                Some(secs) if secs.is_finite() => Ok((secs * 1000.0).round() as i64),
                _ => Err(bad()),
            }
        } else {
            tok.parse::<i64>().map_err(|_| bad())
        }
    }

    /// OpenMetrics exemplars (` # {trace_id="..."} 0.5 [ts]`) are validated
    /// and dropped: checks assert on sample values, not on trace links.
    fn exemplar(&mut self) -> Result<(), ParseError> {
        self.bump(); // '#'
        self.skip_blanks();
        if self.peek() != Some('{') {
            return Err(self.err("expected '{' to start exemplar labels"));
        }
        self.labels()?;
        self.expect_blanks("expected whitespace before the exemplar value")?;
        self.value()?;
        self.skip_blanks();
        if !self.at_end() {
            self.timestamp(true)?;
            self.skip_blanks();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_prometheus_spelling() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("1.5e-3"), Some(0.0015));
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("infinity"), None);
        assert_eq!(parse_float("0x10"), None);
        assert_eq!(parse_float("1_000"), None);
        assert_eq!(parse_float(""), None);
    }

    #[test]
    fn resolves_children_only_for_kinds_that_emit_them() {
        let families = [("h", MetricKind::Histogram), ("g", MetricKind::Gauge)];
        let lookup = |n: &str| {
            families
                .iter()
                .position(|(f, _)| *f == n)
                .map(|i| (i, families[i].1))
        };
        assert_eq!(resolve_family("h_bucket", lookup), Some(0));
        assert_eq!(resolve_family("h_count", lookup), Some(0));
        assert_eq!(resolve_family("h_total", lookup), None);
        assert_eq!(resolve_family("g_sum", lookup), None);
        assert_eq!(resolve_family("g", lookup), Some(1));
    }

    #[test]
    fn openmetrics_timestamps_are_seconds() {
        let om = parse("a 1 1520879607.789\n# EOF\n").unwrap();
        assert_eq!(
            om.families[0].samples[0].timestamp_ms,
            Some(1_520_879_607_789)
        );
        let classic = parse("a 1 1520879607789\n").unwrap();
        assert_eq!(
            classic.families[0].samples[0].timestamp_ms,
            Some(1_520_879_607_789)
        );
        assert!(parse("a 1 1.5\n").is_err());
    }

    #[test]
    fn exemplars_are_accepted_and_dropped() {
        let text = "# TYPE h histogram\n\
                    h_bucket{le=\"1\"} 1 # {trace_id=\"abc\"} 0.5 1520879607.789\n\
                    h_bucket{le=\"+Inf\"} 1\n# EOF\n";
        let e = parse(text).unwrap();
        assert_eq!(e.families[0].samples.len(), 2);
        assert!(parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1 # trace\n").is_err());
    }

    /// Where parsing `text` fails, as (line, column).
    fn error_at(text: &str) -> (usize, usize) {
        let e = parse(text).unwrap_err();
        (e.line, e.column)
    }

    #[test]
    fn declaration_order_rules() {
        for text in [
            "a 1\n# TYPE a gauge\n",
            "# TYPE a gauge\n# TYPE a counter\n",
            "# HELP a x\n# HELP a y\n",
        ] {
            assert_eq!(error_at(text), (2, 8), "{text:?}");
        }
        // HELP may come after TYPE, and a family may be declared only.
        let e = parse("# TYPE a gauge\n# HELP a x\n").unwrap();
        assert_eq!(e.families.len(), 1);
        assert_eq!(e.families[0].help.as_deref(), Some("x"));
        assert!(e.families[0].samples.is_empty());
    }

    #[test]
    fn histogram_children_are_checked() {
        for (text, at) in [
            ("# TYPE h histogram\nh_bucket{x=\"1\"} 1\n", (2, 9)),
            ("# TYPE h histogram\nh_bucket{le=\"fast\"} 1\n", (2, 13)),
            ("# TYPE h histogram\n  h 1\n", (2, 3)),
            ("# TYPE s summary\ns 1\n", (2, 2)),
        ] {
            assert_eq!(error_at(text), at, "{text:?}");
        }
    }
}
