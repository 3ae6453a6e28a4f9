//! Secret values of a run and their redaction from every byte postdeploy
//! writes.
//!
//! CI uploads reports for everyone with read access, so a header value, an
//! `${env.X}` value or a secret variable must not reach the console, JUnit,
//! the JSON reports, report.html, interval-log tags or file names. Rather
//! than trusting each writer to remember, the run's setup registers every
//! secret once in the process-wide registry, and the few places where bytes
//! leave the process (`report::write_file`, the console writer, the error
//! line of `cli::main`) redact through it.
//!
//! A value is also registered in the encodings it takes on its way into a
//! report: percent-encoded (in a URL) and JSON-escaped (in a body excerpt).

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// A set of secret values, longest first so that a secret containing
/// another is masked whole.
#[derive(Debug, Default)]
pub struct Registry {
    values: RwLock<Vec<String>>,
}

impl Registry {
    pub const fn new() -> Registry {
        Registry {
            values: RwLock::new(Vec::new()),
        }
    }

    /// Registers a value and its URL and JSON encodings. Empty values are
    /// ignored (masking "" would mask nothing and everything).
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut forms = vec![value.to_string()];
        let pct: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        forms.push(pct.replace('+', "%20"));
        forms.push(pct);
        if let Ok(json) = serde_json::to_string(value) {
            forms.push(json[1..json.len() - 1].to_string());
        }
        // As XML and HTML writers escape them (JUnit, report.html), the
        // JSON form included: a body excerpt lands in JUnit's system-out.
        for f in forms.clone() {
            for apos in ["&apos;", "&#39;", "&#x27;"] {
                forms.push(
                    f.replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;")
                        .replace('"', "&quot;")
                        .replace('\'', apos),
                );
            }
        }
        let mut v = self.values.write().unwrap_or_else(|e| e.into_inner());
        for f in forms {
            if !f.is_empty() && !v.contains(&f) {
                v.push(f);
            }
        }
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let v = self.values.read().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        Cow::Owned(out)
    }

    /// Bytes that may not be UTF-8 (a response excerpt): secrets are matched
    /// as byte strings.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let v = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Cow<'a, [u8]> = Cow::Borrowed(bytes);
        for s in v.iter() {
            let needle = s.as_bytes();
            if find(&out, needle).is_some() {
                out = Cow::Owned(replace_all(&out, needle, MASK.as_bytes()));
            }
        }
        out
    }

    /// Redacts every string of a JSON document, keys included, except the
    /// values under `keep` keys (base64 histograms, which no secret can be
    /// part of and which a replacement would corrupt).
    pub fn redact_json(&self, v: &mut serde_json::Value, keep: &[&str]) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.redact_json(x, keep)),
            Value::Object(o) => {
                let old = std::mem::take(o);
                for (k, mut x) in old {
                    if !keep.contains(&k.as_str()) {
                        self.redact_json(&mut x, keep);
                    }
                    o.insert(self.redact(&k).into_owned(), x);
                }
            }
            _ => {}
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(i) = find(rest, needle) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(with);
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

static GLOBAL: Registry = Registry::new();

/// The process's registry: filled by the run's setup, read where bytes
/// leave the process.
pub fn global() -> &'static Registry {
    &GLOBAL
}

/// Registers a secret of this run (see [`Registry::add`]).
pub fn register(value: &str) {
    GLOBAL.add(value);
}

pub fn redact(text: &str) -> Cow<'_, str> {
    GLOBAL.redact(text)
}

/// A writer that masks the process's secrets in what passes through it.
/// Each `write` is redacted on its own: the console writes whole lines.
pub struct Redacting<W> {
    inner: W,
}

impl<W: Write> Redacting<W> {
    pub fn new(inner: W) -> Self {
        Redacting { inner }
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = GLOBAL.redact_bytes(buf);
        self.inner.write_all(&r)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_encoding_longest_first() {
        let r = Registry::new();
        r.add("s3cr3t");
        r.add("p@ss word/\"x\"");
        r.add("");
        assert_eq!(r.redact("Bearer s3cr3t!"), "Bearer ***!");
        assert_eq!(r.redact("/p%40ss%20word%2F%22x%22/"), "/***/");
        assert_eq!(r.redact(r#"{"a":"p@ss word/\"x\""}"#), r#"{"a":"***"}"#);
        assert_eq!(r.redact("<t>p@ss word/&quot;x&quot;</t>"), "<t>***</t>");
        assert_eq!(r.redact(r"<t>p@ss word/\&quot;x\&quot;</t>"), "<t>***</t>");
        assert_eq!(r.redact("nothing here"), "nothing here");
        assert_eq!(&*r.redact_bytes(b"\xff s3cr3t \xfe"), &b"\xff *** \xfe"[..]);
    }

    #[test]
    fn json_keys_and_values_but_not_kept_fields() {
        let r = Registry::new();
        r.add("tok3n");
        let mut v = serde_json::json!({
            "tok3n": ["a tok3n b", 1],
            "histogram": "tok3n",
        });
        r.redact_json(&mut v, &["histogram"]);
        assert_eq!(
            v,
            serde_json::json!({"***": ["a *** b", 1], "histogram": "tok3n"})
        );
    }
}
