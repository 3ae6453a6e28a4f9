//! A scenario file as a plain YAML tree with source positions, independent of
//! the typed model. It exists so that a file with several defects can be
//! repaired one defect at a time (the defective entry blanked out, every other
//! position unchanged) and deserialized again, until every defect is known.

use serde_saphyr::granit_parser::{Event, Parser, Span, StructureStyle};

pub type NodeId = usize;

/// Where a node sits in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Key { map: NodeId, entry: usize },
    Value { map: NodeId, entry: usize },
    Item { seq: NodeId, index: usize },
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar(String),
    Seq(Vec<NodeId>),
    /// (key, value) pairs.
    Map(Vec<(NodeId, NodeId)>),
}

#[derive(Debug, Clone)]
pub struct Node {
    /// 1-based line and column of the first character.
    pub line: u64,
    pub column: u64,
    /// Byte range in the source; for block collections the end is the end of
    /// their last child (the parser's end event sits at the next token).
    pub start: usize,
    pub end: usize,
    pub flow: bool,
    pub kind: Kind,
    pub parent: Option<Slot>,
}

/// The first document of a YAML text as a tree; `None` when the text is not
/// valid YAML (the typed parser reports that).
#[derive(Debug)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn parse(text: &str) -> Option<Tree> {
        let mut nodes: Vec<Node> = Vec::new();
        // Open collections, with the key waiting for its value (maps).
        let mut stack: Vec<(NodeId, Option<NodeId>)> = Vec::new();
        let mut anchors: Vec<(usize, NodeId)> = Vec::new();
        let mut root = None;
        for ev in Parser::new_from_str(text) {
            let (ev, span) = ev.ok()?;
            let new = |kind: Kind, span: &Span, flow: bool| -> Option<Node> {
                Some(Node {
                    line: span.start.line() as u64,
                    column: span.start.col() as u64 + 1,
                    start: span.start.byte_offset()?,
                    end: span.end.byte_offset()?,
                    flow,
                    kind,
                    parent: None,
                })
            };
            let (node, anchor) = match ev {
                Event::Scalar(v, _, anchor, _) => {
                    (new(Kind::Scalar(v.into_owned()), &span, false)?, anchor)
                }
                Event::SequenceStart(style, anchor, _) => (
                    new(Kind::Seq(Vec::new()), &span, style == StructureStyle::Flow)?,
                    anchor,
                ),
                Event::MappingStart(style, anchor, _) => (
                    new(Kind::Map(Vec::new()), &span, style == StructureStyle::Flow)?,
                    anchor,
                ),
                Event::Alias(id) => {
                    // An alias repeats its anchor's node; a copy without
                    // children is enough to locate and blank it.
                    let target = anchors.iter().rev().find(|(a, _)| *a == id)?.1;
                    let mut n = new(Kind::Scalar(String::new()), &span, false)?;
                    if let Kind::Scalar(s) = &nodes[target].kind {
                        n.kind = Kind::Scalar(s.clone());
                    }
                    (n, 0)
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (id, _) = stack.pop()?;
                    let n = &nodes[id];
                    let end = if n.flow {
                        span.end.byte_offset()?
                    } else {
                        let last = match &n.kind {
                            Kind::Seq(items) => items.last().copied(),
                            Kind::Map(entries) => entries.last().map(|e| e.1),
                            Kind::Scalar(_) => None,
                        };
                        last.map_or(n.end, |l| nodes[l].end.max(nodes[nodes_key(&nodes, l)].end))
                    };
                    nodes[id].end = end.max(nodes[id].start);
                    continue;
                }
                Event::DocumentEnd => break,
                _ => continue,
            };
            let id = nodes.len();
            nodes.push(node);
            if anchor != 0 {
                anchors.push((anchor, id));
            }
            if let Some((parent, pending)) = stack.last_mut() {
                let parent = *parent;
                let slot = match &nodes[parent].kind {
                    Kind::Seq(items) => Slot::Item {
                        seq: parent,
                        index: items.len(),
                    },
                    Kind::Map(entries) if pending.is_none() => Slot::Key {
                        map: parent,
                        entry: entries.len(),
                    },
                    Kind::Map(entries) => Slot::Value {
                        map: parent,
                        entry: entries.len(),
                    },
                    Kind::Scalar(_) => return None,
                };
                nodes[id].parent = Some(slot);
                match (&mut nodes[parent].kind, slot) {
                    (Kind::Seq(items), _) => items.push(id),
                    (Kind::Map(_), Slot::Key { .. }) => *pending = Some(id),
                    (Kind::Map(entries), _) => entries.push((pending.take()?, id)),
                    (Kind::Scalar(_), _) => return None,
                }
            } else {
                root = root.or(Some(id));
            }
            if matches!(nodes[id].kind, Kind::Seq(_) | Kind::Map(_)) {
                stack.push((id, None));
            }
        }
        (root == Some(0)).then_some(Tree { nodes })
    }

    pub fn depth(&self, mut id: NodeId) -> usize {
        let mut d = 0;
        while let Some(p) = self.nodes[id].parent {
            id = slot_parent(p);
            d += 1;
        }
        d
    }

    /// The scalar text of a mapping key.
    pub fn key_text(&self, key: NodeId) -> Option<&str> {
        match &self.nodes[key].kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The key under which `id` is a value, if any.
    pub fn key_of(&self, id: NodeId) -> Option<&str> {
        match self.nodes[id].parent? {
            Slot::Value { map, entry } => match &self.nodes[map].kind {
                Kind::Map(e) => self.key_text(e[entry].0),
                _ => None,
            },
            _ => None,
        }
    }

    /// `id` and everything below it.
    pub fn subtree(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            match &self.nodes[out[i]].kind {
                Kind::Seq(items) => out.extend(items),
                Kind::Map(entries) => {
                    for (k, v) in entries {
                        out.push(*k);
                        out.push(*v);
                    }
                }
                Kind::Scalar(_) => {}
            }
            i += 1;
        }
        out
    }
}

/// For a value node, its key (so a block collection's end covers it); the
/// node itself otherwise.
fn nodes_key(nodes: &[Node], id: NodeId) -> NodeId {
    match nodes[id].parent {
        Some(Slot::Value { map, entry }) => match &nodes[map].kind {
            Kind::Map(e) => e.get(entry).map_or(id, |e| e.0),
            _ => id,
        },
        _ => id,
    }
}

pub fn slot_parent(s: Slot) -> NodeId {
    match s {
        Slot::Key { map, .. } | Slot::Value { map, .. } => map,
        Slot::Item { seq, .. } => seq,
    }
}
