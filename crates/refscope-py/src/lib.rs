//! `refscope._core`: the PyO3 binding of refscope.
//!
//! It walks CPython objects ([`walk`]), describes the ones on cycles ([`describe`]) and
//! hands the result to `refscope-core` for analysis and rendering. Every `unsafe` block
//! lives in [`cpython`]. Users import `refscope`, never this module.
#![deny(unsafe_op_in_unsafe_fn)]

mod cpython;
mod describe;
mod walk;

use describe::{Describer, KnownTypes};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{PyTraverseError, PyVisit};
use refscope_core::cycles::representative_cycles;
use refscope_core::report::groups::{self, CycleGroup};
use refscope_core::report::hints::FixHint;
use refscope_core::report::html::{self, HtmlOptions};
use refscope_core::report::svg::{self, SvgOptions};
use refscope_core::report::text::{self, TextOptions};
use refscope_core::report::{CycleRecord, ObjectRecord, Report};
use refscope_core::scc::strongly_connected_components;
use std::sync::OnceLock;

create_exception!(
    _core,
    RefscopeError,
    PyException,
    "Base class of refscope's errors."
);

static KNOWN_TYPES: OnceLock<KnownTypes> = OnceLock::new();

fn known_types(py: Python<'_>) -> PyResult<KnownTypes> {
    if let Some(known) = KNOWN_TYPES.get() {
        return Ok(*known);
    }
    let known = KnownTypes::load(py)?;
    Ok(*KNOWN_TYPES.get_or_init(|| known))
}

/// The result of one analysis: the report (plain data) and, when asked, the objects of
/// the cyclic components (kept alive only as long as this object).
#[pyclass(module = "refscope._core")]
struct CycleAnalysis {
    report: Report,
    /// Objects of the cyclic components, component after component.
    members: Option<Py<PyList>>,
    /// Component `i`'s objects are `members[offsets[i]..offsets[i + 1]]`.
    component_offsets: Vec<u32>,
    /// Per cycle, positions of its objects in `members`.
    cycle_positions: Vec<Vec<u32>>,
    /// Cycles grouped by signature, computed on first use.
    groups: OnceLock<Vec<CycleGroup>>,
}

impl CycleAnalysis {
    fn groups(&self) -> &[CycleGroup] {
        self.groups
            .get_or_init(|| groups::group_cycles(&self.report))
    }

    fn cycle(&self, index: usize) -> PyResult<&CycleRecord> {
        self.report.cycles.get(index).ok_or_else(|| {
            PyIndexError::new_err(format!(
                "cycle index {index} out of range (report has {})",
                self.report.cycles.len()
            ))
        })
    }

    fn members<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.members {
            Some(list) => Ok(list.bind(py).clone()),
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
        self.report.cycles.len()
    }

    /// Distinct objects analysed.
    #[getter]
    fn analysed_count(&self) -> u64 {
        self.report.analysed_count
    }

    /// References found among the analysed objects.
    #[getter]
    fn edge_count(&self) -> u64 {
        self.report.edge_count
    }

    /// True while the analysed objects are kept.
    #[getter]
    fn keeps_objects(&self) -> bool {
        self.members.is_some()
    }

    /// Objects of cycle `index`, in order (each refers to the next, the last to the first).
    fn cycle_objects<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyList>> {
        let positions = &self.cycle_positions[self.cycle(index).map(|_| index)?];
        let members = self.members(py)?;
        let items: PyResult<Vec<_>> = positions
            .iter()
            .map(|&p| members.get_item(p as usize))
            .collect();
        PyList::new(py, items?)
    }

    /// Objects of the strongly connected component of cycle `index`.
    fn component_objects<'py>(
        &self,
        py: Python<'py>,
        index: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.cycle(index)?;
        let members = self.members(py)?;
        let (start, end) = (
            self.component_offsets[index] as usize,
            self.component_offsets[index + 1] as usize,
        );
        members
            .get_slice(start, end)
            .cast_into::<PyList>()
            .map_err(PyErr::from)
    }

    /// Edge labels of cycle `index`: label `i` names the reference from object `i` to `i + 1`.
    fn cycle_labels(&self, index: usize) -> PyResult<Vec<String>> {
        Ok(self.cycle(index)?.labels.clone())
    }

    /// Size of the strongly connected component cycle `index` stands for.
    fn component_size(&self, index: usize) -> PyResult<u64> {
        Ok(self.cycle(index)?.component_size)
    }

    /// Per object of cycle `index`: a dict of its safe facts.
    fn cycle_info<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let cycle = self.cycle(index)?;
        cycle
            .objects
            .iter()
            .zip(&cycle.labels)
            .map(|(&object, label)| {
                let record = self.report.object(object);
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
                Ok(info)
            })
            .collect()
    }

    /// Cycles grouped by signature, largest group first: one dict per group with
    /// `signature`, `key`, `count`, `example` (a cycle index), `total_size`,
    /// `has_finalizer` and `hint` (a dict, or None).
    fn groups_info<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.groups()
            .iter()
            .map(|group| {
                let info = PyDict::new(py);
                info.set_item("signature", &group.signature)?;
                info.set_item("key", &group.key)?;
                info.set_item("count", group.count())?;
                info.set_item("example", group.example())?;
                info.set_item("total_size", group.total_size)?;
                info.set_item("has_finalizer", group.has_finalizer)?;
                match &group.hint {
                    Some(hint) => info.set_item("hint", hint_info(py, hint)?)?,
                    None => info.set_item("hint", py.None())?,
                }
                Ok(info)
            })
            .collect()
    }

    /// Cycle indexes of group `index` (same order as `groups_info`), in report order.
    fn group_cycles(&self, index: usize) -> PyResult<Vec<u32>> {
        let groups = self.groups();
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
    #[pyo3(signature = (color=false, max_objects_per_cycle=0, max_cycles_per_group=1, max_groups=0))]
    fn to_text(
        &self,
        color: bool,
        max_objects_per_cycle: usize,
        max_cycles_per_group: usize,
        max_groups: usize,
    ) -> String {
        let options = TextOptions { color, max_objects_per_cycle, max_cycles_per_group, max_groups };
        text::render(&self.report, self.groups(), &options)
    }

    /// The report as one SVG document: a ring per group of cycles (its example), largest
    /// group first, at most `max_groups` rings (0 = all) of at most `max_objects`
    /// objects each (0 = all).
    #[pyo3(signature = (max_objects=50, max_groups=100))]
    fn to_svg(&self, py: Python<'_>, max_objects: usize, max_groups: usize) -> String {
        let (report, groups) = (&self.report, self.groups());
        let options = SvgOptions {
            max_objects,
            max_cycles: max_groups,
        };
        py.detach(|| svg::render(report, groups, &options))
    }

    /// The picture of cycle `index` alone, as an SVG document.
    #[pyo3(signature = (index, max_objects=50))]
    fn cycle_svg(&self, index: usize, max_objects: usize) -> PyResult<String> {
        let cycle = self.cycle(index)?;
        let options = SvgOptions {
            max_objects,
            max_cycles: 0,
        };
        Ok(svg::render_cycle(&self.report, cycle, &options, None))
    }

    /// The self-contained HTML report, as a string (the Python side writes the file).
    #[pyo3(signature = (title, subtitle, max_groups=1000, max_objects=50))]
    fn to_html(
        &self,
        py: Python<'_>,
        title: String,
        subtitle: String,
        max_groups: usize,
        max_objects: usize,
    ) -> String {
        let (report, groups) = (&self.report, self.groups());
        let options = HtmlOptions {
            title,
            subtitle,
            max_groups,
            svg: SvgOptions {
                max_objects,
                max_cycles: 0,
            },
        };
        py.detach(|| html::render(report, groups, &options))
    }

    /// Stops keeping the analysed objects alive.
    fn release(&mut self) {
        self.members = None;
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(members) = &self.members {
            visit.call(members)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.members = None;
    }
}

/// Finds the reference cycles among `objects` (a list the caller does not mutate during
/// the call) and describes them.
#[pyfunction]
///
/// `describe=False` skips descriptions and labels and keeps instance dicts as nodes of
/// their own (the recipe's view, for `find_circular_references`); `describe=True` folds an
/// instance's own `__dict__` into the instance so that reports read the same on every
/// CPython version.
#[pyo3(signature = (objects, *, keep_objects=true, frame_locals=true, describe=true))]
fn analyze(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
    keep_objects: bool,
    frame_locals: bool,
    describe: bool,
) -> PyResult<CycleAnalysis> {
    let known = known_types(py)?;
    let walked =
        walk::walk(objects.as_ptr(), known.frame, known.minor, describe).map_err(|e| match e {
            walk::WalkError::Core(e) => RefscopeError::new_err(e.to_string()),
            walk::WalkError::Internal => {
                RefscopeError::new_err("internal error while walking the heap (please report it)")
            }
        })?;
    let components = strongly_connected_components(&walked.graph);
    let cycles = representative_cycles(&walked.graph, &components, &walked.priority);

    // Position of each cyclic-component node in the `members` list.
    let mut position = vec![u32::MAX; walked.nodes.len()];
    let mut members: Vec<cpython::ObjPtr> = Vec::new();
    let mut component_offsets = vec![0u32];
    for cycle in &cycles {
        for &node in components.members(cycle.component) {
            position[node as usize] = members.len() as u32;
            members.push(walked.nodes[node as usize]);
        }
        component_offsets.push(members.len() as u32);
    }

    let mut describer = Describer::new(py, known);
    describer.frame_locals = frame_locals;
    let mut report = Report {
        analysed_count: walked.nodes.len() as u64,
        edge_count: walked.graph.edge_count() as u64,
        ..Default::default()
    };
    let mut cycle_positions = Vec::with_capacity(cycles.len());
    for cycle in &cycles {
        let nodes = &cycle.nodes;
        let len = nodes.len();
        let mut record = CycleRecord {
            objects: Vec::with_capacity(len),
            labels: Vec::with_capacity(len),
            component_size: components.members(cycle.component).len() as u64,
        };
        for (i, &node) in nodes.iter().enumerate() {
            let obj = walked.nodes[node as usize];
            record.objects.push(report.objects.len() as u32);
            if describe {
                report.objects.push(describer.record(obj));
                let prev = walked.nodes[nodes[(i + len - 1) % len] as usize];
                let next = walked.nodes[nodes[(i + 1) % len] as usize];
                record.labels.push(describer.edge_label(prev, obj, next));
            } else {
                report.objects.push(ObjectRecord {
                    address: obj as u64,
                    ..Default::default()
                });
                record.labels.push("?".into());
            }
        }
        cycle_positions.push(nodes.iter().map(|&n| position[n as usize]).collect());
        report.cycles.push(record);
    }
    let members = if keep_objects {
        let items: Vec<_> = members.iter().map(|&p| cpython::borrowed(py, p)).collect();
        Some(PyList::new(py, items)?.unbind())
    } else {
        None
    };
    Ok(CycleAnalysis {
        report,
        members,
        component_offsets,
        cycle_positions,
        groups: OnceLock::new(),
    })
}

fn hint_info<'py>(py: Python<'py>, hint: &FixHint) -> PyResult<Bound<'py, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("edge_index", hint.edge_index)?;
    info.set_item("label", &hint.label)?;
    info.set_item("fix", hint.fix.as_str())?;
    info.set_item("advice", &hint.advice)?;
    info.set_item("why", &hint.why)?;
    Ok(info)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_class::<CycleAnalysis>()?;
    m.add("RefscopeError", m.py().get_type::<RefscopeError>())?;
    Ok(())
}
