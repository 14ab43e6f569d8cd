//! The heap walk: turns a list of objects into a [`Graph`] of the references among them.
//!
//! One `tp_traverse` call per distinct object, through a Rust visit function that looks
//! each referent's address up in a [`RankIndex`] (or an [`AddressIndex`] when the
//! addresses do not suit it). It allocates no Python object, runs
//! no Python code and never reads `__dict__`, so walking does not change the heap.

use crate::cpython::{self, DictSlot, TraverseSlots, TypeFlags, TypeRef};
use pyo3::prelude::*;
use pyo3::types::PyList;
use refscope_core::graph::{Graph, GraphBuilder};
use refscope_core::index::AddressIndex;
use refscope_core::rank_index::RankIndex;
use refscope_core::CoreError;
use rustc_hash::FxHashMap;

/// Priority of a node when choosing where a representative cycle starts.
pub const PRIORITY_FINALIZER: u8 = 3;
pub const PRIORITY_INSTANCE: u8 = 2;
pub const PRIORITY_FRAME: u8 = 1;
pub const PRIORITY_CONTAINER: u8 = 0;

/// Referents looked up at a time (see the walk loop).
const REFERENT_BATCH: usize = 64;

/// The graph of one walk, with the object behind each node.
pub struct Walk<'a> {
    /// The walk took the list's references over and left it empty.
    pub list_emptied: bool,
    /// Node id → object, one strong reference each.
    pub nodes: cpython::OwnedRefs<'a>,
    pub graph: Graph,
    pub priority: Vec<u8>,
    /// The references the graph leaves out, by their target: an owner's to its own
    /// `__dict__` when the dict is folded into it. With the graph's edges, every
    /// reference between the nodes that the walk saw.
    pub unlisted_refs: Vec<u32>,
    /// An instance dict that is not a node, but held by more than its owner (or not an
    /// exact dict), was looked through: the graph does not tell all of its holders.
    pub shared_dict_looked_through: bool,
}

#[derive(Clone, Copy)]
struct TypeEntry {
    slots: TraverseSlots,
    priority: u8,
    dict_slot: DictSlot,
}

/// Why a walk failed.
#[derive(Debug)]
pub enum WalkError {
    Core(CoreError),
    /// A panic inside the visit callback (a bug in refscope), caught before it reached C.
    Internal,
}

impl From<CoreError> for WalkError {
    fn from(e: CoreError) -> Self {
        WalkError::Core(e)
    }
}

/// Walks every distinct object of `list` (a list the caller does not change meanwhile) on
/// CPython 3.`minor`.
///
/// An instance's own `__dict__` that exists but is not among the analysed objects is looked
/// through: its references count as the instance's. That is what CPython 3.11+ shows
/// before the dict is materialised (the instance visits its attribute values directly), so
/// the graph does not depend on whether something (refscope's labelling included) has
/// created the dict. When the dict itself is analysed (3.10's gc.garbage holds it), it
/// stays a node of its own unless `absorb_own_dicts` is set: then it is folded into its
/// owner (the owner gets the dict's references and no edge to the dict, so the dict, which
/// nothing else refers to, is in no cycle), and reports read `A .b -> B` on every CPython
/// version instead of `A .__dict__ -> dict ['b'] -> B`.
pub fn walk<'a>(
    list: &'a Bound<'_, PyList>,
    frame_type: usize,
    minor: u8,
    absorb_own_dicts: bool,
    take_over_list: bool,
) -> Result<Walk<'a>, WalkError> {
    // Peak memory matters on heaps of millions of objects: one pointer per object (taken
    // over by `OwnedRefs` below) plus the index, no other per-object copy.
    let mut nodes = cpython::list_items(list);
    if nodes.len() >= u32::MAX as usize - 1 {
        return Err(CoreError::TooLarge {
            what: "object count",
            limit: u32::MAX as u64 - 1,
        }
        .into());
    }
    // Objects packed densely in memory (small ones, pymalloc's pools) get the paged
    // address index: a lookup of a neighbour hits a line already in cache. Larger or
    // scattered ones would get a hashed table of 18 bytes per object, where every lookup
    // of a random referent misses the cache: the rank index instead.
    let by_address = AddressIndex::for_addresses(nodes.iter().map(|p| p.address() as u64));
    let index = match by_address {
        AddressIndex::Paged(_) => NodeIndex::by_address(&mut nodes, by_address)?,
        AddressIndex::Hashed(_) => match NodeIndex::ranked(&mut nodes) {
            Some(index) => index,
            None => NodeIndex::by_address(&mut nodes, by_address)?,
        },
    };
    // The list's own references are taken over (and the list emptied) when it holds
    // each object once: no count is touched then, where taking a reference here and
    // emptying the list after would touch every object's twice.
    let take_over_list = take_over_list && nodes.len() == cpython::ListItems::of(list).len();
    let mut owned = cpython::OwnedRefs::adopt(nodes);

    let mut types: FxHashMap<usize, TypeEntry> = FxHashMap::default();
    let mut entry_of = |tp: TypeRef<'_>| {
        *types
            .entry(tp.address())
            .or_insert_with(|| type_entry(tp, frame_type, minor))
    };
    let mut last_type: (usize, Option<TypeEntry>) = (0, None);
    let count = owned.len();
    let mut priority = Vec::with_capacity(count);
    let mut dict_slots: Option<(usize, TraverseSlots)> = None;
    let mut builder = GraphBuilder::with_capacity(count, count * 2);
    let mut referents: Vec<u64> = Vec::with_capacity(REFERENT_BATCH);
    let mut unlisted_refs: Vec<u32> = Vec::new();
    let mut shared_dict_looked_through = false;
    // Room for two edges per object at first; once a sixteenth of the objects is walked,
    // for what they suggest the whole list has (a dense heap has 8 per object).
    let estimate_at = count / 16;
    for node in 0..count {
        if node == estimate_at && node >= 4096 {
            let per_node = builder.edge_count() as f64 / node as f64;
            builder.reserve_edges((per_node * 1.0625 * count as f64) as usize + 1024);
        }
        let obj = owned.object(node);
        let tp = cpython::type_of(obj);
        let entry = match last_type {
            (cached, Some(entry)) if cached == tp.address() => entry,
            _ => {
                let entry = entry_of(tp);
                last_type = (tp.address(), Some(entry));
                entry
            }
        };
        priority.push(entry.priority);
        if !take_over_list {
            // Take the reference now, while the object's header is in cache.
            owned.take_reference(node);
        }
        builder.start_node()?;
        let own_dict = entry.dict_slot.materialised_dict(obj);
        let dict_id = own_dict.and_then(|d| index.get(d.address() as u64));
        let look_through = own_dict.is_some() && (dict_id.is_none() || absorb_own_dicts);
        if let (true, None, Some(dict)) = (look_through, dict_id, own_dict) {
            shared_dict_looked_through |= !cpython::is_private_dict(dict);
        }
        // Referents are looked up in batches, in a tight loop of independent loads the
        // CPU overlaps, not one per callback between tp_traverse's own work: on a heap
        // whose objects refer to random others, each lookup is a cache miss.
        let flush =
            |referents: &mut Vec<u64>, builder: &mut GraphBuilder, unlisted_refs: &mut Vec<u32>| {
                for &address in referents.iter() {
                    if let Some(id) = index.get(address) {
                        if look_through && Some(id) == dict_id {
                            unlisted_refs.push(id);
                        } else {
                            builder.push_edge(id);
                        }
                    }
                }
                referents.clear();
            };
        let mut add_edge = |referent: cpython::ObjRef<'a>| {
            referents.push(referent.address() as u64);
            if referents.len() == REFERENT_BATCH {
                flush(&mut referents, &mut builder, &mut unlisted_refs);
            }
        };
        cpython::for_each_referent(&entry.slots, obj, &mut add_edge)
            .map_err(|()| WalkError::Internal)?;
        if let (true, Some(dict)) = (look_through, own_dict) {
            // An instance's `__dict__` may be a dict subclass: slots are per exact type.
            let dict_type = cpython::type_of(dict);
            let dict_slots = match dict_slots {
                Some((tp, slots)) if tp == dict_type.address() => slots,
                _ => {
                    let slots = TraverseSlots::of(dict_type);
                    dict_slots = Some((dict_type.address(), slots));
                    slots
                }
            };
            cpython::for_each_referent(&dict_slots, dict, &mut add_edge)
                .map_err(|()| WalkError::Internal)?;
        }
        flush(&mut referents, &mut builder, &mut unlisted_refs);
    }
    let mut graph = builder.finish()?;
    if let NodeIndex::Ranked { node_of_rank, .. } = &index {
        graph.rename_targets(node_of_rank)?;
        for id in &mut unlisted_refs {
            *id = node_of_rank[*id as usize];
        }
    }
    // No Python code ran: the list still holds each node once, in order.
    let list_emptied = take_over_list && owned.take_over_list(list);
    if take_over_list && !list_emptied {
        return Err(WalkError::Internal);
    }
    Ok(Walk {
        nodes: owned,
        graph,
        priority,
        list_emptied,
        unlisted_refs,
        shared_dict_looked_through,
    })
}

/// How the walk finds the node a referent is (see [`NodeIndex::ranked`]).
// One per walk: its size does not matter, and a box would add a pointer to follow on
// every lookup.
#[allow(clippy::large_enum_variant)]
enum NodeIndex {
    /// Edges point at ranks while walking; `node_of_rank` renames them afterwards.
    Ranked {
        index: RankIndex,
        node_of_rank: Vec<u32>,
    },
    /// Edges point at node ids directly.
    ByAddress(AddressIndex),
}

impl NodeIndex {
    /// A [`RankIndex`] of `nodes`, with duplicates removed from `nodes` (the first
    /// occurrence is the node), when every address suits it (16-byte aligned, not spread
    /// thinly over the address space). The walk looks up every reference of every object,
    /// and on a heap whose objects refer to random others each lookup in a table of
    /// 18-24 bytes per object is a cache miss; this index takes about a bit per 16 bytes
    /// of heap and stays in the L2 cache. Renaming the edges afterwards is one tight pass.
    fn ranked(nodes: &mut Vec<cpython::ObjRef<'_>>) -> Option<NodeIndex> {
        let index = RankIndex::of(nodes.iter().map(|item| item.address() as u64))?;
        let mut node_of_rank = vec![u32::MAX; index.len()];
        let mut next_id = 0u32;
        nodes.retain(|item| match index.rank(item.address() as u64) {
            Some(rank) if node_of_rank[rank as usize] == u32::MAX => {
                node_of_rank[rank as usize] = next_id;
                next_id += 1;
                true
            }
            _ => false, // a duplicate
        });
        Some(NodeIndex::Ranked {
            index,
            node_of_rank,
        })
    }

    /// `index` (empty) filled with `nodes`, with duplicates removed from `nodes`.
    fn by_address(
        nodes: &mut Vec<cpython::ObjRef<'_>>,
        mut index: AddressIndex,
    ) -> Result<NodeIndex, WalkError> {
        let mut next_id = 0u32;
        let mut failure = None;
        nodes.retain(|item| match index.insert(item.address() as u64, next_id) {
            Ok(id) if id == next_id => {
                next_id += 1;
                true
            }
            Ok(_) => false, // a duplicate: the first occurrence is the node
            Err(e) => {
                failure.get_or_insert(e);
                false
            }
        });
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(NodeIndex::ByAddress(index)),
        }
    }

    /// The rank (`Ranked`) or node id (`ByAddress`) of the object at `address`.
    #[inline]
    fn get(&self, address: u64) -> Option<u32> {
        match self {
            NodeIndex::Ranked { index, .. } => index.rank(address),
            NodeIndex::ByAddress(index) => index.get(address),
        }
    }
}

fn type_entry(tp: TypeRef<'_>, frame_type: usize, minor: u8) -> TypeEntry {
    let flags = TypeFlags::of(tp);
    let priority = if flags.has_finalizer {
        PRIORITY_FINALIZER
    } else if flags.is_heap_type && !flags.is_type {
        PRIORITY_INSTANCE
    } else if tp.address() == frame_type {
        PRIORITY_FRAME
    } else {
        PRIORITY_CONTAINER
    };
    let dict_slot = if flags.is_heap_type && !flags.is_type {
        DictSlot::of(tp, minor)
    } else {
        DictSlot::NONE
    };
    TypeEntry {
        slots: TraverseSlots::of(tp),
        priority,
        dict_slot,
    }
}
