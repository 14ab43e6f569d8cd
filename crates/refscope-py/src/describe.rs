//! Safe descriptions of objects and labels of edges, for the objects on reported cycles.
//!
//! Everything is built from the type and the object's own C-level data; no user
//! `__repr__`, `__eq__`, `__hash__`, `__getattr__` or `__len__` runs. Attribute reads go
//! through `getattr` only on builtin types that cannot be subclassed (frame, function,
//! method, cell, code, traceback, generator), whose attributes are C getters.

use crate::cpython::{self, AsObj, DictSlot, ObjRef, TypeAttr, TypeFlags, TypeRef};
use crate::sizes::SizeRule;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use refscope_core::report::label::quote;
use refscope_core::report::{DictKey, EdgeLabel, LabelKind};
use refscope_core::report::{FrameInfo, ObjectKind, ObjectRecord, StackEntry};
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::rc::Rc;

/// Pointers to the builtin types refscope recognises, read once from the `types` module.
#[derive(Clone, Copy, Debug, Default)]
pub struct KnownTypes {
    pub frame: usize,
    pub function: usize,
    pub method: usize,
    pub cell: usize,
    pub code: usize,
    pub traceback: usize,
    pub generator: usize,
    pub coroutine: usize,
    pub async_generator: usize,
    pub set: usize,
    pub frozenset: usize,
    pub property: usize,
    pub staticmethod: usize,
    pub classmethod: usize,
    /// Minor version of the running CPython 3.
    pub minor: u8,
}

impl KnownTypes {
    pub fn load(py: Python<'_>) -> PyResult<Self> {
        let types = py.import("types")?;
        let get = |name: &str| -> PyResult<usize> { Ok(types.getattr(name)?.as_ptr() as usize) };
        let builtins = py.import("builtins")?;
        Ok(KnownTypes {
            frame: get("FrameType")?,
            function: get("FunctionType")?,
            method: get("MethodType")?,
            cell: get("CellType")?,
            code: get("CodeType")?,
            traceback: get("TracebackType")?,
            generator: get("GeneratorType")?,
            coroutine: get("CoroutineType")?,
            async_generator: get("AsyncGeneratorType")?,
            set: builtins.getattr("set")?.as_ptr() as usize,
            frozenset: builtins.getattr("frozenset")?.as_ptr() as usize,
            property: builtins.getattr("property")?.as_ptr() as usize,
            staticmethod: builtins.getattr("staticmethod")?.as_ptr() as usize,
            classmethod: builtins.getattr("classmethod")?.as_ptr() as usize,
            minor: py.version_info().minor,
        })
    }
}

/// What refscope caches per type while describing one report.
struct TypeFacts {
    /// How instances are sized (`sizes::SizeRule`).
    size_rule: SizeRule,
    /// Where instances keep their `__dict__` (read without creating it).
    dict_slot: DictSlot,
    name: String,
    qualname: String,
    flags: TypeFlags,
    kind: ObjectKind,
}

/// Describes objects and edges; caches per-type facts for one report.
pub struct Describer<'py> {
    py: Python<'py>,
    known: KnownTypes,
    types: FxHashMap<usize, Rc<TypeFacts>>,
    /// Interned attribute names.
    names: RefCell<FxHashMap<&'static str, Py<PyString>>>,
    /// Include frame locals in frame details.
    pub frame_locals: bool,
    /// May create an instance's `__dict__` (CPython 3.11+ keeps attributes inline until
    /// asked) to label an attribute that no other way finds. Only for garbage.
    pub materialise_dicts: bool,
    /// Per type: names its instances' attributes may have (see `attribute_candidates`).
    attribute_names: FxHashMap<usize, Rc<Vec<Py<PyString>>>>,
    /// When set (`repr_locals=True`), frame locals are shown with this guarded `repr()`
    /// (`refscope._saferepr.guarded_repr`) instead of safe descriptions.
    pub local_repr: Option<Bound<'py, PyAny>>,
    /// An exception that must reach the caller (`KeyboardInterrupt` from a user
    /// `__repr__`): describing stops adding reprs once it is set.
    pending_error: Option<PyErr>,
    /// What the analysed objects refer to may differ from what the walk saw: a frame's
    /// locals were read (CPython 3.10-3.12 write them into the frame's locals dict), or
    /// Python code that may do anything ran (a locals mapping's `items()`).
    pub changed_references: std::cell::Cell<bool>,
}

const MAX_STACK: usize = 64;
const MAX_LOCALS: usize = 64;

impl<'py> Describer<'py> {
    pub fn new(py: Python<'py>, known: KnownTypes) -> Self {
        Describer {
            py,
            known,
            types: FxHashMap::default(),
            names: RefCell::new(FxHashMap::default()),
            materialise_dicts: false,
            attribute_names: FxHashMap::default(),
            frame_locals: true,
            local_repr: None,
            pending_error: None,
            changed_references: std::cell::Cell::new(false),
        }
    }

    fn facts(&mut self, tp: TypeRef<'_>) -> Rc<TypeFacts> {
        let known = self.known;
        self.types
            .entry(tp.address())
            .or_insert_with(|| Rc::new(type_facts(tp, &known)))
            .clone()
    }

    /// The exception a user `__repr__` raised that must propagate (see `pending_error`).
    pub fn take_error(&mut self) -> Option<PyErr> {
        self.pending_error.take()
    }

    /// Qualified name of `obj`'s type.
    pub fn type_name(&mut self, obj: ObjRef<'_>) -> String {
        self.facts(cpython::type_of(obj)).name.clone()
    }

    /// Full record of an object on a cycle.
    pub fn record(&mut self, obj: ObjRef<'_>) -> ObjectRecord {
        let facts = self.facts(cpython::type_of(obj));
        let frame = (facts.kind == ObjectKind::Frame).then(|| self.frame_info(obj));
        ObjectRecord {
            address: obj.address() as u64,
            type_name: facts.name.clone(),
            description: self.description(obj, &facts, frame.as_ref()),
            size: self.shallow_size(obj, &facts),
            kind: facts.kind,
            has_finalizer: facts.flags.has_finalizer,
            frame,
            allocated_at: Vec::new(),
        }
    }

    /// What a cycle shows for an object it does not describe: its type's facts only.
    pub fn type_record(&mut self, obj: ObjRef<'_>) -> ObjectRecord {
        let facts = self.facts(cpython::type_of(obj));
        ObjectRecord {
            type_name: facts.name.clone(),
            kind: facts.kind,
            has_finalizer: facts.flags.has_finalizer,
            ..Default::default()
        }
    }

    fn bound(&self, obj: ObjRef<'_>) -> Bound<'py, PyAny> {
        obj.to_bound(self.py)
    }

    /// `getattr` for final builtin types only (see module docs).
    fn builtin_attr(&self, obj: ObjRef<'_>, name: &'static str) -> Option<Bound<'py, PyAny>> {
        // Attribute names are interned once per report: building a str per lookup cost
        // more than the lookup itself.
        let key = self
            .names
            .borrow_mut()
            .entry(name)
            .or_insert_with(|| PyString::intern(self.py, name).unbind())
            .clone_ref(self.py);
        self.bound(obj).getattr(key.bind(self.py)).ok()
    }

    fn builtin_attr_str(&self, obj: ObjRef<'_>, name: &'static str) -> Option<String> {
        self.builtin_attr(obj, name)
            .and_then(|v| cpython::str_text(v.as_obj()))
    }

    fn description(
        &mut self,
        obj: ObjRef<'_>,
        facts: &TypeFacts,
        frame: Option<&FrameInfo>,
    ) -> String {
        let f = &facts.flags;
        match facts.kind {
            ObjectKind::Frame => match frame {
                Some(info) => format!("frame {}", location(&info.location)),
                None => "frame".into(),
            },
            ObjectKind::Function => format!(
                "function {}",
                self.builtin_attr_str(obj, "__qualname__")
                    .unwrap_or_else(|| "?".into())
            ),
            ObjectKind::Method => {
                let func = self
                    .builtin_attr(obj, "__func__")
                    .and_then(|f| self.qualname_of_callable(f.as_obj()))
                    .unwrap_or_else(|| "?".into());
                let owner = self
                    .builtin_attr(obj, "__self__")
                    .map(|s| self.type_name(s.as_obj()))
                    .unwrap_or_else(|| "?".into());
                format!("bound method {func} of {owner} object")
            }
            ObjectKind::Cell => match self.builtin_attr(obj, "cell_contents") {
                Some(v) => format!("cell containing {}", self.type_name(v.as_obj())),
                None => "empty cell".into(),
            },
            ObjectKind::Code => {
                let name = self
                    .builtin_attr_str(obj, "co_qualname")
                    .or_else(|| self.builtin_attr_str(obj, "co_name"))
                    .unwrap_or_else(|| "?".into());
                let file = self
                    .builtin_attr_str(obj, "co_filename")
                    .unwrap_or_default();
                let line = self
                    .builtin_attr(obj, "co_firstlineno")
                    .and_then(|v| cpython::int_value(v.as_obj()));
                format!("code {name} at {file}:{}", line.unwrap_or(0))
            }
            ObjectKind::Traceback => {
                let line = self
                    .builtin_attr(obj, "tb_lineno")
                    .and_then(|v| cpython::int_value(v.as_obj()));
                let file = self
                    .builtin_attr(obj, "tb_frame")
                    .and_then(|fr| self.builtin_attr(fr.as_obj(), "f_code"))
                    .and_then(|code| self.builtin_attr_str(code.as_obj(), "co_filename"))
                    .unwrap_or_else(|| "?".into());
                format!("traceback {file}:{}", line.unwrap_or(0))
            }
            ObjectKind::Generator => format!(
                "{} {}",
                facts.qualname,
                self.builtin_attr_str(obj, "__qualname__")
                    .unwrap_or_else(|| "?".into())
            ),
            ObjectKind::Type => {
                let name = obj
                    .as_type()
                    .and_then(|cls| cpython::type_text(cls, TypeAttr::Qualname))
                    .unwrap_or_else(|| "?".into());
                format!("class {name}")
            }
            ObjectKind::Exception => {
                let message = cpython::exception_args(obj).and_then(|args| {
                    cpython::sequence_item(
                        args.as_obj(),
                        &TypeFlags {
                            is_tuple: true,
                            ..Default::default()
                        },
                        0,
                    )
                    .and_then(cpython::str_text)
                });
                match message {
                    Some(m) => format!("{} exception: {}", facts.qualname, quote(&m)),
                    None => format!("{} exception", facts.qualname),
                }
            }
            ObjectKind::Dict | ObjectKind::List | ObjectKind::Tuple | ObjectKind::Set => {
                let n = cpython::builtin_len(obj, f).unwrap_or(0);
                let unit = if f.is_dict {
                    if n == 1 {
                        "key"
                    } else {
                        "keys"
                    }
                } else {
                    "len"
                };
                if unit == "len" {
                    format!("{} (len {n})", facts.qualname)
                } else {
                    format!("{} ({n} {unit})", facts.qualname)
                }
            }
            ObjectKind::Instance => {
                let mut text = format!("{} object", facts.qualname);
                if let Some(n) = cpython::builtin_len(obj, f) {
                    text.push_str(&format!(" (len {n})"));
                }
                text
            }
            ObjectKind::Other => self.value_summary(obj, facts),
        }
    }

    fn qualname_of_callable(&self, obj: ObjRef<'_>) -> Option<String> {
        let tp = cpython::type_of(obj).address();
        if tp == self.known.function {
            self.builtin_attr_str(obj, "__qualname__")
        } else {
            None
        }
    }

    /// Short safe summary of a value (frame locals, dict keys of unknown objects).
    fn value_summary(&mut self, obj: ObjRef<'_>, facts: &TypeFacts) -> String {
        if let Some(literal) = cpython::singleton_literal(obj) {
            return literal.into();
        }
        if let Some(text) = cpython::str_text(obj) {
            return format!("{} {}", facts.qualname, quote(&text));
        }
        if let Some(v) = cpython::int_value(obj) {
            return format!("{} {v}", facts.qualname);
        }
        if let Some(v) = cpython::float_value(obj) {
            return format!("{} {v}", facts.qualname);
        }
        format!("{} object", facts.qualname)
    }

    /// One-line safe description of any object (used for frame locals).
    pub fn short(&mut self, obj: ObjRef<'_>) -> String {
        let facts = self.facts(cpython::type_of(obj));
        match facts.kind {
            ObjectKind::Frame => "frame".into(),
            ObjectKind::Other => self.value_summary(obj, &facts),
            _ => self.description(obj, &facts, None),
        }
    }

    fn shallow_size(&mut self, obj: ObjRef<'_>, facts: &TypeFacts) -> u64 {
        facts.size_rule.size(obj)
    }

    fn frame_info(&mut self, frame: ObjRef<'_>) -> FrameInfo {
        let location = self.frame_location(frame);
        let mut stack = vec![location.clone()];
        let mut current = if self.may_follow_f_back() {
            self.builtin_attr(frame, "f_back")
        } else {
            None
        };
        while let Some(f) = current {
            if f.is_none() || stack.len() >= MAX_STACK {
                break;
            }
            stack.push(self.frame_location(f.as_obj()));
            current = self.builtin_attr(f.as_obj(), "f_back");
        }
        let mut locals = Vec::new();
        if self.frame_locals {
            for (name, value) in self.frame_local_items(frame).into_iter().take(MAX_LOCALS) {
                let summary = match (&self.local_repr, &self.pending_error) {
                    (Some(function), None) => match crate::extras::guarded_repr(function, &value) {
                        Ok(text) => text,
                        Err(error) => {
                            self.pending_error = Some(error);
                            break;
                        }
                    },
                    _ => self.short(value.as_obj()),
                };
                locals.push((name, summary));
            }
        }
        FrameInfo {
            location,
            locals,
            stack,
        }
    }

    fn frame_location(&self, frame: ObjRef<'_>) -> StackEntry {
        let code = self.builtin_attr(frame, "f_code");
        let text = |name: &'static str| {
            code.as_ref()
                .and_then(|c| self.builtin_attr_str(c.as_obj(), name))
                .unwrap_or_else(|| "?".into())
        };
        let function = code
            .as_ref()
            .and_then(|c| self.builtin_attr_str(c.as_obj(), "co_qualname"))
            .unwrap_or_else(|| text("co_name"));
        StackEntry {
            filename: text("co_filename"),
            lineno: self
                .builtin_attr(frame, "f_lineno")
                .and_then(|v| cpython::int_value(v.as_obj()))
                .unwrap_or(0),
            function,
        }
    }

    /// `(name, value)` of a frame's locals. `frame.f_locals` is a dict (3.10–3.12) or a
    /// FrameLocalsProxy (3.13+); both are builtin mappings.
    fn frame_local_items(&self, frame: ObjRef<'_>) -> Vec<(String, Bound<'py, PyAny>)> {
        if !self.may_read_frame_locals() {
            return Vec::new();
        }
        self.changed_references.set(true);
        let Some(locals) = self.builtin_attr(frame, "f_locals") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Ok(dict) = locals.cast::<PyDict>() {
            for (k, v) in dict.iter() {
                out.push((
                    cpython::str_text(k.as_obj()).unwrap_or_else(|| "?".into()),
                    v,
                ));
            }
        } else {
            // A mapping of any type (3.13's FrameLocalsProxy, a class body's namespace):
            // its items() may be Python code.
            let pairs = locals
                .call_method0("items")
                .and_then(|items| items.try_iter());
            for pair in pairs.into_iter().flatten().flatten() {
                if let Ok(tuple) = pair.cast::<PyTuple>() {
                    if let (Ok(k), Ok(v)) = (tuple.get_item(0), tuple.get_item(1)) {
                        out.push((
                            cpython::str_text(k.as_obj()).unwrap_or_else(|| "?".into()),
                            v,
                        ));
                    }
                }
            }
        }
        out
    }

    /// Label of the edge `src → dst`; `prev` is the object before `src` on the cycle (it
    /// names closure variables: function → `__closure__` tuple → cell). `?` when unknown.
    pub fn edge_label(&mut self, prev: ObjRef<'_>, src: ObjRef<'_>, dst: ObjRef<'_>) -> EdgeLabel {
        let facts = self.facts(cpython::type_of(src));
        let label = match facts.kind {
            ObjectKind::Frame => self.frame_label(src, dst),
            ObjectKind::Function => self.function_label(src, dst),
            ObjectKind::Method => self.attr_label(src, dst, &["__self__", "__func__"]),
            ObjectKind::Cell => self.attr_label(src, dst, &["cell_contents"]),
            ObjectKind::Traceback => self.attr_label(src, dst, &["tb_frame", "tb_next"]),
            ObjectKind::Code => self.attr_label(
                src,
                dst,
                &["co_consts", "co_names", "co_filename", "co_name"],
            ),
            ObjectKind::Generator => {
                let frames: &[&'static str] = if self.may_read_generator_frame() {
                    &["gi_frame", "cr_frame", "ag_frame"]
                } else {
                    &[]
                };
                self.attr_label(src, dst, frames)
                    .or_else(|| {
                        self.attr_label(
                            src,
                            dst,
                            &["gi_code", "cr_code", "cr_await", "gi_yieldfrom"],
                        )
                    })
                    .or_else(|| self.generator_local_label(src, dst))
            }
            ObjectKind::Type => self.type_label(src, dst),
            _ => None,
        };
        if let Some(label) = label {
            return label;
        }
        if facts.flags.is_tuple && cpython::type_of(prev).address() == self.known.function {
            if let Some(label) = self.closure_label(prev, src, dst) {
                return label;
            }
        }
        self.container_label(src, dst, &facts)
            .unwrap_or_else(|| EdgeLabel::new(LabelKind::Unknown))
    }

    /// Label of a function's reference. `__dict__` and `__annotations__` are not read
    /// through their getters, which create an empty dict when there is none (funcobject.c,
    /// `func_get_dict`/`func_get_annotations`): the dict is read from its slot, and the
    /// only other dict func_traverse visits is then the annotations.
    fn function_label(&self, function: ObjRef<'_>, dst: ObjRef<'_>) -> Option<EdgeLabel> {
        let label = self.attr_label(
            function,
            dst,
            &[
                "__closure__",
                "__globals__",
                "__defaults__",
                "__kwdefaults__",
                "__code__",
                "__module__",
                "__doc__",
                "__name__",
                "__qualname__",
            ],
        );
        if label.is_some() {
            return label;
        }
        let own_dict =
            DictSlot::of(cpython::type_of(function), self.known.minor).materialised_dict(function);
        if own_dict == Some(dst) {
            Some(attribute("__dict__"))
        } else if cpython::is_exact_dict(dst) {
            Some(attribute("__annotations__"))
        } else {
            None
        }
    }

    /// Whether a frame's locals can be read without changing the heap: `frame.f_locals`
    /// on 3.10-3.12 writes a dict of the locals into the frame (PyFrame_FastToLocals), and
    /// `gi_frame` on 3.11+ creates a frame object for the generator's frame; 3.13 answers
    /// with a FrameLocalsProxy (PEP 667). For garbage (`materialise_dicts`) it is harmless.
    fn may_read_frame_locals(&self) -> bool {
        self.materialise_dicts || self.known.minor >= 13
    }

    fn may_read_generator_frame(&self) -> bool {
        self.materialise_dicts || self.known.minor == 10
    }

    /// Label of a generator's (coroutine's, async generator's) reference to a local
    /// variable of its suspended frame: since 3.11 the generator visits its frame's
    /// locals itself (gen_traverse -> _PyFrame_Traverse), so the edge is generator ->
    /// value, named by the frame's local.
    fn generator_local_label(&self, generator: ObjRef<'_>, dst: ObjRef<'_>) -> Option<EdgeLabel> {
        if !self.may_read_generator_frame() {
            return None;
        }
        let frame = ["gi_frame", "cr_frame", "ag_frame"]
            .iter()
            .find_map(|name| self.builtin_attr(generator, name))?;
        if frame.is_none() || cpython::type_of(frame.as_obj()).address() != self.known.frame {
            return None;
        }
        let items = self.frame_local_items(frame.as_obj());
        if let Some((name, _)) = items.iter().find(|(_, v)| v.as_obj() == dst) {
            return Some(EdgeLabel::new(LabelKind::GeneratorLocal(name.clone())));
        }
        if cpython::type_of(dst).address() == self.known.cell {
            let contents = self.builtin_attr(dst, "cell_contents")?;
            let (name, _) = items
                .iter()
                .find(|(_, v)| v.as_obj() == contents.as_obj())?;
            return Some(EdgeLabel::new(LabelKind::GeneratorCell(name.clone())));
        }
        None
    }

    fn attr_label(
        &self,
        src: ObjRef<'_>,
        dst: ObjRef<'_>,
        names: &[&'static str],
    ) -> Option<EdgeLabel> {
        names.iter().find_map(|name| {
            let value = self.builtin_attr(src, name)?;
            (value.as_obj() == dst).then(|| attribute(name))
        })
    }

    fn frame_label(&self, frame: ObjRef<'_>, dst: ObjRef<'_>) -> Option<EdgeLabel> {
        if let Some(label) = self.attr_label(
            frame,
            dst,
            &["f_code", "f_globals", "f_builtins", "f_trace"],
        ) {
            return Some(label);
        }
        if self.may_follow_f_back() {
            if let Some(label) = self.attr_label(frame, dst, &["f_back"]) {
                return Some(label);
            }
        }
        let items = self.frame_local_items(frame);
        if let Some((name, _)) = items.iter().find(|(_, v)| v.as_obj() == dst) {
            return Some(EdgeLabel::new(LabelKind::Local(name.clone())));
        }
        // A cell variable: the frame holds the cell, f_locals shows its contents.
        if cpython::type_of(dst).address() == self.known.cell {
            if let Some(contents) = self.builtin_attr(dst, "cell_contents") {
                if let Some((name, _)) = items.iter().find(|(_, v)| v.as_obj() == contents.as_obj())
                {
                    return Some(EdgeLabel::new(LabelKind::Cell(name.clone())));
                }
            }
        }
        if self.may_read_frame_locals() {
            return self.attr_label(frame, dst, &["f_locals"]);
        }
        None
    }

    /// `frame.f_back` on 3.11+ creates a frame object for the caller's frame when it has
    /// none yet (PyFrame_GetBack -> _PyFrame_GetFrameObject): harmless for garbage only.
    fn may_follow_f_back(&self) -> bool {
        self.materialise_dicts || self.known.minor == 10
    }

    fn type_label(&self, cls: ObjRef<'_>, dst: ObjRef<'_>) -> Option<EdgeLabel> {
        let attrs = [
            (TypeAttr::Mro, "__mro__"),
            (TypeAttr::Bases, "__bases__"),
            (TypeAttr::Base, "__base__"),
            (TypeAttr::Module, "__module__"),
        ];
        let cls = cls.as_type()?;
        for (attr, name) in attrs {
            if let Some(value) = cpython::type_attr(cls, attr) {
                if value.as_obj() == dst {
                    return Some(attribute(name));
                }
            }
        }
        // type_traverse (Objects/typeobject.c) visits tp_dict, tp_cache (always NULL),
        // tp_mro, tp_bases, tp_base and ht_module; the only dict among them is tp_dict.
        if cpython::is_exact_dict(dst) {
            return Some(attribute("__dict__"));
        }
        None
    }

    fn closure_label(
        &self,
        function: ObjRef<'_>,
        tuple: ObjRef<'_>,
        dst: ObjRef<'_>,
    ) -> Option<EdgeLabel> {
        let closure = self.builtin_attr(function, "__closure__")?;
        if closure.as_obj() != tuple {
            return None;
        }
        let closure = closure.cast::<PyTuple>().ok()?;
        let position = closure.iter().position(|cell| cell.as_obj() == dst)?;
        let names = self
            .builtin_attr(function, "__code__")?
            .getattr("co_freevars")
            .ok()?;
        let name = names.cast::<PyTuple>().ok()?.get_item(position).ok()?;
        Some(EdgeLabel::new(LabelKind::ClosureVariable {
            index: position as u64,
            name: cpython::str_text(name.as_obj())?,
        }))
    }

    /// Labels for dicts, lists, tuples, sets, exceptions and instances (any subclass).
    fn container_label(
        &mut self,
        src: ObjRef<'_>,
        dst: ObjRef<'_>,
        facts: &TypeFacts,
    ) -> Option<EdgeLabel> {
        let flags = &facts.flags;
        if flags.is_dict {
            if let Some(label) = self.dict_label(src, dst) {
                return Some(label);
            }
        }
        if flags.is_list || flags.is_tuple {
            let n = cpython::builtin_len(src, flags).unwrap_or(0);
            if let Some(i) = (0..n).find(|&i| cpython::sequence_item(src, flags, i) == Some(dst)) {
                return Some(EdgeLabel::new(LabelKind::Index(i as u64)));
            }
        }
        let tp = cpython::type_of(src).address();
        if tp == self.known.set || tp == self.known.frozenset {
            return Some(EdgeLabel::new(LabelKind::SetElement));
        }
        if flags.is_exception {
            for (name, link) in cpython::exception_links(src) {
                if link.is_some_and(|p| p.as_obj() == dst) {
                    return Some(attribute(name));
                }
            }
            if cpython::exception_args(src).is_some_and(|args| args.as_obj() == dst) {
                return Some(".args".into());
            }
        }
        let mut found = None;
        cpython::for_each_member_slot(src, |name, value| {
            if value == Some(dst) {
                found = Some(attribute(name));
                false
            } else {
                true
            }
        });
        if found.is_some() {
            return found;
        }
        if flags.is_heap_type {
            if let Some(label) = self.attribute_label(src, dst, facts) {
                return Some(label);
            }
            if cpython::type_of(src).as_object() == dst {
                return Some(attribute("__class__"));
            }
        }
        None
    }

    /// Label of an instance → attribute-value edge, without creating the instance dict
    /// unless `materialise_dicts` allows it: an existing dict is read; otherwise each name
    /// the class's code may assign (`attribute_candidates`) is looked up in the instance
    /// itself (`PyObject_GenericGetAttr` reads inline attribute values as they are).
    fn attribute_label(
        &mut self,
        src: ObjRef<'_>,
        dst: ObjRef<'_>,
        facts: &TypeFacts,
    ) -> Option<EdgeLabel> {
        let by_key = |this: &mut Self, dict: ObjRef<'_>| -> Option<EdgeLabel> {
            if dict == dst {
                return Some(attribute("__dict__"));
            }
            // An instance dict's value: `.name`, or `.__dict__['my name']` for a name
            // that is not an identifier (or a key that is not a str). The dict's key
            // itself (rare) keeps the dict's own label.
            let (key, is_value) = this.dict_entry(dict, dst)?;
            Some(EdgeLabel::new(match key {
                DictKey::Str(name) if is_value && is_identifier(&name) => {
                    LabelKind::Attribute(name)
                }
                key if is_value => LabelKind::InstanceDictValue(key),
                key => LabelKind::DictKey(key),
            }))
        };
        if let Some(dict) = facts.dict_slot.materialised_dict(src) {
            // Borrowed from the instance, which the caller keeps alive.
            return by_key(self, dict);
        }
        let candidates = self.attribute_candidates(cpython::type_of(src));
        for name in candidates.iter() {
            let name = name.bind(self.py);
            if let Some(value) = cpython::generic_getattr_object(src, name) {
                if value.as_obj() == dst {
                    return cpython::str_text(name.as_obj()).map(|n| attribute(&n));
                }
            }
        }
        if self.materialise_dicts {
            if let Some(dict) = cpython::instance_dict(src) {
                return by_key(self, dict.as_obj());
            }
        }
        None
    }

    /// Names that instances of `tp` may hold as attributes, read from the class without
    /// running its code: the names its methods' code objects use (`co_names`, which holds
    /// every `self.x = ...`), `__static_attributes__` (3.13+), and class attributes. Names
    /// bound to a data descriptor, or to a descriptor class written in Python, are left out:
    /// looking them up would run code instead of reading the instance.
    fn attribute_candidates(&mut self, tp: TypeRef<'_>) -> Rc<Vec<Py<PyString>>> {
        if let Some(names) = self.attribute_names.get(&(tp.address())) {
            return names.clone();
        }
        let mut ordered: Vec<Bound<'py, PyAny>> = Vec::new();
        let mut blocked: Vec<Bound<'py, PyAny>> = Vec::new();
        if let Some(mro) = cpython::type_attr(tp, TypeAttr::Mro) {
            let mro = mro.unbind().into_bound(self.py);
            if let Ok(classes) = mro.cast::<PyTuple>() {
                for cls in classes.iter() {
                    self.collect_class_names(&cls, &mut ordered, &mut blocked);
                }
            }
        }
        let blocked: Vec<String> = blocked
            .iter()
            .filter_map(|b| cpython::str_text(b.as_obj()))
            .collect();
        let mut seen = rustc_hash::FxHashSet::default();
        let names: Vec<Py<PyString>> = ordered
            .into_iter()
            .filter_map(|name| {
                let text = cpython::str_text(name.as_obj())?;
                if blocked.contains(&text) || !seen.insert(text.clone()) || text.starts_with("__") {
                    return None;
                }
                Some(PyString::intern(self.py, &text).unbind())
            })
            .collect();
        let names = Rc::new(names);
        self.attribute_names.insert(tp.address(), names.clone());
        names
    }

    fn collect_class_names(
        &self,
        cls: &Bound<'py, PyAny>,
        names: &mut Vec<Bound<'py, PyAny>>,
        blocked: &mut Vec<Bound<'py, PyAny>>,
    ) {
        let Some(dict) = cls.as_obj().as_type().and_then(cpython::class_dict) else {
            return;
        };
        // Strong references first: what follows calls C getters, and nothing borrowed
        // from the dict may be used across a call.
        let mut pairs = Vec::new();
        cpython::for_each_dict_item(dict, |key, value| {
            pairs.push((self.bound(key), self.bound(value)));
            true
        });
        for (key, value) in pairs {
            let value_type = cpython::type_of(value.as_obj());
            let (get, set) = cpython::descriptor_slots(value_type);
            // Looking a name up in an instance calls the class attribute's `__get__` when
            // the instance has no value of its own: a data descriptor always, any other
            // descriptor (classmethod chains to its function's `__get__` on 3.10-3.12,
            // user descriptors) then. Only plain functions (a C `__get__` that binds) stay.
            let plain_function = value_type.address() == self.known.function;
            if set || (get && !plain_function) {
                blocked.push(key);
                continue;
            }
            names.push(key.clone());
            if cpython::str_text(key.as_obj()).as_deref() == Some("__static_attributes__") {
                if let Ok(tuple) = value.cast::<PyTuple>() {
                    names.extend(tuple.iter());
                }
                continue;
            }
            for function in self.functions_in(&value) {
                if let Some(code) = self.builtin_attr(function.as_obj(), "__code__") {
                    self.code_names(&code, names, 0);
                }
            }
        }
    }

    /// The plain functions a class attribute holds: itself, or the functions inside a
    /// staticmethod, classmethod or property.
    fn functions_in(&self, value: &Bound<'py, PyAny>) -> Vec<Bound<'py, PyAny>> {
        let tp = cpython::type_of(value.as_obj()).address();
        if tp == self.known.function {
            return vec![value.clone()];
        }
        let parts: &[&'static str] =
            if tp == self.known.staticmethod || tp == self.known.classmethod {
                &["__func__"]
            } else if tp == self.known.property {
                &["fget", "fset", "fdel"]
            } else {
                &[]
            };
        parts
            .iter()
            .filter_map(|part| self.builtin_attr(value.as_obj(), part))
            .filter(|f| cpython::type_of(f.as_obj()).address() == self.known.function)
            .collect()
    }

    /// `co_names` of a code object and of the code objects nested in it (closures,
    /// comprehensions), a few levels deep.
    fn code_names(
        &self,
        code: &Bound<'py, PyAny>,
        names: &mut Vec<Bound<'py, PyAny>>,
        depth: usize,
    ) {
        if depth > 3 || cpython::type_of(code.as_obj()).address() != self.known.code {
            return;
        }
        if let Some(co_names) = self.builtin_attr(code.as_obj(), "co_names") {
            if let Ok(tuple) = co_names.cast::<PyTuple>() {
                names.extend(tuple.iter());
            }
        }
        if let Some(consts) = self.builtin_attr(code.as_obj(), "co_consts") {
            if let Ok(tuple) = consts.cast::<PyTuple>() {
                for inner in tuple.iter() {
                    self.code_names(&inner, names, depth + 1);
                }
            }
        }
    }

    fn dict_label(&mut self, dict: ObjRef<'_>, dst: ObjRef<'_>) -> Option<EdgeLabel> {
        let (key, is_value) = self.dict_entry(dict, dst)?;
        Some(EdgeLabel::new(if is_value {
            LabelKind::DictValue(key)
        } else {
            LabelKind::DictKey(key)
        }))
    }

    /// The key under which `dict` holds `dst`, and whether `dst` is the value (else the key).
    fn dict_entry(&mut self, dict: ObjRef<'_>, dst: ObjRef<'_>) -> Option<(DictKey, bool)> {
        let mut hit: Option<(ObjRef<'_>, bool)> = None;
        cpython::for_each_dict_item(dict, |key, value| {
            if value == dst {
                hit = Some((key, true));
            } else if key == dst {
                hit = Some((key, false));
            }
            hit.is_none()
        });
        let (key, is_value) = hit?;
        // The key is borrowed from the dict, which the caller keeps alive; reading it
        // runs no Python code.
        Some((self.dict_key(key), is_value))
    }

    /// Safe form of a dict key: str and int shown, anything else by type.
    fn dict_key(&mut self, key: ObjRef<'_>) -> DictKey {
        if let Some(text) = cpython::str_text(key) {
            return DictKey::Str(text);
        }
        if let Some(v) = cpython::int_value(key) {
            return DictKey::Int(v);
        }
        if let Some(literal) = cpython::singleton_literal(key) {
            return DictKey::Literal(literal);
        }
        DictKey::Other(self.type_name(key))
    }
}

/// The label of attribute (or C-level field) `name`: `.name`.
fn attribute(name: &str) -> EdgeLabel {
    EdgeLabel::new(LabelKind::Attribute(name.to_owned()))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn location(entry: &StackEntry) -> String {
    format!("{}:{} in {}", entry.filename, entry.lineno, entry.function)
}

fn type_facts(tp: TypeRef<'_>, known: &KnownTypes) -> TypeFacts {
    let flags = TypeFlags::of(tp);
    // Read through `type`'s own descriptors: a metaclass cannot shadow them (cpython.rs).
    let qualname = cpython::type_text(tp, TypeAttr::Qualname).unwrap_or_else(|| "?".into());
    let module = cpython::type_text(tp, TypeAttr::Module).unwrap_or_default();
    let name = if module.is_empty() || module == "builtins" {
        qualname.clone()
    } else {
        format!("{module}.{qualname}")
    };
    let t = tp.address();
    let kind = if flags.is_type {
        ObjectKind::Type
    } else if t == known.frame {
        ObjectKind::Frame
    } else if t == known.function {
        ObjectKind::Function
    } else if t == known.method {
        ObjectKind::Method
    } else if t == known.cell {
        ObjectKind::Cell
    } else if t == known.code {
        ObjectKind::Code
    } else if t == known.traceback {
        ObjectKind::Traceback
    } else if t == known.generator || t == known.coroutine || t == known.async_generator {
        ObjectKind::Generator
    } else if flags.is_exception {
        ObjectKind::Exception
    } else if flags.is_heap_type {
        ObjectKind::Instance
    } else if flags.is_dict {
        ObjectKind::Dict
    } else if flags.is_list {
        ObjectKind::List
    } else if flags.is_tuple {
        ObjectKind::Tuple
    } else if t == known.set || t == known.frozenset {
        ObjectKind::Set
    } else {
        ObjectKind::Other
    };
    TypeFacts {
        size_rule: SizeRule::of(tp, known.minor),
        dict_slot: if flags.is_heap_type && !flags.is_type {
            DictSlot::of(tp, known.minor)
        } else {
            DictSlot::NONE
        },
        name,
        qualname,
        flags,
        kind,
    }
}
