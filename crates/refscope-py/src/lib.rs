//! `refscope._core`: the PyO3 binding of refscope.
//!
//! It walks CPython objects ([`walk`]), describes the ones on cycles ([`describe`]) and
//! hands the result to `refscope-core` for analysis and rendering. Every `unsafe` block
//! lives in [`cpython`]. Users import `refscope`, never this module.
#![deny(unsafe_op_in_unsafe_fn)]
// tp_flags constants are c_ulong: u64 on Linux and macOS, u32 on Windows; the `as u64`
// casts keep both building.
#![allow(clippy::unnecessary_cast)]

mod cpython;
mod describe;
mod extras;
mod walk;

use describe::{Describer, KnownTypes};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{PyTraverseError, PyVisit};
use refscope_core::cycles::representative_cycles;
use refscope_core::report::dot::{self, DotOptions};
use refscope_core::report::groups::{self, CycleGroup};
use refscope_core::report::html::{self, HtmlOptions};
use refscope_core::report::json::{self, JsonOptions};
use refscope_core::report::svg::{self, SvgOptions};
use refscope_core::report::text::{self, TextOptions};
use refscope_core::report::{CycleRecord, Report, StackEntry};
use refscope_core::scc::strongly_connected_components;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

create_exception!(
    _core,
    RefscopeError,
    PyException,
    "Base class of refscope's errors."
);

/// A group for Python: `(signature, key, count, example cycle, total_size,
/// has_finalizer, hint)`, the hint as `(edge_index, label, fix, advice, why)`.
type GroupInfo = (String, String, u64, u32, u64, bool, Option<HintInfo>);
type HintInfo = (u32, String, &'static str, String, String);

static KNOWN_TYPES: OnceLock<KnownTypes> = OnceLock::new();

fn known_types(py: Python<'_>) -> PyResult<KnownTypes> {
    if let Some(known) = KNOWN_TYPES.get() {
        return Ok(*known);
    }
    let known = KnownTypes::load(py)?;
    Ok(*KNOWN_TYPES.get_or_init(|| known))
}

/// The result of one analysis: the cycles found, the objects of the cyclic components
/// (kept alive only as long as this object, and only when asked), and the report (plain
/// data), which is described from the objects on first use when they are kept, or at
/// once when they are not.
///
/// The class is frozen and safe to share between threads: the kept objects sit behind a
/// lock in a Rust vector (Python code cannot reach or mutate it; gc sees it through
/// `__traverse__`), and every user of them takes its own handle (`Arc`) first, so
/// `release()` in one thread never pulls objects from under a description in another.
#[pyclass(module = "refscope._core", frozen)]
struct CycleAnalysis {
    /// Every analysed object, by node id, one strong reference each.
    members: Mutex<Option<Members>>,
    /// The Python callable giving the guarded repr of frame locals (`repr_locals=True`).
    local_repr: Option<Py<PyAny>>,
    /// Component `i`'s objects are `members[n]` for `n` in
    /// `component_members[component_offsets[i]..component_offsets[i + 1]]`.
    component_members: Vec<u32>,
    component_offsets: Vec<u32>,
    /// Cycle `i`'s objects are `members[n]` for `n` in
    /// `cycle_members[cycle_offsets[i]..cycle_offsets[i + 1]]`.
    cycle_offsets: Vec<u32>,
    cycle_members: Vec<u32>,
    analysed_count: u64,
    edge_count: u64,
    /// How the objects on cycles are described.
    options: DescribeOptions,
    /// Allocation sites of the cycles' objects (same order as `cycle_members`), taken
    /// during the analysis when tracemalloc was tracing; empty otherwise.
    allocated_at: Vec<Vec<StackEntry>>,
    /// Seconds spent in each phase of the analysis (for benchmarks).
    phase_seconds: Vec<(&'static str, f64)>,
    /// Descriptions and labels, built once.
    report: OnceLock<Report>,
    /// Cycles grouped by signature, computed on first use.
    groups: OnceLock<Vec<CycleGroup>>,
}

impl CycleAnalysis {
    fn cycle_count(&self) -> usize {
        self.cycle_offsets.len() - 1
    }

    fn check_cycle(&self, index: usize) -> PyResult<usize> {
        if index < self.cycle_count() {
            Ok(index)
        } else {
            Err(PyIndexError::new_err(format!(
                "cycle index {index} out of range (report has {})",
                self.cycle_count()
            )))
        }
    }

    fn positions(&self, index: usize) -> &[u32] {
        &self.cycle_members
            [self.cycle_offsets[index] as usize..self.cycle_offsets[index + 1] as usize]
    }

    fn component_len(&self, index: usize) -> u64 {
        (self.component_offsets[index + 1] - self.component_offsets[index]) as u64
    }

    /// The described report, built from the kept objects on first use.
    fn report(&self, py: Python<'_>) -> PyResult<&Report> {
        if let Some(report) = self.report.get() {
            return Ok(report);
        }
        // Our own handle on the objects: they stay alive for the whole description,
        // whatever another thread (or code run by a guarded repr) does to the report.
        let members = self.members()?;
        let report = without_panics("describing the cycles", || self.describe(py, &members))?;
        Ok(self.report.get_or_init(|| report))
    }

    fn describe(&self, py: Python<'_>, members: &Members) -> PyResult<Report> {
        let objects: Vec<cpython::ObjPtr> = members.iter().map(|o| o.as_ptr()).collect();
        let mut describer = Describer::new(py, known_types(py)?);
        describer.frame_locals = self.options.frame_locals;
        describer.materialise_dicts = self.options.materialize_dicts;
        if self.options.frame_locals {
            describer.local_repr = self.local_repr.as_ref().map(|f| f.bind(py).clone());
        }
        let mut report = Report {
            analysed_count: self.analysed_count,
            edge_count: self.edge_count,
            ..Default::default()
        };
        report.objects.reserve(self.cycle_members.len());
        for index in 0..self.cycle_count() {
            let cycle: Vec<cpython::ObjPtr> = self
                .positions(index)
                .iter()
                .map(|&p| objects[p as usize])
                .collect();
            let len = cycle.len();
            let mut record = CycleRecord {
                objects: Vec::with_capacity(len),
                labels: Vec::with_capacity(len),
                component_size: self.component_len(index),
            };
            for (i, &obj) in cycle.iter().enumerate() {
                record.objects.push(report.objects.len() as u32);
                let mut object = describer.record(obj);
                if let Some(sites) = self
                    .allocated_at
                    .get(self.cycle_offsets[index] as usize + i)
                {
                    object.allocated_at = sites.clone();
                }
                report.objects.push(object);
                let prev = cycle[(i + len - 1) % len];
                let next = cycle[(i + 1) % len];
                record.labels.push(describer.edge_label(prev, obj, next));
            }
            report.cycles.push(record);
        }
        if let Some(error) = describer.take_error() {
            return Err(error);
        }
        Ok(report)
    }

    fn groups(&self, py: Python<'_>) -> PyResult<&[CycleGroup]> {
        let report = self.report(py)?;
        Ok(self.groups.get_or_init(|| groups::group_cycles(report)))
    }

    fn cycle<'a>(&'a self, py: Python<'_>, index: usize) -> PyResult<&'a CycleRecord> {
        let index = self.check_cycle(index)?;
        Ok(&self.report(py)?.cycles[index])
    }

    /// A handle on the kept objects (see the type's docs), or why there is none.
    fn members(&self) -> PyResult<Members> {
        let guard = self
            .members
            .lock()
            .map_err(|_| RefscopeError::new_err("the report's object list is unusable"))?;
        match &*guard {
            Some(members) => Ok(members.clone()),
            None => Err(PyValueError::new_err(
                "this report did not keep the analysed objects (keep_objects=False, or release() was called); \
                 its text, labels and descriptions are still available",
            )),
        }
    }
}

#[pymethods]
impl CycleAnalysis {
    fn __len__(&self) -> usize {
        self.cycle_count()
    }

    /// Distinct objects analysed.
    #[getter]
    fn analysed_count(&self) -> u64 {
        self.analysed_count
    }

    /// References found among the analysed objects.
    #[getter]
    fn edge_count(&self) -> u64 {
        self.edge_count
    }

    /// Seconds spent per phase: walk, scc, cycles, members (describe comes later, lazily).
    #[getter]
    fn phase_seconds(&self) -> Vec<(&'static str, f64)> {
        self.phase_seconds.clone()
    }

    /// True while the analysed objects are kept.
    #[getter]
    fn keeps_objects(&self) -> bool {
        self.members.lock().map(|m| m.is_some()).unwrap_or(false)
    }

    /// Objects of cycle `index`, in order (each refers to the next, the last to the first).
    fn cycle_objects<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyList>> {
        let index = self.check_cycle(index)?;
        let members = self.members()?;
        let items: Vec<cpython::ObjPtr> = self
            .positions(index)
            .iter()
            .map(|&p| members[p as usize].as_ptr())
            .collect();
        cpython::new_list(py, &items)
    }

    /// Objects of every cycle, one list per cycle; with `close=True` each list ends with
    /// its first object again (the recipe's format).
    #[pyo3(signature = (close=false))]
    fn all_cycle_objects<'py>(&self, py: Python<'py>, close: bool) -> PyResult<Bound<'py, PyList>> {
        let members = self.members()?;
        let objects: Vec<cpython::ObjPtr> = members.iter().map(|o| o.as_ptr()).collect();
        let mut cycles = Vec::with_capacity(self.cycle_count());
        for index in 0..self.cycle_count() {
            let positions = self.positions(index);
            let closing = if close { positions.first() } else { None };
            let items: Vec<cpython::ObjPtr> = positions
                .iter()
                .chain(closing)
                .map(|&p| objects[p as usize])
                .collect();
            cycles.push(cpython::new_list(py, &items)?);
        }
        cpython::new_list_of_owned(py, cycles)
    }

    /// Objects of the strongly connected component of cycle `index`.
    fn component_objects<'py>(
        &self,
        py: Python<'py>,
        index: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let index = self.check_cycle(index)?;
        let members = self.members()?;
        let (start, end) = (
            self.component_offsets[index] as usize,
            self.component_offsets[index + 1] as usize,
        );
        let items: Vec<cpython::ObjPtr> = self.component_members[start..end]
            .iter()
            .map(|&n| members[n as usize].as_ptr())
            .collect();
        cpython::new_list(py, &items)
    }

    /// Edge labels of cycle `index`: label `i` names the reference from object `i` to `i + 1`.
    fn cycle_labels(&self, py: Python<'_>, index: usize) -> PyResult<Vec<String>> {
        Ok(self.cycle(py, index)?.labels.clone())
    }

    /// Size of the strongly connected component cycle `index` stands for.
    fn component_size(&self, index: usize) -> PyResult<u64> {
        Ok(self.component_len(self.check_cycle(index)?))
    }

    /// Per object of cycle `index`: a dict of its safe facts.
    fn cycle_info<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let report = self.report(py)?;
        let cycle = self.cycle(py, index)?;
        cycle
            .objects
            .iter()
            .zip(&cycle.labels)
            .map(|(&object, label)| {
                let record = report.object(object);
                let info = PyDict::new(py);
                info.set_item("type", &record.type_name)?;
                info.set_item("description", &record.description)?;
                info.set_item("kind", record.kind.as_str())?;
                info.set_item("size", record.size)?;
                info.set_item("address", record.address)?;
                info.set_item("has_finalizer", record.has_finalizer)?;
                info.set_item("label", label)?;
                if let Some(frame) = &record.frame {
                    let stack: Vec<(String, i64, String)> = frame
                        .stack
                        .iter()
                        .map(|e| (e.filename.clone(), e.lineno, e.function.clone()))
                        .collect();
                    info.set_item("frame_stack", stack)?;
                    info.set_item("frame_locals", frame.locals.clone())?;
                }
                if !record.allocated_at.is_empty() {
                    let sites: Vec<(String, i64)> = record
                        .allocated_at
                        .iter()
                        .map(|e| (e.filename.clone(), e.lineno))
                        .collect();
                    info.set_item("allocated_at", sites)?;
                }
                Ok(info)
            })
            .collect()
    }

    /// Cycles grouped by signature, largest group first: one tuple per group,
    /// `(signature, key, count, example, total_size, has_finalizer, hint)`, where
    /// `example` is a cycle index and `hint` is None or
    /// `(edge_index, label, fix, advice, why)`. Tuples, not dicts: a report may hold
    /// 100,000 groups.
    fn groups_info(&self, py: Python<'_>) -> PyResult<Vec<GroupInfo>> {
        Ok(self
            .groups(py)?
            .iter()
            .map(|group| {
                let hint = group.hint.as_ref().map(|hint| {
                    (
                        hint.edge_index,
                        hint.label.clone(),
                        hint.fix.as_str(),
                        hint.advice.clone(),
                        hint.why.clone(),
                    )
                });
                (
                    group.signature.clone(),
                    group.key.clone(),
                    group.count(),
                    group.example(),
                    group.total_size,
                    group.has_finalizer,
                    hint,
                )
            })
            .collect())
    }

    /// Cycle indexes of group `index` (same order as `groups_info`), in report order.
    fn group_cycles(&self, py: Python<'_>, index: usize) -> PyResult<Vec<u32>> {
        let groups = self.groups(py)?;
        groups.get(index).map(|g| g.cycles.clone()).ok_or_else(|| {
            PyIndexError::new_err(format!(
                "group index {index} out of range (report has {})",
                groups.len()
            ))
        })
    }

    /// The report as text: groups first, largest first, then up to
    /// `max_cycles_per_group` example cycles (0 = all) of the first `max_groups` groups
    /// (0 = all), each listing up to `max_objects_per_cycle` objects (0 = all).
    #[pyo3(signature = (color=false, max_objects_per_cycle=Limit(100), max_cycles_per_group=Limit(1), max_groups=Limit(100)))]
    fn to_text(
        &self,
        py: Python<'_>,
        color: bool,
        max_objects_per_cycle: Limit,
        max_cycles_per_group: Limit,
        max_groups: Limit,
    ) -> PyResult<String> {
        let (report, groups) = (self.report(py)?, self.groups(py)?);
        let options = TextOptions {
            color,
            max_objects_per_cycle: max_objects_per_cycle.0,
            max_cycles_per_group: max_cycles_per_group.0,
            max_groups: max_groups.0,
        };
        Ok(text::render(report, groups, &options))
    }

    /// The report as JSON (format `refscope.report`, version 1): at most `max_groups`
    /// groups, `max_cycles_per_group` cycles per group and `max_objects_per_cycle`
    /// objects per cycle (0 = all, for each), indented by `indent` spaces (None = compact).
    #[pyo3(signature = (indent=None, max_groups=Limit(1000), max_cycles_per_group=Limit(10), max_objects_per_cycle=Limit(1000)))]
    fn to_json(
        &self,
        py: Python<'_>,
        indent: Option<Limit>,
        max_groups: Limit,
        max_cycles_per_group: Limit,
        max_objects_per_cycle: Limit,
    ) -> PyResult<String> {
        let (report, groups) = (self.report(py)?, self.groups(py)?);
        let indent = match indent {
            Some(Limit(width)) if width > json::MAX_INDENT => {
                return Err(PyValueError::new_err(format!(
                    "indent must be between 0 and {} spaces, got {width}",
                    json::MAX_INDENT
                )))
            }
            indent => indent.map(|Limit(width)| width),
        };
        let options = JsonOptions {
            indent,
            max_groups: max_groups.0,
            max_cycles_per_group: max_cycles_per_group.0,
            max_objects_per_cycle: max_objects_per_cycle.0,
        };
        Ok(py.detach(|| json::render(report, groups, &options)))
    }

    /// The report as Graphviz DOT source: one cluster per drawn cycle, at most
    /// `max_groups` groups, `max_cycles_per_group` cycles each and
    /// `max_objects_per_cycle` objects per cycle (0 = all, for each).
    #[pyo3(signature = (max_groups=Limit(100), max_cycles_per_group=Limit(1), max_objects_per_cycle=Limit(50)))]
    fn to_dot(
        &self,
        py: Python<'_>,
        max_groups: Limit,
        max_cycles_per_group: Limit,
        max_objects_per_cycle: Limit,
    ) -> PyResult<String> {
        let (report, groups) = (self.report(py)?, self.groups(py)?);
        let options = DotOptions {
            max_groups: max_groups.0,
            max_cycles_per_group: max_cycles_per_group.0,
            max_objects_per_cycle: max_objects_per_cycle.0,
        };
        Ok(py.detach(|| dot::render(report, groups, &options)))
    }

    /// The report as one SVG document: a ring per group of cycles (its example), largest
    /// group first, at most `max_groups` rings (0 = all) of at most `max_objects`
    /// objects each (0 = all).
    #[pyo3(signature = (max_objects=Limit(50), max_groups=Limit(100)))]
    fn to_svg(&self, py: Python<'_>, max_objects: Limit, max_groups: Limit) -> PyResult<String> {
        let (report, groups) = (self.report(py)?, self.groups(py)?);
        let options = SvgOptions {
            max_objects: max_objects.0,
            max_cycles: max_groups.0,
        };
        Ok(py.detach(|| svg::render(report, groups, &options)))
    }

    /// The picture of cycle `index` alone, as an SVG document.
    #[pyo3(signature = (index, max_objects=Limit(50)))]
    fn cycle_svg(&self, py: Python<'_>, index: usize, max_objects: Limit) -> PyResult<String> {
        let cycle = self.cycle(py, index)?;
        let options = SvgOptions {
            max_objects: max_objects.0,
            max_cycles: 0,
        };
        Ok(svg::render_cycle(self.report(py)?, cycle, &options, None))
    }

    /// Renders the HTML report and writes it to `path` (UTF-8) without holding the GIL
    /// and without a Python copy of the page, which matters for reports of many groups.
    #[pyo3(signature = (path, title, subtitle, max_groups=Limit(1000), max_objects=Limit(50)))]
    fn write_html(
        &self,
        py: Python<'_>,
        path: PathBuf,
        title: String,
        subtitle: String,
        max_groups: Limit,
        max_objects: Limit,
    ) -> PyResult<()> {
        let (report, groups) = (self.report(py)?, self.groups(py)?);
        let options = html_options(title, subtitle, max_groups, max_objects);
        py.detach(|| std::fs::write(&path, html::render(report, groups, &options)))
            .map_err(|error| {
                let errno = error.raw_os_error().unwrap_or(0);
                PyOSError::new_err((errno, error.to_string(), path.display().to_string()))
            })
    }

    /// The self-contained HTML report, as a string (the Python side writes the file).
    #[pyo3(signature = (title, subtitle, max_groups=Limit(1000), max_objects=Limit(50)))]
    fn to_html(
        &self,
        py: Python<'_>,
        title: String,
        subtitle: String,
        max_groups: Limit,
        max_objects: Limit,
    ) -> PyResult<String> {
        let (report, groups) = (self.report(py)?, self.groups(py)?);
        let options = html_options(title, subtitle, max_groups, max_objects);
        Ok(py.detach(|| html::render(report, groups, &options)))
    }

    /// Stops keeping the analysed objects alive (describing them first, so the text,
    /// labels and groups stay available).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        if self.keeps_objects() {
            self.report(py)?;
        }
        let released = self.members.lock().ok().and_then(|mut m| m.take());
        // Dropped outside the lock: freeing the objects may run their finalisers, which
        // may use this report again.
        drop(released);
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The lock is only ever held briefly by a thread holding the GIL, so it is free
        // while gc (which holds the GIL) traverses; `try_lock` never waits regardless.
        if let Ok(guard) = self.members.try_lock() {
            if let Some(members) = &*guard {
                for object in members.iter() {
                    visit.call(object)?;
                }
            }
        }
        if let Some(function) = &self.local_repr {
            visit.call(function)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let released = self.members.lock().ok().and_then(|mut m| m.take());
        drop(released);
    }
}

/// Finds the reference cycles among `objects` (a list the caller does not mutate during
/// the call).
///
/// With `keep_objects=True` the objects of the cyclic components are kept and described
/// lazily, on first use of the report; otherwise they are described now and let go.
/// `fold_instance_dicts=False` keeps an instance's own `__dict__` as a node of its own
/// (the recipe's view, for `find_circular_references`); the default folds it into the
/// instance so that reports read the same on every CPython version.
#[pyfunction]
///
/// `materialize_dicts=True` (for garbage only) lets labelling create an instance's
/// `__dict__` when no other way names an attribute; by default the heap is left as it is.
///
/// `local_repr`, when given, is called with each frame local to show (the guarded repr of
/// `repr_locals=True`); exceptions that are not `Exception`s propagate from it.
#[pyo3(signature = (objects, *, keep_objects=true, frame_locals=true, fold_instance_dicts=true, local_repr=None, materialize_dicts=false))]
fn analyze(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
    keep_objects: bool,
    frame_locals: bool,
    fold_instance_dicts: bool,
    local_repr: Option<Py<PyAny>>,
    materialize_dicts: bool,
) -> PyResult<CycleAnalysis> {
    without_panics("analysing the objects", || {
        let options = DescribeOptions {
            frame_locals,
            materialize_dicts,
        };
        analyze_objects(
            py,
            objects,
            keep_objects,
            fold_instance_dicts,
            options,
            local_repr,
        )
    })
}

/// How the objects on cycles are described.
#[derive(Clone, Copy)]
struct DescribeOptions {
    frame_locals: bool,
    materialize_dicts: bool,
}

/// The analysed objects, shared by the report and whoever is using them right now.
type Members = Arc<Vec<Py<PyAny>>>;

/// Runs `f`, turning a Rust panic (a refscope bug) into a `RefscopeError` instead of
/// pyo3's `PanicException`, which derives from `BaseException` and would escape the
/// host's `except Exception` handlers.
fn without_panics<T>(doing: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(RefscopeError::new_err(format!(
            "internal error while {doing} (a bug in refscope; please report it): {detail}"
        )))
    })
}

fn analyze_objects(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
    keep_objects: bool,
    fold_instance_dicts: bool,
    options: DescribeOptions,
    local_repr: Option<Py<PyAny>>,
) -> PyResult<CycleAnalysis> {
    let known = known_types(py)?;
    let mut clock = PhaseClock::start();
    let walked = walk::walk(
        objects.as_ptr(),
        known.frame,
        known.minor,
        fold_instance_dicts,
    )
    .map_err(|e| match e {
        walk::WalkError::Core(e) => RefscopeError::new_err(e.to_string()),
        walk::WalkError::Internal => {
            RefscopeError::new_err("internal error while walking the heap (please report it)")
        }
    })?;
    clock.lap("walk");
    // The graph is plain Rust data and every node is held by a reference of ours, so the
    // other threads may run meanwhile (a server keeps serving); what they do to the heap
    // now does not change this analysis, which describes the heap as the walk saw it.
    let (graph, priority) = (&walked.graph, &walked.priority);
    let (components, scc_seconds, cycles, cycles_seconds) = py.detach(|| {
        let started = std::time::Instant::now();
        let components = strongly_connected_components(graph);
        let scc_seconds = started.elapsed().as_secs_f64();
        let cycles = representative_cycles(graph, &components, priority);
        let cycles_seconds = started.elapsed().as_secs_f64() - scc_seconds;
        (components, scc_seconds, cycles, cycles_seconds)
    });
    clock.lap("scc+cycles");
    clock.phases.pop();
    clock.phases.push(("scc", scc_seconds));
    clock.phases.push(("cycles", cycles_seconds));

    // Members of the cyclic components, component by component.
    let mut component_members: Vec<u32> = Vec::new();
    let mut component_offsets = Vec::with_capacity(cycles.len() + 1);
    component_offsets.push(0u32);
    for (component, _) in cycles.iter() {
        component_members.extend_from_slice(components.members(component));
        component_offsets.push(component_members.len() as u32);
    }
    let mut cycle_offsets = Vec::with_capacity(cycles.len() + 1);
    cycle_offsets.push(0u32);
    let mut cycle_members = Vec::new();
    for (_, nodes) in cycles.iter() {
        cycle_members.extend_from_slice(nodes);
        cycle_offsets.push(cycle_members.len() as u32);
    }
    let analysed_count = walked.nodes.len() as u64;
    let edge_count = walked.graph.edge_count() as u64;
    // The walk took a reference to every node while it had the object in cache.
    let members: Members = Arc::new(walked.nodes.into_owned(py));
    clock.lap("members");
    // Taken now, not when the report is described: tracing may have stopped by then.
    let sites = extras::AllocationSites::new(py);
    let allocated_at = if sites.is_active() {
        cycle_members
            .iter()
            .map(|&p| sites.of(members[p as usize].as_ptr()))
            .collect()
    } else {
        Vec::new()
    };
    let analysis = CycleAnalysis {
        members: Mutex::new(Some(members)),
        local_repr,
        component_members,
        component_offsets,
        cycle_offsets,
        cycle_members,
        analysed_count,
        edge_count,
        options,
        allocated_at,
        phase_seconds: clock.phases,
        report: OnceLock::new(),
        groups: OnceLock::new(),
    };
    if !keep_objects {
        analysis.release(py)?;
    }
    Ok(analysis)
}

/// Seconds per phase of an analysis (exposed as `phase_seconds` for benchmarks).
struct PhaseClock {
    since: std::time::Instant,
    phases: Vec<(&'static str, f64)>,
}

impl PhaseClock {
    fn start() -> Self {
        PhaseClock {
            since: std::time::Instant::now(),
            phases: Vec::with_capacity(5),
        }
    }

    /// Records the time since the previous lap as phase `name`.
    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.phases.push((name, (now - self.since).as_secs_f64()));
        self.since = now;
    }
}

/// A count limit passed from Python (0 = no limit): an `int` from 0 to `u32::MAX`. Out of
/// range (negative, or huge) is a `ValueError` naming the accepted range, not pyo3's
/// `OverflowError`; not an int is a `TypeError`, as Python's own APIs answer.
#[derive(Clone, Copy, Debug)]
struct Limit(usize);

impl<'a, 'py> FromPyObject<'a, 'py> for Limit {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let py = obj.py();
        // No repr() of the argument in the message: an int subclass's __repr__ is user code.
        let value = match obj.extract::<i64>() {
            Ok(value) => value.to_string(),
            Err(error) if error.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) => {
                "an int beyond 64 bits".to_string()
            }
            Err(error) => return Err(error),
        };
        match value.parse::<i64>() {
            Ok(n) if (0..=u32::MAX as i64).contains(&n) => Ok(Limit(n as usize)),
            _ => Err(PyValueError::new_err(format!(
                "limits are counts from 0 (no limit) to {}, got {value}",
                u32::MAX
            ))),
        }
    }
}

/// Options of the HTML page: `max_groups` sections, each picture capped at `max_objects`.
fn html_options(
    title: String,
    subtitle: String,
    max_groups: Limit,
    max_objects: Limit,
) -> HtmlOptions {
    HtmlOptions {
        title,
        subtitle,
        max_groups: max_groups.0,
        svg: SvgOptions {
            max_objects: max_objects.0,
            max_cycles: 0,
        },
    }
}

/// Panics inside refscope's panic guard: tests check that a panic reaches Python as a
/// `RefscopeError` and that nothing is printed to the host's stderr.
#[pyfunction]
fn _internal_error_for_tests() -> PyResult<()> {
    without_panics("running the panic self-test", || -> PyResult<()> {
        panic!("deliberate panic for tests")
    })
}

/// A panic inside refscope is a bug that reaches the caller as a `RefscopeError` (see
/// [`without_panics`]); Rust's default hook would also print it with a backtrace hint to
/// the host's stderr. This hook keeps refscope's own panics quiet (set
/// `REFSCOPE_DEBUG_PANICS=1` to see them) and hands every other panic of the process to
/// the hook that was installed before.
fn install_quiet_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .location()
                .is_some_and(|location| location.file().contains("refscope-"));
            if !ours || std::env::var_os("REFSCOPE_DEBUG_PANICS").is_some() {
                previous(info);
            }
        }));
    });
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_quiet_panic_hook();
    cpython::load_builtin_descriptors().map_err(|what| {
        RefscopeError::new_err(format!("this CPython lacks a builtin descriptor: {what}"))
    })?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(_internal_error_for_tests, m)?)?;
    m.add_class::<CycleAnalysis>()?;
    m.add("RefscopeError", m.py().get_type::<RefscopeError>())?;
    objgraph_support::register(m)?;
    Ok(())
}

// --- refscope.objgraph support (type census, referrer index, chains, pictures) ---
mod objgraph_support;
