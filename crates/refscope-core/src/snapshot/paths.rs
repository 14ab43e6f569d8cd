//! Who retains an object: the reverse graph and the shortest chain from a named root.

use super::bits::NodeBits;
use super::dominators::reverse_csr;
use super::{EdgeLabel, HeapSnapshot, Root};
use rustc_hash::FxHashMap;
use std::sync::{Mutex, MutexGuard, TryLockError};

const NONE: u32 = u32::MAX;

/// Which nodes are roots, and their root records (computed once per snapshot).
#[derive(Debug)]
pub(crate) struct RootLookup {
    is_root: NodeBits,
    /// Node → range of `records`: the indices of its root records, in order.
    ranges: FxHashMap<u32, (u32, u32)>,
    records: Vec<u32>,
}

impl RootLookup {
    fn of(snapshot: &HeapSnapshot) -> RootLookup {
        let mut is_root = NodeBits::new(snapshot.node_count());
        let mut records: Vec<u32> = (0..snapshot.roots().len() as u32).collect();
        // Stable: a node's records keep their order.
        records.sort_by_key(|&i| snapshot.roots()[i as usize].node);
        let mut ranges = FxHashMap::default();
        let mut start = 0;
        while start < records.len() {
            let node = snapshot.roots()[records[start] as usize].node;
            let mut end = start + 1;
            while end < records.len() && snapshot.roots()[records[end] as usize].node == node {
                end += 1;
            }
            is_root.insert(node);
            ranges.insert(node, (start as u32, end as u32));
            start = end;
        }
        RootLookup {
            is_root,
            ranges,
            records,
        }
    }

    /// Indices of the root records of `node`, in order (empty for a node that is no root).
    #[inline]
    fn records_of(&self, node: u32) -> &[u32] {
        if !self.is_root.contains(node) {
            return &[];
        }
        match self.ranges.get(&node) {
            Some(&(start, end)) => &self.records[start as usize..end as usize],
            None => &[],
        }
    }
}

/// What a why-alive search needs per node, kept between searches: allocating and filling
/// an array over the whole heap for each lookup cost more than most searches (~25 ms at
/// 10M objects). `next` is all `NONE` between searches: a search resets the entries it
/// set, which `marked` lists (it is also the search's queue).
#[derive(Debug, Default)]
pub(crate) struct SearchScratch {
    next: Vec<u32>,
    marked: Vec<u32>,
}

impl SearchScratch {
    fn ready(&mut self, n: usize) {
        if self.next.len() != n {
            self.next = vec![NONE; n];
        }
        self.marked.clear();
    }

    fn reset(&mut self) {
        for &v in &self.marked {
            self.next[v as usize] = NONE;
        }
        self.marked.clear();
    }
}

/// The snapshot's scratch, or a fresh one while another thread searches.
enum Scratch<'a> {
    Shared(MutexGuard<'a, SearchScratch>),
    Own(SearchScratch),
}

impl Scratch<'_> {
    fn get(&mut self) -> &mut SearchScratch {
        match self {
            Scratch::Shared(guard) => guard,
            Scratch::Own(own) => own,
        }
    }
}

fn take_scratch(lock: &Mutex<SearchScratch>) -> Scratch<'_> {
    match lock.try_lock() {
        Ok(guard) => Scratch::Shared(guard),
        Err(TryLockError::WouldBlock) => Scratch::Own(SearchScratch::default()),
        Err(TryLockError::Poisoned(poisoned)) => {
            // A search panicked half-way: its marks may be left; start afresh.
            let mut guard = poisoned.into_inner();
            *guard = SearchScratch::default();
            lock.clear_poison();
            Scratch::Shared(guard)
        }
    }
}

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
        let root_lookup = self.root_lookup.get_or_init(|| RootLookup::of(self));
        let reverse = self.reverse();
        let mut scratch = take_scratch(&self.search_scratch);
        let scratch = scratch.get();
        scratch.ready(n);
        // next[v] = the node after v on the way to target; `marked` is the queue.
        let (next, queue) = (&mut scratch.next, &mut scratch.marked);
        next[target as usize] = target;
        queue.push(target);
        let mut head = 0;
        let mut first: Option<u32> = None;
        let mut found_roots = Vec::new();
        while let Some(&v) = queue.get(head) {
            head += 1;
            let records = root_lookup.records_of(v);
            if !records.is_empty() {
                first.get_or_insert(v);
                // Every root record of this node counts (a dict can be both a module's
                // globals and held from outside).
                for &i in records {
                    if found_roots.len() < max_roots {
                        found_roots.push(self.roots()[i as usize]);
                    }
                }
                if found_roots.len() >= max_roots {
                    break;
                }
            }
            for &u in reverse.referrers(v) {
                if next[u as usize] == NONE {
                    next[u as usize] = v;
                    queue.push(u);
                }
            }
        }
        let path = first.map(|start| {
            let root = self.roots()[root_lookup.records_of(start)[0] as usize];
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
            RetainerPath { root, steps }
        });
        scratch.reset();
        (path, found_roots)
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
    use super::super::{from_parts, RootKind, SnapshotBuilder};
    use super::*;
    use proptest::prelude::*;

    /// The search as first written (a fresh array and root map per call): the answers
    /// the reusable scratch must give.
    fn why_alive_reference(
        s: &HeapSnapshot,
        target: u32,
        max_roots: usize,
    ) -> (Option<RetainerPath>, Vec<Root>) {
        let n = s.node_count();
        let mut root_of = FxHashMap::default();
        for (i, r) in s.roots().iter().enumerate() {
            root_of.entry(r.node).or_insert(i);
        }
        let reverse = ReverseGraph::of(s);
        let mut next = vec![NONE; n];
        next[target as usize] = target;
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(target);
        let mut first: Option<u32> = None;
        let mut found_roots = Vec::new();
        while let Some(v) = queue.pop_front() {
            if let Some(&i) = root_of.get(&v) {
                first.get_or_insert(v);
                for r in s.roots().iter().skip(i).filter(|r| r.node == v) {
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
        let root = s.roots()[root_of[&start]];
        let mut steps = Vec::new();
        let mut v = start;
        while v != target {
            let w = next[v as usize];
            let label = s
                .edges(v)
                .find(|&(t, _)| t == w)
                .map_or(EdgeLabel::Unnamed, |(_, l)| l);
            steps.push(PathStep { label, node: w });
            v = w;
        }
        (Some(RetainerPath { root, steps }), found_roots)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn repeated_searches_answer_as_a_fresh_search_does(
            n in 1usize..40,
            raw_edges in proptest::collection::vec((0u32..40, 0u32..40), 0..120),
            raw_roots in proptest::collection::vec((0u32..40, 0u8..4), 1..6),
            targets in proptest::collection::vec(0u32..40, 1..12),
            max_roots in 1usize..4,
        ) {
            let mut edges = vec![Vec::new(); n];
            for (a, b) in raw_edges {
                edges[a as usize % n].push(b % n as u32);
            }
            let roots: Vec<(RootKind, u32)> = raw_roots
                .into_iter()
                .map(|(r, k)| (RootKind::from_u8(k).unwrap(), r % n as u32))
                .collect();
            let sizes = vec![1u64; n];
            let types = vec![0u32; n];
            let s = from_parts(&sizes, &types, &edges, &roots).unwrap();
            for &t in &targets {
                let t = t % n as u32;
                prop_assert_eq!(s.why_alive(t, max_roots), why_alive_reference(&s, t, max_roots));
            }
            // While another search holds the scratch, a search makes its own.
            let held = s.search_scratch.lock().unwrap();
            let t = targets[0] % n as u32;
            prop_assert_eq!(s.why_alive(t, max_roots), why_alive_reference(&s, t, max_roots));
            drop(held);
            prop_assert_eq!(s.why_alive(t, max_roots), why_alive_reference(&s, t, max_roots));
        }

        #[test]
        fn node_of_address_finds_the_last_node_of_each_address(
            raw in proptest::collection::vec(0u64..64, 1..80),
            dense in proptest::bool::ANY,
        ) {
            let mut b = SnapshotBuilder::default();
            let t = b.type_named("object");
            let addresses: Vec<u64> = raw
                .iter()
                .map(|&a| if dense || a == 0 { a * 16 } else { (a << 32) | ((a % 3) * 8) })
                .collect();
            for &a in &addresses {
                b.add_node(a, t, 1).unwrap();
            }
            let s = b.finish().unwrap();
            let mut oracle = std::collections::HashMap::new();
            for (i, &a) in addresses.iter().enumerate() {
                oracle.insert(a, i as u32);
            }
            for probe in addresses.iter().flat_map(|&a| [a, a + 8, a + 16]) {
                prop_assert_eq!(s.node_of_address(probe), oracle.get(&probe).copied());
            }
        }
    }

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
