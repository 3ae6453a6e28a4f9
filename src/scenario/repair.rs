//! Finding every defect of a file, not only the first one the deserializer
//! meets: after each error the defective entry is blanked out (replaced by
//! spaces, so every other line and column stays where it was) and the file is
//! deserialized again. An entry whose removal leaves its parent invalid takes
//! the parent with it, and the "missing field" error that removal causes is a
//! consequence, not a defect of the file, so it is not reported.
//!
//! What the removed entries defined (variables, captures, step names) is
//! remembered so that the checks run on the repaired file do not report
//! references to them as undefined.

use std::collections::BTreeSet;

use super::tree::{Kind, NodeId, Slot, Tree, slot_parent};

/// A 1-based (line, column).
type Pos = (u64, u64);

/// Names defined by removed entries: assume they exist.
#[derive(Debug, Clone, Default)]
pub struct Assumed {
    pub vars: BTreeSet<String>,
    pub steps: BTreeSet<String>,
    /// A step (or the whole `steps` list) was removed.
    pub steps_removed: bool,
    /// Start (line, column) of every collection an entry was removed from,
    /// and of their ancestors: a check that finds such a step or assertion
    /// incomplete reports a consequence of the removal, not a defect.
    pub touched: BTreeSet<(u64, u64)>,
}

/// How an error locates its defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim {
    /// The error points at a mapping key that is itself wrong.
    Key,
    /// The error points at the mapping that lacks a field.
    MissingField,
    /// The error points at a value.
    Value,
}

#[derive(Debug)]
pub struct Repairer {
    pub text: String,
    /// (start and end (line, column) of a mapping, key removed from it):
    /// positions, not byte offsets, survive blanking multi-byte characters.
    removed_keys: Vec<(Pos, Pos, String)>,
    pub assumed: Assumed,
}

impl Repairer {
    pub fn new(text: &str) -> Self {
        Repairer {
            text: text.to_string(),
            removed_keys: Vec::new(),
            assumed: Assumed::default(),
        }
    }

    /// Whether a "missing field `field`" error at (line, column) is the
    /// consequence of an earlier removal.
    pub fn caused_by_repair(&self, line: u64, column: u64, field: &str) -> bool {
        // A field is missing because it was removed, or because its typo
        // (`reqeust` for `request`) was.
        self.removed_keys.iter().any(|(s, e, k)| {
            strsim::damerau_levenshtein(k, field) <= 2
                && *s <= (line, column)
                && (line, column) <= *e
        })
    }

    /// Blanks out the defect the error at (line, column) points at; false
    /// when that is not possible (the text is not YAML, the defect is the
    /// whole document, or nothing changed).
    pub fn repair(&mut self, line: u64, column: u64, aim: Aim) -> bool {
        let Some(tree) = Tree::parse(&self.text) else {
            return false;
        };
        let Some(at) = self.offset(line, column) else {
            return false;
        };
        let exact: Vec<NodeId> = (0..tree.nodes.len())
            .filter(|&i| tree.nodes[i].line == line && tree.nodes[i].column == column)
            .collect();
        let target = match aim {
            Aim::Key => exact.iter().copied().max_by_key(|&i| tree.depth(i)),
            Aim::MissingField => exact
                .iter()
                .copied()
                .filter(|&i| matches!(tree.nodes[i].kind, Kind::Map(_)))
                .max_by_key(|&i| tree.depth(i)),
            Aim::Value => exact.iter().copied().min_by_key(|&i| tree.depth(i)),
        }
        .or_else(|| {
            (0..tree.nodes.len())
                .filter(|&i| {
                    tree.nodes[i].start <= at && at < tree.nodes[i].end.max(tree.nodes[i].start + 1)
                })
                .max_by_key(|&i| tree.depth(i))
        });
        let Some(target) = target else {
            return false;
        };
        let mut ranges = Vec::new();
        if !self.remove_node(&tree, target, &mut ranges) {
            return false;
        }
        let before = self.text.clone();
        ranges.sort_unstable();
        for (s, e) in ranges.into_iter().rev() {
            self.blank(s, e);
        }
        self.text != before
    }

    /// Byte offset of a 1-based line and (character) column.
    fn offset(&self, line: u64, column: u64) -> Option<usize> {
        let mut start = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i as u64 + 1 == line {
                let col = column.max(1) as usize - 1;
                return Some(start + l.char_indices().nth(col).map_or(l.len(), |(b, _)| b));
            }
            start += l.len();
        }
        None
    }

    /// The 1-based line and column of a byte offset.
    fn position(&self, offset: usize) -> (u64, u64) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() as u64 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() as u64 + 1)
    }

    /// Replaces every character in the byte range with a space (line breaks
    /// stay), so positions after it are unchanged.
    fn blank(&mut self, start: usize, end: usize) {
        let end = end.min(self.text.len());
        if start >= end {
            return;
        }
        let spaces: String = self.text[start..end]
            .chars()
            .map(|c| if c == '\n' || c == '\r' { c } else { ' ' })
            .collect();
        self.text.replace_range(start..end, &spaces);
    }

    /// Removes a node from its parent: its whole entry in a mapping, its item
    /// in a sequence. A collection left empty is removed in turn.
    fn remove_node(&mut self, tree: &Tree, id: NodeId, ranges: &mut Vec<(usize, usize)>) -> bool {
        let mut up = tree.nodes[id].parent.map(slot_parent);
        while let Some(p) = up {
            self.assumed
                .touched
                .insert((tree.nodes[p].line, tree.nodes[p].column));
            up = tree.nodes[p].parent.map(slot_parent);
        }
        match tree.nodes[id].parent {
            None => false,
            Some(Slot::Key { map, entry } | Slot::Value { map, entry }) => {
                let Kind::Map(entries) = &tree.nodes[map].kind else {
                    return false;
                };
                let (k, v) = entries[entry];
                // The mapping starts at its first remaining key from now on.
                for (key, _) in entries {
                    let n = &tree.nodes[*key];
                    self.assumed.touched.insert((n.line, n.column));
                }
                let removed_key = tree.key_text(k).unwrap_or_default().to_string();
                let m = &tree.nodes[map];
                let range = ((m.line, m.column), self.position(m.end));
                self.removed_keys.push((range.0, range.1, removed_key));
                if entries.len() == 1 {
                    // The top-level mapping may lose its last entry only
                    // through a removal the parser can still read back.
                    return self.remove_node(tree, map, ranges);
                }
                self.note_removed(tree, k);
                self.note_removed(tree, v);
                let start = tree.nodes[k].start;
                let mut end = tree.nodes[v].end.max(tree.nodes[k].end);
                // `key:` with an empty value: the colon belongs to the entry.
                if let Some(colon) = self.text[tree.nodes[k].end.min(self.text.len())..].find(':') {
                    end = end.max(tree.nodes[k].end + colon + 1);
                }
                ranges.push(self.with_separator(tree, map, start, end));
                true
            }
            Some(Slot::Item { seq, .. }) => {
                let Kind::Seq(items) = &tree.nodes[seq].kind else {
                    return false;
                };
                if items.len() == 1 {
                    return self.remove_node(tree, seq, ranges);
                }
                self.note_removed(tree, id);
                let mut start = tree.nodes[id].start;
                let end = tree.nodes[id].end;
                if !tree.nodes[seq].flow {
                    // Take the `- ` indicator along.
                    let before = self.text[..start].trim_end_matches([' ', '\t']);
                    if before.ends_with('-') {
                        start = before.len() - 1;
                    }
                }
                ranges.push(self.with_separator(tree, seq, start, end));
                true
            }
        }
    }

    /// In a flow collection an entry takes its comma along: the one after
    /// it, or (for the last entry) the one before it.
    fn with_separator(
        &self,
        tree: &Tree,
        parent: NodeId,
        start: usize,
        end: usize,
    ) -> (usize, usize) {
        if !tree.nodes[parent].flow {
            return (start, end);
        }
        let after = &self.text[end..];
        let skipped = after.len() - after.trim_start().len();
        if after.trim_start().starts_with(',') {
            return (start, end + skipped + 1);
        }
        let before = self.text[..start].trim_end();
        if before.ends_with(',') {
            return (before.len() - 1, end);
        }
        (start, end)
    }

    /// Remembers what a removed node defined.
    fn note_removed(&mut self, tree: &Tree, id: NodeId) {
        for n in tree.subtree(id) {
            // Typos of these keys (`captrue`) defined names too.
            let key = tree.key_of(n).filter(|k| {
                ["vars", "capture"]
                    .iter()
                    .any(|w| strsim::damerau_levenshtein(k, w) <= 2)
            });
            if let (Some(_), Kind::Map(entries)) = (key, &tree.nodes[n].kind) {
                for (k, _) in entries {
                    if let Some(k) = tree.key_text(*k) {
                        self.assumed.vars.insert(k.to_string());
                    }
                }
            }
            if is_steps_list(tree, n) {
                self.assumed.steps_removed = true;
            }
            if let Some(Slot::Item { seq, .. }) = tree.nodes[n].parent {
                if is_steps_list(tree, seq) {
                    self.assumed.steps_removed = true;
                    if let Kind::Map(entries) = &tree.nodes[n].kind {
                        for (k, v) in entries {
                            if let (Some("name"), Kind::Scalar(name)) =
                                (tree.key_text(*k), &tree.nodes[*v].kind)
                            {
                                self.assumed.steps.insert(name.clone());
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The top-level `steps` or `teardown` list.
fn is_steps_list(tree: &Tree, id: NodeId) -> bool {
    tree.key_of(id).is_some_and(|k| {
        ["steps", "teardown"]
            .iter()
            .any(|w| strsim::damerau_levenshtein(k, w) <= 2)
    }) && tree.nodes[id]
        .parent
        .is_some_and(|p| tree.nodes[slot_parent(p)].parent.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanking_keeps_positions_and_yaml_valid() {
        let text = "name: x\nsteps:\n  - name: a\n    bad: 1\n    request: { path: /, oops: 2 }\n";
        let mut r = Repairer::new(text);
        assert!(r.repair(4, 5, Aim::Key));
        assert!(r.repair(5, 25, Aim::Key));
        assert_eq!(
            r.text,
            "name: x\nsteps:\n  - name: a\n          \n    request: { path: /          }\n"
        );
        assert!(Tree::parse(&r.text).is_some());
    }

    #[test]
    fn removing_a_required_field_removes_its_parent_item() {
        let text = "steps:\n  - name: a\n    capture: { id: $.id }\n  - name: b\n";
        let mut r = Repairer::new(text);
        // The first step lacks `request`: it goes, and what it captured is assumed.
        assert!(r.repair(2, 5, Aim::MissingField));
        assert!(r.text.starts_with("steps:\n           \n"), "{:?}", r.text);
        assert!(r.assumed.vars.contains("id"));
        assert!(r.assumed.steps.contains("a"));
        // The last entry of the document cannot go.
        let mut r = Repairer::new("name: [x]\n");
        assert!(!r.repair(1, 7, Aim::Value));
    }
}
