//! One plain JSONPath's value, found while the body is read, without
//! building the document.
//!
//! Under load, a step whose only body check is one plain path (`$.ok`,
//! `$.items[0].id`) would otherwise parse the whole body into a `Value`
//! tree (a map node and a `String` per key and string) to look at one
//! member, and free it all again: in a profile against nginx that was most
//! of the cost of the assertion. Here every other member is still parsed
//! through `deserialize_any`, the same calls `Value` makes, and dropped as
//! it is read. So a body is refused for exactly what `Value` refuses it
//! for (bad UTF-8, lone surrogates, numbers out of range, nesting, trailing
//! bytes), and a duplicate key's last value is the one found, as in
//! `Value`'s map.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One step of a plain path: a member name or an array index.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Seg<'p> {
    Key(&'p str),
    Index(usize),
}

/// The next step of a plain path and what is left of it; `Some(None)` at
/// its end, `None` when the path has another kind of selector here.
pub(super) fn next_seg(rest: &str) -> Option<Option<(Seg<'_>, &str)>> {
    if rest.is_empty() {
        return Some(None);
    }
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(['.', '[']).unwrap_or(r.len());
        let name = &r[..end];
        let shorthand = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return shorthand.then_some(Some((Seg::Key(name), &r[end..])));
    }
    if let Some(r) = rest.strip_prefix("['") {
        let end = r.find('\'')?;
        let name = &r[..end];
        if name.contains('\\') {
            return None;
        }
        return Some(Some((Seg::Key(name), r[end + 1..].strip_prefix(']')?)));
    }
    let r = rest.strip_prefix('[')?;
    let end = r.find(']')?;
    let digits = &r[..end];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    Some(Some((Seg::Index(digits.parse().ok()?), &r[end + 1..])))
}

/// The path after its `$`, when every step of it is plain.
pub(super) fn plain(source: &str) -> Option<&str> {
    let path = source.trim().strip_prefix('$')?;
    let mut rest = path;
    while let Some((_, next)) = next_seg(rest)? {
        rest = next;
    }
    Some(path)
}

/// The value `path` (a [`plain`] path) selects in `body`: `Ok(None)` when
/// it selects nothing, `Err` when the body is not JSON.
pub(super) fn find(body: &[u8], path: &str) -> Result<Option<Value>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Seek(path).deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// Descends along what is left of the path.
struct Seek<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match next_seg(self.0) {
            Some(Some((seg, rest))) => d.deserialize_any(Step { seg, rest }),
            // The end of the path: this is the value.
            Some(None) => serde::Deserialize::deserialize(d).map(Some),
            // Never a wrong value for a path that is not plain.
            None => Err(serde::de::Error::custom("not a plain path")),
        }
    }
}

/// One step: into a member of an object or an element of an array; any
/// other value selects nothing (and is read through, as `Value` would).
struct Step<'p> {
    seg: Seg<'p>,
    rest: &'p str,
}

macro_rules! nothing {
    ($($name:ident: $t:ty),*) => {
        $(fn $name<E: serde::de::Error>(self, _: $t) -> Result<Self::Value, E> {
            Ok(None)
        })*
    };
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    nothing!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyIs(self.seg))? {
            if hit {
                found = map.next_value_seed(Seek(self.rest))?;
            } else {
                map.next_value_seed(Skip)?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        loop {
            let more = if self.seg == Seg::Index(i) {
                seq.next_element_seed(Seek(self.rest))?.map(|v| found = v)
            } else {
                seq.next_element_seed(Skip)?
            };
            if more.is_none() {
                return Ok(found);
            }
            i += 1;
        }
    }
}

/// Whether a member's name is the one the path names.
struct KeyIs<'p>(Seg<'p>);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(self.0 == Seg::Key(key))
    }
}

/// A value off the path: parsed as `Value` would parse it, then dropped.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Names too: serde_json reads a name as a string whatever visits
        // it, so it is validated as `Value` validates it.
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a full parse and the tree walk of every other step say.
    fn by_tree(body: &[u8], path: &str) -> Result<Option<Value>, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let node = crate::check::body::select_plain(path, &v).expect("plain");
        Ok(node.cloned())
    }

    #[test]
    fn finds_what_the_tree_finds_and_refuses_what_it_refuses() {
        let bodies: &[&[u8]] = &[
            br#"{"ok":true,"service":"nginx"}"#,
            br#"{"a":{"b":[10,{"c":"x"},30]},"a2":null}"#,
            br#"{"ok":1,"ok":2}"#,
            br#"[{"id":"first"},{"id":"second"}]"#,
            br#"{"ok":true} "#,
            br#"  {"esc\"aped":"\u00e9","ok":[]}"#,
            br#"{"n":1e400,"ok":true}"#,
            br#"{"s":"\ud800","ok":true}"#,
            b"{\"s\":\"\xff\",\"ok\":true}",
            br#"{"\ud800":1,"ok":true}"#,
            b"{\"\xff\":1,\"ok\":true}",
            br#"{"a":{"\ud800":1},"ok":true}"#,
            br#"{"ok":true} trailing"#,
            br#"{"ok":true"#,
            br#"{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"ok":1}"#,
            b"",
            b"true",
            br#"{"ok":"a\nb"}"#,
        ];
        let paths = [
            "$.ok",
            "$['ok']",
            "$.a.b[1].c",
            "$.a.b[2]",
            "$.a.b[3]",
            "$.a2",
            "$.a.missing",
            "$[1].id",
            "$[0]",
            "$",
            "$.esc",
        ];
        for body in bodies {
            for p in paths {
                let path = plain(p).expect("a plain path");
                let streamed = find(body, path).map_err(|e| e.to_string());
                let tree = by_tree(body, p);
                assert_eq!(
                    streamed.is_ok(),
                    tree.is_ok(),
                    "{p} in {}: {streamed:?} vs {tree:?}",
                    String::from_utf8_lossy(body)
                );
                if let (Ok(a), Ok(b)) = (&streamed, &tree) {
                    assert_eq!(a, b, "{p} in {}", String::from_utf8_lossy(body));
                }
            }
        }
    }

    #[test]
    fn only_plain_paths_are_walked() {
        for p in ["$.a.b[0]", "$['a b']", "$", " $.x "] {
            assert!(plain(p).is_some(), "{p}");
        }
        for p in [
            "$..a",
            "$.a[*]",
            "$[-1]",
            "$[01]",
            "$.a[?@.b]",
            "$['a\\'b']",
            "a.b",
        ] {
            assert!(plain(p).is_none(), "{p}");
        }
    }
}
