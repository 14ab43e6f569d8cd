//! `refscope._core`: the PyO3 binding of refscope.
//!
//! It walks CPython objects ([`walk`]), describes the ones on cycles ([`describe`]) and
//! hands the result to `refscope-core` for analysis and rendering. Every `unsafe` block
//! lives in [`cpython`]. Users import `refscope`, never this module.
// Every `unsafe` block lives in `cpython` (the only module allowed it) and says, in a
// `// SAFETY:` comment, which CPython source it relies on.
#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
// tp_flags constants are c_ulong: u64 on Linux and macOS, u32 on Windows; the `as u64`
// casts keep both building.
#![allow(clippy::unnecessary_cast)]

// The binding's only unsafe code: CPython's C API and object layouts.
#[allow(unsafe_code)]
mod cpython;
mod describe;
mod extras;
mod sizes;
mod steps;
mod walk;

// Heap snapshots (refscope.snapshot).
mod heap;

use cpython::ObjRef;
use describe::{Describer, KnownTypes};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::{PyTraverseError, PyVisit};
use refscope_core::cycles::representative_cycles;
use refscope_core::report::dot::{self, DotOptions};
use refscope_core::report::groups::{self, CycleGroup};
use refscope_core::report::html::{self, HtmlOptions};
use refscope_core::report::json::{self, JsonOptions};
use refscope_core::report::svg::{self, SvgOptions};
use refscope_core::report::text::{self, TextOptions};
use refscope_core::report::{CycleRecord, EdgeLabel, ObjectRecord, Report, StackEntry};
use refscope_core::scc::strongly_connected_components;
use rustc_hash::FxHashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

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

/// The result of one analysis: the cycles found, the objects of the cyclic components
/// (kept alive only as long as this object, and only when asked), and the report (plain
/// data), described lazily: cycles are grouped by cheap step keys first (see
/// `refscope_core::analysis`), and only what is shown is described (each group's example,
/// and what a renderer or the caller asks for).
///
/// The class is frozen and safe to share between threads: the kept objects sit behind a
/// lock in a Rust vector (Python code cannot reach or mutate it; gc sees it through
/// `__traverse__`), and every user of them takes its own handle (`Arc`) first, so
/// `release()` in one thread never pulls objects from under a description in another.
/// Descriptions are built without any lock held (they may run a guarded repr) and merged
/// into the shared report under a short lock; renderers work on an `Arc` of the report.
#[pyclass(module = "refscope._core", frozen)]
struct CycleAnalysis {
    /// The analysed objects and what describing them needs, while they are kept: all of
    /// it goes at once when they are let go (per-member arrays, ~25 bytes per object).
    kept: Mutex<Option<Members>>,
    /// The Python callable giving the guarded repr of frame locals (`repr_locals=True`).
    local_repr: Option<Py<PyAny>>,
    /// The objects are a saving collection's garbage, taken over (`analyze(free_garbage=True)`):
    /// freed when they are let go, and how many were.
    frees_garbage: bool,
    garbage_freed: Mutex<Option<usize>>,
    /// The taken objects, when they could not be freed, until the caller takes them.
    unfreed: Mutex<Vec<Py<PyAny>>>,
    /// The components larger than their cycle, by cycle: `(cycle, start, size)`, their
    /// members being `Kept::component_members[start..start + size]`. Any other cycle's
    /// component is the cycle's own objects (a pair, a ring): not stored twice.
    larger_components: Vec<LargerComponent>,
    /// Cycle `i` has `cycle_offsets[i + 1] - cycle_offsets[i]` objects (which ones:
    /// [`Kept::cycle_members`]).
    cycle_offsets: Vec<u32>,
    analysed_count: u64,
    edge_count: u64,
    /// How the objects on cycles are described.
    options: DescribeOptions,
    /// Seconds spent in each phase of the analysis (for benchmarks).
    phase_seconds: Vec<(&'static str, f64)>,
    /// Cycles with equal step keys up to rotation (`refscope_core::analysis`).
    candidates: Vec<Vec<u32>>,
    /// Per cycle: its candidate group, and where its step keys' least rotation starts.
    candidate_of: Vec<u32>,
    step_start: Vec<u32>,
    /// Per cycle: shallow bytes of its objects, and whether one has a finaliser.
    cycle_sizes: Vec<u64>,
    cycle_finalizer: Vec<bool>,
    /// What has been described so far.
    described: Mutex<Described>,
    /// Cycles grouped by signature, computed on first use.
    groups: OnceLock<Arc<Vec<CycleGroup>>>,
    /// Every cycle was described in full before the objects were let go.
    described_all: std::sync::atomic::AtomicBool,
    /// Describing may have changed what the analysed objects refer to (see
    /// `Describer::changed_references`).
    changed_references: std::sync::atomic::AtomicBool,
    /// The freeing check compared counts with the walk's instead of traversing again.
    freed_on_walk_counts: std::sync::atomic::AtomicBool,
}

/// The described part of a report: cycles not described yet have empty records.
struct Described {
    report: Arc<Report>,
    /// Per described cycle: which positions have their own record (the others point at
    /// a record of their type with no description, never shown).
    real: FxHashMap<u32, Vec<bool>>,
}

/// Objects described per cycle when a renderer does not say: the largest default cap
/// of the renderers (`to_json`'s 1000), plus the last objects and those around where
/// the signature starts (drawn and listed too).
const DESCRIBED_OBJECTS: usize = 1000;
const DESCRIBED_TAIL: usize = 8;
/// Cycles per group kept described when the objects are let go (`to_json`'s default).
const DESCRIBED_CYCLES_PER_GROUP: usize = 10;
/// A report of at most this many cycle members is described whole before its objects
/// are let go, so that small reports keep every description.
const DESCRIBE_ALL_UP_TO: usize = 50_000;

/// Which positions of a cycle need their own record.
#[derive(Clone, Copy)]
struct Need {
    /// The first `prefix` positions (usize::MAX: all).
    prefix: usize,
    /// And `DESCRIBED_TAIL` positions from here (the group's rotation).
    window: Option<usize>,
}

impl Need {
    fn all() -> Self {
        Need {
            prefix: usize::MAX,
            window: None,
        }
    }

    fn prefix(limit: usize) -> Self {
        Need {
            prefix: if limit == 0 { usize::MAX } else { limit },
            window: None,
        }
    }

    fn wants(&self, position: usize, len: usize) -> bool {
        position < self.prefix
            || position + DESCRIBED_TAIL >= len
            || self.window.is_some_and(|start| {
                // (position - start) mod len, without a division per position: asked
                // for every position of a million-object example.
                let from_start = if position >= start {
                    position - start
                } else {
                    position + len - start
                };
                from_start < DESCRIBED_TAIL
            })
    }
}

/// A cycle described outside the lock, to merge into [`Described`].
struct NewCycle {
    cycle: u32,
    labels: Option<refscope_core::report::LabelRuns>,
    /// `(position, record)` for the positions described now.
    records: Vec<(usize, ObjectRecord)>,
    /// First description only: per position, which of `types` stands in for it until it
    /// has a record (positions described now have theirs in `records`).
    placeholders: refscope_core::report::ThinVec<u32>,
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

    fn cycle_range(&self, index: usize) -> std::ops::Range<usize> {
        self.cycle_offsets[index] as usize..self.cycle_offsets[index + 1] as usize
    }

    fn cycle_len(&self, index: usize) -> usize {
        self.cycle_range(index).len()
    }

    /// Cycle `index`'s component, if it is larger than the cycle.
    fn larger_component(&self, index: usize) -> Option<LargerComponent> {
        self.larger_components
            .binary_search_by_key(&(index as u32), |c| c.cycle)
            .ok()
            .map(|at| self.larger_components[at])
    }

    fn component_len(&self, index: usize) -> u64 {
        self.larger_component(index)
            .map_or(self.cycle_len(index) as u64, |c| u64::from(c.size))
    }

    fn described(&self) -> PyResult<std::sync::MutexGuard<'_, Described>> {
        self.described
            .lock()
            .map_err(|_| RefscopeError::new_err("the report's descriptions are unusable"))
    }

    /// The report as described so far (a cheap handle; see the type's docs).
    fn snapshot(&self) -> PyResult<Arc<Report>> {
        Ok(self.described()?.report.clone())
    }

    /// Describes what `needs` asks for that is not described yet, when the objects are
    /// kept (otherwise what was described before they were let go is all there is).
    fn ensure_described(&self, py: Python<'_>, needs: &[(u32, Need)]) -> PyResult<()> {
        let missing: Vec<(u32, Need, Option<Vec<bool>>)> = {
            let described = self.described()?;
            needs
                .iter()
                .filter_map(|&(cycle, need)| {
                    let len = self.cycle_len(cycle as usize);
                    match described.real.get(&cycle) {
                        None => Some((cycle, need, None)),
                        Some(real) => (0..len)
                            .any(|p| need.wants(p, len) && !real[p])
                            .then(|| (cycle, need, Some(real.clone()))),
                    }
                })
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let Ok(members) = self.members() else {
            return Ok(());
        };
        let described = without_panics("describing the cycles", || {
            self.describe(py, &members, &missing)
        })?;
        let (described, types) = described;
        let mut state = self.described()?;
        let state = &mut *state;
        let report = Arc::make_mut(&mut state.report);
        // One record per type stands in for every undescribed position of that type.
        let type_base = report.objects.len() as u32;
        report.objects.extend(types);
        for new in described {
            let len = self.cycle_len(new.cycle as usize);
            let real = state
                .real
                .entry(new.cycle)
                .or_insert_with(|| vec![false; len]);
            let record = &mut report.cycles[new.cycle as usize];
            if let Some(labels) = new.labels {
                if record.labels.is_empty() {
                    record.labels = labels;
                    record.objects = new.placeholders;
                    for type_index in record.objects.iter_mut() {
                        *type_index += type_base;
                    }
                }
            }
            for (position, object) in new.records {
                if !real[position] {
                    real[position] = true;
                    record.objects[position] = report.objects.len() as u32;
                    report.objects.push(object);
                }
            }
        }
        Ok(())
    }

    /// Descriptions of `missing` cycles (no lock held: a guarded repr may run).
    fn describe(
        &self,
        py: Python<'_>,
        members: &Members,
        missing: &[(u32, Need, Option<Vec<bool>>)],
    ) -> PyResult<(Vec<NewCycle>, Vec<ObjectRecord>)> {
        let mut describer = Describer::new(py, known_types(py)?);
        describer.frame_locals = self.options.frame_locals;
        describer.materialise_dicts = self.options.materialize_dicts;
        if self.options.frame_locals {
            describer.local_repr = self.local_repr.as_ref().map(|f| f.bind(py).clone());
        }
        let mut out = Vec::with_capacity(missing.len());
        let mut type_index: FxHashMap<usize, u32> = FxHashMap::default();
        let mut types: Vec<ObjectRecord> = Vec::new();
        for (cycle, need, real) in missing {
            let index = *cycle as usize;
            // Read in place: a copy would be 8 bytes per member of a million-object example.
            let nodes = &members.cycle_members[self.cycle_range(index)];
            let object = |i: usize| ObjRef::of(members.objects[nodes[i] as usize].bind(py));
            let len = nodes.len();
            // Neighbours around the cycle, without a division per position.
            let before = |i: usize| if i == 0 { len - 1 } else { i - 1 };
            let after = |i: usize| if i + 1 == len { 0 } else { i + 1 };
            let first_time = real.is_none();
            // Steps with equal keys (and equal keys before them: a closure's label names
            // the previous function's variable) have equal labels: a ring of a million
            // links of one class is labelled once.
            let keys = &members.step_keys[self.cycle_range(index)];
            let labels = first_time.then(|| {
                let mut known: FxHashMap<(u64, u64), EdgeLabel> = FxHashMap::default();
                // The previous step, for runs of equal steps (a ring repeats one step a
                // million times): its label extends the run, with no hash lookup and no
                // clone.
                let mut last_step: Option<(u64, u64)> = None;
                let mut labels = refscope_core::report::LabelRuns::new();
                for i in 0..len {
                    let step = (keys[before(i)], keys[i]);
                    if steps::is_exact(keys[i]) {
                        if last_step == Some(step) && labels.repeat_last() {
                            continue;
                        }
                        if let Some(label) = known.get(&step) {
                            labels.push_shared(label);
                            last_step = Some(step);
                            continue;
                        }
                    }
                    let label =
                        describer.edge_label(object(before(i)), object(i), object(after(i)));
                    if steps::is_exact(keys[i]) {
                        known.insert(step, label.clone());
                        last_step = Some(step);
                    } else {
                        last_step = None;
                    }
                    labels.push(label);
                }
                labels
            });
            let mut records = Vec::new();
            // First time: every position's stand-in type (positions described now are
            // given their record afterwards), written where the record will keep it.
            let mut placeholders = if first_time {
                refscope_core::report::thin_vec![0u32; len]
            } else {
                refscope_core::report::ThinVec::new()
            };
            let mut last_type: Option<(usize, u32)> = None;
            // A step's key starts from its object's type (steps::StepReader::key): a
            // stand-in whose key equals the one before has that one's type, and its
            // object is not read (a million ring members left the cache long ago).
            let mut last_stand_in: Option<(u64, u32)> = None;
            for position in 0..len {
                let obj = object(position);
                let done = real.as_ref().is_some_and(|r| r[position]);
                if need.wants(position, len) && !done {
                    let mut object = describer.record(obj);
                    if let Some(sites) = members
                        .allocated_at
                        .get(self.cycle_offsets[index] as usize + position)
                    {
                        object.allocated_at = sites.clone();
                    }
                    records.push((position, object));
                } else if first_time {
                    if let Some((key, index)) = last_stand_in {
                        if key == keys[position] {
                            placeholders[position] = index;
                            continue;
                        }
                    }
                    let tp = cpython::type_of(obj).address();
                    let index = match last_type {
                        Some((last_tp, index)) if last_tp == tp => index,
                        _ => {
                            let index = *type_index.entry(tp).or_insert_with(|| {
                                types.push(describer.type_record(obj));
                                (types.len() - 1) as u32
                            });
                            last_type = Some((tp, index));
                            index
                        }
                    };
                    placeholders[position] = index;
                    last_stand_in = Some((keys[position], index));
                }
            }
            out.push(NewCycle {
                cycle: *cycle,
                labels,
                records,
                placeholders,
            });
        }
        if describer.changed_references.get() {
            self.changed_references
                .store(true, std::sync::atomic::Ordering::Release);
        }
        if let Some(error) = describer.take_error() {
            return Err(error);
        }
        Ok((out, types))
    }

    /// Groups, from the candidates' described examples (computed once).
    fn groups(&self, py: Python<'_>) -> PyResult<&[CycleGroup]> {
        if let Some(groups) = self.groups.get() {
            return Ok(groups.as_slice());
        }
        let examples: Vec<(u32, Need)> = self
            .candidates
            .iter()
            .map(|c| (c[0], Need::prefix(DESCRIBED_OBJECTS)))
            .collect();
        self.ensure_described(py, &examples)?;
        let report = self.snapshot()?;
        let groups = groups::group_candidates(
            &report,
            &self.candidates,
            |c| self.cycle_sizes[c as usize],
            |c| self.cycle_finalizer[c as usize],
        );
        // Let go before describing more: a report still shared is copied to be changed.
        drop(report);
        // The text summary reads the example from where its signature starts.
        let windows: Vec<(u32, Need)> = groups
            .iter()
            .map(|g| {
                let need = Need {
                    prefix: DESCRIBED_OBJECTS,
                    window: Some(g.rotation as usize),
                };
                (g.example(), need)
            })
            .collect();
        self.ensure_described(py, &windows)?;
        Ok(self.groups.get_or_init(|| Arc::new(groups)).as_slice())
    }

    /// Describes what a renderer will show: the first `cycles_per_group` cycles of each
    /// of the first `max_groups` groups (0 = all, for each), `objects_per_cycle` objects
    /// each; returns the report and groups to render, with the limits it can honour (a
    /// report that let its objects go shows what it described before).
    fn prepare(
        &self,
        py: Python<'_>,
        max_groups: usize,
        cycles_per_group: usize,
        objects_per_cycle: usize,
    ) -> PyResult<(Arc<Report>, &[CycleGroup], usize, usize)> {
        let groups = self.groups(py)?;
        let (report, cycles_per_group, objects_per_cycle) =
            self.prepare_groups(py, groups, max_groups, cycles_per_group, objects_per_cycle)?;
        Ok((report, groups, cycles_per_group, objects_per_cycle))
    }

    /// [`CycleAnalysis::prepare`] for the first `max_groups` (0 = all) of `groups`.
    fn prepare_groups(
        &self,
        py: Python<'_>,
        groups: &[CycleGroup],
        max_groups: usize,
        cycles_per_group: usize,
        objects_per_cycle: usize,
    ) -> PyResult<(Arc<Report>, usize, usize)> {
        let shown = if max_groups == 0 {
            groups
        } else {
            &groups[..max_groups.min(groups.len())]
        };
        let kept = self.keeps_objects();
        let whole = self
            .described_all
            .load(std::sync::atomic::Ordering::Acquire);
        let (cycles_per_group, objects_per_cycle) = if kept || whole {
            (cycles_per_group, objects_per_cycle)
        } else {
            let clamp = |limit: usize, most: usize| if limit == 0 { most } else { limit.min(most) };
            (
                clamp(cycles_per_group, DESCRIBED_CYCLES_PER_GROUP),
                clamp(objects_per_cycle, DESCRIBED_OBJECTS),
            )
        };
        if kept {
            let needs: Vec<(u32, Need)> = shown
                .iter()
                .flat_map(|g| {
                    let count = if cycles_per_group == 0 {
                        g.cycles.len()
                    } else {
                        cycles_per_group.min(g.cycles.len())
                    };
                    g.cycles[..count]
                        .iter()
                        .map(|&c| (c, Need::prefix(objects_per_cycle)))
                })
                .collect();
            self.ensure_described(py, &needs)?;
        }
        Ok((self.snapshot()?, cycles_per_group, objects_per_cycle))
    }

    /// Objects and labels of cycle `index` for Python: described in full when the objects
    /// are kept; otherwise as described before they were let go, or else read from its
    /// group's example (the same types and labels, without descriptions).
    fn cycle_view(
        &self,
        py: Python<'_>,
        index: usize,
        max_objects: usize,
    ) -> PyResult<Vec<(ObjectRecord, EdgeLabel)>> {
        let index = self.check_cycle(index)?;
        let limit = if max_objects == 0 {
            usize::MAX
        } else {
            max_objects
        };
        if self.keeps_objects() {
            self.ensure_described(py, &[(index as u32, Need::prefix(max_objects))])?;
        }
        let report = self.snapshot()?;
        let record = &report.cycles[index];
        if !record.labels.is_empty() {
            return Ok(record
                .objects
                .iter()
                .zip(&record.labels)
                .take(limit)
                .map(|(&o, label)| (report.object(o).clone(), label.clone()))
                .collect());
        }
        // Not described: the same steps as its candidate's first cycle, rotated.
        let candidate = &self.candidates[self.candidate_of[index] as usize];
        let example = candidate[0] as usize;
        let example_record = &report.cycles[example];
        let len = example_record.objects.len().max(1);
        let shift =
            (self.step_start[example] as usize + len - self.step_start[index] as usize) % len;
        Ok((0..example_record.objects.len().min(limit))
            .map(|i| {
                let at = (i + shift) % len;
                let known = report.object(example_record.objects[at]);
                let object = ObjectRecord {
                    type_name: known.type_name.clone(),
                    kind: known.kind,
                    has_finalizer: known.has_finalizer,
                    ..Default::default()
                };
                (object, example_record.labels[at].clone())
            })
            .collect())
    }

    /// What a report keeps described once its objects are gone: everything for small
    /// reports; otherwise the first cycles of each group (as many as `to_json` shows by
    /// default), each with the objects the renderers show by default.
    fn describe_before_release(&self, py: Python<'_>) -> PyResult<()> {
        let groups = self.groups(py)?;
        let whole = !self.options.examples_only
            && *self.cycle_offsets.last().unwrap_or(&0) as usize <= DESCRIBE_ALL_UP_TO;
        let needs: Vec<(u32, Need)> = if whole {
            (0..self.cycle_count() as u32)
                .map(|c| (c, Need::all()))
                .collect()
        } else {
            groups
                .iter()
                .flat_map(|g| {
                    let shown = DESCRIBED_CYCLES_PER_GROUP.min(g.cycles.len());
                    g.cycles[..shown]
                        .iter()
                        .map(|&c| (c, Need::prefix(DESCRIBED_OBJECTS)))
                })
                .collect()
        };
        self.ensure_described(py, &needs)?;
        self.described_all
            .store(whole, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// The second half of [`Self::release`], once what the report keeps is described:
    /// lets the objects go (freeing them when the analysis took the garbage over).
    /// `walked_refs`: per object, the references to it from the others as the walk saw
    /// them, when nothing can have changed them since (see `analyze_objects`): the freeing
    /// check then reads counts instead of traversing.
    fn let_go(&self, py: Python<'_>, walked_refs: Option<&[u8]>) {
        let released = self.kept.lock().ok().and_then(|mut m| m.take());
        if !self.frees_garbage {
            // Dropped outside the lock: freeing the objects may run their finalisers,
            // which may use this report again.
            drop(released);
            return;
        }
        // Only the sole holder of the objects may vouch that nothing else holds them.
        let objects = released.map(|kept| match Arc::try_unwrap(kept) {
            // What describing needed goes first: the check below allocates per object.
            Ok(kept) => Ok(kept.objects),
            Err(shared) => Err(shared),
        });
        let (freed, unfreed) = match objects {
            Some(Ok(objects)) => {
                let cleared = match walked_refs {
                    Some(in_refs) => {
                        cpython::free_garbage::clear_held_if_counts_match(py, objects, in_refs)
                    }
                    None => cpython::free_garbage::clear_held_if_unreachable(py, objects)
                        .map(|freed| (freed, false)),
                };
                match cleared {
                    Ok((freed, by_counts)) => {
                        self.freed_on_walk_counts
                            .store(by_counts, std::sync::atomic::Ordering::Release);
                        (Some(freed), Vec::new())
                    }
                    Err((_, objects)) => (None, objects),
                }
            }
            _ => (None, Vec::new()),
        };
        if let Ok(mut slot) = self.garbage_freed.lock() {
            *slot = freed;
        }
        if freed.is_none() {
            // Kept for the caller (`take_unfreed_garbage`), who decides what becomes of
            // them: they are not all garbage any more.
            if let Ok(mut slot) = self.unfreed.lock() {
                *slot = unfreed;
            }
        }
    }

    /// A handle on the kept objects (see the type's docs), or why there is none.
    fn members(&self) -> PyResult<Members> {
        let guard = self
            .kept
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

    /// Seconds spent per phase: walk, scc, cycles, members, keys (step keys), group
    /// (describing comes later, lazily).
    #[getter]
    fn phase_seconds(&self, py: Python<'_>) -> PyResult<Vec<Py<results::PhaseTime>>> {
        let phases = self.phase_seconds.iter();
        results::py_list(
            py,
            phases.map(|&(name, seconds)| results::PhaseTime { name, seconds }),
        )
    }

    /// Objects described so far (each group's example, and what was asked for): how
    /// tests check that describing stays lazy and bounded.
    #[getter]
    fn described_object_count(&self) -> PyResult<u64> {
        Ok(self
            .described()?
            .real
            .values()
            .map(|r| r.iter().filter(|&&d| d).count() as u64)
            .sum())
    }

    /// True while the analysed objects are kept.
    #[getter]
    fn keeps_objects(&self) -> bool {
        self.kept.lock().map(|m| m.is_some()).unwrap_or(false)
    }

    /// Objects of cycle `index`, in order (each refers to the next, the last to the first).
    fn cycle_objects<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyList>> {
        let index = self.check_cycle(index)?;
        let members = self.members()?;
        let items: Vec<ObjRef<'_>> = members.cycle_members[self.cycle_range(index)]
            .iter()
            .map(|&p| ObjRef::of(members.objects[p as usize].bind(py)))
            .collect();
        cpython::new_list(py, &items)
    }

    /// Objects of the strongly connected component of cycle `index`.
    fn component_objects<'py>(
        &self,
        py: Python<'py>,
        index: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let index = self.check_cycle(index)?;
        let members = self.members()?;
        let nodes = match self.larger_component(index) {
            Some(c) => &members.component_members[c.start as usize..(c.start + c.size) as usize],
            // The component is its cycle's objects.
            None => &members.cycle_members[self.cycle_range(index)],
        };
        let items: Vec<ObjRef<'_>> = nodes
            .iter()
            .map(|&n| ObjRef::of(members.objects[n as usize].bind(py)))
            .collect();
        cpython::new_list(py, &items)
    }

    /// Edge labels of cycle `index`: label `i` names the reference from object `i` to `i + 1`.
    fn cycle_labels(&self, py: Python<'_>, index: usize) -> PyResult<Vec<String>> {
        Ok(self
            .cycle_view(py, index, 0)?
            .into_iter()
            .map(|(_, label)| label.to_string())
            .collect())
    }

    /// Describes every cycle in one pass (what `CycleReport.cycles` shows), instead of
    /// one cycle per call.
    fn describe_all(&self, py: Python<'_>) -> PyResult<()> {
        if !self.keeps_objects() {
            return Ok(());
        }
        let needs: Vec<(u32, Need)> = (0..self.cycle_count() as u32)
            .map(|c| (c, Need::all()))
            .collect();
        self.ensure_described(py, &needs)
    }

    /// Number of objects on cycle `index`.
    fn cycle_length(&self, index: usize) -> PyResult<usize> {
        Ok(self.cycle_len(self.check_cycle(index)?))
    }

    /// Size of the strongly connected component cycle `index` stands for.
    fn component_size(&self, index: usize) -> PyResult<u64> {
        Ok(self.component_len(self.check_cycle(index)?))
    }

    /// Per object of cycle `index`: its safe facts and the label of its reference to the
    /// next object.
    #[pyo3(signature = (index, max_objects=Limit(0)), text_signature = "(self, /, index, max_objects=0)")]
    fn cycle_info(
        &self,
        py: Python<'_>,
        index: usize,
        max_objects: Limit,
    ) -> PyResult<Vec<Py<results::ObjectInfo>>> {
        let view = self.cycle_view(py, index, max_objects.0)?;
        let objects = view
            .into_iter()
            .map(|(record, label)| results::ObjectInfo::new(py, record, &label))
            .collect::<PyResult<Vec<_>>>()?;
        results::py_list(py, objects)
    }

    /// Cycles grouped by signature, largest group first (a report may hold 100,000).
    fn groups_info(&self, py: Python<'_>) -> PyResult<Vec<Py<results::GroupInfo>>> {
        self.groups(py)?;
        let Some(shared) = self.groups.get() else {
            return Ok(Vec::new());
        };
        let groups = (0..shared.len())
            .map(|index| results::GroupInfo::new(py, shared, index))
            .collect::<PyResult<Vec<_>>>()?;
        results::py_list(py, groups)
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
    #[pyo3(signature = (color=false, max_objects_per_cycle=Limit(100), max_cycles_per_group=Limit(1), max_groups=Limit(100)), text_signature = "(self, /, color=False, max_objects_per_cycle=100, max_cycles_per_group=1, max_groups=100)")]
    fn to_text(
        &self,
        py: Python<'_>,
        color: bool,
        max_objects_per_cycle: Limit,
        max_cycles_per_group: Limit,
        max_groups: Limit,
    ) -> PyResult<String> {
        let (report, groups, max_cycles_per_group, max_objects_per_cycle) = self.prepare(
            py,
            max_groups.0,
            max_cycles_per_group.0,
            max_objects_per_cycle.0,
        )?;
        let options = TextOptions {
            color,
            max_objects_per_cycle,
            max_cycles_per_group,
            max_groups: max_groups.0,
        };
        Ok(py.detach(|| text::render(&report, groups, &options)))
    }

    /// The report as JSON (format `refscope.report`, version 1): at most `max_groups`
    /// groups, `max_cycles_per_group` cycles per group and `max_objects_per_cycle`
    /// objects per cycle (0 = all, for each), indented by `indent` spaces (None = compact).
    #[pyo3(signature = (indent=None, max_groups=Limit(1000), max_cycles_per_group=Limit(10), max_objects_per_cycle=Limit(1000)), text_signature = "(self, /, indent=None, max_groups=1000, max_cycles_per_group=10, max_objects_per_cycle=1000)")]
    fn to_json(
        &self,
        py: Python<'_>,
        indent: Option<Limit>,
        max_groups: Limit,
        max_cycles_per_group: Limit,
        max_objects_per_cycle: Limit,
    ) -> PyResult<String> {
        let (report, groups, max_cycles_per_group, max_objects_per_cycle) = self.prepare(
            py,
            max_groups.0,
            max_cycles_per_group.0,
            max_objects_per_cycle.0,
        )?;
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
            max_cycles_per_group,
            max_objects_per_cycle,
        };
        Ok(py.detach(|| json::render(&report, groups, &options)))
    }

    /// The report as Graphviz DOT source: one cluster per drawn cycle, at most
    /// `max_groups` groups, `max_cycles_per_group` cycles each and
    /// `max_objects_per_cycle` objects per cycle (0 = all, for each).
    #[pyo3(signature = (max_groups=Limit(100), max_cycles_per_group=Limit(1), max_objects_per_cycle=Limit(50)), text_signature = "(self, /, max_groups=100, max_cycles_per_group=1, max_objects_per_cycle=50)")]
    fn to_dot(
        &self,
        py: Python<'_>,
        max_groups: Limit,
        max_cycles_per_group: Limit,
        max_objects_per_cycle: Limit,
    ) -> PyResult<String> {
        let (report, groups, max_cycles_per_group, max_objects_per_cycle) = self.prepare(
            py,
            max_groups.0,
            max_cycles_per_group.0,
            max_objects_per_cycle.0,
        )?;
        let options = DotOptions {
            max_groups: max_groups.0,
            max_cycles_per_group,
            max_objects_per_cycle,
        };
        Ok(py.detach(|| dot::render(&report, groups, &options)))
    }

    /// The report as one SVG document: a ring per group of cycles (its example), largest
    /// group first, at most `max_groups` rings (0 = all) of at most `max_objects`
    /// objects each (0 = all).
    #[pyo3(signature = (max_objects=Limit(50), max_groups=Limit(100)), text_signature = "(self, /, max_objects=50, max_groups=100)")]
    fn to_svg(&self, py: Python<'_>, max_objects: Limit, max_groups: Limit) -> PyResult<String> {
        let (report, groups, _, max_objects) = self.prepare(py, max_groups.0, 1, max_objects.0)?;
        let options = SvgOptions {
            max_objects,
            max_cycles: max_groups.0,
        };
        Ok(py.detach(|| svg::render(&report, groups, &options)))
    }

    /// The picture of cycle `index` alone, as an SVG document.
    #[pyo3(signature = (index, max_objects=Limit(50)), text_signature = "(self, /, index, max_objects=50)")]
    fn cycle_svg(&self, py: Python<'_>, index: usize, max_objects: Limit) -> PyResult<String> {
        let index = self.check_cycle(index)?;
        if self.keeps_objects() {
            self.ensure_described(py, &[(index as u32, Need::prefix(max_objects.0))])?;
        }
        let report = self.snapshot()?;
        if report.cycles[index].labels.is_empty() {
            return Err(PyValueError::new_err(format!(
                "cycle {index} was not described before the report let its objects go \
                 (keep_objects=True keeps every cycle drawable)"
            )));
        }
        let options = SvgOptions {
            max_objects: max_objects.0,
            max_cycles: 0,
        };
        Ok(svg::render_cycle(
            &report,
            &report.cycles[index],
            &options,
            None,
        ))
    }

    /// Renders the HTML report and writes it to `path` (UTF-8) without holding the GIL
    /// and without a Python copy of the page, which matters for reports of many groups.
    #[pyo3(signature = (path, title, subtitle, max_groups=Limit(1000), max_objects=Limit(50)), text_signature = "(self, /, path, title, subtitle, max_groups=1000, max_objects=50)")]
    fn write_html(
        &self,
        py: Python<'_>,
        path: PathBuf,
        title: String,
        subtitle: String,
        max_groups: Limit,
        max_objects: Limit,
    ) -> PyResult<()> {
        let (report, groups, _, max_objects) = self.prepare(py, max_groups.0, 1, max_objects.0)?;
        let options = html_options(title, subtitle, max_groups.0, max_objects);
        py.detach(|| std::fs::write(&path, html::render(&report, groups, &options)))
            .map_err(|error| {
                let errno = error.raw_os_error().unwrap_or(0);
                PyOSError::new_err((errno, error.to_string(), path.display().to_string()))
            })
    }

    /// The self-contained HTML report, as a string (the Python side writes the file).
    #[pyo3(signature = (title, subtitle, max_groups=Limit(1000), max_objects=Limit(50)), text_signature = "(self, /, title, subtitle, max_groups=1000, max_objects=50)")]
    fn to_html(
        &self,
        py: Python<'_>,
        title: String,
        subtitle: String,
        max_groups: Limit,
        max_objects: Limit,
    ) -> PyResult<String> {
        let (report, groups, _, max_objects) = self.prepare(py, max_groups.0, 1, max_objects.0)?;
        let options = html_options(title, subtitle, max_groups.0, max_objects);
        Ok(py.detach(|| html::render(&report, groups, &options)))
    }

    /// Stops keeping the analysed objects alive (describing them first, so the text,
    /// labels and groups stay available).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        if self.keeps_objects() {
            self.describe_before_release(py)?;
        }
        self.let_go(py, None);
        Ok(())
    }

    /// With `analyze(free_garbage=True)`: how many of the analysed objects were freed
    /// when the analysis let them go, or None when they were not all still garbage
    /// (`take_unfreed_garbage` then hands them back). None for any other analysis.
    #[getter]
    fn garbage_freed(&self) -> Option<usize> {
        self.garbage_freed.lock().ok().and_then(|slot| *slot)
    }

    /// With `garbage_freed`: True when the freeing check read each object's count against
    /// the references the walk saw (no other thread ran and no Python code ran since the
    /// walk), False when it traversed the objects again.
    #[getter]
    fn freed_on_walk_counts(&self) -> bool {
        self.freed_on_walk_counts
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// With `analyze(free_garbage=True)`, when they could not be freed: the objects the
    /// analysis took over, which it holds until this hands them to the caller (an empty
    /// list when there are none).
    fn take_unfreed_garbage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let objects: Vec<Bound<'py, PyAny>> = self
            .unfreed
            .lock()
            .map(|mut slot| std::mem::take(&mut *slot))
            .unwrap_or_default()
            .into_iter()
            .map(|object| object.into_bound(py))
            .collect();
        cpython::new_list_of_owned(py, objects)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The lock is only ever held briefly by a thread holding the GIL, so it is free
        // while gc (which holds the GIL) traverses; `try_lock` never waits regardless.
        if let Ok(guard) = self.kept.try_lock() {
            if let Some(members) = &*guard {
                for object in members.objects.iter() {
                    visit.call(object)?;
                }
            }
        }
        if let Ok(unfreed) = self.unfreed.try_lock() {
            for object in unfreed.iter() {
                visit.call(object)?;
            }
        }
        if let Some(function) = &self.local_repr {
            visit.call(function)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let released = self.kept.lock().ok().and_then(|mut m| m.take());
        let unfreed = self
            .unfreed
            .lock()
            .map(|mut slot| std::mem::take(&mut *slot));
        drop((released, unfreed));
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
///
/// `free_garbage=True` (with `keep_objects=False`) is for the garbage a saving collection
/// kept, in a list of the caller's that nothing else uses: the analysis takes the objects
/// over and empties the list as soon as it holds them (8 bytes per object less at the
/// peak), and frees them as the collection would have when it lets them go: `tp_clear`
/// if they are still garbage, as `clear_collected_garbage` does. `garbage_freed` then
/// says how many were freed, or None when they were not (`take_unfreed_garbage` hands
/// them back).
///
/// `examples_only=True` (with `keep_objects=False`): what is described before the objects
/// go is what the groups show (their examples), even for a report small enough to be
/// described in full; for a caller that reads the groups only (a Monitor's sample).
#[pyo3(signature = (objects, *, keep_objects=true, frame_locals=true, fold_instance_dicts=true, local_repr=None, materialize_dicts=false, free_garbage=false, examples_only=false))]
#[allow(clippy::too_many_arguments)]
fn analyze(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
    keep_objects: bool,
    frame_locals: bool,
    fold_instance_dicts: bool,
    local_repr: Option<Py<PyAny>>,
    materialize_dicts: bool,
    free_garbage: bool,
    examples_only: bool,
) -> PyResult<CycleAnalysis> {
    if free_garbage && keep_objects {
        return Err(PyValueError::new_err(
            "free_garbage=True needs keep_objects=False (a report that keeps its objects cannot free them)",
        ));
    }
    without_panics("analysing the objects", || {
        let options = DescribeOptions {
            frame_locals,
            materialize_dicts,
            examples_only,
        };
        analyze_objects(
            py,
            objects,
            keep_objects,
            fold_instance_dicts,
            options,
            local_repr,
            free_garbage,
        )
    })
}

/// How the objects on cycles are described.
#[derive(Clone, Copy)]
struct DescribeOptions {
    frame_locals: bool,
    materialize_dicts: bool,
    /// Before letting the objects go, describe the groups' examples only.
    examples_only: bool,
}

/// A cyclic component larger than its cycle (see `CycleAnalysis::larger_components`).
#[derive(Clone, Copy)]
struct LargerComponent {
    cycle: u32,
    start: u32,
    size: u32,
}

/// The analysed objects, shared by the report and whoever is using them right now.
type Members = Arc<Kept>;

/// What a report holds only while it keeps its objects: them, and the per-member facts
/// that describing them needs.
struct Kept {
    /// Every analysed object, by node id, one strong reference each.
    objects: Vec<Py<PyAny>>,
    /// The objects of the components larger than their cycle, one after the other (see
    /// `CycleAnalysis::larger_components`); the others are not stored twice: 4 bytes per
    /// member of a million-object report of pairs.
    component_members: Vec<u32>,
    /// Cycle `i`'s objects are `objects[n]` for `n` in
    /// `cycle_members[cycle_offsets[i]..cycle_offsets[i + 1]]`.
    cycle_members: Vec<u32>,
    /// Step keys of every cycle member (same order as `cycle_members`), each saying
    /// whether it names its reference exactly (`steps::StepReader::key`, `steps::is_exact`).
    step_keys: Vec<u64>,
    /// Allocation sites of the cycles' objects (same order as `cycle_members`), taken
    /// during the analysis when tracemalloc was tracing; empty otherwise.
    allocated_at: Vec<Vec<StackEntry>>,
}

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

fn walk_error(error: walk::WalkError) -> PyErr {
    match error {
        walk::WalkError::Core(e) => RefscopeError::new_err(e.to_string()),
        walk::WalkError::Internal => {
            RefscopeError::new_err("internal error while walking the heap (please report it)")
        }
    }
}

/// `find_circular_references`: the representative cycle of each cyclic component of
/// `objects`, as lists of the objects (closed by their first object when `close`), in
/// the recipe's view (instance dicts are nodes of their own). Nothing is grouped or
/// described, and no analysis outlives the call.
#[pyfunction]
#[pyo3(signature = (objects, *, close=true))]
fn cycle_object_lists<'py>(
    py: Python<'py>,
    objects: &Bound<'py, PyList>,
    close: bool,
) -> PyResult<Bound<'py, PyList>> {
    without_panics("finding cycles", || {
        let known = known_types(py)?;
        let walked =
            walk::walk(objects, known.frame, known.minor, false, false).map_err(walk_error)?;
        let (graph, priority) = (&walked.graph, &walked.priority);
        let cycles = py.detach(|| {
            let components = strongly_connected_components(graph);
            representative_cycles(graph, &components, priority)
        });
        let mut lists = Vec::with_capacity(cycles.len());
        for (_, nodes) in cycles.iter() {
            let closing = if close { nodes.first() } else { None };
            let items: Vec<ObjRef<'_>> = nodes
                .iter()
                .chain(closing)
                .map(|&n| walked.nodes.object(n as usize))
                .collect();
            lists.push(cpython::new_list(py, &items)?);
        }
        cpython::new_list_of_owned(py, lists)
    })
}

fn analyze_objects(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
    keep_objects: bool,
    fold_instance_dicts: bool,
    options: DescribeOptions,
    local_repr: Option<Py<PyAny>>,
    free_garbage: bool,
) -> PyResult<CycleAnalysis> {
    let known = known_types(py)?;
    // Asked before the walk: from the walk to the freeing check below, no Python code
    // may run (see `walked_refs`), and a first import would run importlib's.
    let sites = extras::AllocationSites::new(py);
    let detach = other_threads_may_run(py);
    // Looked up now: importing at the check could run Python code (a replaced
    // `__import__`); calling the builtin then runs none (a replacement that is not a
    // builtin is not used).
    let get_stats = if free_garbage && !detach {
        py.import("gc")
            .and_then(|gc| gc.getattr("get_stats"))
            .ok()
            .filter(|f| f.is_instance_of::<pyo3::types::PyCFunction>())
    } else {
        None
    };
    let collections_before = get_stats.as_ref().and_then(collections_so_far);
    let mut clock = PhaseClock::start();
    let walked = walk::walk(
        objects,
        known.frame,
        known.minor,
        fold_instance_dicts,
        free_garbage,
    )
    .map_err(walk_error)?;
    if free_garbage && !walked.list_emptied {
        // The walk holds a reference to every object now, so emptying the caller's list
        // frees nothing and runs no Python code: it only lets the list's 8 bytes per
        // object go before the graph work, where the peak is.
        objects.del_slice(0, objects.len())?;
    }
    clock.lap("walk");
    // The graph is plain Rust data and every node is held by a reference of ours, so the
    // other threads may run meanwhile (a server keeps serving); what they do to the heap
    // now does not change this analysis, which describes the heap as the walk saw it.
    let (graph, priority) = (&walked.graph, &walked.priority);
    let (components, scc_seconds, cycles, cycles_seconds) = detached_if(py, detach, || {
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

    // Sizes of the cyclic components, and the members of those larger than their cycle.
    // Counted first, so that the arrays are allocated once, exactly.
    let (mut larger_count, mut larger_total) = (0usize, 0usize);
    for (component, nodes) in cycles.iter() {
        let size = components.members(component).len();
        if size > nodes.len() {
            larger_count += 1;
            larger_total += size;
        }
    }
    let mut component_members: Vec<u32> = Vec::with_capacity(larger_total);
    let mut larger_components: Vec<LargerComponent> = Vec::with_capacity(larger_count);
    for (cycle, (component, nodes)) in cycles.iter().enumerate() {
        let members = components.members(component);
        if members.len() > nodes.len() {
            larger_components.push(LargerComponent {
                cycle: cycle as u32,
                start: component_members.len() as u32,
                size: members.len() as u32,
            });
            component_members.extend_from_slice(members);
        }
    }
    let mut cycle_offsets = Vec::with_capacity(cycles.len() + 1);
    cycle_offsets.push(0u32);
    let mut cycle_members = Vec::new();
    for (_, nodes) in cycles.iter() {
        cycle_members.extend_from_slice(nodes);
        cycle_offsets.push(cycle_members.len() as u32);
    }
    // Copied: freed now, not at the end, where the report's own arrays make the peak.
    let cycle_count = cycles.len();
    drop((components, cycles));
    let analysed_count = walked.nodes.len() as u64;
    let edge_count = walked.graph.edge_count() as u64;
    // The freeing check can use the references the walk saw when, from the walk to the
    // check, this thread held the GIL (no other thread ran: none could take a reference
    // and drop one of those the walk counted) and ran no Python code (checked again
    // before the check: no collection started, so no finaliser ran; no repr, tracemalloc
    // lookup or mapping's items() was called). One byte per object, kept until then.
    let walked_refs = (free_garbage
        && !detach
        && collections_before.is_some()
        && local_repr.is_none()
        && !sites.is_active()
        && !walked.shared_dict_looked_through)
        .then(|| {
            let mut refs = walked.graph.in_degrees_saturating();
            for &dict in &walked.unlisted_refs {
                // A dict folded into its owner: the owner's reference to it is not an
                // edge, and its references are edges twice (its own, and its owner's).
                for &target in walked.graph.successors(dict) {
                    let count = &mut refs[target as usize];
                    if *count != u8::MAX {
                        *count -= 1;
                    }
                }
                let count = &mut refs[dict as usize];
                *count = count.saturating_add(1);
            }
            refs
        });
    drop(walked.graph);
    // The walk took a reference to every node while it had the object in cache.
    let members = walked.nodes.into_owned(py);
    clock.lap("members");

    // Group before describing: step keys, sizes and finaliser flags of every cycle.
    let mut reader = steps::StepReader::new(known);
    let mut keys = Vec::with_capacity(cycle_members.len());
    let mut cycle_sizes = Vec::with_capacity(cycle_count);
    let mut cycle_finalizer = Vec::with_capacity(cycle_count);
    // Members are read in cycle order, long after the walk let them leave the cache:
    // their headers are asked for this many members ahead.
    const PREFETCH_AHEAD: usize = 8;
    for window in cycle_offsets.windows(2) {
        let (start, end) = (window[0] as usize, window[1] as usize);
        let nodes = &cycle_members[start..end];
        let (mut size, mut finalizer) = (0u64, false);
        for (i, &node) in nodes.iter().enumerate() {
            if let Some(&ahead) = cycle_members.get(start + i + PREFETCH_AHEAD) {
                cpython::prefetch_with_preheader(ObjRef::of(members[ahead as usize].bind(py)));
            }
            let src = ObjRef::of(members[node as usize].bind(py));
            let next = if i + 1 == nodes.len() { 0 } else { i + 1 };
            let dst = ObjRef::of(members[nodes[next] as usize].bind(py));
            let (key, exact) = reader.key(src, dst);
            keys.push(steps::with_exactness(key, exact));
            size += reader.size(src);
            finalizer |= reader.has_finalizer(src);
        }
        cycle_sizes.push(size);
        cycle_finalizer.push(finalizer);
    }
    drop(reader);
    clock.lap("keys");
    let candidates = detached_if(py, detach, || {
        refscope_core::analysis::candidate_groups(&refscope_core::analysis::StepKeys {
            offsets: &cycle_offsets,
            keys: &keys,
        })
    });
    clock.lap("group");
    let mut report = Report {
        cycles: (0..cycle_count)
            .map(|i| CycleRecord {
                component_size: u64::from(cycle_offsets[i + 1] - cycle_offsets[i]),
                ..Default::default()
            })
            .collect(),
        analysed_count,
        edge_count,
        ..Default::default()
    };
    for larger in &larger_components {
        report.cycles[larger.cycle as usize].component_size = u64::from(larger.size);
    }
    // Taken now, not when the report is described: tracing may have stopped by then.
    let allocated_at = if sites.is_active() {
        cycle_members
            .iter()
            .map(|&p| sites.of(ObjRef::of(members[p as usize].bind(py))))
            .collect()
    } else {
        Vec::new()
    };
    let kept = Kept {
        objects: members,
        component_members,
        cycle_members,
        step_keys: keys,
        allocated_at,
    };
    let mut analysis = CycleAnalysis {
        kept: Mutex::new(Some(Arc::new(kept))),
        local_repr,
        larger_components,
        cycle_offsets,
        analysed_count,
        edge_count,
        options,
        phase_seconds: clock.phases,
        candidates: candidates.groups,
        candidate_of: candidates.group_of,
        step_start: candidates.starts,
        cycle_sizes,
        cycle_finalizer,
        described: Mutex::new(Described {
            report: Arc::new(report),
            real: FxHashMap::default(),
        }),
        groups: OnceLock::new(),
        described_all: std::sync::atomic::AtomicBool::new(false),
        changed_references: std::sync::atomic::AtomicBool::new(false),
        freed_on_walk_counts: std::sync::atomic::AtomicBool::new(false),
        frees_garbage: free_garbage,
        garbage_freed: Mutex::new(None),
        unfreed: Mutex::new(Vec::new()),
    };
    if !keep_objects {
        // `release()`, timed in parts for the benchmarks: grouping (with the examples it
        // describes), describing what a renderer shows, and letting the objects go
        // (freeing them).
        let mut clock = PhaseClock::start();
        analysis.groups(py)?;
        clock.lap("groups");
        analysis.describe_before_release(py)?;
        clock.lap("describe");
        let unchanged = walked_refs.is_some()
            && !analysis
                .changed_references
                .load(std::sync::atomic::Ordering::Acquire)
            && get_stats.as_ref().and_then(collections_so_far) == collections_before;
        analysis.let_go(py, walked_refs.as_deref().filter(|_| unchanged));
        clock.lap("release");
        analysis.phase_seconds.extend(clock.phases);
    }
    Ok(analysis)
}

/// Whether a thread other than this one may want the GIL while an analysis runs: one
/// started through `_thread` (threading's are), or this one is not the only one
/// (`_thread._count()` leaves the main thread out). A thread of C code that takes the GIL
/// through `PyGILState_Ensure` is not counted: it waits for the analysis as it waits for
/// a collection.
fn other_threads_may_run(py: Python<'_>) -> bool {
    py.import("_thread")
        .and_then(|module| module.call_method0("_count"))
        .and_then(|count| count.extract::<usize>())
        .map_or(true, |count| count > 0)
}

/// Collections run so far, over the generations, from `gc.get_stats` (a builtin, whose
/// figures are read before it allocates its answer). None if they cannot be read.
fn collections_so_far(get_stats: &Bound<'_, PyAny>) -> Option<u64> {
    let stats = get_stats.call0().ok()?;
    let mut total = 0u64;
    for generation in stats.try_iter().ok()? {
        let count = generation.ok()?.get_item("collections").ok()?;
        total = total.checked_add(count.extract::<u64>().ok()?)?;
    }
    Some(total)
}

/// `f()`, without the GIL when `detach` (other threads then run meanwhile).
fn detached_if<T, F>(py: Python<'_>, detach: bool, f: F) -> T
where
    F: pyo3::marker::Ungil + FnOnce() -> T,
    T: pyo3::marker::Ungil,
{
    if detach {
        py.detach(f)
    } else {
        f()
    }
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
    max_groups: usize,
    max_objects: usize,
) -> HtmlOptions {
    HtmlOptions {
        title,
        subtitle,
        max_groups,
        svg: SvgOptions {
            max_objects,
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

/// How many objects in gc's permanent generation are mortal, on CPython 3.12 (where the
/// collector parks immortal objects there itself); `None` on other versions or when the
/// list cannot be read and validated against `frozen` (`gc.get_freeze_count()`).
#[pyfunction]
#[pyo3(text_signature = "(frozen)")]
fn permanent_generation_mortal_count(py: Python<'_>, frozen: usize) -> Option<usize> {
    cpython::permanent_generation::mortal_count(py, frozen)
}

/// Breaks the cycles of `garbage` (what a `DEBUG_SAVEALL` collection kept, held by this
/// list only) with `tp_clear`, as the collector would have; they are freed when the list
/// goes. Returns how many objects were cleared, or `None` when they are not all still
/// garbage (then run a collection instead).
#[pyfunction]
#[pyo3(text_signature = "(garbage)")]
fn clear_collected_garbage(py: Python<'_>, garbage: &Bound<'_, PyList>) -> Option<usize> {
    cpython::free_garbage::clear_if_unreachable(py, garbage, 0).ok()
}

/// A new list of `items`' objects, which `items` is left without (it is empty after):
/// the item array moves, so no object's count is touched. `None` (and `items` unchanged)
/// when `items` is not an exact list. For the garbage a collection put in `gc.garbage`,
/// handed on without two passes over a million scattered objects.
#[pyfunction]
#[pyo3(text_signature = "(items)")]
fn take_list_items<'py>(items: &Bound<'py, PyList>) -> PyResult<Option<Bound<'py, PyList>>> {
    cpython::take_list_items(items)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_quiet_panic_hook();
    cpython::load_builtin_descriptors(m.py()).map_err(|what| {
        RefscopeError::new_err(format!("this CPython lacks a builtin descriptor: {what}"))
    })?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(_internal_error_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(permanent_generation_mortal_count, m)?)?;
    m.add_function(wrap_pyfunction!(clear_collected_garbage, m)?)?;
    m.add_function(wrap_pyfunction!(take_list_items, m)?)?;
    m.add_function(wrap_pyfunction!(cycle_object_lists, m)?)?;
    m.add_class::<CycleAnalysis>()?;
    m.add("RefscopeError", m.py().get_type::<RefscopeError>())?;
    add_failure_text_functions(m)?;
    // Heap snapshots (refscope.snapshot).
    heap::register(m)?;
    objgraph_support::register(m)?;
    results::register(m)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The text of some groups only: a failed check (assert_no_cycles, the pytest plugin)
// shows the groups of the cycles it did not tolerate, rendered by the core's text
// renderer like every other report.

/// Indexes (in `groups_info` order) of the groups holding any of the cycles `cycles`.
#[pyfunction]
fn groups_of_cycles(
    py: Python<'_>,
    analysis: PyRef<'_, CycleAnalysis>,
    cycles: Vec<u32>,
) -> PyResult<Vec<usize>> {
    let groups = analysis.groups(py)?;
    let wanted: rustc_hash::FxHashSet<u32> = cycles.into_iter().collect();
    Ok(groups
        .iter()
        .enumerate()
        .filter(|(_, group)| group.cycles.iter().any(|c| wanted.contains(c)))
        .map(|(index, _)| index)
        .collect())
}

/// The text report of the groups `groups` (indexes as in `groups_info`, in that order),
/// without the report's header line (which counts every cycle of the report): the
/// caller writes its own summary above it.
#[pyfunction]
#[pyo3(signature = (analysis, groups, color=false, max_objects_per_cycle=12, max_cycles_per_group=1, max_groups=5))]
fn groups_to_text(
    py: Python<'_>,
    analysis: PyRef<'_, CycleAnalysis>,
    groups: Vec<usize>,
    color: bool,
    max_objects_per_cycle: usize,
    max_cycles_per_group: usize,
    max_groups: usize,
) -> PyResult<String> {
    let all = analysis.groups(py)?;
    let mut chosen = Vec::with_capacity(groups.len().min(all.len()));
    for index in groups {
        let group = all.get(index).ok_or_else(|| {
            PyIndexError::new_err(format!(
                "group index {index} out of range (report has {})",
                all.len()
            ))
        })?;
        chosen.push(group.clone());
    }
    let (report, max_cycles_per_group, max_objects_per_cycle) = analysis.prepare_groups(
        py,
        &chosen,
        max_groups,
        max_cycles_per_group,
        max_objects_per_cycle,
    )?;
    let options = TextOptions {
        color,
        max_objects_per_cycle,
        max_cycles_per_group,
        max_groups,
    };
    let text = text::render(&report, &chosen, &options);
    Ok(match text.split_once('\n') {
        Some((_header, rest)) => rest.trim_start_matches('\n').to_owned(),
        None => String::new(),
    })
}

fn add_failure_text_functions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(groups_of_cycles, m)?)?;
    m.add_function(wrap_pyfunction!(groups_to_text, m)?)?;
    Ok(())
}

// --- refscope.objgraph support (type census, referrer index, chains, pictures) ---
mod objgraph_support;

// --- the classes of the values above (one module, `results`) ---
mod results;
