//! Reading scenario files: YAML → typed model, with every error pinned to a
//! file, line and column and shown with the offending line and a caret.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

use super::model::Scenario;

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
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?;
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

    pub fn error_at_line(&self, line: u64, column: u64, message: impl Into<String>) -> ScenarioError {
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

    /// Parses the YAML into the typed model.
    pub fn parse(&self) -> Result<Scenario, ScenarioError> {
        if self.text.trim().is_empty() {
            return Err(self.error_whole("the file is empty; a scenario needs at least `name` and `steps`"));
        }
        serde_saphyr::from_str::<Scenario>(&self.text).map_err(|e| {
            let message = did_you_mean(&e.without_snippet().to_string());
            let message = strip_position_suffix(&message);
            match e.location() {
                Some(loc) if loc.line() > 0 => self.error_at(loc, message),
                _ => self.error_whole(message),
            }
        })
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
    let (kind_at, list_at) = match (msg.find("unknown field `").or_else(|| msg.find("unknown variant `")), msg.find("expected ")) {
        (Some(k), Some(l)) if l > k => (k, l),
        _ => return msg.to_string(),
    };
    let start = msg[kind_at..].find('`').map(|i| kind_at + i + 1);
    let Some(start) = start else { return msg.to_string() };
    let Some(len) = msg[start..].find('`') else { return msg.to_string() };
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
        Some((d, c)) if d <= 2.max(typo.len() / 3) => {
            format!("{}; did you mean `{c}`?", strip_position_suffix(msg))
        }
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let m = did_you_mean("unknown field `reqeust`, expected one of name, tags, request, expect");
        assert!(m.ends_with("did you mean `request`?"), "{m}");
        let m = did_you_mean("unknown field `zzzzzz`, expected one of name, tags");
        assert!(!m.contains("did you mean"), "{m}");
    }
}
