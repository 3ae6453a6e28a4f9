//! The top-level modules of `src/` import each other one way only.
//!
//! `src/lib.rs` promises that data flows one way; an import cycle breaks
//! that promise quietly (every module in the cycle must be read to change
//! one of them), so this test reads the `crate::` and `super::` paths of
//! every file, test code and comments left out, and fails on any cycle,
//! printing it with the import that closes each edge. Run it with
//! `-- --nocapture` to see the whole graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import from one top-level module into another, where it was seen.
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&src);
    println!("{}", graph.render());
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "import cycles among the top-level modules of src/ (data must flow one way):\n{}",
        cycles
            .iter()
            .map(|c| graph.describe_cycle(c))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The checker itself: a planted cycle is found, and imports in comments,
/// strings and test code are not counted.
#[test]
fn the_reader_sees_real_imports_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a; pub mod b; pub mod c;").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "mod inner;\n// use crate::c::X;\n/* crate::c */\nconst S: &str = \"crate::c\";\n",
    )
    .unwrap();
    std::fs::write(src.join("a/inner.rs"), "use super::super::b::Thing;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct Thing;\n#[cfg(test)]\nmod tests {\n    use crate::c::Y;\n    fn f() { let _ = { 1 }; }\n}\nuse crate::{c::{self, Z}};\n",
    )
    .unwrap();
    std::fs::write(src.join("c.rs"), "pub struct Z;\n").unwrap();
    let g = Graph::read(src);
    let edges: BTreeSet<(String, String)> = g
        .edges
        .iter()
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = [("a", "b"), ("b", "c")]
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect();
    assert_eq!(edges, want);
    assert!(g.cycles().is_empty());

    std::fs::write(src.join("c.rs"), "use crate::a::X;\n").unwrap();
    let g = Graph::read(src);
    let cycles = g.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0], vec!["a", "b", "c"]);
    assert!(g.describe_cycle(&cycles[0]).contains("c.rs:1"));
}

struct Graph {
    modules: BTreeSet<String>,
    edges: Vec<Edge>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut modules = BTreeSet::new();
        for entry in std::fs::read_dir(src).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir()
                || (path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main")
            {
                modules.insert(name);
            }
        }
        let mut files = Vec::new();
        rust_files(src, &mut files);
        // Files that are test modules (`#[cfg(test)] mod tests;`) are left
        // out whole; they are found while reading their parents.
        let mut test_files = BTreeSet::new();
        let mut sources = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let code = strip_comments_and_strings(&text);
            let (code, tests) = strip_test_items(&code);
            let dir = if is_mod_file(file) {
                file.parent().unwrap().to_path_buf()
            } else {
                file.with_extension("")
            };
            for t in tests {
                test_files.insert(dir.join(format!("{t}.rs")));
                test_files.insert(dir.join(&t).join("mod.rs"));
            }
            sources.push((file.clone(), code));
        }
        let mut edges = Vec::new();
        for (file, code) in &sources {
            if test_files.contains(file) {
                continue;
            }
            let rel = file.strip_prefix(src).unwrap();
            let mut path: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if path.last().is_some_and(|l| l == "mod") {
                path.pop();
            }
            if path.len() == 1 && (path[0] == "lib" || path[0] == "main") {
                continue;
            }
            let top = path[0].clone();
            for (line, target) in imports(code, &path) {
                if target != top && modules.contains(&target) {
                    edges.push(Edge {
                        from: top.clone(),
                        to: target,
                        at: format!("{}:{line}", rel.display()),
                    });
                }
            }
        }
        Graph { modules, edges }
    }

    fn adjacency(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut adj: BTreeMap<&str, BTreeSet<&str>> = self
            .modules
            .iter()
            .map(|m| (m.as_str(), BTreeSet::new()))
            .collect();
        for e in &self.edges {
            adj.get_mut(e.from.as_str()).unwrap().insert(e.to.as_str());
        }
        adj
    }

    /// Strongly connected components of more than one module (Tarjan),
    /// each sorted, in name order.
    fn cycles(&self) -> Vec<Vec<String>> {
        struct State<'a> {
            adj: BTreeMap<&'a str, BTreeSet<&'a str>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            next: usize,
            out: Vec<Vec<String>>,
        }
        fn visit<'a>(s: &mut State<'a>, v: &'a str) {
            s.index.insert(v, s.next);
            s.low.insert(v, s.next);
            s.next += 1;
            s.stack.push(v);
            s.on_stack.insert(v);
            let targets: Vec<&str> = s.adj[v].iter().copied().collect();
            for w in targets {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if s.low[v] == s.index[v] {
                let mut comp = Vec::new();
                loop {
                    let w = s.stack.pop().unwrap();
                    s.on_stack.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    s.out.push(comp);
                }
            }
        }
        let mut s = State {
            adj: self.adjacency(),
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            out: Vec::new(),
        };
        for m in &self.modules {
            if !s.index.contains_key(m.as_str()) {
                visit(&mut s, m);
            }
        }
        s.out.sort();
        s.out
    }

    fn describe_cycle(&self, cycle: &[String]) -> String {
        let members: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        let mut lines = vec![format!("cycle of {}: {}", cycle.len(), cycle.join(", "))];
        for e in &self.edges {
            if members.contains(e.from.as_str())
                && members.contains(e.to.as_str())
                && seen.insert((&e.from, &e.to))
            {
                lines.push(format!("  {} -> {}  ({})", e.from, e.to, e.at));
            }
        }
        lines.join("\n")
    }

    fn render(&self) -> String {
        self.adjacency()
            .iter()
            .map(|(m, to)| {
                let to: Vec<&str> = to.iter().copied().collect();
                format!("{m} -> {}", to.join(", "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn is_mod_file(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs")
}

/// Comments and the contents of string and char literals become spaces
/// (newlines kept, so line numbers hold): a path in a doc link or a
/// message is not an import.
fn strip_comments_and_strings(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_char(b.get(i.wrapping_sub(1)).copied())
        {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('"');
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(b[j]));
                j += 1;
            }
            out.push('"');
            i = j;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = if next == Some('\\') {
                (i + 2..b.len().min(i + 12)).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(k) => {
                    out.push_str("' '");
                    i = k + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Blanks every item behind `#[cfg(test)]`; returns the names of the test
/// modules declared in other files (`#[cfg(test)] mod tests;`).
fn strip_test_items(code: &str) -> (String, Vec<String>) {
    let mut out: Vec<char> = code.chars().collect();
    let mut test_mods = Vec::new();
    let pattern: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + pattern.len() <= out.len() {
        if out[i..i + pattern.len()] != pattern[..] {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + pattern.len();
        // The item ends at the first `;` outside braces, or where the
        // first brace opened closes.
        let mut depth = 0usize;
        let mut opened = false;
        while j < out.len() {
            match out[j] {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => {
                    depth = depth.saturating_sub(1);
                    if opened && depth == 0 {
                        break;
                    }
                }
                ';' if !opened => break,
                _ => {}
            }
            j += 1;
        }
        let item: String = out[start + pattern.len()..j.min(out.len())]
            .iter()
            .collect();
        let words: Vec<&str> = item.split_whitespace().collect();
        if !opened {
            if let Some(pos) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(pos + 1) {
                    test_mods.push(name.trim_end_matches(';').to_string());
                }
            }
        }
        for c in out
            .iter_mut()
            .take((j + 1).min(code.chars().count()))
            .skip(start)
        {
            if *c != '\n' {
                *c = ' ';
            }
        }
        i = j + 1;
    }
    (out.into_iter().collect(), test_mods)
}

/// The top-level modules this file's paths name, with their line numbers.
/// `path` is the file's module path (`["load", "client"]`).
fn imports(code: &str, path: &[String]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line_no = n + 1;
        let mut rest = line;
        while let Some(pos) = rest.find("crate::") {
            let before = rest[..pos].chars().last();
            let after = &rest[pos + "crate::".len()..];
            if !ident_char(before) && before != Some('$') {
                for first in first_segments(after, code, line_no) {
                    out.push((line_no, first));
                }
            }
            rest = after;
        }
        let mut rest = line;
        while let Some(pos) = rest.find("super::") {
            let before = rest[..pos].chars().last();
            if ident_char(before) || before == Some(':') {
                rest = &rest[pos + "super::".len()..];
                continue;
            }
            let mut after = &rest[pos..];
            let mut ups = 0;
            while let Some(a) = after.strip_prefix("super::") {
                ups += 1;
                after = a;
            }
            if ups >= path.len() {
                for first in first_segments(after, code, line_no) {
                    out.push((line_no, first));
                }
            }
            rest = after;
        }
    }
    out
}

/// The first segment after `crate::`: one identifier, or each first
/// segment of a `{a, b::c}` group (which may run over several lines).
fn first_segments(after: &str, code: &str, line_no: usize) -> Vec<String> {
    let ident: String = after
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() {
        return vec![ident];
    }
    if !after.starts_with('{') {
        return Vec::new();
    }
    // The group, to its closing brace, across lines if need be.
    let offset: usize = code
        .lines()
        .take(line_no - 1)
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + (code.lines().nth(line_no - 1).unwrap().len() - after.len());
    let group = &code[offset + 1..];
    let mut depth = 0;
    let mut items = Vec::new();
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                current.push(c);
            }
            '}' if depth == 0 => {
                items.push(current.clone());
                break;
            }
            '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    items
        .iter()
        .filter_map(|i| {
            let first: String = i
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!first.is_empty() && first != "self").then_some(first)
        })
        .collect()
}
