//! The heap walk: turns a list of objects into a [`Graph`] of the references among them.
//!
//! One `tp_traverse` call per distinct object, through a Rust visit function that looks
//! each referent's address up in an [`AddressIndex`]. It allocates no Python object, runs
//! no Python code and never reads `__dict__`, so walking does not change the heap.

use crate::cpython::{self, ObjPtr, TraverseSlots, TypeFlags};
use pyo3::ffi;
use refscope_core::graph::{Graph, GraphBuilder};
use refscope_core::index::AddressIndex;
use refscope_core::CoreError;
use rustc_hash::FxHashMap;

/// Priority of a node when choosing where a representative cycle starts.
pub const PRIORITY_FINALIZER: u8 = 3;
pub const PRIORITY_INSTANCE: u8 = 2;
pub const PRIORITY_FRAME: u8 = 1;
pub const PRIORITY_CONTAINER: u8 = 0;

/// The graph of one walk, with the object behind each node.
pub struct Walk {
    /// Node id → object (borrowed from the list that was walked).
    pub nodes: Vec<ObjPtr>,
    pub graph: Graph,
    pub priority: Vec<u8>,
}

#[derive(Clone, Copy)]
struct TypeEntry {
    slots: TraverseSlots,
    priority: u8,
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

/// Walks every distinct object of `list` (a live Python list the caller keeps alive).
pub fn walk(list: ObjPtr, frame_type: usize) -> Result<Walk, WalkError> {
    let items = cpython::list_items(list);
    let mut index = AddressIndex::with_capacity(items.len());
    let mut nodes: Vec<ObjPtr> = Vec::with_capacity(items.len());
    for &item in &items {
        let next_id = nodes.len() as u32;
        if nodes.len() >= u32::MAX as usize - 1 {
            return Err(CoreError::TooLarge { what: "object count", limit: u32::MAX as u64 - 1 }.into());
        }
        if index.insert(item as u64, next_id)? == next_id {
            nodes.push(item);
        }
    }
    drop(items);

    let mut types: FxHashMap<usize, TypeEntry> = FxHashMap::default();
    let mut last_type: (usize, Option<TypeEntry>) = (0, None);
    let mut priority = Vec::with_capacity(nodes.len());
    let mut builder = GraphBuilder::with_capacity(nodes.len(), nodes.len() * 2);
    for &obj in &nodes {
        let tp = cpython::type_of(obj);
        let entry = match last_type {
            (cached, Some(entry)) if cached == tp as usize => entry,
            _ => {
                let entry = *types.entry(tp as usize).or_insert_with(|| type_entry(tp, frame_type));
                last_type = (tp as usize, Some(entry));
                entry
            }
        };
        priority.push(entry.priority);
        builder.start_node()?;
        cpython::for_each_referent(&entry.slots, obj, &mut |referent: ObjPtr| {
            if let Some(id) = index.get(referent as u64) {
                builder.push_edge(id);
            }
        })
        .map_err(|()| WalkError::Internal)?;
    }
    Ok(Walk { nodes, graph: builder.finish()?, priority })
}

fn type_entry(tp: *mut ffi::PyTypeObject, frame_type: usize) -> TypeEntry {
    let flags = TypeFlags::of(tp);
    let priority = if flags.has_finalizer {
        PRIORITY_FINALIZER
    } else if flags.is_heap_type && !flags.is_type {
        PRIORITY_INSTANCE
    } else if tp as usize == frame_type {
        PRIORITY_FRAME
    } else {
        PRIORITY_CONTAINER
    };
    TypeEntry { slots: TraverseSlots::of(tp), priority }
}
