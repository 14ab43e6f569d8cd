//! The report model: what refscope found, as plain data, and its renderers.
//!
//! The binding fills a [`Report`] with strings it built safely from CPython objects
//! (type names, descriptions, edge labels); nothing here refers to a live object, so a
//! report can outlive the objects it describes and be rendered at leisure.

pub use label::{DictKey, EdgeLabel, LabelKind, LabelRuns, LabelSteps};
pub use thin_vec::{thin_vec, ThinVec};

pub mod dot;
pub mod groups;
pub mod hints;
pub mod html;
pub mod json;
pub mod label;
pub mod layered;
#[cfg(feature = "png")]
pub mod png;
pub mod signature;
pub mod svg;
pub mod text;

// Shared by the renderers above (none of which imports another).
pub mod format;
pub mod style;

/// One line of a call stack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackEntry {
    pub filename: String,
    pub lineno: i64,
    pub function: String,
}

/// What the report knows about a frame object in a cycle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrameInfo {
    /// Where the frame is: its code's file, current line and function.
    pub location: StackEntry,
    /// Local variable name and its safe description, in the frame's order.
    pub locals: Vec<(String, String)>,
    /// The frame and its callers (innermost first), following `f_back`.
    pub stack: Vec<StackEntry>,
}

/// The broad kind of an object, which decides how it is drawn and which fix applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObjectKind {
    /// Instance of a class defined in Python (a heap type).
    Instance,
    Frame,
    Function,
    Method,
    Cell,
    Dict,
    List,
    Tuple,
    Set,
    Type,
    Code,
    Traceback,
    Exception,
    Generator,
    #[default]
    Other,
}

impl ObjectKind {
    /// Stable lower-case name, used in JSON and CSS classes.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Instance => "instance",
            ObjectKind::Frame => "frame",
            ObjectKind::Function => "function",
            ObjectKind::Method => "method",
            ObjectKind::Cell => "cell",
            ObjectKind::Dict => "dict",
            ObjectKind::List => "list",
            ObjectKind::Tuple => "tuple",
            ObjectKind::Set => "set",
            ObjectKind::Type => "type",
            ObjectKind::Code => "code",
            ObjectKind::Traceback => "traceback",
            ObjectKind::Exception => "exception",
            ObjectKind::Generator => "generator",
            ObjectKind::Other => "other",
        }
    }
}

/// One object that lies on a reported cycle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectRecord {
    /// `id()` of the object when it was analysed (may be reused once it is freed).
    pub address: u64,
    /// Qualified type name: `module.QualName`, or just the name for builtins.
    pub type_name: String,
    /// Safe one-line description built without running user code.
    pub description: String,
    /// Shallow size in bytes (an estimate of `sys.getsizeof` without running `__sizeof__`).
    pub size: u64,
    pub kind: ObjectKind,
    /// The type defines `__del__` (tp_finalize) or a legacy tp_del.
    pub has_finalizer: bool,
    pub frame: Option<FrameInfo>,
    /// Allocation traceback from tracemalloc, innermost last; empty when not traced.
    pub allocated_at: Vec<StackEntry>,
}

/// One reported cycle: `objects[i]` refers to `objects[(i + 1) % len]` through `labels[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CycleRecord {
    /// Indexes into [`Report::objects`]. Thin vectors (one pointer, nothing allocated
    /// while empty): a report of a million two-object cycles holds a record per cycle,
    /// most of them never described, so the record's size is paid per object.
    pub objects: ThinVec<u32>,
    /// Edge labels, typed (see [`label`]): `.attr`, `['key']`, `[0]`, `local x`, `?`...,
    /// as runs of one label (see [`LabelRuns`]).
    pub labels: LabelRuns,
    /// Number of objects in the strongly connected component this cycle represents.
    pub component_size: u64,
}

/// Everything one analysis found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub objects: Vec<ObjectRecord>,
    pub cycles: Vec<CycleRecord>,
    /// Distinct objects analysed.
    pub analysed_count: u64,
    /// References found between analysed objects.
    pub edge_count: u64,
}

impl Report {
    /// Objects that lie in some cyclic component (not just on the representative cycle).
    pub fn objects_in_cycles(&self) -> u64 {
        self.cycles.iter().map(|c| c.component_size).sum()
    }

    /// The object record at `index`.
    pub fn object(&self, index: u32) -> &ObjectRecord {
        &self.objects[index as usize]
    }

    /// True when the cycle holds an object with a finaliser.
    pub fn cycle_has_finalizer(&self, cycle: &CycleRecord) -> bool {
        cycle.objects.iter().any(|&i| self.object(i).has_finalizer)
    }
}
