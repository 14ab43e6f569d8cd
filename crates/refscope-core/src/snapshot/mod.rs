//! Heap snapshots: the whole live heap as a compact graph, and the questions asked of it.
//!
//! A [`HeapSnapshot`] holds, per object (node, a dense `u32` id): its address (`id()` in
//! Python), a type id (type names are interned), its shallow size in bytes, and its
//! references as compressed sparse rows with one compact [`EdgeLabel`] per edge. Roots are
//! named: module globals, thread frames, objects held from outside the heap (refcount
//! larger than the references found inside it, with the surplus) and immortal objects.
//!
//! * [`dominators`]: immediate dominators (semi-NCA, iterative, arrays of `u32`) and
//!   retained sizes.
//! * [`paths`]: the reverse graph and the shortest retainer path from a named root.
//! * [`stats`]: top types, growth and diff between snapshots, cycle groups.
//! * [`format`]: the versioned, checksummed file format (save / load).
//! * [`devtools`]: Chrome DevTools `.heapsnapshot` export.
//! * [`progress`]: how the long loops (loading, dominators) report their position.
//!
//! Not here: anything that touches a Python object (the binding walks the heap and fills a
//! [`SnapshotBuilder`]).

pub mod bits;
pub mod devtools;
pub mod dominators;
pub mod format;
pub mod paths;
pub mod progress;
pub mod stats;

use crate::index::AddressIndex;
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

pub use dominators::Dominators;
pub use format::SnapshotFormatError;
pub use paths::{RetainerPath, ReverseGraph};
pub use stats::{CycleGroupSummary, SnapshotDiff, TypeDiff, TypeStat};

/// Most nodes a snapshot can hold: edge labels keep a node id in 30 bits.
pub const MAX_NODES: usize = (1 << 30) - 1;

/// Why a root is a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RootKind {
    /// A module's globals dict (`sys.modules`); the label names the module.
    ModuleGlobals = 0,
    /// A frame on a thread's stack; the label names the thread and the function.
    ThreadFrame = 1,
    /// Refcount exceeds the references found inside the heap: held by C code (C stacks,
    /// C globals, extension modules), as gc's `update_refs`/`subtract_refs` compute.
    HeldFromOutside = 2,
    /// Immortal object (CPython 3.12+, PEP 683).
    Immortal = 3,
    /// Reached from no other root: garbage in a reference cycle that gc has not collected
    /// yet. Made a root so every object has a dominator.
    Unreachable = 4,
}

impl RootKind {
    /// The kind with this number (file format, bindings).
    pub fn from_u8(value: u8) -> Option<RootKind> {
        Some(match value {
            0 => RootKind::ModuleGlobals,
            1 => RootKind::ThreadFrame,
            2 => RootKind::HeldFromOutside,
            3 => RootKind::Immortal,
            4 => RootKind::Unreachable,
            _ => return None,
        })
    }

    /// Short name, as the Python API and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            RootKind::ModuleGlobals => "module",
            RootKind::ThreadFrame => "thread",
            RootKind::HeldFromOutside => "held from outside",
            RootKind::Immortal => "immortal",
            RootKind::Unreachable => "unreachable",
        }
    }
}

/// A named root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Root {
    pub kind: RootKind,
    pub node: u32,
    /// String id of the root's name (`module __main__`, `thread MainThread, main() at x.py:3`).
    pub label: u32,
    /// For [`RootKind::HeldFromOutside`]: references not found inside the heap.
    pub surplus: u64,
}

/// Label of one edge, packed in a `u32`: 2 tag bits and a 30-bit payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeLabel {
    /// No name known.
    Unnamed,
    /// Preformatted text (string id): `.attr`, `['key']`, `global NAME`, `local x`...
    Name(u32),
    /// Item `i` of a sequence: `[i]`.
    Index(u32),
    /// A dict's reference to one of its keys.
    DictKey,
}

const TAG_SHIFT: u32 = 30;
const PAYLOAD: u32 = (1 << TAG_SHIFT) - 1;

impl EdgeLabel {
    /// Packs the label. Names and indices past 30 bits become [`EdgeLabel::Unnamed`].
    pub fn encode(self) -> u32 {
        match self {
            EdgeLabel::Unnamed => 0,
            EdgeLabel::Name(id) if id <= PAYLOAD && id != 0 => id,
            EdgeLabel::Index(i) if i < PAYLOAD => (1 << TAG_SHIFT) | i,
            EdgeLabel::DictKey => 2 << TAG_SHIFT,
            _ => 0,
        }
    }

    /// Unpacks a label made by [`EdgeLabel::encode`].
    pub fn decode(raw: u32) -> EdgeLabel {
        match raw >> TAG_SHIFT {
            0 if raw == 0 => EdgeLabel::Unnamed,
            0 => EdgeLabel::Name(raw),
            1 => EdgeLabel::Index(raw & PAYLOAD),
            2 => EdgeLabel::DictKey,
            _ => EdgeLabel::Unnamed,
        }
    }
}

/// Interned strings; id 0 is the empty string.
#[derive(Debug, Clone)]
pub struct StringTable {
    strings: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, u32>,
}

impl Default for StringTable {
    fn default() -> Self {
        let mut table = StringTable {
            strings: Vec::new(),
            ids: FxHashMap::default(),
        };
        table.intern("");
        table
    }
}

impl StringTable {
    /// The id of `text`, adding it if new.
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(text.into());
        self.ids.insert(text.into(), id);
        id
    }

    /// The text of `id` (empty for an unknown id).
    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    /// The id of `text` if interned.
    pub fn find(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.len() <= 1
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.strings.iter().map(|s| &**s)
    }

    fn memory_bytes(&self) -> usize {
        self.strings.iter().map(|s| s.len() * 2 + 48).sum::<usize>()
    }
}

/// Facts about the process a snapshot was taken in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// `sys.version` of the interpreter.
    pub python_version: String,
    /// Seconds since the Unix epoch when the snapshot was taken.
    pub taken_at: u64,
    pub pid: u32,
}

/// The whole heap: nodes, labelled edges, types, roots. Immutable once built; derived
/// data (dominators, reverse graph) is computed on first use and cached.
#[derive(Debug)]
pub struct HeapSnapshot {
    pub(crate) addresses: Vec<u64>,
    pub(crate) type_ids: Vec<u32>,
    /// Shallow sizes, saturated at `u32::MAX`; larger ones are in `large_sizes`.
    pub(crate) sizes: Vec<u32>,
    pub(crate) large_sizes: FxHashMap<u32, u64>,
    pub(crate) offsets: Vec<u32>,
    pub(crate) targets: Vec<u32>,
    pub(crate) labels: Vec<u32>,
    pub(crate) strings: StringTable,
    /// Type id → string id of the type's name.
    pub(crate) type_names: Vec<u32>,
    /// The roots the builder was given (module globals, thread frames, held from
    /// outside, immortal).
    pub(crate) named_roots: Vec<Root>,
    /// `named_roots` followed by the [`RootKind::Unreachable`] ones, found on first use
    /// (one pass over the graph, which `snapshot()` need not wait for).
    pub(crate) all_roots: OnceLock<Vec<Root>>,
    /// String id of the unreachable roots' label.
    pub(crate) unreachable_label: u32,
    pub(crate) meta: SnapshotMeta,
    pub(crate) dominators: OnceLock<Dominators>,
    pub(crate) reverse: OnceLock<ReverseGraph>,
    pub(crate) address_lookup: OnceLock<AddressLookup>,
    pub(crate) root_lookup: OnceLock<paths::RootLookup>,
    pub(crate) search_scratch: std::sync::Mutex<paths::SearchScratch>,
}

impl HeapSnapshot {
    pub fn node_count(&self) -> usize {
        self.addresses.len()
    }

    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// The object's address (`id()`).
    #[inline]
    pub fn address(&self, node: u32) -> u64 {
        self.addresses[node as usize]
    }

    #[inline]
    pub fn type_id(&self, node: u32) -> u32 {
        self.type_ids[node as usize]
    }

    pub fn type_count(&self) -> usize {
        self.type_names.len()
    }

    /// Name of type `type_id`.
    pub fn type_name(&self, type_id: u32) -> &str {
        self.strings
            .get(self.type_names.get(type_id as usize).copied().unwrap_or(0))
    }

    /// Name of the type of `node`.
    pub fn node_type_name(&self, node: u32) -> &str {
        self.type_name(self.type_id(node))
    }

    /// Shallow size of `node` in bytes.
    #[inline]
    pub fn shallow_size(&self, node: u32) -> u64 {
        let size = self.sizes[node as usize];
        if size == u32::MAX {
            self.large_sizes
                .get(&node)
                .copied()
                .unwrap_or(u32::MAX as u64)
        } else {
            size as u64
        }
    }

    /// Successors of `node`, in the order the object lists its references.
    #[inline]
    pub fn successors(&self, node: u32) -> &[u32] {
        &self.targets
            [self.offsets[node as usize] as usize..self.offsets[node as usize + 1] as usize]
    }

    /// (successor, label) pairs of `node`.
    pub fn edges(&self, node: u32) -> impl Iterator<Item = (u32, EdgeLabel)> + '_ {
        let range = self.offsets[node as usize] as usize..self.offsets[node as usize + 1] as usize;
        self.targets[range.clone()]
            .iter()
            .zip(&self.labels[range])
            .map(|(&t, &l)| (t, EdgeLabel::decode(l)))
    }

    /// Text of an edge label, as reports show it.
    pub fn label_text(&self, label: EdgeLabel) -> String {
        match label {
            EdgeLabel::Unnamed => "?".into(),
            EdgeLabel::Name(id) => self.strings.get(id).to_string(),
            EdgeLabel::Index(i) => format!("[{i}]"),
            EdgeLabel::DictKey => "(key)".into(),
        }
    }

    pub fn strings(&self) -> &StringTable {
        &self.strings
    }

    /// Every root: the named ones, then an [`RootKind::Unreachable`] root for each part
    /// of the heap no named root reaches (found on first use).
    pub fn roots(&self) -> &[Root] {
        self.roots_with_progress(&mut progress::Silent)
    }

    /// [`HeapSnapshot::roots`], reporting the search for unreachable objects (step
    /// [`progress::dominators::MARK`]) to `progress` if it runs now.
    pub fn roots_with_progress(&self, progress: &mut dyn progress::Progress) -> &[Root] {
        self.all_roots
            .get_or_init(|| with_unreachable_roots(self, progress))
    }

    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// Total shallow bytes of all objects.
    pub fn total_size(&self) -> u64 {
        (0..self.node_count() as u32)
            .map(|n| self.shallow_size(n))
            .sum()
    }

    /// The node of the object at `address`, if it was in the heap.
    pub fn node_of_address(&self, address: u64) -> Option<u32> {
        self.address_lookup
            .get_or_init(|| AddressLookup::of(&self.addresses))
            .get(address)
    }

    /// Dominator tree and retained sizes (computed on first use).
    pub fn dominators(&self) -> &Dominators {
        self.dominators_with_progress(&mut progress::Silent)
    }

    /// [`HeapSnapshot::dominators`], reporting to `progress` if they are computed now.
    pub fn dominators_with_progress(&self, progress: &mut dyn progress::Progress) -> &Dominators {
        self.dominators.get_or_init(|| {
            let roots = self.root_nodes_with_progress(progress);
            Dominators::compute_with_progress(self, &roots, progress)
        })
    }

    /// The reverse graph (computed on first use).
    pub fn reverse(&self) -> &ReverseGraph {
        self.reverse.get_or_init(|| ReverseGraph::of(self))
    }

    /// Retained size of `node`: its own size plus that of every object only it keeps
    /// alive (the nodes it dominates).
    pub fn retained_size(&self, node: u32) -> u64 {
        self.dominators().retained(node)
    }

    /// Root nodes, deduplicated, in root order.
    pub fn root_nodes(&self) -> Vec<u32> {
        self.root_nodes_with_progress(&mut progress::Silent)
    }

    fn root_nodes_with_progress(&self, progress: &mut dyn progress::Progress) -> Vec<u32> {
        let mut seen = rustc_hash::FxHashSet::default();
        self.roots_with_progress(progress)
            .iter()
            .filter(|r| seen.insert(r.node))
            .map(|r| r.node)
            .collect()
    }

    /// References to `node` that come from outside the heap (0 unless it is a
    /// held-from-outside root).
    pub fn outside_references(&self, node: u32) -> u64 {
        self.named_roots
            .iter()
            .filter(|r| r.node == node && r.kind == RootKind::HeldFromOutside)
            .map(|r| r.surplus)
            .sum()
    }

    /// Resident bytes of the snapshot's arrays (the graph, not the cached analyses).
    pub fn memory_bytes(&self) -> usize {
        self.addresses.capacity() * 8
            + (self.type_ids.capacity()
                + self.sizes.capacity()
                + self.offsets.capacity()
                + self.targets.capacity()
                + self.labels.capacity()
                + self.type_names.capacity())
                * 4
            + self.large_sizes.capacity() * 16
            + self.named_roots.capacity() * std::mem::size_of::<Root>()
            + self.strings.memory_bytes()
    }
}

/// Address → node, built on the first query by address. The walk's own index layout
/// (paged or hashed, ≤ 20 bytes per object), not a `HashMap<u64, u32>` (about 27 bytes per
/// object and a second to build at 10M objects, before the first answer).
#[derive(Debug)]
pub(crate) struct AddressLookup {
    index: AddressIndex,
    /// The node at address 0 (only a damaged or synthetic file has one).
    zero: Option<u32>,
}

impl AddressLookup {
    fn of(addresses: &[u64]) -> AddressLookup {
        let mut index = AddressIndex::for_addresses(addresses.iter().copied());
        let mut zero = None;
        // Backwards, so that of two nodes with one address (a damaged file) the last wins,
        // as it always has.
        for (i, &address) in addresses.iter().enumerate().rev() {
            if address == 0 {
                zero.get_or_insert(i as u32);
            } else {
                // Cannot fail: the address is non-zero and node ids are below 2^30.
                let _ = index.insert(address, i as u32);
            }
        }
        AddressLookup { index, zero }
    }

    fn get(&self, address: u64) -> Option<u32> {
        if address == 0 {
            self.zero
        } else {
            self.index.get(address)
        }
    }
}

/// Builds a [`HeapSnapshot`] node by node, in the order the heap walk visits objects.
#[derive(Debug)]
pub struct SnapshotBuilder {
    addresses: Vec<u64>,
    type_ids: Vec<u32>,
    sizes: Vec<u32>,
    large_sizes: FxHashMap<u32, u64>,
    offsets: Vec<u32>,
    targets: Vec<u32>,
    labels: Vec<u32>,
    strings: StringTable,
    type_names: Vec<u32>,
    type_by_name: FxHashMap<u32, u32>,
    roots: Vec<Root>,
    meta: SnapshotMeta,
    /// First edge of the current (last added) node.
    row_start: usize,
}

/// Why a snapshot could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("heap too large for a snapshot: {what} exceeds {limit}")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("node id {id} is out of range for a snapshot of {count} nodes")]
    NodeOutOfRange { id: u32, count: u32 },
    #[error("type id {id} is out of range ({count} types)")]
    TypeOutOfRange { id: u32, count: u32 },
    #[error("not enough memory for the snapshot")]
    OutOfMemory,
}

impl Default for SnapshotBuilder {
    fn default() -> Self {
        Self::with_capacity(0, 0)
    }
}

impl SnapshotBuilder {
    pub fn with_capacity(nodes: usize, edges: usize) -> Self {
        let mut offsets = Vec::with_capacity(nodes + 1);
        offsets.push(0);
        SnapshotBuilder {
            addresses: Vec::with_capacity(nodes),
            type_ids: Vec::with_capacity(nodes),
            sizes: Vec::with_capacity(nodes),
            large_sizes: FxHashMap::default(),
            offsets,
            targets: Vec::with_capacity(edges),
            labels: Vec::with_capacity(edges),
            strings: StringTable::default(),
            type_names: Vec::new(),
            type_by_name: FxHashMap::default(),
            roots: Vec::new(),
            meta: SnapshotMeta::default(),
            row_start: 0,
        }
    }

    /// Reserves room for more nodes and edges, failing instead of aborting when memory is
    /// short (sizes read from a file).
    pub fn reserve(&mut self, nodes: usize, edges: usize) -> Result<(), BuildError> {
        self.addresses
            .try_reserve_exact(nodes)
            .map_err(|_| BuildError::OutOfMemory)?;
        self.type_ids
            .try_reserve_exact(nodes)
            .map_err(|_| BuildError::OutOfMemory)?;
        self.sizes
            .try_reserve_exact(nodes)
            .map_err(|_| BuildError::OutOfMemory)?;
        self.offsets
            .try_reserve_exact(nodes)
            .map_err(|_| BuildError::OutOfMemory)?;
        self.targets
            .try_reserve_exact(edges)
            .map_err(|_| BuildError::OutOfMemory)?;
        self.labels
            .try_reserve_exact(edges)
            .map_err(|_| BuildError::OutOfMemory)?;
        Ok(())
    }

    /// Interns `text` (edge names, root labels).
    pub fn intern(&mut self, text: &str) -> u32 {
        self.strings.intern(text)
    }

    /// The type id for a type called `name` (one id per distinct name).
    pub fn type_named(&mut self, name: &str) -> u32 {
        let string = self.strings.intern(name);
        if let Some(&id) = self.type_by_name.get(&string) {
            return id;
        }
        let id = self.type_names.len() as u32;
        self.type_names.push(string);
        self.type_by_name.insert(string, id);
        id
    }

    /// A new type id for `name` even if another type has the same name (two classes
    /// called `Node` in different modules stay apart when their qualified names clash).
    pub fn add_type(&mut self, name: &str) -> u32 {
        let string = self.strings.intern(name);
        let id = self.type_names.len() as u32;
        self.type_names.push(string);
        self.type_by_name.entry(string).or_insert(id);
        id
    }

    /// Nodes added so far.
    pub fn node_count(&self) -> usize {
        self.addresses.len()
    }

    /// Adds the next node; its edges are the ones pushed until the next `add_node`.
    #[inline]
    pub fn add_node(&mut self, address: u64, type_id: u32, size: u64) -> Result<u32, BuildError> {
        let id = self.addresses.len();
        if id >= MAX_NODES {
            return Err(BuildError::TooLarge {
                what: "object count",
                limit: MAX_NODES as u64,
            });
        }
        if id > 0 {
            self.close_row()?;
        }
        self.addresses.push(address);
        self.type_ids.push(type_id);
        if size >= u32::MAX as u64 {
            self.sizes.push(u32::MAX);
            self.large_sizes.insert(id as u32, size);
        } else {
            self.sizes.push(size as u32);
        }
        self.offsets.push(u32::MAX);
        self.row_start = self.targets.len();
        Ok(id as u32)
    }

    /// Sets the shallow size of a node added earlier.
    pub fn set_size(&mut self, node: u32, size: u64) {
        if let Some(slot) = self.sizes.get_mut(node as usize) {
            if size >= u32::MAX as u64 {
                *slot = u32::MAX;
                self.large_sizes.insert(node, size);
            } else {
                *slot = size as u32;
                self.large_sizes.remove(&node);
            }
        }
    }

    fn close_row(&mut self) -> Result<(), BuildError> {
        if self.targets.len() >= u32::MAX as usize {
            return Err(BuildError::TooLarge {
                what: "reference count",
                limit: u32::MAX as u64 - 1,
            });
        }
        if let Some(last) = self.offsets.last_mut() {
            *last = self.targets.len() as u32;
        }
        Ok(())
    }

    /// Adds an edge from the last node added.
    #[inline]
    pub fn push_edge(&mut self, to: u32, label: EdgeLabel) {
        self.targets.push(to);
        self.labels.push(label.encode());
    }

    /// Edges of the current (last) node so far.
    pub fn current_edges(&self) -> &[u32] {
        &self.targets[self.row_start..]
    }

    /// Replaces the label of edge `index` of the current node.
    pub fn set_current_label(&mut self, index: usize, label: EdgeLabel) {
        if let Some(slot) = self.labels.get_mut(self.row_start + index) {
            *slot = label.encode();
        }
    }

    pub fn add_root(&mut self, kind: RootKind, node: u32, label: &str, surplus: u64) {
        let label = self.strings.intern(label);
        self.roots.push(Root {
            kind,
            node,
            label,
            surplus,
        });
    }

    pub fn set_meta(&mut self, meta: SnapshotMeta) {
        self.meta = meta;
    }

    /// Closes the last row, checks every id, and makes every node reachable: nodes no root
    /// reaches become [`RootKind::Unreachable`] roots (lowest id of each unreached region).
    pub fn finish(mut self) -> Result<HeapSnapshot, BuildError> {
        if !self.addresses.is_empty() {
            self.close_row()?;
        }
        let count = self.addresses.len() as u32;
        if let Some(&bad) = self.targets.iter().find(|&&t| t >= count) {
            return Err(BuildError::NodeOutOfRange { id: bad, count });
        }
        if let Some(bad) = self.roots.iter().find(|r| r.node >= count) {
            return Err(BuildError::NodeOutOfRange {
                id: bad.node,
                count,
            });
        }
        let types = self.type_names.len() as u32;
        if let Some(&bad) = self.type_ids.iter().find(|&&t| t >= types) {
            return Err(BuildError::TypeOutOfRange {
                id: bad,
                count: types,
            });
        }
        self.addresses.shrink_to_fit();
        self.type_ids.shrink_to_fit();
        self.sizes.shrink_to_fit();
        self.offsets.shrink_to_fit();
        self.targets.shrink_to_fit();
        self.labels.shrink_to_fit();
        let unreachable_label = self
            .strings
            .intern("unreachable (garbage not yet collected)");
        Ok(HeapSnapshot {
            addresses: self.addresses,
            type_ids: self.type_ids,
            sizes: self.sizes,
            large_sizes: self.large_sizes,
            offsets: self.offsets,
            targets: self.targets,
            labels: self.labels,
            strings: self.strings,
            type_names: self.type_names,
            named_roots: self.roots,
            all_roots: OnceLock::new(),
            unreachable_label,
            meta: self.meta,
            dominators: OnceLock::new(),
            reverse: OnceLock::new(),
            address_lookup: OnceLock::new(),
            root_lookup: OnceLock::new(),
            search_scratch: Default::default(),
        })
    }
}

/// The named roots, then: marks what they reach; every node left unmarked that no other
/// unmarked node reaches first (scanning ids upwards) becomes an `Unreachable` root.
fn with_unreachable_roots(
    snapshot: &HeapSnapshot,
    progress: &mut dyn progress::Progress,
) -> Vec<Root> {
    let n = snapshot.node_count();
    let label = snapshot.unreachable_label;
    let mut seen = bits::NodeBits::new(n);
    let mut stack: Vec<u32> = Vec::new();
    let step = progress::dominators::MARK;
    progress.report(step, 0, n as u64);
    // Nodes marked so far, for the progress reports.
    let mut marked = 0usize;
    let mut mark = |start: u32, seen: &mut bits::NodeBits, stack: &mut Vec<u32>| {
        if !seen.insert(start) {
            return;
        }
        stack.push(start);
        while let Some(v) = stack.pop() {
            marked += 1;
            if progress::due(marked) {
                progress.report(step, marked as u64, n as u64);
            }
            for &w in snapshot.successors(v) {
                if seen.insert(w) {
                    stack.push(w);
                }
            }
        }
    };
    for root in &snapshot.named_roots {
        mark(root.node, &mut seen, &mut stack);
    }
    let mut extra = snapshot.named_roots.clone();
    for v in 0..n as u32 {
        if !seen.contains(v) {
            mark(v, &mut seen, &mut stack);
            extra.push(Root {
                kind: RootKind::Unreachable,
                node: v,
                label,
                surplus: 0,
            });
        }
    }
    extra
}

/// A snapshot built from plain parts (tests, fuzzing, benches): `edges[i]` are node `i`'s
/// successors (unnamed), type `i` is called `T{i}`.
pub fn from_parts(
    sizes: &[u64],
    types: &[u32],
    edges: &[Vec<u32>],
    roots: &[(RootKind, u32)],
) -> Result<HeapSnapshot, BuildError> {
    let mut builder = SnapshotBuilder::with_capacity(sizes.len(), 0);
    let type_count = types.iter().copied().max().map_or(0, |m| m + 1);
    for t in 0..type_count {
        builder.add_type(&format!("T{t}"));
    }
    for (i, &size) in sizes.iter().enumerate() {
        builder.add_node(0x1000 + 16 * i as u64, types[i], size)?;
        for &to in edges.get(i).map_or(&[][..], |e| &e[..]) {
            builder.push_edge(to, EdgeLabel::Unnamed);
        }
    }
    for &(kind, node) in roots {
        builder.add_root(kind, node, &format!("root {node}"), 0);
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for label in [
            EdgeLabel::Unnamed,
            EdgeLabel::Name(7),
            EdgeLabel::Index(0),
            EdgeLabel::Index(12345),
            EdgeLabel::DictKey,
        ] {
            assert_eq!(EdgeLabel::decode(label.encode()), label);
        }
        assert_eq!(EdgeLabel::Index(u32::MAX).encode(), 0);
    }

    #[test]
    fn builder_keeps_rows_and_sizes() {
        let mut b = SnapshotBuilder::default();
        let t = b.type_named("list");
        assert_eq!(b.type_named("list"), t);
        b.add_node(100, t, 56).unwrap();
        b.push_edge(1, EdgeLabel::Index(0));
        b.add_node(200, t, 5_000_000_000).unwrap();
        b.add_root(RootKind::ModuleGlobals, 0, "module m", 0);
        let s = b.finish().unwrap();
        assert_eq!(s.node_count(), 2);
        assert_eq!(s.successors(0), &[1]);
        assert_eq!(s.successors(1), &[] as &[u32]);
        assert_eq!(s.shallow_size(1), 5_000_000_000);
        assert_eq!(s.node_type_name(0), "list");
        assert_eq!(s.node_of_address(200), Some(1));
        assert_eq!(s.roots().len(), 1);
    }

    #[test]
    fn unreached_nodes_become_roots() {
        let s = from_parts(
            &[1, 1, 1, 1],
            &[0, 0, 0, 0],
            &[vec![], vec![2], vec![1], vec![]],
            &[(RootKind::ModuleGlobals, 0)],
        )
        .unwrap();
        let extra: Vec<u32> = s
            .roots()
            .iter()
            .filter(|r| r.kind == RootKind::Unreachable)
            .map(|r| r.node)
            .collect();
        assert_eq!(extra, vec![1, 3]);
    }

    #[test]
    fn bad_ids_are_errors() {
        assert!(from_parts(&[1], &[0], &[vec![3]], &[]).is_err());
        assert!(from_parts(&[1], &[0], &[vec![]], &[(RootKind::Immortal, 9)]).is_err());
    }
}
