//! The fast paths of `refscope.objgraph`: a type census, selections by type or address,
//! and breadth-first reference chains, over the objects `gc.get_objects()` lists.
//!
//! Everything here reads objects through [`cpython`]: type pointers and `tp_traverse`,
//! never an attribute lookup, so no user `__repr__`/`__getattr__`/`__eq__` runs. The only
//! Python code called is the predicate the user hands to `find_*_chain`, and while it runs
//! every object of the search is held by a strong reference of ours.

use crate::cpython::{self, AsObj, ObjRef, TraverseSlots, TypeRef};
use crate::results::{self, TypeAddresses, TypeCount};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use pyo3::{PyTraverseError, PyVisit};
use refscope_core::chains::{shortest_chain, ReverseEdges};
use refscope_core::graph::GraphBuilder;
use refscope_core::index::AddressIndex;
use refscope_core::report::layered::{self, Diagram, DiagramEdge, DiagramNode, NodeShape};
use refscope_core::report::png;
use refscope_core::CoreError;
use rustc_hash::{FxHashMap, FxHashSet};

fn core_error(e: CoreError) -> PyErr {
    PyMemoryError::new_err(e.to_string())
}

/// Traversal slots per type, looked up once per type.
#[derive(Default)]
struct SlotCache {
    slots: FxHashMap<usize, TraverseSlots>,
    last: Option<(usize, TraverseSlots)>,
}

impl SlotCache {
    #[inline]
    fn of(&mut self, obj: ObjRef<'_>) -> TraverseSlots {
        let tp = cpython::type_of(obj);
        if let Some((cached, slots)) = self.last {
            if cached == tp.address() {
                return slots;
            }
        }
        let slots = *self
            .slots
            .entry(tp.address())
            .or_insert_with(|| TraverseSlots::of(tp));
        self.last = Some((tp.address(), slots));
        slots
    }
}

fn internal_error() -> PyErr {
    crate::RefscopeError::new_err("internal error while traversing an object (a bug in refscope)")
}

/// The number of objects of `objects` of each exact type, types in order of first
/// appearance (so a dict built from it has objgraph's key order).
#[pyfunction]
pub fn objgraph_type_census(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
) -> PyResult<Vec<Py<TypeCount>>> {
    let items = cpython::list_items(objects);
    let mut position: FxHashMap<usize, usize> = FxHashMap::default();
    let mut census: Vec<(TypeRef<'_>, u64)> = Vec::new();
    let mut last: (usize, usize) = (0, usize::MAX);
    for &obj in &items {
        let cls = cpython::type_of(obj);
        let tp = cls.address();
        let at = if last.0 == tp && last.1 != usize::MAX {
            last.1
        } else {
            let at = *position.entry(tp).or_insert_with(|| {
                census.push((cls, 0));
                census.len() - 1
            });
            last = (tp, at);
            at
        };
        census[at].1 += 1;
    }
    let rows = census.into_iter().map(|(tp, count)| TypeCount {
        type_object: tp.as_object().to_bound(py).unbind(),
        count,
    });
    results::py_list(py, rows)
}

/// The objects of `objects` whose exact type is one of `types`, in order.
#[pyfunction]
pub fn objgraph_select_types<'py>(
    py: Python<'py>,
    objects: &Bound<'py, PyList>,
    types: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyList>> {
    let wanted: FxHashSet<usize> = types.iter().map(|t| t.as_ptr() as usize).collect();
    let items = cpython::list_items(objects);
    let chosen: Vec<ObjRef<'_>> = items
        .into_iter()
        .filter(|&obj| wanted.contains(&cpython::type_of(obj).address()))
        .collect();
    cpython::new_list(py, &chosen)
}

/// The objects of `objects` whose `id()` is one of `addresses`, in order.
#[pyfunction]
pub fn objgraph_select_addresses<'py>(
    py: Python<'py>,
    objects: &Bound<'py, PyList>,
    addresses: Vec<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let wanted: FxHashSet<usize> = addresses.into_iter().collect();
    let items = cpython::list_items(objects);
    let chosen: Vec<ObjRef<'_>> = items
        .into_iter()
        .filter(|&obj| wanted.contains(&obj.address()))
        .collect();
    cpython::new_list(py, &chosen)
}

/// Who refers to what among the objects gc tracks, taken once: `gc.get_referrers` for
/// every object at the cost of one heap walk, in the order `gc.get_referrers` reports.
///
/// Holds the snapshot list (a strong reference to every object in it) until `close()` or
/// until it is freed; it takes part in gc so that it can never keep a cycle alive.
#[pyclass(module = "refscope._core")]
pub struct ReferrerIndex {
    objects: Option<Py<PyList>>,
    /// Addresses of the objects of `objects` (which keeps them alive), in its order; the
    /// objects themselves are read from the list (nothing else holds it).
    items: Vec<usize>,
    /// Address → position in `items` (behind a lock only because the index caches its
    /// last page; the GIL already serialises calls).
    index: std::sync::Mutex<AddressIndex>,
    reverse: ReverseEdges,
    ignored: FxHashSet<usize>,
}

impl ReferrerIndex {
    fn lookup(&self, address: usize) -> Option<u32> {
        let index = self
            .index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        index.get(address as u64)
    }

    /// The snapshot list, unless the index is closed.
    fn objects<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyList>> {
        match &self.objects {
            Some(objects) => Ok(objects.bind(py)),
            None => Err(pyo3::exceptions::PyValueError::new_err(
                "ReferrerIndex is closed",
            )),
        }
    }

    /// Object `id` of the snapshot (in the list's order).
    fn object<'py>(&self, py: Python<'py>, id: u32) -> PyResult<Bound<'py, PyAny>> {
        self.objects(py)?.get_item(id as usize)
    }

    /// Referrer node ids of the object at `address`: from the index when gc tracks it,
    /// otherwise found by traversing every object (what gc.get_referrers does for any
    /// object).
    fn referrer_ids(&self, py: Python<'_>, address: usize, out: &mut Vec<u32>) -> PyResult<()> {
        let tracked = self.lookup(address);
        if let Some(id) = tracked {
            out.extend(
                self.reverse
                    .referrers(id)
                    .iter()
                    .copied()
                    .filter(|&r| !self.ignored.contains(&self.items[r as usize])),
            );
            return Ok(());
        }
        let mut slots = SlotCache::default();
        let objects = self.objects(py)?;
        for (i, item) in cpython::list_items(objects).into_iter().enumerate() {
            if self.ignored.contains(&item.address()) {
                continue;
            }
            let mut refers = false;
            cpython::for_each_referent(&slots.of(item), item, &mut |referent| {
                refers |= referent.address() == address;
            })
            .map_err(|()| internal_error())?;
            if refers {
                out.push(i as u32);
            }
        }
        Ok(())
    }
}

/// A [`ReferrerIndex`] of `objects` (normally `gc.get_objects()`); objects whose `id()`
/// is in `ignore` are never reported as referrers.
#[pyfunction]
pub fn objgraph_referrer_index(
    objects: &Bound<'_, PyList>,
    ignore: Vec<usize>,
) -> PyResult<ReferrerIndex> {
    ReferrerIndex::new(objects, ignore)
}

impl ReferrerIndex {
    fn new(objects: &Bound<'_, PyList>, ignore: Vec<usize>) -> PyResult<Self> {
        let items = cpython::list_items(objects);
        if items.len() >= u32::MAX as usize - 1 {
            return Err(core_error(CoreError::TooLarge {
                what: "object count",
                limit: u32::MAX as u64 - 1,
            }));
        }
        let mut index = AddressIndex::for_addresses(items.iter().map(|p| p.address() as u64));
        for (i, obj) in items.iter().enumerate() {
            index
                .insert(obj.address() as u64, i as u32)
                .map_err(core_error)?;
        }
        let mut builder = GraphBuilder::with_capacity(items.len(), items.len() * 2);
        let mut slots = SlotCache::default();
        for &obj in &items {
            builder.start_node().map_err(core_error)?;
            cpython::for_each_referent(&slots.of(obj), obj, &mut |referent| {
                if let Some(id) = index.get(referent.address() as u64) {
                    builder.push_edge(id);
                }
            })
            .map_err(|()| internal_error())?;
        }
        let graph = builder.finish().map_err(core_error)?;
        let reverse = ReverseEdges::of(&graph).map_err(core_error)?;
        drop(graph);
        Ok(ReferrerIndex {
            objects: Some(objects.clone().unbind()),
            items: items.into_iter().map(|p| p.address()).collect(),
            index: std::sync::Mutex::new(index),
            reverse,
            ignored: ignore.into_iter().collect(),
        })
    }
}

#[pymethods]
impl ReferrerIndex {
    /// `gc.get_referrers(obj)` as of the snapshot, less the ignored objects.
    fn referrers<'py>(
        &self,
        py: Python<'py>,
        obj: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.objects(py)?;
        let mut ids = Vec::new();
        self.referrer_ids(py, obj.as_ptr() as usize, &mut ids)?;
        let objs = ids
            .iter()
            .map(|&i| self.object(py, i))
            .collect::<PyResult<Vec<_>>>()?;
        cpython::new_list_of_owned(py, objs)
    }

    /// objgraph's `find_backref_chain`: the shortest chain `[match, ..., obj]` of
    /// references leading to `obj` from an object for which `predicate` is true, within
    /// `max_depth` steps; `[obj]` when there is none.
    fn shortest_chain<'py>(
        &self,
        py: Python<'py>,
        obj: &Bound<'py, PyAny>,
        predicate: &Bound<'py, PyAny>,
        max_depth: u32,
    ) -> PyResult<Bound<'py, PyList>> {
        self.objects(py)?;
        let start_address = obj.as_ptr() as usize;
        let start = match self.lookup(start_address) {
            Some(id) => id,
            None => self.items.len() as u32, // a virtual node for an untracked object
        };
        let address_of = |id: u32| -> usize {
            if id as usize == self.items.len() {
                start_address
            } else {
                self.items[id as usize]
            }
        };
        let object_of = |id: u32| -> PyResult<Bound<'py, PyAny>> {
            if id as usize == self.items.len() {
                Ok(obj.clone())
            } else {
                self.object(py, id)
            }
        };
        let chain = shortest_chain(
            start,
            max_depth,
            |node, out| self.referrer_ids(py, address_of(node), out),
            |node| predicate.call1((object_of(node)?,))?.is_truthy(),
        )?;
        let chain = match chain {
            Some(ids) => ids
                .into_iter()
                .map(object_of)
                .collect::<PyResult<Vec<_>>>()?,
            None => vec![obj.clone()],
        };
        cpython::new_list_of_owned(py, chain)
    }

    /// Number of objects in the snapshot.
    fn __len__(&self) -> usize {
        self.items.len()
    }

    /// Releases the snapshot (every reference it holds); the index is unusable after.
    fn close(&mut self) {
        self.items = Vec::new();
        self.reverse = ReverseEdges::default();
        self.index = std::sync::Mutex::new(AddressIndex::with_capacity(0));
        self.objects = None;
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.objects)
    }

    fn __clear__(&mut self) {
        self.close();
    }
}

/// objgraph's `find_ref_chain`: the shortest chain `[obj, ..., match]` of references
/// leading from `obj` (through `tp_traverse`, as `gc.get_referents`) to an object for
/// which `predicate` is true, within `max_depth` steps; `[obj]` when there is none.
/// Objects whose `id()` is in `ignore` are not followed.
#[pyfunction]
pub fn objgraph_find_ref_chain<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    predicate: &Bound<'py, PyAny>,
    max_depth: u32,
    ignore: Vec<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let ignored: FxHashSet<usize> = ignore.into_iter().collect();
    // Every object reached, by discovery order, with a strong reference: the predicate
    // may run any Python code, including code that drops the last other reference.
    let mut reached: Vec<Bound<'py, PyAny>> = vec![obj.clone()];
    let mut id_of: FxHashMap<usize, u32> = FxHashMap::default();
    id_of.insert(obj.as_ptr() as usize, 0);
    let mut slots = SlotCache::default();
    let chain = {
        let reached = std::cell::RefCell::new(&mut reached);
        shortest_chain(
            0,
            max_depth,
            |node, out| -> PyResult<()> {
                let mut reached = reached.borrow_mut();
                let source = reached[node as usize].clone();
                let mut referents: Vec<ObjRef<'_>> = Vec::new();
                cpython::for_each_referent(&slots.of(source.as_obj()), source.as_obj(), &mut |r| {
                    referents.push(r)
                })
                .map_err(|()| internal_error())?;
                // No Python code ran since the traversal: the borrowed referents are
                // alive (the source holds them); take a reference to each new one.
                for &r in &referents {
                    if ignored.contains(&r.address()) {
                        continue;
                    }
                    let next = reached.len() as u32;
                    let id = *id_of.entry(r.address()).or_insert(next);
                    if id == next {
                        reached.push(r.to_bound(py));
                    }
                    out.push(id);
                }
                Ok(())
            },
            |node| {
                let candidate = reached.borrow()[node as usize].clone();
                predicate.call1((candidate,))?.is_truthy()
            },
        )?
    };
    let items: Vec<ObjRef<'_>> = match chain {
        Some(mut ids) => {
            ids.reverse();
            ids.into_iter()
                .map(|id| reached[id as usize].as_obj())
                .collect()
        }
        None => vec![obj.as_obj()],
    };
    cpython::new_list(py, &items)
}

/// The addresses of the objects of `objects` by exact type, types in order of first
/// appearance (for `get_new_ids`).
#[pyfunction]
pub fn objgraph_addresses_by_type(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
) -> PyResult<Vec<Py<TypeAddresses>>> {
    let items = cpython::list_items(objects);
    let mut position: FxHashMap<usize, usize> = FxHashMap::default();
    let mut groups: Vec<(TypeRef<'_>, Vec<usize>)> = Vec::new();
    for &obj in &items {
        let cls = cpython::type_of(obj);
        let at = *position.entry(cls.address()).or_insert_with(|| {
            groups.push((cls, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(obj.address());
    }
    let rows = groups.into_iter().map(|(tp, addresses)| TypeAddresses {
        type_object: tp.as_object().to_bound(py).unbind(),
        addresses,
    });
    results::py_list(py, rows)
}

/// The objects of `candidates` that no object of `everything` refers to (through
/// `tp_traverse`, as `gc.get_referents`), skipping referrers whose `id()` is in `skip`;
/// objgraph's `get_leaking_objects`.
#[pyfunction]
pub fn objgraph_unreferenced<'py>(
    py: Python<'py>,
    everything: &Bound<'py, PyList>,
    candidates: &Bound<'py, PyList>,
    skip: Vec<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let skip: FxHashSet<usize> = skip.into_iter().collect();
    let wanted = cpython::list_items(candidates);
    let mut index = AddressIndex::for_addresses(wanted.iter().map(|p| p.address() as u64));
    for (i, obj) in wanted.iter().enumerate() {
        index
            .insert(obj.address() as u64, i as u32)
            .map_err(core_error)?;
    }
    let mut referenced = vec![false; wanted.len()];
    let mut slots = SlotCache::default();
    let candidates_obj = candidates.as_obj();
    for obj in cpython::list_items(everything) {
        if obj == candidates_obj || skip.contains(&obj.address()) {
            continue;
        }
        cpython::for_each_referent(&slots.of(obj), obj, &mut |referent| {
            if let Some(id) = index.get(referent.address() as u64) {
                referenced[id as usize] = true;
            }
        })
        .map_err(|()| internal_error())?;
    }
    let chosen: Vec<ObjRef<'_>> = wanted
        .iter()
        .zip(&referenced)
        .filter(|(_, &r)| !r)
        .map(|(&p, _)| p)
        .collect();
    cpython::new_list(py, &chosen)
}

/// A node as `refscope.objgraph` hands it over: `(id, lines, fill, font colour, border
/// colour, shape, font size)`.
type NodeRow = (String, Vec<String>, String, String, String, String, f64);
/// An edge: `(from id, to id, label, colour, dotted)`.
type EdgeRow = (String, String, String, String, bool);

fn diagram(nodes: Vec<NodeRow>, edges: Vec<EdgeRow>) -> Diagram {
    let mut position: FxHashMap<String, usize> = FxHashMap::default();
    let mut out = Diagram::default();
    for (id, lines, fill, font_color, border_color, shape, font_size) in nodes {
        position.insert(id, out.nodes.len());
        out.nodes.push(DiagramNode {
            lines,
            fill,
            font_color,
            border_color,
            shape: if shape == "doublecircle" {
                NodeShape::DoubleCircle
            } else {
                NodeShape::Box
            },
            font_size: if font_size.is_finite() {
                font_size.clamp(4.0, 72.0)
            } else {
                14.0
            },
        });
    }
    for (from, to, label, color, dotted) in edges {
        if let (Some(&from), Some(&to)) = (position.get(&from), position.get(&to)) {
            out.edges.push(DiagramEdge {
                from,
                to,
                label,
                color,
                dotted,
            });
        }
    }
    out
}

/// The drawing of an object graph as an SVG document.
#[pyfunction]
pub fn objgraph_render_svg(
    py: Python<'_>,
    nodes: Vec<NodeRow>,
    edges: Vec<EdgeRow>,
) -> PyResult<String> {
    let d = diagram(nodes, edges);
    py.detach(|| crate::without_panics("drawing the graph", || Ok(layered::render_svg(&d))))
}

/// The drawing of an object graph as a standalone HTML page.
#[pyfunction]
pub fn objgraph_render_html(
    py: Python<'_>,
    nodes: Vec<NodeRow>,
    edges: Vec<EdgeRow>,
    title: String,
) -> PyResult<String> {
    let d = diagram(nodes, edges);
    py.detach(|| {
        crate::without_panics("drawing the graph", || Ok(layered::render_html(&d, &title)))
    })
}

/// The drawing of an object graph as a PNG file's bytes (rendered by resvg).
#[pyfunction]
pub fn objgraph_render_png<'py>(
    py: Python<'py>,
    nodes: Vec<NodeRow>,
    edges: Vec<EdgeRow>,
) -> PyResult<Bound<'py, PyBytes>> {
    let d = diagram(nodes, edges);
    let png = py.detach(|| {
        crate::without_panics("drawing the graph", || {
            let svg = layered::render_svg(&d);
            png::svg_to_png(&svg, 1.0).map_err(crate::RefscopeError::new_err)
        })
    })?;
    Ok(PyBytes::new(py, &png))
}

/// The object's own `__dict__` if it exists already, else None; never creates one (the
/// `__dict__` attribute would, for functions and for 3.11+ instances whose attributes
/// live inline). objgraph's edge labels compare referents with it.
#[pyfunction]
pub fn objgraph_existing_dict<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let minor = crate::known_types(py)?.minor;
    let tp = cpython::type_of(obj.as_obj());
    if cpython::TypeFlags::of(tp).is_type {
        // A class's `__dict__` attribute is a mappingproxy, never its tp_dict.
        return Ok(None);
    }
    let dict = cpython::DictSlot::of(tp, minor).materialised_dict(obj.as_obj());
    Ok(dict.map(|d| d.to_bound(py)))
}

/// Adds this module's functions and classes to `refscope._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(objgraph_type_census, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_select_types, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_select_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_find_ref_chain, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_addresses_by_type, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_unreferenced, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_existing_dict, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_render_svg, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_render_html, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_render_png, m)?)?;
    m.add_function(wrap_pyfunction!(objgraph_referrer_index, m)?)?;
    m.add_class::<ReferrerIndex>()?;
    Ok(())
}
