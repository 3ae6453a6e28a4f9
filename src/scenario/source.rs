//! Reading scenario files: YAML → typed model, with every error pinned to a
//! file, line and column and shown with the offending line and a caret.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

use super::model::Scenario;
use super::repair::{Aim, Assumed, Repairer};

/// Enough for any real file; a bound so a pathological one cannot loop.
const MAX_REPAIRS: usize = 200;

/// What reading a file found.
#[derive(Debug)]
pub struct Parsed {
    /// The model of the file without its defective entries; `None` when
    /// what is left cannot be read (a YAML syntax error, a missing `name`).
    pub scenario: Option<Scenario>,
    /// The file with the defective entries blanked out: same lines and
    /// columns, for the checks run on `scenario`.
    pub repaired: Source,
    pub errors: Vec<ScenarioError>,
    /// What the removed entries defined.
    pub assumed: Assumed,
}

/// A problem in a scenario file, found before any request is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: u64,
    pub column: u64,
    pub message: String,
    /// The offending source line with a caret under the column.
    pub snippet: Option<String>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        }
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

/// The text of one file, kept to render snippets for errors found later.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read file: {e}"),
            snippet: None,
        })?;
        Ok(Source {
            path: path.to_path_buf(),
            text,
        })
    }

    /// An error at `loc` (a location from the YAML parser).
    pub fn error_at(&self, loc: Location, message: impl Into<String>) -> ScenarioError {
        self.error_at_line(loc.line(), loc.column(), message)
    }

    pub fn error_at_line(
        &self,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> ScenarioError {
        let snippet = (line > 0)
            .then(|| self.text.lines().nth(line as usize - 1))
            .flatten()
            .map(|l| {
                let gutter = format!("{line:>4} | ");
                let pad = " ".repeat(gutter.len() + (column.max(1) as usize - 1));
                format!("{gutter}{l}\n{pad}^")
            });
        ScenarioError {
            file: self.path.clone(),
            line,
            column,
            message: message.into(),
            snippet,
        }
    }

    pub fn error_whole(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.path.clone(),
            line: 0,
            column: 0,
            message: message.into(),
            snippet: None,
        }
    }

    /// Parses the YAML into the typed model, collecting every defect the
    /// deserializer can find (see `repair`), not only the first.
    pub fn parse_all(&self) -> Parsed {
        let mut parsed = Parsed {
            scenario: None,
            repaired: self.clone(),
            errors: Vec::new(),
            assumed: Assumed::default(),
        };
        if let Some(e) = self.no_content() {
            parsed.errors.push(e);
            return parsed;
        }
        let mut rep = Repairer::new(&self.text);
        for _ in 0..MAX_REPAIRS {
            let current = Source {
                path: self.path.clone(),
                text: rep.text.clone(),
            };
            let e = match serde_saphyr::from_str::<Scenario>(&current.text) {
                Ok(sc) => {
                    parsed.scenario = Some(sc);
                    parsed.repaired = current;
                    break;
                }
                Err(e) => e,
            };
            let loc = e.location().filter(|l| l.line() > 0);
            let (aim, consequence) = match e.without_snippet() {
                serde_saphyr::Error::SerdeUnknownField { .. }
                | serde_saphyr::Error::DuplicateMappingKey { .. } => (Aim::Key, false),
                serde_saphyr::Error::SerdeMissingField { field, .. } => (
                    Aim::MissingField,
                    loc.is_some_and(|l| rep.caused_by_repair(l.line(), l.column(), field)),
                ),
                _ => (Aim::Value, false),
            };
            if !consequence {
                parsed.errors.push(self.rerender(current.explain(&e)));
            }
            match loc {
                Some(l) if rep.repair(l.line(), l.column(), aim) => {}
                _ => break,
            }
        }
        parsed.assumed = rep.assumed;
        parsed
    }

    /// An error found in a repaired copy of this file, shown with this
    /// file's line (the copy's may be partly blanked out).
    pub fn rerender(&self, e: ScenarioError) -> ScenarioError {
        if e.line > 0 {
            self.error_at_line(e.line, e.column, e.message)
        } else {
            e
        }
    }

    fn no_content(&self) -> Option<ScenarioError> {
        if self.text.trim().is_empty() {
            return Some(
                self.error_whole("the file is empty; a scenario needs at least `name` and `steps`"),
            );
        }
        let no_content = self.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
        });
        no_content.then(|| {
            self.error_whole(
                "the file has only comments and blank lines; a scenario needs at least `name` and `steps`",
            )
        })
    }

    /// Turns a parser error into a message a scenario author can act on.
    fn explain(&self, e: &serde_saphyr::Error) -> ScenarioError {
        let inner = e.without_snippet();
        let raw = strip_position_suffix(&inner.to_string());
        let Some((line, col)) = e
            .location()
            .filter(|l| l.line() > 0)
            .map(|l| (l.line(), l.column()))
        else {
            return self.error_whole(did_you_mean(&raw));
        };
        match inner {
            serde_saphyr::Error::InvalidScalar { ty, .. } => {
                let found = self.scalar_at(line, col);
                let what = match self.key_before(line, col) {
                    Some(k) => format!("`{k}` must be {}", describe_scalar(ty)),
                    None => format!("expected {}", describe_scalar(ty)),
                };
                self.error_at_line(line, col, format!("{what}, found `{found}`"))
            }
            serde_saphyr::Error::Unexpected { expected, .. } => {
                let want = match *expected {
                    "sequence start" => "a list (`[a, b]` or `- a` lines)",
                    "mapping start" => "a mapping (`key: value` lines or `{ key: value }`)",
                    "scalar" | "string scalar" => "a single value, not a list or mapping",
                    other => other,
                };
                let msg = match self.key_before(line, col) {
                    Some(k) => format!(
                        "`{k}` must be {want}, found `{}`",
                        self.scalar_at(line, col)
                    ),
                    None => format!("expected {want} here"),
                };
                self.error_at_line(line, col, msg)
            }
            serde_saphyr::Error::SerdeMissingField { field, .. } => {
                self.missing_field(field, line, col)
            }
            serde_saphyr::Error::ExternalMessage { .. } => self.syntax_error(&raw, line, col),
            _ => self.error_at_line(line, col, did_you_mean(&raw)),
        }
    }

    fn line_text(&self, line: u64) -> &str {
        (line > 0)
            .then(|| self.text.lines().nth(line as usize - 1))
            .flatten()
            .unwrap_or("")
    }

    /// The scalar written at a position, as the author typed it.
    fn scalar_at(&self, line: u64, col: u64) -> String {
        let text = self.line_text(line);
        let rest: String = text.chars().skip(col.max(1) as usize - 1).collect();
        let in_flow = text
            .chars()
            .take(col.max(1) as usize - 1)
            .any(|c| c == '{' || c == '[');
        let mut out = String::new();
        let mut prev = ' ';
        for c in rest.chars() {
            if (c == '#' && prev.is_whitespace()) || (in_flow && matches!(c, ',' | '}' | ']')) {
                break;
            }
            out.push(c);
            prev = c;
        }
        out.trim().to_string()
    }

    /// The mapping key whose value starts at a position (`repeat` in `repeat: many`).
    fn key_before(&self, line: u64, col: u64) -> Option<String> {
        let prefix: String = self
            .line_text(line)
            .chars()
            .take(col.max(1) as usize - 1)
            .collect();
        let prefix = prefix.trim_end().strip_suffix(':')?;
        let start = prefix
            .rfind(|c: char| c.is_whitespace() || matches!(c, '{' | ',' | '['))
            .map_or(0, |i| i + 1);
        let key = prefix[start..].trim_matches(|c| c == '"' || c == '\'');
        (!key.is_empty()).then(|| key.to_string())
    }

    /// serde reports a missing field at the mapping that lacks it (or, for the
    /// top level, at some key of it); say which mapping and point at its key.
    fn missing_field(&self, field: &str, line: u64, col: u64) -> ScenarioError {
        let lines: Vec<&str> = self.text.lines().collect();
        let text = self.line_text(line);
        let prefix: String = text.chars().take(col.max(1) as usize - 1).collect();
        // A flow mapping: `request: { method: GET }`.
        if let Some(open) = prefix.rfind('{') {
            if let Some(key) = self.key_before(line, prefix[..open].chars().count() as u64 + 1) {
                let key_col = prefix[..open]
                    .trim_end()
                    .trim_end_matches(':')
                    .trim_end()
                    .len()
                    - key.len()
                    + 1;
                return self.error_at_line(
                    line,
                    key_col as u64,
                    format!("`{key}` is missing the required field `{field}`"),
                );
            }
        }
        // A block mapping: walk up to its first key, then to its parent.
        let content_col = |l: &str| {
            let mut t = l.trim_start();
            while let Some(r) = t.strip_prefix('-').filter(|r| r.starts_with(' ')) {
                t = r.trim_start();
            }
            l.len() - t.len()
        };
        let indent = |l: &str| l.len() - l.trim_start().len();
        let is_item = |l: &str| l.trim_start().starts_with("- ");
        let skip = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
        let key_col = col.max(1) as usize - 1;
        if line as usize > lines.len() || content_col(text) != key_col {
            return self.error_at_line(line, col, format!("missing required field `{field}`"));
        }
        let mut start = line as usize - 1;
        if !is_item(lines[start]) {
            for p in (0..start).rev() {
                if skip(lines[p]) || content_col(lines[p]) > key_col {
                    continue;
                }
                if content_col(lines[p]) < key_col {
                    break;
                }
                start = p;
                if is_item(lines[p]) {
                    break;
                }
            }
        }
        let first = lines[start];
        let item = is_item(first);
        let parent = (0..start).rev().find(|&p| {
            let l = lines[p];
            if skip(l) {
                return false;
            }
            if item {
                indent(l) <= indent(first) && !(is_item(l) && indent(l) == indent(first))
            } else {
                content_col(l) < key_col
            }
        });
        let parent_key = parent.and_then(|p| {
            let l = lines[p];
            l[content_col(l)..]
                .split_once(':')
                .map(|(k, _)| k.trim().to_string())
        });
        match (parent, parent_key) {
            (Some(_), Some(k)) if item => self.error_at_line(
                start as u64 + 1,
                key_col as u64 + 1,
                format!("this item of `{k}` is missing the required field `{field}`"),
            ),
            (Some(p), Some(k)) => self.error_at_line(
                p as u64 + 1,
                content_col(lines[p]) as u64 + 1,
                format!("`{k}` is missing the required field `{field}`"),
            ),
            _ => self.error_at_line(
                start as u64 + 1,
                key_col as u64 + 1,
                format!("the scenario is missing the required top-level field `{field}`"),
            ),
        }
    }

    /// YAML syntax errors are reported where the parser gave up, which for a
    /// forgotten `]` or `}` is lines later; point at the opener instead.
    fn syntax_error(&self, raw: &str, line: u64, col: u64) -> ScenarioError {
        if let Some((c, l, k)) = self.unclosed_flow(line) {
            let close = if c == '[' { ']' } else { '}' };
            return self.error_at_line(
                l,
                k,
                format!(
                    "this `{c}` is never closed: add the missing `{close}` (the YAML parser stopped at line {line}, column {col}: {raw})"
                ),
            );
        }
        let hint = if raw.contains("mapping values are not allowed") {
            "; check the indentation of this line (keys of one mapping must line up) or quote a value that contains `: `"
        } else {
            ""
        };
        self.error_at_line(line, col, format!("invalid YAML: {raw}{hint}"))
    }

    /// A `[` or `{` still open when line `line` starts a block key no deeper
    /// than the opener's line: the shape of a forgotten closing bracket.
    fn unclosed_flow(&self, line: u64) -> Option<(char, u64, u64)> {
        let mut stack: Vec<(char, u64, u64, usize)> = Vec::new();
        let mut quote: Option<char> = None;
        for (i, text) in self.text.lines().enumerate() {
            let ln = i as u64 + 1;
            let indent = text.len() - text.trim_start().len();
            if ln == line {
                let (c, l, k, open_indent) = *stack.last()?;
                let t = text.trim_start();
                let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
                let block_key = t.split_once(':').is_some_and(|(key, _)| {
                    !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                });
                return (quote.is_none() && l < line && indent <= open_indent && block_key)
                    .then_some((c, l, k));
            }
            let chars: Vec<char> = text.chars().collect();
            let mut value_start = true;
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                let next_blank = chars.get(j + 1).is_none_or(|n| n.is_whitespace());
                if let Some(q) = quote {
                    if q == '"' && c == '\\' {
                        j += 1;
                    } else if c == q {
                        if q == '\'' && chars.get(j + 1) == Some(&'\'') {
                            j += 1;
                        } else {
                            quote = None;
                        }
                    }
                    j += 1;
                    continue;
                }
                let prev_blank = j == 0 || chars[j - 1].is_whitespace();
                match c {
                    '#' if prev_blank => break,
                    '\'' | '"' if value_start => quote = Some(c),
                    '[' | '{' if value_start || !stack.is_empty() => {
                        stack.push((c, ln, j as u64 + 1, indent));
                        value_start = true;
                        j += 1;
                        continue;
                    }
                    ']' | '}' if !stack.is_empty() => {
                        stack.pop();
                    }
                    ',' if !stack.is_empty() => {
                        value_start = true;
                        j += 1;
                        continue;
                    }
                    ':' | '-' if next_blank => {
                        value_start = true;
                        j += 1;
                        continue;
                    }
                    _ => {}
                }
                if !c.is_whitespace() {
                    value_start = false;
                }
                j += 1;
            }
        }
        None
    }

    /// The position of the named group `at` (or the whole match) of the first
    /// match of `re` at or after (line, column); for values the model keeps
    /// no position of, such as a step's `method`.
    pub fn find_from(&self, line: u64, column: u64, re: &regex::Regex) -> Option<(u64, u64)> {
        for (i, text) in self.text.lines().enumerate().skip(line.max(1) as usize - 1) {
            let skip_chars = if i as u64 + 1 == line {
                column.max(1) as usize - 1
            } else {
                0
            };
            let from = text
                .char_indices()
                .nth(skip_chars)
                .map_or(text.len(), |(b, _)| b);
            if let Some(c) = re.captures(&text[from..]) {
                let m = c.name("at").unwrap_or_else(|| c.get(0).expect("group 0"));
                let col = text[..from + m.start()].chars().count() as u64 + 1;
                return Some((i as u64 + 1, col));
            }
        }
        None
    }
}

/// What a scalar of a Rust type looks like to a scenario author.
fn describe_scalar(ty: &str) -> &'static str {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" | "floating point" => "a number",
        "bool" | "boolean" => "true or false",
        "char" => "a single character",
        _ => "a different kind of value",
    }
}

/// serde-saphyr appends " at line L, column C" to its messages; we print the
/// position in front instead, the way compilers do.
fn strip_position_suffix(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(", column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

/// Adds "did you mean `x`?" to serde's unknown-field and unknown-variant
/// messages when a known name is close to the typo.
fn did_you_mean(msg: &str) -> String {
    let (kind_at, list_at) = match (
        msg.find("unknown field `")
            .or_else(|| msg.find("unknown variant `")),
        msg.find("expected "),
    ) {
        (Some(k), Some(l)) if l > k => (k, l),
        _ => return msg.to_string(),
    };
    let start = msg[kind_at..].find('`').map(|i| kind_at + i + 1);
    let Some(start) = start else {
        return msg.to_string();
    };
    let Some(len) = msg[start..].find('`') else {
        return msg.to_string();
    };
    let typo = &msg[start..start + len];
    let list = msg[list_at + "expected ".len()..].trim_start_matches("one of ");
    let list = match list.rfind(" at line ") {
        Some(i) => &list[..i],
        None => list,
    };
    let best = list
        .split(',')
        .map(|c| c.trim().trim_matches('`'))
        .filter(|c| !c.is_empty())
        .map(|c| (strsim::damerau_levenshtein(typo, c), c))
        .min();
    match best {
        // The list of every allowed name only buries the suggestion.
        Some((d, c)) if d <= 2.max(typo.len() / 3) => {
            format!(
                "{}; did you mean `{c}`?",
                strip_position_suffix(&msg[..list_at]).trim_end_matches([',', ' '])
            )
        }
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let m =
            did_you_mean("unknown field `reqeust`, expected one of name, tags, request, expect");
        assert!(m.ends_with("did you mean `request`?"), "{m}");
        let m = did_you_mean("unknown field `zzzzzz`, expected one of name, tags");
        assert!(!m.contains("did you mean"), "{m}");
    }
}
