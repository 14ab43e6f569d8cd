//! Fix hints: which edge of a cycle to break, how, and why.
//!
//! Decided from object kinds, type names and edge labels alone (all already in the
//! report), most specific pattern first:
//!
//! 1. an exception, traceback or frame on the cycle: the frame's local that holds the
//!    exception (`del exc`), else the exception's `.__traceback__`
//!    (`traceback.clear_frames` / `exc.__traceback__ = None`), else the frame's local;
//! 2. a bound method stored (directly or in a container) on its own `__self__`: store a
//!    `weakref.WeakMethod` instead; likewise a closure that captured the object storing
//!    it: capture a `weakref.ref`;
//! 3. an object with a finaliser (a resource holder: files, sockets, user classes with
//!    `__del__`): release it with a context manager, and break the cycle with a weak
//!    reference on the back-pointer, or else on the edge into it;
//! 4. a back-pointer between instances (`.parent`, `.owner`, ... or the plain attribute
//!    opposite a container of children): make the back edge a `weakref.ref`;
//! 5. any other cycle through an instance: a `weakref.ref` on the edge into the cycle's
//!    first object (the earliest analysed, which in `gc.garbage` order is usually the
//!    earliest created: the owner); a class's own cycle (`__mro__`, `__dict__`): nothing to fix per se.

use super::{CycleRecord, DictKey, EdgeLabel, LabelKind, ObjectKind, ObjectRecord, Report};

/// What to do about one group of cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixHint {
    /// Edge to break: the reference from the example cycle's object `edge_index` to the
    /// next object (`labels[edge_index]` of the example).
    pub edge_index: u32,
    /// That edge's label.
    pub label: String,
    /// Stable machine-readable name of the fix (see [`FixKind::as_str`]).
    pub fix: FixKind,
    /// What to change, in one or two sentences.
    pub advice: String,
    /// Why that edge.
    pub why: String,
}

/// The kinds of fix refscope suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixKind {
    /// `del exc` in the `except` block, or `traceback.clear_frames`.
    DeleteException,
    /// `traceback.clear_frames(tb)` or `exc.__traceback__ = None`.
    ClearTraceback,
    /// Delete or clear a frame's local variable.
    ClearFrameLocal,
    /// Store `weakref.WeakMethod(obj.method)` instead of the bound method.
    WeakMethod,
    /// Capture `weakref.ref(obj)` in the closure instead of the object.
    WeakClosure,
    /// Make a back-pointer a `weakref.ref`.
    WeakBackReference,
    /// Release the resource with a context manager and drop the reference.
    ContextManager,
    /// A weak reference on the edge (no better-known pattern matched).
    WeakReference,
    /// A namespace dict made for `exec`/`compile` holds functions whose `__globals__` is
    /// that dict: clear or reuse the namespace.
    ClearNamespace,
    /// A nested function that calls itself by name captures its own cell.
    SelfRecursiveClosure,
    /// The cycle is part of how Python works (classes); nothing to break.
    NoneNeeded,
}

impl FixKind {
    /// Stable lower-case name, used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FixKind::DeleteException => "del-exception",
            FixKind::ClearTraceback => "clear-traceback",
            FixKind::ClearFrameLocal => "clear-frame-local",
            FixKind::WeakMethod => "weakmethod",
            FixKind::WeakClosure => "weak-closure",
            FixKind::WeakBackReference => "weakref-back-reference",
            FixKind::ContextManager => "context-manager",
            FixKind::WeakReference => "weakref",
            FixKind::ClearNamespace => "clear-namespace",
            FixKind::SelfRecursiveClosure => "self-recursive-closure",
            FixKind::NoneNeeded => "none-needed",
        }
    }
}

/// Attribute names that usually point back at an owner.
const BACK_POINTER_WORDS: &[&str] = &[
    "parent",
    "owner",
    "container",
    "manager",
    "master",
    "prev",
    "previous",
    "back",
    "outer",
    "holder",
    "creator",
];

struct Walk<'a> {
    report: &'a Report,
    cycle: &'a CycleRecord,
    /// The positions whose step differs from the one before: where the object, its
    /// label or the next object changes. Every rule's test reads only those three, so a
    /// position that is not listed answers as the one before it, and a search for the
    /// first match looks at these alone (a ring of a million links of one class has a
    /// few hundred: its described prefix, and one run of stand-ins).
    starts: Vec<u32>,
}

impl<'a> Walk<'a> {
    fn new(report: &'a Report, cycle: &'a CycleRecord) -> Self {
        let objects = &cycle.objects;
        let len = objects.len().min(cycle.labels.len());
        let next = |p: usize| objects[if p + 1 == len { 0 } else { p + 1 }];
        // A new run of labels is a new label (clones of one label share their run).
        let mut starts = Vec::new();
        let mut run_start = 0;
        for (_, count) in cycle.labels.runs_with_counts() {
            let run_end = (run_start + count).min(len);
            for p in run_start..run_end {
                if p == run_start || objects[p] != objects[p - 1] || next(p) != objects[p] {
                    starts.push(p as u32);
                }
            }
            run_start = run_end;
        }
        Walk {
            report,
            cycle,
            starts,
        }
    }
    fn len(&self) -> usize {
        self.cycle.objects.len()
    }
    /// `position` on the cycle (callers step at most one past the end). A compare, not a
    /// division: the rules scan a million-step ring a dozen times.
    #[inline]
    fn wrap(&self, position: usize) -> usize {
        let len = self.len();
        if position < len {
            position
        } else {
            position % len
        }
    }
    fn object(&self, position: usize) -> &'a ObjectRecord {
        self.report.object(self.cycle.objects[self.wrap(position)])
    }
    fn label(&self, position: usize) -> &'a EdgeLabel {
        &self.cycle.labels[self.wrap(position)]
    }
    fn next(&self, position: usize) -> &'a ObjectRecord {
        self.object(position + 1)
    }
    /// The first position where `pred` holds. `pred` may read the position's object,
    /// its label and the next object (see `starts`).
    fn find(&self, pred: impl Fn(usize) -> bool) -> Option<usize> {
        self.starts.iter().map(|&p| p as usize).find(|&p| pred(p))
    }
    /// The edge into the object at `position`: where that object is stored.
    fn storing_edge(&self, position: usize) -> usize {
        (position + self.len() - 1) % self.len()
    }
}

/// The attribute an edge label names: `.child` gives `child` (leading underscores kept:
/// `._parent` is `_parent`), `.__dict__['my parent']` gives `my parent` (set with
/// `setattr`).
fn attribute_name(label: &EdgeLabel) -> Option<&str> {
    label.attribute_name()
}

/// The local variable a frame's (or a suspended generator's) label names.
fn local_name(label: &EdgeLabel) -> Option<&str> {
    match label.kind() {
        LabelKind::Local(name) | LabelKind::GeneratorLocal(name) => Some(name),
        _ => None,
    }
}

/// Python source that reads attribute `name` of `owner`: `owner.name`, or
/// `getattr(owner, 'my parent')` when the name is not an identifier.
fn attribute_access(owner: &str, name: &str) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_alphabetic())
        && name.chars().all(|c| c == '_' || c.is_alphanumeric());
    if identifier {
        format!("{owner}.{name}")
    } else {
        // The label already holds the key escaped as a Python string literal's body.
        format!("getattr({owner}, '{name}')")
    }
}

fn names_back_pointer(label: &EdgeLabel) -> bool {
    let Some(name) = attribute_name(label) else {
        // `['parent']` on a dict is as telling as `.parent`.
        return matches!(label.kind(), LabelKind::DictValue(DictKey::Str(key))
            if BACK_POINTER_WORDS.iter().any(|w| key.eq_ignore_ascii_case(w)));
    };
    // `parent`, `_parent`, `tree_parent`: the word alone or after an underscore.
    BACK_POINTER_WORDS.iter().any(|w| {
        name.len() >= w.len()
            && name.as_bytes()[name.len() - w.len()..].eq_ignore_ascii_case(w.as_bytes())
            && (name.len() == w.len() || name.as_bytes()[name.len() - w.len() - 1] == b'_')
    })
}

/// `Type.attr` for attribute edges, `Type[0]` otherwise: how a reader finds the edge in code.
fn edge_text(from: &ObjectRecord, label: &EdgeLabel) -> String {
    let attached = matches!(
        label.kind(),
        LabelKind::Attribute(_)
            | LabelKind::InstanceDictValue(_)
            | LabelKind::DictValue(_)
            | LabelKind::Index(_)
            | LabelKind::ClosureVariable { .. }
    );
    if attached {
        format!("{}{label}", short_type(from))
    } else {
        format!("{label} of the {}", short_type(from))
    }
}

fn short_type(object: &ObjectRecord) -> &str {
    object
        .type_name
        .rsplit('.')
        .next()
        .unwrap_or(&object.type_name)
}

fn is_container(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::List
            | ObjectKind::Dict
            | ObjectKind::Tuple
            | ObjectKind::Set
            | ObjectKind::Cell
    )
}

/// The edge that points back at an owner: an instance attribute named like a back-pointer
/// (`.parent`, `.owner`...), else, in an owner -> container -> part -> owner cycle, the
/// part's plain attribute that goes straight to another instance.
fn back_pointer(walk: &Walk<'_>) -> Option<usize> {
    let instance = |p: usize| walk.object(p).kind == ObjectKind::Instance;
    if walk.len() < 2 {
        return None;
    }
    // Consecutive steps usually share one label (a ring of one class): judge it once.
    let last: std::cell::Cell<Option<(*const str, bool)>> = std::cell::Cell::new(None);
    let back = |label: &EdgeLabel| {
        let text: *const str = label.as_str();
        match last.get() {
            Some((seen, answer)) if std::ptr::eq(seen, text) => answer,
            _ => {
                let answer = names_back_pointer(label);
                last.set(Some((text, answer)));
                answer
            }
        }
    };
    walk.find(|p| instance(p) && back(walk.label(p)))
        .or_else(|| {
            walk.find(|p| is_container(walk.next(p).kind))?;
            walk.find(|p| instance(p) && instance(p + 1))
        })
}

/// The hint for one cycle (in practice: a group's example cycle).
pub fn hint_for(report: &Report, cycle: &CycleRecord) -> Option<FixHint> {
    let walk = Walk::new(report, cycle);
    if walk.len() == 0 {
        return None;
    }
    let make = |position: usize, fix: FixKind, advice: String, why: String| FixHint {
        edge_index: position as u32,
        label: walk.label(position).to_string(),
        fix,
        advice,
        why,
    };
    let kind_at = |p: usize| walk.object(p).kind;

    // 1. Exceptions, tracebacks and frames.
    let has_exception_machinery = walk
        .find(|p| {
            matches!(
                kind_at(p),
                ObjectKind::Exception | ObjectKind::Traceback | ObjectKind::Frame
            )
        })
        .is_some();
    if has_exception_machinery {
        if let Some(p) = walk.find(|p| {
            kind_at(p) == ObjectKind::Frame
                && matches!(walk.label(p).kind(), LabelKind::Local(_))
                && walk.next(p).kind == ObjectKind::Exception
        }) {
            let name = local_name(walk.label(p)).unwrap_or("?");
            return Some(make(
                p,
                FixKind::DeleteException,
                format!(
                    "`del {name}` once you are done with the exception (e.g. in a `finally:`), or call \
                     `traceback.clear_frames({name}.__traceback__)` before keeping it"
                ),
                format!(
                    "the exception's `__traceback__` refers to this frame, and the frame's local `{name}` refers back \
                     to the exception; `except E as {name}` deletes the name by itself, a copy into another local \
                     or attribute does not"
                ),
            ));
        }
        if let Some(p) = walk.find(|p| {
            kind_at(p) == ObjectKind::Exception && walk.label(p).is_attribute("__traceback__")
        }) {
            return Some(make(
                p,
                FixKind::ClearTraceback,
                "clear the traceback of a stored exception: `exc.__traceback__ = None` (or keep \
                 `exc.with_traceback(None)`), or call `traceback.clear_frames(exc.__traceback__)` first"
                    .into(),
                "a traceback keeps every frame it passed through alive, with all their locals; one of them \
                 refers back to this exception"
                    .into(),
            ));
        }
        if let Some(p) = walk.find(|p| {
            kind_at(p) == ObjectKind::Frame && matches!(walk.label(p).kind(), LabelKind::Local(_))
        }) {
            let name = local_name(walk.label(p)).unwrap_or("?");
            return Some(make(
                p,
                FixKind::ClearFrameLocal,
                format!(
                    "`del {name}` (or set it to None) before the frame is kept, or clear kept frames with \
                     `traceback.clear_frames(tb)` / `frame.clear()`"
                ),
                format!(
                    "something keeps this frame alive (a traceback, a generator, `sys._getframe()`), and the \
                     frame's local `{name}` leads back to it"
                ),
            ));
        }
    }

    // 1b. A suspended generator or coroutine whose own frame local leads back to it (an
    // asyncio Task kept in its coroutine's local: `me = asyncio.current_task()`).
    if let Some(p) = walk.find(|p| matches!(walk.label(p).kind(), LabelKind::GeneratorLocal(_))) {
        let name = local_name(walk.label(p)).unwrap_or("?");
        return Some(make(
            p,
            FixKind::ClearFrameLocal,
            format!(
                "don't keep `{name}` in the suspended {}'s own locals: `del {name}` (or set it to None) before \
                 the next `await`/`yield`, or fetch it when needed (`asyncio.current_task()`) instead of holding it",
                short_type(walk.object(p))
            ),
            format!(
                "while a generator or coroutine is suspended its frame keeps every local alive, and the local \
                 `{name}` leads back to the {} itself (an asyncio Task holds its coroutine)",
                short_type(walk.object(p))
            ),
        ));
    }

    // 2. Bound methods and closures stored on their own object.
    if let Some(p) =
        walk.find(|p| kind_at(p) == ObjectKind::Method && walk.label(p).is_attribute("__self__"))
    {
        let store = walk.storing_edge(p);
        let owner = walk.next(p);
        return Some(make(
            store,
            FixKind::WeakMethod,
            format!(
                "store `weakref.WeakMethod(...)` instead of the bound method at `{}` and call it as \
                 `ref = {}; method = ref(); method and method(...)`",
                walk.label(store),
                attribute_access("self", attribute_name(walk.label(store)).unwrap_or("callback"))
            ),
            format!(
                "a bound method holds a strong reference to its `__self__` (a {} object), and it is stored on \
                 that same object (or in something it owns)",
                short_type(owner)
            ),
        ));
    }
    // A nested function that calls itself: function -> closure -> its own cell -> function.
    let only_closure_parts = walk
        .find(|p| {
            !matches!(
                kind_at(p),
                ObjectKind::Function | ObjectKind::Tuple | ObjectKind::Cell
            )
        })
        .is_none();
    if let (true, Some(p)) = (
        only_closure_parts,
        walk.find(|p| matches!(walk.label(p).kind(), LabelKind::ClosureVariable { .. })),
    ) {
        let name = match walk.label(p).kind() {
            LabelKind::ClosureVariable { name, .. } => name.as_str(),
            _ => "?",
        };
        return Some(make(
            p,
            FixKind::SelfRecursiveClosure,
            format!(
                "the nested function `{name}` calls itself by name, so it captures its own cell: define it \
                 at module level (or as a method), pass it to itself as an argument, or set `{name} = None` in \
                 the enclosing function once it is no longer needed"
            ),
            format!(
                "a closure keeps the cells of the names it uses alive, and the cell of `{name}` holds the \
                 function itself: every call of the enclosing function leaves one such cycle"
            ),
        ));
    }
    if let Some(p) = walk
        .find(|p| kind_at(p) == ObjectKind::Function && walk.label(p).is_attribute("__closure__"))
    {
        let store = walk.storing_edge(p);
        return Some(make(
            store,
            FixKind::WeakClosure,
            format!(
                "in the function stored at `{}`, capture `weakref.ref(obj)` (and dereference it on each call) \
                 instead of the object itself, or store a bound method through `weakref.WeakMethod`",
                walk.label(store)
            ),
            "a closure keeps every variable it captured alive through its cells; one of them is the object \
             that stores the function"
                .into(),
        ));
    }

    // 3. Finalisers: resource holders (files, sockets and user classes with `__del__`).
    if let Some(p) = walk.find(|p| walk.object(p).has_finalizer) {
        let holder = walk.object(p);
        let into = back_pointer(&walk).unwrap_or((p + walk.len() - 1) % walk.len());
        return Some(make(
            into,
            FixKind::ContextManager,
            format!(
                "release the {} deterministically: give it `close()` / `__enter__` / `__exit__` and use it in a \
                 `with` block (or `contextlib.closing`), and make `{}` a `weakref.ref` so the cycle disappears",
                short_type(holder),
                edge_text(walk.object(into), walk.label(into))
            ),
            format!(
                "{} has a finaliser (`__del__`), the mark of an object that releases something; in a cycle \
                 it runs only when the cyclic collector gets to it, at an unpredictable time, instead of when \
                 its last user is done",
                short_type(holder)
            ),
        ));
    }

    // 4. Back-pointers between instances.
    let instances = walk.find(|p| kind_at(p) == ObjectKind::Instance).is_some();
    if let Some(p) = back_pointer(&walk) {
        let (from, to) = (walk.object(p), walk.next(p));
        let access = attribute_access("self", attribute_name(walk.label(p)).unwrap_or("parent"));
        return Some(make(
            p,
            FixKind::WeakBackReference,
            format!(
                "make `{}` a `weakref.ref` to the {} (store `weakref.ref(owner)`, read it as `{access}()`), \
                 or a `weakref.proxy`",
                edge_text(from, walk.label(p)),
                short_type(to)
            ),
            format!(
                "`{}` points back at a {} that already holds this {} through the rest of the cycle; the owner \
                 should keep its parts alive, not the reverse",
                walk.label(p),
                short_type(to),
                short_type(from)
            ),
        ));
    }

    // 5. A namespace made for exec()/compile(): dict ['f'] -> function .__globals__ -> dict.
    if let Some(p) = walk.find(|p| {
        kind_at(p) == ObjectKind::Function
            && walk.label(p).is_attribute("__globals__")
            && walk.next(p).kind == ObjectKind::Dict
    }) {
        let namespace = (p + 1) % walk.len();
        return Some(make(
            namespace,
            FixKind::ClearNamespace,
            "the dict is the global namespace of functions defined in it (with `exec` or `compile`): reuse \
             one namespace instead of making one per call, or `namespace.clear()` when its functions are no \
             longer needed"
                .into(),
            "a function refers to its module's namespace through `__globals__`, and the namespace refers to \
             the function by name; a real module lives for ever, a namespace made for `exec` becomes a cycle \
             of garbage when dropped"
                .into(),
        ));
    }

    // 6. Anything else.
    if walk.find(|p| kind_at(p) == ObjectKind::Type).is_some() {
        let p = walk.find(|p| kind_at(p) == ObjectKind::Type).unwrap_or(0);
        return Some(make(
            p,
            FixKind::NoneNeeded,
            "nothing to break: every class is in a cycle with its own `__mro__` and `__dict__`; if many are \
             reported, create classes once instead of on every call"
                .into(),
            "a class refers to itself through its method resolution order and its attributes by design".into(),
        ));
    }
    if instances {
        let into = walk.len() - 1;
        let why = if walk.len() == 1 {
            "the object refers to itself; a weak reference does not keep it alive".to_owned()
        } else {
            format!(
                "this edge closes the cycle back to the {} refscope starts it at; any one edge can be made \
                 weak, choose the one that does not own its target",
                short_type(walk.object(0))
            )
        };
        return Some(make(
            into,
            FixKind::WeakReference,
            format!(
                "make `{}` a `weakref.ref` (or `weakref.proxy`), or delete it when it is no longer needed",
                edge_text(walk.object(into), walk.label(into))
            ),
            why,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(type_name: &str, kind: ObjectKind) -> ObjectRecord {
        ObjectRecord {
            type_name: type_name.into(),
            kind,
            ..Default::default()
        }
    }

    /// Test setup only: the typed label a binding would build for this text.
    fn typed_label(text: &str) -> EdgeLabel {
        let kind = if let Some(name) = text.strip_prefix("generator frame local ") {
            LabelKind::GeneratorLocal(name.into())
        } else if let Some(name) = text.strip_prefix("local ") {
            LabelKind::Local(name.into())
        } else if let Some(rest) = text.strip_prefix(".__dict__['") {
            LabelKind::InstanceDictValue(DictKey::Str(rest.trim_end_matches("']").into()))
        } else if let Some(name) = text.strip_prefix('.') {
            LabelKind::Attribute(name.into())
        } else if let Some(key) = text.strip_prefix("['") {
            LabelKind::DictValue(DictKey::Str(key.trim_end_matches("']").into()))
        } else if let Some((index, name)) = text.split_once("] closure var ") {
            LabelKind::ClosureVariable {
                index: index.trim_start_matches('[').parse().unwrap_or(0),
                name: name.into(),
            }
        } else if let Some(i) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            LabelKind::Index(i.parse().unwrap_or(0))
        } else {
            LabelKind::Text(text.into())
        };
        let label = EdgeLabel::new(kind);
        assert_eq!(label.as_str(), text, "typed_label builds the same text");
        label
    }

    fn cycle(objects: Vec<ObjectRecord>, labels: &[&str]) -> (Report, CycleRecord) {
        let cycle = CycleRecord {
            objects: (0..objects.len() as u32).collect(),
            labels: labels.iter().map(|l| typed_label(l)).collect(),
            component_size: objects.len() as u64,
        };
        (
            Report {
                objects,
                cycles: vec![cycle.clone()],
                ..Default::default()
            },
            cycle,
        )
    }

    fn hint(objects: Vec<ObjectRecord>, labels: &[&str]) -> FixHint {
        let (report, cycle) = cycle(objects, labels);
        hint_for(&report, &cycle).expect("a hint")
    }

    #[test]
    fn exception_held_by_a_frame_local_is_deleted() {
        let h = hint(
            vec![
                object("frame", ObjectKind::Frame),
                object("ValueError", ObjectKind::Exception),
                object("traceback", ObjectKind::Traceback),
            ],
            &["local err", ".__traceback__", ".tb_frame"],
        );
        assert_eq!((h.edge_index, h.fix), (0, FixKind::DeleteException));
        assert!(h.advice.contains("del err"), "{}", h.advice);
    }

    #[test]
    fn stored_exception_has_its_traceback_cleared() {
        let h = hint(
            vec![
                object("m.Job", ObjectKind::Instance),
                object("ValueError", ObjectKind::Exception),
                object("traceback", ObjectKind::Traceback),
                object("frame", ObjectKind::Frame),
            ],
            &[".error", ".__traceback__", ".tb_frame", "local self"],
        );
        assert_eq!(
            (h.edge_index, h.label.as_str(), h.fix),
            (1, ".__traceback__", FixKind::ClearTraceback)
        );
    }

    #[test]
    fn bound_method_on_its_own_object_becomes_a_weakmethod() {
        let h = hint(
            vec![
                object("m.Button", ObjectKind::Instance),
                object("method", ObjectKind::Method),
            ],
            &[".on_click", ".__self__"],
        );
        assert_eq!(
            (h.edge_index, h.label.as_str(), h.fix),
            (0, ".on_click", FixKind::WeakMethod)
        );
        assert!(h.advice.contains("WeakMethod"));
    }

    #[test]
    fn bound_method_in_a_list_of_handlers_breaks_at_the_list() {
        let h = hint(
            vec![
                object("m.Emitter", ObjectKind::Instance),
                object("list", ObjectKind::List),
                object("method", ObjectKind::Method),
            ],
            &[".handlers", "[0]", ".__self__"],
        );
        assert_eq!(
            (h.edge_index, h.label.as_str(), h.fix),
            (1, "[0]", FixKind::WeakMethod)
        );
    }

    #[test]
    fn parent_attribute_is_the_back_pointer() {
        let h = hint(
            vec![
                object("m.Tree", ObjectKind::Instance),
                object("m.Node", ObjectKind::Instance),
            ],
            &[".root_node", ".parent"],
        );
        assert_eq!(
            (h.edge_index, h.label.as_str(), h.fix),
            (1, ".parent", FixKind::WeakBackReference)
        );
        assert!(h.advice.contains("weakref.ref"));
    }

    #[test]
    fn unnamed_edge_back_to_the_first_object_is_the_one_to_weaken() {
        let h = hint(
            vec![
                object("m.Tree", ObjectKind::Instance),
                object("m.Node", ObjectKind::Instance),
            ],
            &[".root", ".tree"],
        );
        assert_eq!(
            (h.edge_index, h.label.as_str(), h.fix),
            (1, ".tree", FixKind::WeakReference)
        );
        assert!(h.advice.contains("`Node.tree`"), "{}", h.advice);
    }

    #[test]
    fn edge_opposite_a_children_list_is_the_back_pointer() {
        let h = hint(
            vec![
                object("m.Folder", ObjectKind::Instance),
                object("list", ObjectKind::List),
                object("m.File", ObjectKind::Instance),
            ],
            &[".items", "[3]", ".folder"],
        );
        assert_eq!(
            (h.edge_index, h.label.as_str(), h.fix),
            (2, ".folder", FixKind::WeakBackReference)
        );
    }

    #[test]
    fn finaliser_cycle_gets_a_context_manager() {
        let mut conn = object("m.Connection", ObjectKind::Instance);
        conn.has_finalizer = true;
        let h = hint(
            vec![conn, object("m.Cursor", ObjectKind::Instance)],
            &[".cursor", ".conn"],
        );
        assert_eq!(h.fix, FixKind::ContextManager);
        assert!(h.advice.contains("with"), "{}", h.advice);
        assert!(h.why.contains("__del__"), "{}", h.why);
    }

    #[test]
    fn back_pointer_words_match_whole_words_of_any_name() {
        assert!(names_back_pointer(&typed_label(".parent")));
        assert!(names_back_pointer(&typed_label("._parent")));
        assert!(names_back_pointer(&typed_label(".tree_parent")));
        assert!(names_back_pointer(&typed_label("['owner']")));
        assert!(!names_back_pointer(&typed_label(".grandparents")));
        assert!(!names_back_pointer(&typed_label(".transparent")));
        assert!(!names_back_pointer(&typed_label(".é")));
        assert!(!names_back_pointer(&typed_label(".pärent")));
    }

    #[test]
    fn self_reference_gets_a_weak_reference() {
        let h = hint(vec![object("m.Node", ObjectKind::Instance)], &[".me"]);
        assert_eq!((h.edge_index, h.fix), (0, FixKind::WeakReference));
    }

    #[test]
    fn class_cycles_need_no_fix_and_list_self_loops_get_no_hint() {
        let h = hint(
            vec![
                object("type", ObjectKind::Type),
                object("tuple", ObjectKind::Tuple),
            ],
            &[".__mro__", "[0]"],
        );
        assert_eq!(h.fix, FixKind::NoneNeeded);
        let (report, c) = cycle(vec![object("list", ObjectKind::List)], &["[0]"]);
        assert_eq!(hint_for(&report, &c), None);
    }
}
