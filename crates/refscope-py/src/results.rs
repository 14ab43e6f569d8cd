//! What `refscope._core` hands to Python: frozen classes with named, read-only fields,
//! never positional tuples or dicts. The Python package turns them into its public types
//! (`CycleEntry`, `CycleGroup`, `TypeStats`, `RetainerChain`...); each class here is the
//! plain data of one answer.

use pyo3::prelude::*;
use refscope_core::report::groups::CycleGroup;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------
// Cycle reports (`CycleAnalysis`).
// ---------------------------------------------------------------------------------------

/// One group of cycles of the same shape (`CycleAnalysis.groups_info()`).
///
/// It shares the report's groups instead of copying its signature: a ring of a million
/// members has a signature of megabytes, and a Monitor keeps only its first few hundred
/// characters (`signature_head`).
#[pyclass(module = "refscope._core", frozen)]
pub struct GroupInfo {
    groups: Arc<Vec<CycleGroup>>,
    index: usize,
    /// Which edge of the example to break, or None.
    #[pyo3(get)]
    pub hint: Option<Py<HintInfo>>,
}

#[pymethods]
impl GroupInfo {
    /// `"type label -> type label -> ..."` from the least rotation of the cycle.
    #[getter]
    fn signature(&self) -> String {
        self.group().signature.to_text()
    }

    /// 12 hex digits of the FNV-1a 64 hash of the signature.
    #[getter]
    fn key(&self) -> &str {
        &self.group().key
    }

    /// Cycles in the group.
    #[getter]
    fn count(&self) -> u64 {
        self.group().count()
    }

    /// Index of the group's first cycle (its example).
    #[getter]
    fn example(&self) -> u32 {
        self.group().example()
    }

    /// Shallow bytes of every object of every cycle of the group.
    #[getter]
    fn total_size(&self) -> u64 {
        self.group().total_size
    }

    #[getter]
    fn has_finalizer(&self) -> bool {
        self.group().has_finalizer
    }

    /// The first `max_chars` characters of the signature (all of it when shorter),
    /// without making the whole text a Python string.
    fn signature_head(&self, max_chars: usize) -> String {
        self.group().signature.head(max_chars)
    }
}

/// Which edge of a group's example cycle to break, how, and why.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct HintInfo {
    pub edge_index: u32,
    pub label: String,
    /// Stable name of the fix (`weakmethod`, `clear-frame-local`...).
    pub fix: &'static str,
    pub advice: String,
    pub why: String,
}

/// One object of a cycle, described safely (`CycleAnalysis.cycle_info()`), with the
/// label of its reference to the next object.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct ObjectInfo {
    #[pyo3(name = "type")]
    pub type_name: String,
    pub description: String,
    pub label: String,
    pub kind: &'static str,
    pub size: u64,
    pub has_finalizer: bool,
    pub address: u64,
    /// For frames: the frame and its callers; None for anything else.
    pub frame: Option<Py<FrameDetails>>,
    /// Where the object was allocated, oldest call first (empty unless tracemalloc was
    /// tracing); `function` is empty.
    pub allocated_at: Vec<Py<SourceLine>>,
}

/// The stack and locals of a frame on a cycle.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct FrameDetails {
    /// The frame, then its callers.
    pub stack: Vec<Py<SourceLine>>,
    /// Its local variables, each with a safe description (or the guarded repr).
    pub locals: Vec<Py<LocalValue>>,
}

/// A place in the source: file, line, and the function (empty when unknown).
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct SourceLine {
    pub filename: String,
    pub lineno: i64,
    pub function: String,
}

/// A frame's local variable and how it is shown.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct LocalValue {
    pub name: String,
    pub value: String,
}

/// Seconds spent in one phase of an analysis (`CycleAnalysis.phase_seconds`).
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct PhaseTime {
    pub name: &'static str,
    pub seconds: f64,
}

// ---------------------------------------------------------------------------------------
// Heap snapshots (`HeapSnapshot`). Objects are node ids (dense ints).
// ---------------------------------------------------------------------------------------

/// When and where a snapshot was taken.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct SnapshotMeta {
    pub python_version: String,
    /// Seconds since the epoch.
    pub taken_at: u64,
    pub pid: u32,
}

/// How many references to a node the snapshot found inside the heap, and how many come
/// from outside it (its refcount minus the former).
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct ReferenceCounts {
    pub found: u64,
    pub outside: u64,
}

/// One labelled reference of a node, or one step of a path from a root.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct LabelledNode {
    pub label: String,
    pub node: u32,
}

/// A root of the heap: module globals, a thread's frame, an immortal object, or an object
/// held from outside the heap.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct RootInfo {
    pub kind: String,
    pub label: String,
    pub node: u32,
    /// References from outside the heap.
    pub outside: u64,
}

/// The shortest chain from a named root to a node, and every root that reaches it.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct RetentionPath {
    pub root: Py<RootInfo>,
    pub steps: Vec<Py<LabelledNode>>,
    pub text: String,
    /// Every root found that reaches the node, nearest first.
    pub roots: Vec<Py<RootInfo>>,
}

/// Count and sizes of the objects of one type.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct TypeTotals {
    pub name: String,
    pub count: u64,
    pub shallow_bytes: u64,
    pub retained_bytes: u64,
}

/// How one type grew since an older snapshot.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct TypeGrowthInfo {
    pub name: String,
    pub count: u64,
    pub count_delta: i64,
    pub bytes_delta: i64,
}

/// How one type changed since an older snapshot, by objects added and removed.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct TypeChangeInfo {
    pub name: String,
    pub count: u64,
    pub count_delta: i64,
    pub bytes_delta: i64,
    pub added: u64,
    pub added_bytes: u64,
    pub removed: u64,
    pub removed_bytes: u64,
}

/// A group of the heap's cycles, by member types.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct HeapCycleGroup {
    pub signature: String,
    pub components: u64,
    pub objects: u64,
    pub bytes: u64,
    /// The nodes of one of its cycles.
    pub example: Vec<u32>,
}

/// What changed since an older snapshot.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct HeapDiff {
    pub added: u64,
    pub added_bytes: u64,
    pub removed: u64,
    pub removed_bytes: u64,
    pub types: Vec<Py<TypeChangeInfo>>,
    pub new_cycle_groups: Vec<Py<HeapCycleGroup>>,
}

/// A node and the bytes it keeps alive.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct Retained {
    pub node: u32,
    pub retained: u64,
}

// ---------------------------------------------------------------------------------------
// refscope.objgraph support.
// ---------------------------------------------------------------------------------------

/// How many of the given objects have exactly this type.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct TypeCount {
    #[pyo3(name = "type")]
    pub type_object: Py<PyAny>,
    pub count: u64,
}

/// The addresses (`id()`) of the given objects of exactly this type.
#[pyclass(module = "refscope._core", frozen, get_all)]
pub struct TypeAddresses {
    #[pyo3(name = "type")]
    pub type_object: Py<PyAny>,
    pub addresses: Vec<usize>,
}

impl GroupInfo {
    /// The record of `groups[index]` (`index` in range).
    pub fn new(py: Python<'_>, groups: &Arc<Vec<CycleGroup>>, index: usize) -> PyResult<Self> {
        let group = &groups[index];
        let hint = match &group.hint {
            Some(hint) => Some(Py::new(
                py,
                HintInfo {
                    edge_index: hint.edge_index,
                    label: hint.label.clone(),
                    fix: hint.fix.as_str(),
                    advice: hint.advice.clone(),
                    why: hint.why.clone(),
                },
            )?),
            None => None,
        };
        Ok(GroupInfo {
            groups: Arc::clone(groups),
            index,
            hint,
        })
    }

    fn group(&self) -> &CycleGroup {
        &self.groups[self.index]
    }
}

impl ObjectInfo {
    pub fn new(
        py: Python<'_>,
        record: refscope_core::report::ObjectRecord,
        label: &refscope_core::report::EdgeLabel,
    ) -> PyResult<Self> {
        let line = |entry: refscope_core::report::StackEntry| SourceLine {
            filename: entry.filename,
            lineno: entry.lineno,
            function: entry.function,
        };
        let frame = match record.frame {
            Some(frame) => {
                let locals = frame
                    .locals
                    .into_iter()
                    .map(|(name, value)| LocalValue { name, value });
                let details = FrameDetails {
                    stack: py_list(py, frame.stack.into_iter().map(line))?,
                    locals: py_list(py, locals)?,
                };
                Some(Py::new(py, details)?)
            }
            None => None,
        };
        Ok(ObjectInfo {
            type_name: record.type_name,
            description: record.description,
            label: label.as_str().to_owned(),
            kind: record.kind.as_str(),
            size: record.size,
            has_finalizer: record.has_finalizer,
            address: record.address,
            frame,
            allocated_at: py_list(py, record.allocated_at.into_iter().map(line))?,
        })
    }
}

/// `Py::new` for a list of values.
pub fn py_list<T>(py: Python<'_>, items: impl IntoIterator<Item = T>) -> PyResult<Vec<Py<T>>>
where
    T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>,
{
    items.into_iter().map(|item| Py::new(py, item)).collect()
}

/// Adds the result classes to `refscope._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<GroupInfo>()?;
    m.add_class::<HintInfo>()?;
    m.add_class::<ObjectInfo>()?;
    m.add_class::<FrameDetails>()?;
    m.add_class::<SourceLine>()?;
    m.add_class::<LocalValue>()?;
    m.add_class::<PhaseTime>()?;
    m.add_class::<SnapshotMeta>()?;
    m.add_class::<ReferenceCounts>()?;
    m.add_class::<LabelledNode>()?;
    m.add_class::<RootInfo>()?;
    m.add_class::<RetentionPath>()?;
    m.add_class::<TypeTotals>()?;
    m.add_class::<TypeGrowthInfo>()?;
    m.add_class::<TypeChangeInfo>()?;
    m.add_class::<HeapCycleGroup>()?;
    m.add_class::<HeapDiff>()?;
    m.add_class::<Retained>()?;
    m.add_class::<TypeCount>()?;
    m.add_class::<TypeAddresses>()?;
    Ok(())
}
