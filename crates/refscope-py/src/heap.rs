//! Whole-heap snapshots: walks every live object into a `refscope_core` [`HeapSnapshot`].
//!
//! The walk starts from the gc-tracked objects (the list `gc.get_objects()` returned) and
//! follows every reference their `tp_traverse` reports, so untracked objects (str, int,
//! float, bytes, atomic tuples and dicts) reached through references are recorded too. Per
//! object: its type, its shallow size as `sys.getsizeof` computes it (a builtin C
//! `__sizeof__` found on the type, never a Python one: then the C layout), its references
//! with labels, and how many references to it come from outside the heap (its refcount
//! minus the references found, as gc's `update_refs`/`subtract_refs` compute in
//! Modules/gcmodule.c).
//!
//! No Python code runs: no `__repr__`, `__eq__`, `__hash__`, `__sizeof__` of a user class
//! or descriptor; no instance `__dict__` or frame `f_locals` is created; automatic
//! collection is off while the walk runs (it holds the GIL throughout, so no other thread
//! sees the change) so no allocation can trigger one; and no reference is kept: the
//! snapshot holds addresses, not objects.

use crate::cpython::direct_sizeof::DirectSizeof;
use crate::cpython::{
    self, AsObj, DictSlot, FrameLayout, InlineAttributes, InlineValues, ObjRef, ObjectMember,
    SizeofMethod, TraverseSlots, TypeAttr, TypeFlags, TypeRef, VarSize,
};
use pyo3::ffi;
use refscope_core::index::AddressIndex;
use refscope_core::snapshot::{EdgeLabel, HeapSnapshot, RootKind, SnapshotBuilder, SnapshotMeta};
use rustc_hash::{FxHashMap, FxHashSet};

// --- progress line (refscope.snapshot(progress=True)) ---
#[path = "heap_progress.rs"]
mod progress;
use progress::{ProgressLine, Schedule};
// --- end of progress line ---

/// What the Python side hands to the walk (all kept alive by the caller).
pub struct WalkInput<'a> {
    /// `gc.get_objects()`.
    pub objects: &'a Bound<'a, PyList>,
    /// `sys.modules`.
    pub modules: &'a Bound<'a, PyDict>,
    /// `[frame, label, local names, frame, ...]`: every frame of every thread's stack;
    /// the names of a frame's fast locals (arguments, locals, cells, free variables, in
    /// slot order) are one str joined with NUL characters.
    pub frames: &'a Bound<'a, PyList>,
    /// Frame layout (checked on a probe frame), and the frame type.
    pub frame_layout: Option<(FrameLayout, usize)>,
    pub minor: u8,
    pub inline: Option<InlineAttributes>,
    pub meta: SnapshotMeta,
    /// When to draw a progress line on stderr (None: never).
    pub progress: Option<Schedule>,
}

/// How the shallow size of a type's instances is found.
enum SizeRule {
    /// Every instance has this size (object.__sizeof__ of a fixed-size type).
    Constant(u64),
    /// object.__sizeof__ of a variable-size type: basicsize + itemsize × ob_size.
    Variable { basic: u64, item: u64, var: VarSize },
    /// A builtin C `__sizeof__` (list, dict, str, int...), called per object; directly
    /// as the C function it is when its descriptor could be read.
    Call(SizeofMethod, Option<DirectSizeof>),
    /// A Python class defines `__sizeof__`: never called; the C layout instead.
    Layout {
        basic: u64,
        item: u64,
        var: Option<VarSize>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dict,
    Sequence,
    Instance,
    Other,
}

struct TypeFacts {
    type_id: u32,
    flags: TypeFlags,
    slots: TraverseSlots,
    kind: Kind,
    size: SizeRule,
    /// The part of `sys.getsizeof` outside `__sizeof__` (gc header, pre-header), when it
    /// does not depend on the object.
    extra: u64,
    /// 3.10 and 3.13 add the gc header only for objects that take part in gc (type
    /// objects decide per instance through `tp_is_gc`).
    extra_per_object: bool,
    /// Object-valued members: (slot, label string id).
    members: Vec<(ObjectMember, u32)>,
    dict_slot: DictSlot,
    /// Label string ids of the shared keys (inline attribute values), by entry index.
    inline_names: Vec<u32>,
    /// How to read the inline attribute values.
    inline_values: Option<InlineValues>,
    basicsize: usize,
    /// Py_TPFLAGS_HAVE_GC, and whether a `tp_is_gc` hook decides per instance (read once
    /// per type, not per object).
    gc_type: bool,
    has_is_gc: bool,
}

impl TypeFacts {
    /// `_PyObject_IS_GC(obj)` for an instance of this type.
    #[inline]
    fn is_gc(&self, obj: ObjRef<'_>) -> bool {
        self.gc_type && (!self.has_is_gc || cpython::object_is_gc(obj))
    }
}

/// Why the walk failed.
#[derive(Debug)]
pub enum HeapWalkError {
    Build(String),
    /// A panic in the traversal callback (a bug in refscope), caught before it reached C.
    Internal,
}

const PREHEADER_FLAGS_312: u64 = (1 << 3) | (1 << 4); // MANAGED_WEAKREF | MANAGED_DICT
const MANAGED_DICT: u64 = 1 << 4;
const INLINE_VALUES: u64 = 1 << 2;
const GC_HEAD: u64 = 16;
/// How many objects ahead of the one being read the walk prefetches headers.
const PREFETCH_AHEAD: usize = 8;
/// Entries of the walk's cache of type facts (a power of two).
const TYPE_CACHE: usize = 64;
/// Objects the walk expects to find per gc-tracked object, for its initial capacities.
const EXPECTED_GROWTH: usize = 3;

struct Walker {
    minor: u8,
    inline: Option<InlineAttributes>,
    builder: SnapshotBuilder,
    facts: Vec<TypeFacts>,
    facts_of: FxHashMap<usize, u32>,
    module_dicts: FxHashSet<usize>,
    key_labels: FxHashMap<usize, u32>,
    global_labels: FxHashMap<usize, u32>,
    class_label: u32,
    dict_label: u32,
}

impl Walker {
    fn type_facts(&mut self, tp: TypeRef<'_>) -> u32 {
        if let Some(&i) = self.facts_of.get(&tp.address()) {
            return i;
        }
        let flags = TypeFlags::of(tp);
        let raw_flags = cpython::type_flags(tp);
        let name = type_display_name(tp);
        let type_id = self.builder.type_named(&name);
        let basic = cpython::type_number(tp, TypeAttr::BasicSize)
            .unwrap_or(0)
            .max(0) as u64;
        let item = cpython::type_number(tp, TypeAttr::ItemSize)
            .unwrap_or(0)
            .max(0) as u64;
        let size = match SizeofMethod::of(tp) {
            Some(m) if m.is_object_sizeof() => {
                if self.minor >= 13 && raw_flags & INLINE_VALUES != 0 {
                    // 3.13's object.__sizeof__ adds the embedded values: ask it.
                    let direct = DirectSizeof::of(&m, tp);
                    SizeRule::Call(m, direct)
                } else {
                    match VarSize::of(tp) {
                        Some(var) => SizeRule::Variable { basic, item, var },
                        None => SizeRule::Constant(basic),
                    }
                }
            }
            Some(m) => {
                let direct = DirectSizeof::of(&m, tp);
                SizeRule::Call(m, direct)
            }
            None => SizeRule::Layout {
                basic,
                item,
                var: VarSize::of(tp),
            },
        };
        let type_gc = raw_flags & (ffi::Py_TPFLAGS_HAVE_GC as u64) != 0;
        let has_is_gc = cpython::TraverseSlots::has_is_gc(tp);
        // sys.getsizeof's addition (Python/sysmodule.c, _PySys_GetSizeOf): 3.10, the gc
        // header if _PyObject_IS_GC; 3.11 and 3.12, _PyType_PreHeaderSize (gc header if
        // the type is gc, two words for a managed dict / weakref list); 3.13, the gc
        // header if _PyObject_IS_GC plus the pre-header words.
        let preheader = match self.minor {
            11 if raw_flags & MANAGED_DICT != 0 => 16,
            12.. if raw_flags & PREHEADER_FLAGS_312 != 0 => 16,
            _ => 0,
        };
        let (extra, extra_per_object) = match self.minor {
            10 | 13.. if has_is_gc => (preheader, true),
            10 | 13.. => (preheader + if type_gc { GC_HEAD } else { 0 }, false),
            _ => (preheader + if type_gc { GC_HEAD } else { 0 }, false),
        };
        let kind = if flags.is_dict {
            Kind::Dict
        } else if flags.is_list || flags.is_tuple {
            Kind::Sequence
        } else if flags.is_heap_type && !flags.is_type {
            Kind::Instance
        } else {
            Kind::Other
        };
        let members = cpython::object_members(tp)
            .into_iter()
            .map(|(member, name)| (member, self.builder.intern(&format!(".{name}"))))
            .collect();
        let dict_slot = if kind == Kind::Instance {
            DictSlot::of(tp, self.minor)
        } else {
            DictSlot::NONE
        };
        let inline_names = match (self.inline, kind) {
            (Some(inline), Kind::Instance) => inline
                .shared_keys(tp)
                .unwrap_or_default()
                .into_iter()
                .map(|key| match key.and_then(cpython::str_text) {
                    Some(text) => self.builder.intern(&format!(".{text}")),
                    None => 0,
                })
                .collect(),
            _ => Vec::new(),
        };
        let inline_values = match (self.inline, kind) {
            (Some(inline), Kind::Instance) if !inline_names.is_empty() => inline.values_of(tp),
            _ => None,
        };
        let id = self.facts.len() as u32;
        self.facts.push(TypeFacts {
            type_id,
            flags,
            slots: TraverseSlots::of(tp),
            kind,
            size,
            extra,
            extra_per_object,
            members,
            dict_slot,
            inline_names,
            inline_values,
            basicsize: basic as usize,
            gc_type: type_gc,
            has_is_gc,
        });
        self.facts_of.insert(tp.address(), id);
        id
    }

    fn shallow_size(&self, facts: &TypeFacts, obj: ObjRef<'_>) -> u64 {
        let core = match &facts.size {
            SizeRule::Constant(size) => *size,
            SizeRule::Variable { basic, item, var } => basic + item * var.read(obj).max(0) as u64,
            SizeRule::Layout { basic, item, var } => match var {
                Some(var) if cpython::int_value(obj).is_none() => {
                    basic + item * var.read(obj).unsigned_abs() as u64
                }
                _ => *basic,
            },
            SizeRule::Call(method, direct) => direct
                .and_then(|direct| direct.call(obj))
                .or_else(|| method.call(obj))
                .map_or(facts.basicsize as u64, |size| size.max(0) as u64),
        };
        let extra = if facts.extra_per_object && facts.is_gc(obj) {
            facts.extra + GC_HEAD
        } else {
            facts.extra
        };
        core + extra
    }

    /// Label of a dict value whose key is `key` (`['name']`, or `global name` in a
    /// module's globals).
    fn key_label(&mut self, key: ObjRef<'_>, module_globals: bool) -> u32 {
        let cache = if module_globals {
            &self.global_labels
        } else {
            &self.key_labels
        };
        if let Some(&id) = cache.get(&key.address()) {
            return id;
        }
        let text = if let Some(text) = cpython::str_text(key) {
            let text: String = text.chars().take(200).collect();
            if module_globals {
                format!("global {text}")
            } else {
                format!("[{}]", refscope_core::report::label::quote(&text))
            }
        } else if let Some(v) = cpython::int_value(key) {
            format!("[{v}]")
        } else if let Some(literal) = cpython::singleton_literal(key) {
            format!("[{literal}]")
        } else {
            return 0;
        };
        let id = self.builder.intern(&text);
        if module_globals {
            self.global_labels.insert(key.address(), id);
        } else {
            self.key_labels.insert(key.address(), id);
        }
        id
    }
}

/// `module.qualname`, or just the qualname for builtins.
fn type_display_name(tp: TypeRef<'_>) -> String {
    let qualname = cpython::type_text(tp, TypeAttr::Qualname).unwrap_or_else(|| "?".into());
    match cpython::type_text(tp, TypeAttr::Module) {
        Some(module) if module != "builtins" => format!("{module}.{qualname}"),
        _ => qualname,
    }
}

/// Walks the heap into a snapshot (GIL held by the caller throughout).
pub fn take_snapshot(input: &WalkInput) -> Result<HeapSnapshot, HeapWalkError> {
    let py = input.objects.py();
    let was_enabled = cpython::pause_automatic_gc(py);
    let result = walk(input);
    cpython::resume_automatic_gc(py, was_enabled);
    result
}

fn walk(input: &WalkInput) -> Result<HeapSnapshot, HeapWalkError> {
    let build = |e: refscope_core::snapshot::BuildError| HeapWalkError::Build(e.to_string());
    let tracked_objects = cpython::list_items(input.objects);
    let frame_items = cpython::list_items(input.frames);
    let excluded = [
        input.objects.as_obj().address(),
        input.frames.as_obj().address(),
    ];
    // References our own lists hold, which are not part of the heap being measured.
    let mut held_by_us: FxHashMap<usize, u32> = FxHashMap::default();
    for obj in &frame_items {
        *held_by_us.entry(obj.address()).or_insert(0) += 1;
    }
    // Thread frames → the names of their fast locals.
    let mut thread_frames: FxHashMap<usize, Vec<String>> = FxHashMap::default();
    if let Some((_, frame_type)) = input.frame_layout {
        for chunk in frame_items.chunks_exact(3) {
            if cpython::type_of(chunk[0]).address() != frame_type {
                continue;
            }
            let names = cpython::str_text(chunk[2]).unwrap_or_default();
            let names = if names.is_empty() {
                Vec::new()
            } else {
                names.split('\0').map(|n| n.to_string()).collect()
            };
            thread_frames.insert(chunk[0].address(), names);
        }
    }

    let mut index = AddressIndex::for_walk(tracked_objects.iter().map(|p| p.address() as u64), 2);
    // Room for the untracked objects the walk will add (2-3 per tracked one is usual):
    // reserved address space costs nothing until it is written, while growing a vector
    // of millions of entries copies it into freshly faulted pages.
    let expected = tracked_objects.len() * EXPECTED_GROWTH + 1024;
    let mut nodes: Vec<ObjRef<'_>> = Vec::new();
    reserve(&mut nodes, expected)?;
    for &obj in &tracked_objects {
        if excluded.contains(&obj.address()) {
            continue;
        }
        let id = nodes.len() as u32;
        match index.insert(obj.address() as u64, id) {
            Ok(got) if got == id => nodes.push(obj),
            Ok(_) => {}
            Err(e) => return Err(HeapWalkError::Build(e.to_string())),
        }
    }
    let tracked = nodes.len();
    // Frames executing on a thread are not gc-tracked from 3.11 on (and nothing in the
    // heap refers to the innermost ones): they are nodes because they are roots.
    for chunk in frame_items.chunks_exact(3) {
        let id = nodes.len() as u32;
        match index.insert(chunk[0].address() as u64, id) {
            Ok(got) if got == id => nodes.push(chunk[0]),
            Ok(_) => {}
            Err(e) => return Err(HeapWalkError::Build(e.to_string())),
        }
    }

    let mut walker = Walker {
        minor: input.minor,
        inline: input.inline,
        builder: SnapshotBuilder::default(),
        facts: Vec::new(),
        facts_of: FxHashMap::default(),
        module_dicts: FxHashSet::default(),
        key_labels: FxHashMap::default(),
        global_labels: FxHashMap::default(),
        class_label: 0,
        dict_label: 0,
    };
    if walker.builder.reserve(expected, expected * 2).is_err() {
        walker
            .builder
            .reserve(nodes.len(), nodes.len())
            .map_err(build)?;
    }
    walker.class_label = walker.builder.intern(".__class__");
    walker.dict_label = walker.builder.intern(".__dict__");
    let mut module_roots: Vec<(ObjRef<'_>, String)> = Vec::new();
    cpython::for_each_dict_item(input.modules.as_obj(), |name, module| {
        if let Some(dict) = cpython::module_dict(module) {
            let name = cpython::str_text(name).unwrap_or_else(|| "?".into());
            walker.module_dicts.insert(dict.address());
            module_roots.push((dict, name));
        }
        true
    });

    let mut in_refs: Vec<u32> = Vec::new();
    reserve(&mut in_refs, expected)?;
    // Each object's refcount, read while its header is in cache (u32::MAX: immortal).
    let mut refcounts: Vec<u32> = Vec::new();
    reserve(&mut refcounts, expected)?;
    in_refs.resize(nodes.len(), 0);
    let mut referents: Vec<ObjRef<'_>> = Vec::new();
    let mut labels: Vec<EdgeLabel> = Vec::new();
    let mut pairs: Vec<(ObjRef<'_>, ObjRef<'_>)> = Vec::new();
    let mut inline_values: Vec<Option<ObjRef<'_>>> = Vec::new();
    // Recently seen types → their facts: a heap mixes a few types closely (an instance,
    // its list, its str...), which a one-entry cache keeps missing.
    let mut recent_types = [(0usize, 0u32); TYPE_CACHE];
    // Erased when dropped, on every way out of this function.
    let mut progress_line = ProgressLine::new(input.progress);
    let mut i = 0;
    while i < nodes.len() {
        if i % progress::EVERY == 0 {
            if let Some(line) = progress_line.as_mut() {
                line.update("walking the heap", i, nodes.len());
            }
        }
        if let Some(&ahead) = nodes.get(i + PREFETCH_AHEAD) {
            cpython::prefetch(ahead);
        }
        let obj = nodes[i];
        let tp = cpython::type_of(obj);
        refcounts.push(if cpython::is_immortal(obj, input.minor) {
            u32::MAX
        } else {
            cpython::refcount(obj).clamp(0, u32::MAX as isize - 1) as u32
        });
        let cached = &mut recent_types[(tp.address() >> 4) % TYPE_CACHE];
        let facts_id = if cached.0 == tp.address() {
            cached.1
        } else {
            let id = walker.type_facts(tp);
            *cached = (tp.address(), id);
            id
        };
        let facts = &walker.facts[facts_id as usize];
        let size = walker.shallow_size(facts, obj);
        walker
            .builder
            .add_node(obj.address() as u64, facts.type_id, size)
            .map_err(build)?;

        referents.clear();
        cpython::for_each_referent(&facts.slots, obj, &mut |r| referents.push(r))
            .map_err(|()| HeapWalkError::Internal)?;
        let traversed = !referents.is_empty() || facts.is_gc(obj);
        labels.clear();
        labels.resize(referents.len(), EdgeLabel::Unnamed);
        if !traversed {
            // Not a gc object: gc never looks inside, but its object members (a code
            // object's co_consts, co_names...) are references all the same.
            for &(member, label) in &facts.members {
                if let Some(value) = member.value(obj) {
                    referents.push(value);
                    labels.push(EdgeLabel::Name(label));
                }
            }
        } else {
            label_referents(
                &mut walker,
                facts_id,
                obj,
                &mut referents,
                &mut labels,
                &mut pairs,
                &mut inline_values,
            );
        }
        if let Some((layout, frame_type)) = input.frame_layout {
            if tp.address() == frame_type {
                if let Some(names) = thread_frames.get(&obj.address()) {
                    frame_references(&mut walker, layout, obj, names, &mut referents, &mut labels);
                }
            }
        }
        for (&referent, &label) in referents.iter().zip(&labels) {
            if excluded.contains(&referent.address()) {
                continue;
            }
            // One lookup: the id stored for the address, or the next one if it is new.
            let next = nodes.len() as u32;
            let id = index
                .insert(referent.address() as u64, next)
                .map_err(|e| HeapWalkError::Build(e.to_string()))?;
            if id == next {
                nodes.push(referent);
                in_refs.push(0);
            }
            in_refs[id as usize] += 1;
            walker.builder.push_edge(id, label);
        }
        i += 1;
    }

    // Roots: module globals, thread frames, then what the refcounts say.
    for (dict, name) in &module_roots {
        if let Some(id) = index.get(dict.address() as u64) {
            walker
                .builder
                .add_root(RootKind::ModuleGlobals, id, &format!("module {name}"), 0);
        }
    }
    for pair in frame_items.chunks_exact(3) {
        if let Some(id) = index.get(pair[0].address() as u64) {
            let label = cpython::str_text(pair[1]).unwrap_or_else(|| "thread frame".into());
            walker
                .builder
                .add_root(RootKind::ThreadFrame, id, &label, 0);
        }
    }
    // Our own references count as found: one from `gc.get_objects()`'s list to each
    // tracked object, and those of the frame list.
    for (&address, &count) in &held_by_us {
        if let Some(id) = index.get(address as u64) {
            in_refs[id as usize] += count;
        }
    }
    for v in 0..nodes.len() {
        if refcounts[v] == u32::MAX {
            walker
                .builder
                .add_root(RootKind::Immortal, v as u32, "immortal", 0);
            continue;
        }
        let ours = (v < tracked) as i64;
        let surplus = refcounts[v] as i64 - in_refs[v] as i64 - ours;
        if surplus > 0 {
            let label = if surplus == 1 {
                "held from outside the heap (1 reference from C code)".to_string()
            } else {
                format!("held from outside the heap ({surplus} references from C code)")
            };
            walker
                .builder
                .add_root(RootKind::HeldFromOutside, v as u32, &label, surplus as u64);
        }
    }
    walker.builder.set_meta(input.meta.clone());
    let Walker { builder, .. } = walker;
    // Erased here, before the graph is handed back.
    drop(progress_line);
    builder.finish().map_err(build)
}

/// Reserves room for `expected` items (or, if that much address space is refused, for
/// as many as the vector holds now); a heap too large for memory is an error, not an
/// abort of the host process.
fn reserve<T>(vec: &mut Vec<T>, expected: usize) -> Result<(), HeapWalkError> {
    if vec
        .try_reserve_exact(expected.saturating_sub(vec.len()))
        .is_ok()
    {
        return Ok(());
    }
    vec.try_reserve(vec.len().max(1024))
        .map_err(|_| HeapWalkError::Build("not enough memory for the snapshot".into()))
}

/// Names the locals of a frame on a thread's stack, and (3.11+, where gc does not look
/// inside a frame the thread owns) adds its references.
fn frame_references<'a>(
    walker: &mut Walker,
    layout: FrameLayout,
    frame: ObjRef<'a>,
    names: &[String],
    referents: &mut Vec<ObjRef<'a>>,
    labels: &mut Vec<EdgeLabel>,
) {
    let add = layout.owned_by_thread(frame);
    if add {
        for (name, value) in layout.fields(frame) {
            referents.push(value);
            labels.push(EdgeLabel::Name(walker.builder.intern(name)));
        }
    }
    let Some(values) = layout.locals(frame, names.len()) else {
        return;
    };
    for (name, value) in names.iter().zip(values) {
        let Some(value) = value else {
            continue;
        };
        let label = EdgeLabel::Name(walker.builder.intern(&format!("local {name}")));
        if add {
            referents.push(value);
            labels.push(label);
        } else if let Some(pos) = referents
            .iter()
            .zip(labels.iter())
            .position(|(&r, &l)| r == value && l == EdgeLabel::Unnamed)
        {
            labels[pos] = label;
        }
    }
}

/// Labels `referents` of `obj` (in traversal order) in `labels`; may append a dict's
/// keys, which a dict with only str keys does not traverse (dict_traverse in
/// Objects/dictobject.c visits values only when DK_IS_UNICODE) but holds strongly.
fn label_referents<'a>(
    walker: &mut Walker,
    facts_id: u32,
    obj: ObjRef<'a>,
    referents: &mut Vec<ObjRef<'a>>,
    labels: &mut Vec<EdgeLabel>,
    pairs: &mut Vec<(ObjRef<'a>, ObjRef<'a>)>,
    inline_values: &mut Vec<Option<ObjRef<'a>>>,
) {
    let facts = &walker.facts[facts_id as usize];
    let kind = facts.kind;
    // Members first (slots of instances, function attributes, type's __mro__...).
    if !facts.members.is_empty() {
        for &(member, label) in &facts.members {
            let Some(value) = member.value(obj) else {
                continue;
            };
            if let Some(pos) = referents
                .iter()
                .zip(labels.iter())
                .position(|(&r, &l)| r == value && l == EdgeLabel::Unnamed)
            {
                labels[pos] = EdgeLabel::Name(label);
            }
        }
    }
    match kind {
        Kind::Sequence if cpython::is_exact_list_or_tuple(obj) => {
            // list_traverse and tupletraverse visit items from the last to the first
            // (Objects/listobject.c, tupleobject.c); a NULL slot (a tuple being built) is
            // skipped, so the indices only follow when every slot is set.
            let n = referents.len();
            if cpython::builtin_len(obj, &facts.flags) == Some(n as isize) {
                for (i, label) in labels.iter_mut().enumerate() {
                    *label = EdgeLabel::Index((n - 1 - i) as u32);
                }
            }
        }
        Kind::Dict => {
            let module_globals = walker.module_dicts.contains(&obj.address());
            pairs.clear();
            cpython::for_each_dict_item(obj, |k, v| {
                pairs.push((k, v));
                true
            });
            let m = pairs.len();
            let r = referents.len();
            let values_only = r >= m && (0..m).all(|j| referents[r - m + j] == pairs[j].1);
            let with_keys = !values_only
                && r >= 2 * m
                && (0..m).all(|j| {
                    referents[r - 2 * m + 2 * j] == pairs[j].1
                        && referents[r - 2 * m + 2 * j + 1] == pairs[j].0
                });
            if values_only || with_keys {
                let step = if values_only { 1 } else { 2 };
                let start = r - step * m;
                for j in 0..m {
                    let label = walker.key_label(pairs[j].0, module_globals);
                    labels[start + step * j] = if label == 0 {
                        EdgeLabel::Unnamed
                    } else {
                        EdgeLabel::Name(label)
                    };
                    if with_keys {
                        labels[start + 2 * j + 1] = EdgeLabel::DictKey;
                    }
                }
            } else {
                // Split tables traverse their values in storage order: match by identity.
                let mut unmatched: Vec<usize> = (0..r)
                    .filter(|&p| labels[p] == EdgeLabel::Unnamed)
                    .collect();
                for &(key, value) in pairs.iter() {
                    if let Some(k) = unmatched.iter().position(|&p| referents[p] == value) {
                        let p = unmatched.swap_remove(k);
                        let label = walker.key_label(key, module_globals);
                        if label != 0 {
                            labels[p] = EdgeLabel::Name(label);
                        }
                    }
                }
            }
            let keys_visited = with_keys
                || (m > 0 && !values_only && pairs.iter().all(|(k, _)| referents.contains(k)));
            if !keys_visited {
                for &(key, _) in pairs.iter() {
                    referents.push(key);
                    labels.push(EdgeLabel::DictKey);
                }
            }
        }
        Kind::Instance => {
            let tp = cpython::type_of(obj);
            if let Some(pos) = referents.iter().position(|&r| r == tp.as_object()) {
                if labels[pos] == EdgeLabel::Unnamed {
                    labels[pos] = EdgeLabel::Name(walker.class_label);
                }
            }
            if let Some(dict) = facts.dict_slot.materialised_dict(obj) {
                if let Some(pos) = referents.iter().position(|&r| r == dict) {
                    labels[pos] = EdgeLabel::Name(walker.dict_label);
                }
            } else if let Some(inline) = &facts.inline_values {
                if inline.read_into(obj, inline_values) {
                    for (value, &name) in inline_values.iter().zip(&facts.inline_names) {
                        let (Some(value), false) = (value, name == 0) else {
                            continue;
                        };
                        if let Some(pos) = referents
                            .iter()
                            .zip(labels.iter())
                            .position(|(r, &l)| r == value && l == EdgeLabel::Unnamed)
                        {
                            labels[pos] = EdgeLabel::Name(name);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// Python classes and functions (`refscope._core.HeapSnapshot`, `take_heap_snapshot`,
// `load_heap_snapshot`). The Python API (`refscope.snapshot`) wraps these; node ids are
// dense ints, and every query that may take long releases the GIL.
// ---------------------------------------------------------------------------------------

use crate::results;
use pyo3::exceptions::{PyIndexError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::path::PathBuf;
use std::sync::Arc;

/// A heap snapshot: plain data, no Python object inside (safe to share across threads).
#[pyclass(module = "refscope._core", name = "HeapSnapshot", frozen)]
pub struct PyHeapSnapshot {
    inner: Arc<HeapSnapshot>,
}

fn root_info(
    py: Python<'_>,
    s: &HeapSnapshot,
    r: &refscope_core::snapshot::Root,
) -> PyResult<Py<results::RootInfo>> {
    let root = results::RootInfo {
        kind: r.kind.name().to_string(),
        label: s.strings().get(r.label).to_string(),
        node: r.node,
        outside: r.surplus,
    };
    Py::new(py, root)
}

fn cycle_group(g: refscope_core::snapshot::CycleGroupSummary) -> results::HeapCycleGroup {
    results::HeapCycleGroup {
        signature: g.signature,
        components: g.components,
        objects: g.objects,
        bytes: g.bytes,
        example: g.example,
    }
}

impl PyHeapSnapshot {
    fn check(&self, node: u32) -> PyResult<u32> {
        if (node as usize) < self.inner.node_count() {
            Ok(node)
        } else {
            Err(PyIndexError::new_err(format!(
                "node {node} out of range (snapshot has {} objects)",
                self.inner.node_count()
            )))
        }
    }
}

#[pymethods]
impl PyHeapSnapshot {
    #[getter]
    fn node_count(&self) -> usize {
        self.inner.node_count()
    }

    #[getter]
    fn edge_count(&self) -> usize {
        self.inner.edge_count()
    }

    /// Resident bytes of the graph (not counting cached analyses).
    #[getter]
    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    #[getter]
    fn total_size(&self) -> u64 {
        self.inner.total_size()
    }

    /// When and where the snapshot was taken.
    #[getter]
    fn meta(&self) -> results::SnapshotMeta {
        let m = self.inner.meta();
        results::SnapshotMeta {
            python_version: m.python_version.clone(),
            taken_at: m.taken_at,
            pid: m.pid,
        }
    }

    /// Node of the object whose `id()` is `address`, or None.
    fn node_of(&self, address: u64) -> Option<u32> {
        self.inner.node_of_address(address)
    }

    fn address(&self, node: u32) -> PyResult<u64> {
        Ok(self.inner.address(self.check(node)?))
    }

    fn type_name(&self, node: u32) -> PyResult<String> {
        Ok(self.inner.node_type_name(self.check(node)?).to_string())
    }

    fn shallow_size(&self, node: u32) -> PyResult<u64> {
        Ok(self.inner.shallow_size(self.check(node)?))
    }

    fn retained_size(&self, py: Python<'_>, node: u32) -> PyResult<u64> {
        let node = self.check(node)?;
        let inner = &self.inner;
        Ok(py.detach(|| inner.retained_size(node)))
    }

    /// Computes the dominator tree now (otherwise done by the first query needing it),
    /// with a progress line on stderr after `progress_delay` seconds, redrawn at most
    /// every `progress_interval` seconds (None: no line).
    #[pyo3(signature = (progress_delay = None, progress_interval = 0.1))]
    fn compute_dominators(
        &self,
        py: Python<'_>,
        progress_delay: Option<f64>,
        progress_interval: f64,
    ) {
        let inner = &self.inner;
        let schedule = schedule(progress_delay, progress_interval);
        py.detach(|| {
            let mut line = progress::step_line(|| "computing dominators".into(), schedule);
            inner.dominators_with_progress(&mut *line);
        });
    }

    /// Immediate dominator of `node`, or None when only the roots as a whole do.
    fn dominator(&self, py: Python<'_>, node: u32) -> PyResult<Option<u32>> {
        let node = self.check(node)?;
        let inner = &self.inner;
        Ok(py.detach(|| inner.dominators().idom(node)))
    }

    /// References to `node` found inside the heap, and those from outside it.
    fn reference_counts(&self, py: Python<'_>, node: u32) -> PyResult<results::ReferenceCounts> {
        let node = self.check(node)?;
        let inner = &self.inner;
        Ok(py.detach(|| results::ReferenceCounts {
            found: inner.reverse().referrers(node).len() as u64,
            outside: inner.outside_references(node),
        }))
    }

    /// Nodes that refer to `node`.
    fn referrers(&self, py: Python<'_>, node: u32) -> PyResult<Vec<u32>> {
        let node = self.check(node)?;
        let inner = &self.inner;
        Ok(py.detach(|| inner.reverse().referrers(node).to_vec()))
    }

    /// Each reference of `node`: its label and target node.
    fn references(&self, py: Python<'_>, node: u32) -> PyResult<Vec<Py<results::LabelledNode>>> {
        let node = self.check(node)?;
        let edges = self
            .inner
            .edges(node)
            .map(|(target, label)| results::LabelledNode {
                label: self.inner.label_text(label),
                node: target,
            });
        results::py_list(py, edges)
    }

    /// Count, shallow and retained bytes per type, most retained first.
    fn top_types(&self, py: Python<'_>) -> PyResult<Vec<Py<results::TypeTotals>>> {
        let inner = &self.inner;
        let types = py.detach(|| inner.top_types());
        let types = types.into_iter().map(|t| results::TypeTotals {
            name: t.name,
            count: t.count,
            shallow_bytes: t.shallow_bytes,
            retained_bytes: t.retained_bytes,
        });
        results::py_list(py, types)
    }

    /// The types that grew since `older`: count, count increase, bytes increase.
    fn growth(
        &self,
        py: Python<'_>,
        older: &PyHeapSnapshot,
    ) -> PyResult<Vec<Py<results::TypeGrowthInfo>>> {
        let (inner, older) = (&self.inner, &older.inner);
        let types = py.detach(|| inner.growth(older));
        let types = types.into_iter().map(|t| results::TypeGrowthInfo {
            name: t.name,
            count: t.count,
            count_delta: t.count_delta,
            bytes_delta: t.bytes_delta,
        });
        results::py_list(py, types)
    }

    /// What changed since `older`.
    fn diff(&self, py: Python<'_>, older: &PyHeapSnapshot) -> PyResult<results::HeapDiff> {
        let (inner, old) = (&self.inner, &older.inner);
        let diff = py.detach(|| inner.diff(old));
        let types = diff.types.into_iter().map(|t| results::TypeChangeInfo {
            name: t.name,
            count: t.count,
            count_delta: t.count_delta,
            bytes_delta: t.bytes_delta,
            added: t.added,
            added_bytes: t.added_bytes,
            removed: t.removed,
            removed_bytes: t.removed_bytes,
        });
        Ok(results::HeapDiff {
            added: diff.added,
            added_bytes: diff.added_bytes,
            removed: diff.removed,
            removed_bytes: diff.removed_bytes,
            types: results::py_list(py, types)?,
            new_cycle_groups: results::py_list(
                py,
                diff.new_cycle_groups.into_iter().map(cycle_group),
            )?,
        })
    }

    /// Nodes of the type called `name` (qualified, or the part after the last dot).
    fn nodes_of_type(&self, py: Python<'_>, name: &str) -> Vec<u32> {
        let inner = &self.inner;
        py.detach(|| inner.nodes_of_type(name))
    }

    /// The `n` largest retainers, with the bytes each retains.
    fn largest_retainers(&self, py: Python<'_>, n: usize) -> PyResult<Vec<Py<results::Retained>>> {
        let inner = &self.inner;
        let largest = py.detach(|| inner.largest_retainers(n));
        retained_list(py, largest)
    }

    /// The heap's cycle groups.
    fn cycle_groups(&self, py: Python<'_>) -> PyResult<Vec<Py<results::HeapCycleGroup>>> {
        let inner = &self.inner;
        let groups = py.detach(|| inner.cycle_groups());
        results::py_list(py, groups.into_iter().map(cycle_group))
    }

    /// Every root.
    fn roots(&self, py: Python<'_>) -> PyResult<Vec<Py<results::RootInfo>>> {
        let roots = self.inner.roots().iter();
        roots.map(|r| root_info(py, &self.inner, r)).collect()
    }

    /// The shortest chain from a named root to `node` and every root found that reaches
    /// it (nearest first), or None.
    #[pyo3(signature = (node, max_roots = 20))]
    fn why_alive(
        &self,
        py: Python<'_>,
        node: u32,
        max_roots: usize,
    ) -> PyResult<Option<results::RetentionPath>> {
        let node = self.check(node)?;
        let inner = &self.inner;
        let (path, roots) = py.detach(|| inner.why_alive(node, max_roots.max(1)));
        let Some(path) = path else {
            return Ok(None);
        };
        let steps = path.steps.iter().map(|s| results::LabelledNode {
            label: inner.label_text(s.label),
            node: s.node,
        });
        Ok(Some(results::RetentionPath {
            root: root_info(py, inner, &path.root)?,
            steps: results::py_list(py, steps)?,
            text: inner.path_text(&path),
            roots: roots
                .iter()
                .map(|r| root_info(py, inner, r))
                .collect::<PyResult<_>>()?,
        }))
    }

    /// Children of `node` in the dominator tree (None: the roots' level), largest first.
    #[pyo3(signature = (node = None, limit = 100))]
    fn dominated(
        &self,
        py: Python<'_>,
        node: Option<u32>,
        limit: usize,
    ) -> PyResult<Vec<Py<results::Retained>>> {
        if let Some(node) = node {
            self.check(node)?;
        }
        let inner = &self.inner;
        let children = py.detach(|| {
            let dominators = inner.dominators();
            let mut children: Vec<(u32, u64)> = dominators
                .preorder()
                .iter()
                .copied()
                .filter(|&v| dominators.idom(v) == node)
                .map(|v| (v, dominators.retained(v)))
                .collect();
            children.sort_by_key(|&(v, r)| (std::cmp::Reverse(r), v));
            children.truncate(limit);
            children
        });
        retained_list(py, children)
    }

    /// Children of each of `nodes` in the dominator tree, largest first, at most `limit`
    /// each: what `dominated` gives for one node, for many in one pass over the tree.
    fn dominated_each(
        &self,
        py: Python<'_>,
        nodes: Vec<u32>,
        limit: usize,
    ) -> PyResult<Vec<Vec<Py<results::Retained>>>> {
        for &node in &nodes {
            self.check(node)?;
        }
        let inner = &self.inner;
        let children = py.detach(|| {
            let dominators = inner.dominators();
            let mut slot: FxHashMap<u32, usize> = FxHashMap::default();
            for (i, &node) in nodes.iter().enumerate() {
                slot.entry(node).or_insert(i);
            }
            let mut children: Vec<Vec<(u32, u64)>> = vec![Vec::new(); nodes.len()];
            for &v in dominators.preorder() {
                if let Some(i) = dominators.idom(v).and_then(|d| slot.get(&d)) {
                    children[*i].push((v, dominators.retained(v)));
                }
            }
            for list in &mut children {
                list.sort_by_key(|&(v, r)| (std::cmp::Reverse(r), v));
                list.truncate(limit);
            }
            for (i, &node) in nodes.iter().enumerate() {
                let first = slot[&node];
                if first != i {
                    children[i] = children[first].clone();
                }
            }
            children
        });
        children
            .into_iter()
            .map(|list| retained_list(py, list))
            .collect()
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.save(&path))
            .map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))
    }

    fn export_heapsnapshot(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.export_heapsnapshot(&path))
            .map_err(|e| PyOSError::new_err(format!("{}: cannot write: {e}", path.display())))
    }

    /// What `save` (`"refscope"`) or `export_heapsnapshot` (`"heapsnapshot"`) would write.
    fn to_bytes<'py>(&self, py: Python<'py>, format: &str) -> PyResult<Bound<'py, PyBytes>> {
        let inner = &self.inner;
        let bytes = match format {
            "refscope" => py.detach(|| inner.to_bytes()),
            "heapsnapshot" => py
                .detach(|| {
                    let mut out = Vec::new();
                    inner.write_heapsnapshot(&mut out).map(|()| out)
                })
                .map_err(|e| PyOSError::new_err(format!("cannot export: {e}")))?,
            other => {
                return Err(PyValueError::new_err(format!(
                    "format must be 'refscope' or 'heapsnapshot', not {other:?}"
                )))
            }
        };
        Ok(PyBytes::new(py, &bytes))
    }
}

fn retained_list(py: Python<'_>, nodes: Vec<(u32, u64)>) -> PyResult<Vec<Py<results::Retained>>> {
    let nodes = nodes
        .into_iter()
        .map(|(node, retained)| results::Retained { node, retained });
    results::py_list(py, nodes)
}

/// When to draw a progress line: after `delay` seconds (None: never), then at most every
/// `interval` seconds.
fn schedule(delay: Option<f64>, interval: f64) -> Option<Schedule> {
    delay.map(|delay| Schedule { delay, interval })
}

/// Reads a snapshot file; a bad file raises ValueError naming the file and the fault.
/// A progress line as for `HeapSnapshot.compute_dominators`.
#[pyfunction]
#[pyo3(signature = (path, progress_delay = None, progress_interval = 0.1))]
fn load_heap_snapshot(
    py: Python<'_>,
    path: PathBuf,
    progress_delay: Option<f64>,
    progress_interval: f64,
) -> PyResult<PyHeapSnapshot> {
    let schedule = schedule(progress_delay, progress_interval);
    let result = py.detach(|| {
        let mut line = progress::step_line(|| format!("loading {}", path.display()), schedule);
        HeapSnapshot::load_with_progress(&path, &mut *line)
    });
    match result {
        Ok(inner) => Ok(PyHeapSnapshot {
            inner: Arc::new(inner),
        }),
        Err(refscope_core::snapshot::SnapshotFormatError::Io(message)) => {
            Err(PyOSError::new_err(format!("{}: {message}", path.display())))
        }
        Err(e) => Err(PyValueError::new_err(format!(
            "{}: not a readable refscope snapshot: {e}",
            path.display()
        ))),
    }
}

/// Walks the whole heap. `objects` is `gc.get_objects()`, `modules` is `sys.modules`,
/// `frames` is `[frame, label, ...]`; `probe` is an instance of a probe class (distinct
/// `__qualname__`) whose first attributes are `probe_names` = `probe_values`.
#[pyfunction]
#[pyo3(signature = (
    objects, modules, frames, probe, probe_names, probe_values, probe_frame,
    python_version, pid, taken_at, progress_delay = None, progress_interval = 0.1,
))]
#[allow(clippy::too_many_arguments)]
fn take_heap_snapshot(
    py: Python<'_>,
    objects: &Bound<'_, PyList>,
    modules: &Bound<'_, PyDict>,
    frames: &Bound<'_, PyList>,
    probe: &Bound<'_, PyAny>,
    probe_names: Vec<String>,
    probe_values: &Bound<'_, PyList>,
    probe_frame: &Bound<'_, PyAny>,
    python_version: String,
    pid: u32,
    taken_at: u64,
    progress_delay: Option<f64>,
    progress_interval: f64,
) -> PyResult<PyHeapSnapshot> {
    let minor = py.version_info().minor;
    let values = cpython::list_items(probe_values);
    let names: Vec<&str> = probe_names.iter().map(|s| s.as_str()).collect();
    let frame_layout = if probe_frame.is_none() {
        None
    } else {
        FrameLayout::discover(minor, probe_frame.as_obj(), &values)
            .map(|layout| (layout, layout.frame_type()))
    };
    let input = WalkInput {
        objects,
        modules,
        frames,
        frame_layout,
        minor,
        inline: InlineAttributes::discover(minor, probe.as_obj(), &names, &values),
        meta: SnapshotMeta {
            python_version,
            taken_at,
            pid,
        },
        progress: schedule(progress_delay, progress_interval),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| take_snapshot(&input)));
    match result {
        Ok(Ok(inner)) => Ok(PyHeapSnapshot {
            inner: Arc::new(inner),
        }),
        Ok(Err(HeapWalkError::Build(message))) => Err(crate::RefscopeError::new_err(message)),
        Ok(Err(HeapWalkError::Internal)) | Err(_) => Err(crate::RefscopeError::new_err(
            "internal error while walking the heap (a bug in refscope; please report it)",
        )),
    }
}

/// True when the fast locals of `frame` (executing, from `sys._getframe()`) can be read
/// on this CPython: its first locals must be `values`.
#[pyfunction]
fn heap_frame_layout_supported(
    py: Python<'_>,
    frame: &Bound<'_, PyAny>,
    values: &Bound<'_, PyList>,
) -> bool {
    let values = cpython::list_items(values);
    FrameLayout::discover(py.version_info().minor, frame.as_obj(), &values).is_some()
}

/// True when attribute names of inline (3.11+) instances can be read on this CPython.
#[pyfunction]
fn heap_inline_names_supported(
    py: Python<'_>,
    probe: &Bound<'_, PyAny>,
    probe_names: Vec<String>,
    probe_values: &Bound<'_, PyList>,
) -> bool {
    let values = cpython::list_items(probe_values);
    let names: Vec<&str> = probe_names.iter().map(|s| s.as_str()).collect();
    InlineAttributes::discover(py.version_info().minor, probe.as_obj(), &names, &values).is_some()
}

/// Adds the snapshot classes and functions to `refscope._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHeapSnapshot>()?;
    m.add_function(wrap_pyfunction!(take_heap_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(load_heap_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(heap_inline_names_supported, m)?)?;
    m.add_function(wrap_pyfunction!(heap_frame_layout_supported, m)?)?;
    Ok(())
}
