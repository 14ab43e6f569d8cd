//! Who retains an object: the reverse graph and the shortest chain from a named root.

use super::dominators::reverse_csr;
use super::{EdgeLabel, HeapSnapshot, Root};

const NONE: u32 = u32::MAX;

/// Predecessors of every node (CSR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseGraph {
    offsets: Vec<u32>,
    sources: Vec<u32>,
}

impl ReverseGraph {
    pub fn of(snapshot: &HeapSnapshot) -> ReverseGraph {
        let (offsets, sources) =
            reverse_csr(snapshot.node_count(), &snapshot.offsets, &snapshot.targets);
        ReverseGraph { offsets, sources }
    }

    /// Objects that refer to `node` (one entry per reference).
    pub fn referrers(&self, node: u32) -> &[u32] {
        &self.sources
            [self.offsets[node as usize] as usize..self.offsets[node as usize + 1] as usize]
    }
}

/// One step of a retainer path: the edge from the previous node, and the node reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    pub label: EdgeLabel,
    pub node: u32,
}

/// The shortest chain from a named root to an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainerPath {
    /// The root the chain starts from (its node is the first node of the chain).
    pub root: Root,
    /// Edges after the root, ending at the object; empty when the object is the root.
    pub steps: Vec<PathStep>,
}

impl HeapSnapshot {
    /// The shortest chain from any named root to `target` (BFS backwards over the reverse
    /// graph, so it stops as soon as a root is met), and every root that reaches `target`
    /// (at most `max_roots`, nearest first).
    pub fn why_alive(&self, target: u32, max_roots: usize) -> (Option<RetainerPath>, Vec<Root>) {
        let n = self.node_count();
        if target as usize >= n {
            return (None, Vec::new());
        }
        // Roots of each node (first root record of the node wins for the label).
        let mut root_of = rustc_hash::FxHashMap::default();
        for (i, r) in self.roots.iter().enumerate() {
            root_of.entry(r.node).or_insert(i);
        }
        let reverse = self.reverse();
        // next[v] = the node after v on the way to target.
        let mut next = vec![NONE; n];
        next[target as usize] = target;
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(target);
        let mut first: Option<u32> = None;
        let mut found_roots = Vec::new();
        while let Some(v) = queue.pop_front() {
            if let Some(&i) = root_of.get(&v) {
                first.get_or_insert(v);
                // Every root record of this node counts (a dict can be both a module's
                // globals and held from outside).
                for r in self.roots.iter().skip(i).filter(|r| r.node == v) {
                    if found_roots.len() < max_roots {
                        found_roots.push(*r);
                    }
                }
                if found_roots.len() >= max_roots {
                    break;
                }
            }
            for &u in reverse.referrers(v) {
                if next[u as usize] == NONE {
                    next[u as usize] = v;
                    queue.push_back(u);
                }
            }
        }
        let Some(start) = first else {
            return (None, found_roots);
        };
        let root = self.roots[root_of[&start]];
        let mut steps = Vec::new();
        let mut v = start;
        while v != target {
            let w = next[v as usize];
            let label = self
                .edges(v)
                .find(|&(t, _)| t == w)
                .map_or(EdgeLabel::Unnamed, |(_, l)| l);
            steps.push(PathStep { label, node: w });
            v = w;
        }
        (Some(RetainerPath { root, steps }), found_roots)
    }

    /// The path as text: `module __main__ → global HOLDER → .child → [3]`. An instance's
    /// `.__dict__` step followed by a key that is an identifier reads as one attribute.
    pub fn path_text(&self, path: &RetainerPath) -> String {
        let mut parts = vec![self.strings.get(path.root.label).to_string()];
        let mut i = 0;
        while i < path.steps.len() {
            let text = self.label_text(path.steps[i].label);
            if text == ".__dict__" {
                if let Some(next) = path.steps.get(i + 1) {
                    let key = self.label_text(next.label);
                    if let Some(name) = key.strip_prefix("['").and_then(|k| k.strip_suffix("']")) {
                        if is_identifier(name) {
                            parts.push(format!(".{name}"));
                            i += 2;
                            continue;
                        }
                    }
                }
            }
            parts.push(text);
            i += 1;
        }
        parts.join(" → ")
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::super::{RootKind, SnapshotBuilder};
    use super::*;

    #[test]
    fn shortest_path_from_a_named_root_is_labelled() {
        let mut b = SnapshotBuilder::default();
        let t = b.type_named("object");
        let global = b.intern("global HOLDER");
        let child = b.intern(".child");
        b.add_node(1, t, 10).unwrap(); // 0: module dict
        b.push_edge(1, EdgeLabel::Name(global));
        b.add_node(2, t, 10).unwrap(); // 1: holder
        b.push_edge(2, EdgeLabel::Name(child));
        b.add_node(3, t, 10).unwrap(); // 2: list
        b.push_edge(3, EdgeLabel::Index(3));
        b.add_node(4, t, 10).unwrap(); // 3: item
        b.add_node(5, t, 10).unwrap(); // 4: C-held object that also holds the item
        b.push_edge(3, EdgeLabel::Unnamed);
        b.add_root(RootKind::ModuleGlobals, 0, "module __main__", 0);
        b.add_root(RootKind::HeldFromOutside, 4, "held from outside", 2);
        let s = b.finish().unwrap();
        let (path, roots) = s.why_alive(3, 10);
        let path = path.unwrap();
        // Node 4 is one step away, the module three: the nearest root wins.
        assert_eq!(path.root.node, 4);
        assert_eq!(roots.len(), 2);
        assert_eq!(roots[1].kind, RootKind::ModuleGlobals);
        let (path, _) = s.why_alive(2, 10);
        assert_eq!(
            s.path_text(&path.unwrap()),
            "module __main__ → global HOLDER → .child"
        );
        assert_eq!(s.outside_references(4), 2);
    }

    #[test]
    fn dict_step_reads_as_attribute() {
        let mut b = SnapshotBuilder::default();
        let t = b.type_named("object");
        let d = b.intern(".__dict__");
        let k = b.intern("['items']");
        b.add_node(1, t, 1).unwrap();
        b.push_edge(1, EdgeLabel::Name(d));
        b.add_node(2, t, 1).unwrap();
        b.push_edge(2, EdgeLabel::Name(k));
        b.add_node(3, t, 1).unwrap();
        b.add_root(RootKind::ThreadFrame, 0, "thread MainThread", 0);
        let s = b.finish().unwrap();
        let (path, _) = s.why_alive(2, 1);
        assert_eq!(s.path_text(&path.unwrap()), "thread MainThread → .items");
    }
}
