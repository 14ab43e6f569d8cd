//! All of refscope's CPython-internal knowledge and every `unsafe` block of the binding.
//!
//! The crate root denies `unsafe_code`; this module alone is allowed it, and clippy's
//! `undocumented_unsafe_blocks` makes every block name the CPython source it relies on.
//! Checked against CPython 3.10, 3.11, 3.12 and 3.13 (`Objects/typeobject.c`,
//! `Modules/gcmodule.c`, `Include/descrobject.h`...). Everything here uses the limited API
//! (abi3, cp310+): type slots are read with `PyType_GetSlot`, which accepts static types
//! since 3.10.
//!
//! # Handles instead of pointers
//!
//! No function outside this module sees a raw object pointer it could dereference. Objects
//! are passed as [`ObjRef`] and types as [`TypeRef`]: `Copy` handles, one pointer wide,
//! that hold a [`Python`] token (so they only exist while the GIL is held, and cannot
//! cross `Python::detach`, being `!Send`) and a lifetime within which the object is alive.
//! Safe code makes them only from a `&Bound` (the borrow keeps the object alive), from a
//! `&Py` bound to the GIL, or from another handle: a type from its instance
//! ([`type_of`]), a borrowed item from its container ([`list_items`],
//! [`for_each_dict_item`], [`for_each_referent`]...), which then gets the container's
//! lifetime. Such a borrowed item stays alive while its container holds it; code in this
//! crate runs no Python code (which could change the container) between reading borrowed
//! items and using them, or takes its own reference first ([`ObjRef::to_bound`]).
//!
//! Facts that are only valid for one type (a `__dict__` offset, a member slot offset, the
//! traversal function, the item size) are tied to the exact type they were read from and
//! checked against the object's type before each read ([`DictSlot`], [`ObjectMember`],
//! [`TraverseSlots`], [`VarSize`], [`InlineValues`]): a mix-up is a missed fact, never a
//! read out of bounds.
//!
//! Rules every function here keeps:
//! * No user code runs: no `__repr__`, `__eq__`, `__hash__`, `__getattr__`, `__len__`,
//!   `__iter__` or `__sizeof__` of a user class. Only C functions of builtin types and the
//!   objects' own `tp_traverse` are called.
//! * A `NULL` result with an exception set is cleared here and becomes `None`.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use std::ffi::{c_int, c_void, CStr};
use std::marker::PhantomData;
use std::os::raw::c_char;
use std::ptr::NonNull;

// Parts that use the handles below (submodules see this module's private items).
pub mod direct_sizeof;
pub mod free_garbage;
pub mod permanent_generation;

// ---------------------------------------------------------------------------------------
// Handles.
// ---------------------------------------------------------------------------------------

/// A borrowed reference to an object that is alive for `'py`, usable while the GIL is
/// held (see the module docs).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct ObjRef<'py> {
    ptr: NonNull<ffi::PyObject>,
    _gil: PhantomData<(&'py ffi::PyObject, Python<'py>)>,
}

impl<'a, 'b> PartialEq<ObjRef<'b>> for ObjRef<'a> {
    /// Identity (`is`), never `__eq__`.
    #[inline]
    fn eq(&self, other: &ObjRef<'b>) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for ObjRef<'_> {}

impl std::fmt::Debug for ObjRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjRef({:#x})", self.address())
    }
}

impl<'py> ObjRef<'py> {
    /// The object `obj` holds, for as long as `obj` is borrowed.
    #[inline]
    pub fn of<T>(obj: &'py Bound<'_, T>) -> Self {
        // SAFETY: a Bound owns a strong reference, so its pointer is non-null and the
        // object outlives the borrow; holding a Bound proves the GIL is held.
        unsafe { ObjRef::from_raw(obj.as_ptr()) }
    }

    /// # Safety
    /// `ptr` is non-null, the GIL is held for `'py`, and the object stays alive for `'py`.
    #[inline]
    unsafe fn from_raw(ptr: *mut ffi::PyObject) -> Self {
        debug_assert!(!ptr.is_null());
        ObjRef {
            // SAFETY: the caller guarantees a non-null pointer.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _gil: PhantomData,
        }
    }

    /// `None` for NULL, else as [`ObjRef::from_raw`].
    ///
    /// # Safety
    /// As [`ObjRef::from_raw`], for a non-null `ptr`.
    #[inline]
    unsafe fn from_nullable(ptr: *mut ffi::PyObject) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| ObjRef {
            ptr,
            _gil: PhantomData,
        })
    }

    /// The object's address (`id()`). Using it as a pointer needs `unsafe`.
    #[inline]
    pub fn as_ptr(self) -> *mut ffi::PyObject {
        self.ptr.as_ptr()
    }

    /// The object's address (`id()`), as a number.
    #[inline]
    pub fn address(self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// A new strong reference of the caller's own (the GIL is held: `py` says so).
    #[inline]
    pub fn to_bound<'p>(self, py: Python<'p>) -> Bound<'p, PyAny> {
        // SAFETY: the object is alive (the handle's invariant) and `py` proves the GIL;
        // from_borrowed_ptr takes a new reference, which lives on its own.
        unsafe { Bound::from_borrowed_ptr(py, self.as_ptr()) }
    }

    /// The GIL token: the handle exists only while the GIL is held.
    #[inline]
    pub fn py(self) -> Python<'py> {
        // SAFETY: a handle is only made while the GIL is held for its lifetime (see
        // ObjRef::of and from_raw).
        unsafe { Python::assume_attached() }
    }

    /// The object as a class, when it is one (instance of `type` or of a metaclass).
    #[inline]
    pub fn as_type(self) -> Option<TypeRef<'py>> {
        is_type(self).then(|| TypeRef {
            ptr: self.ptr.cast(),
            _gil: PhantomData,
        })
    }
}

/// `bound.as_obj()` for `ObjRef::of(&bound)`.
pub trait AsObj {
    fn as_obj(&self) -> ObjRef<'_>;
}

impl<T> AsObj for Bound<'_, T> {
    #[inline]
    fn as_obj(&self) -> ObjRef<'_> {
        ObjRef::of(self)
    }
}

/// A class (type object) that is alive for `'py`, usable while the GIL is held.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct TypeRef<'py> {
    ptr: NonNull<ffi::PyTypeObject>,
    _gil: PhantomData<(&'py ffi::PyTypeObject, Python<'py>)>,
}

impl<'a, 'b> PartialEq<TypeRef<'b>> for TypeRef<'a> {
    #[inline]
    fn eq(&self, other: &TypeRef<'b>) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for TypeRef<'_> {}

impl<'py> TypeRef<'py> {
    /// # Safety
    /// `tp` is non-null, the GIL is held for `'py`, and the type stays alive for `'py`.
    #[inline]
    unsafe fn from_raw(tp: *mut ffi::PyTypeObject) -> Self {
        debug_assert!(!tp.is_null());
        TypeRef {
            // SAFETY: the caller guarantees a non-null pointer.
            ptr: unsafe { NonNull::new_unchecked(tp) },
            _gil: PhantomData,
        }
    }

    /// The `object` type.
    pub fn object(_py: Python<'py>) -> Self {
        // SAFETY: PyBaseObject_Type is a static type of the interpreter (Objects/
        // typeobject.c), alive while the interpreter is; `_py` proves the GIL.
        unsafe { TypeRef::from_raw(std::ptr::addr_of_mut!(ffi::PyBaseObject_Type)) }
    }

    /// The `type` type.
    pub fn type_type(_py: Python<'py>) -> Self {
        // SAFETY: PyType_Type is a static type of the interpreter (Objects/typeobject.c).
        unsafe { TypeRef::from_raw(std::ptr::addr_of_mut!(ffi::PyType_Type)) }
    }

    #[inline]
    fn as_ptr(self) -> *mut ffi::PyTypeObject {
        self.ptr.as_ptr()
    }

    /// The class as an object.
    #[inline]
    pub fn as_object(self) -> ObjRef<'py> {
        ObjRef {
            ptr: self.ptr.cast(),
            _gil: PhantomData,
        }
    }

    /// The class's address (`id()`), as a number.
    #[inline]
    pub fn address(self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

/// Type of `obj`; a class outlives its instances.
#[inline]
pub fn type_of(obj: ObjRef<'_>) -> TypeRef<'_> {
    // SAFETY: `obj` is alive, so its header is readable (Py_TYPE, Include/object.h). An
    // instance of a heap type holds a reference to its type (`_PyObject_Init` increfs
    // it, subtype_dealloc drops it after freeing the instance: Objects/typeobject.c,
    // 3.10-3.13); static types live as long as the interpreter.
    unsafe { TypeRef::from_raw(ffi::Py_TYPE(obj.as_ptr())) }
}

/// `tp_flags` of a type.
#[inline]
pub fn type_flags(tp: TypeRef<'_>) -> u64 {
    // SAFETY: `tp` is a live type object; PyType_GetFlags (Objects/typeobject.c) only
    // reads tp_flags.
    unsafe { ffi::PyType_GetFlags(tp.as_ptr()) as u64 }
}

fn slot(tp: TypeRef<'_>, id: c_int) -> *mut c_void {
    // SAFETY: PyType_GetSlot (Objects/typeobject.c) accepts static and heap types since
    // 3.10 and returns NULL for an unset slot; an invalid id sets SystemError, and only
    // the slot constants of Include/typeslots.h are passed here.
    unsafe { ffi::PyType_GetSlot(tp.as_ptr(), id) }
}

// ---------------------------------------------------------------------------------------
// Traversal.
// ---------------------------------------------------------------------------------------

/// The C function gc calls to list the references of instances of one type, and the
/// `tp_is_gc` hook that says whether a particular instance takes part in gc (only type
/// objects have one).
#[derive(Clone, Copy)]
pub struct TraverseSlots {
    /// The exact type these slots were read from.
    type_address: usize,
    traverse: Option<ffi::traverseproc>,
    is_gc: Option<ffi::inquiry>,
}

impl TraverseSlots {
    /// Reads the traversal slots of `tp`.
    pub fn of(tp: TypeRef<'_>) -> Self {
        if type_flags(tp) & (ffi::Py_TPFLAGS_HAVE_GC as u64) == 0 {
            // Like gc.get_referents: objects without Py_TPFLAGS_HAVE_GC are leaves.
            return TraverseSlots {
                type_address: tp.address(),
                traverse: None,
                is_gc: None,
            };
        }
        let traverse = slot(tp, ffi::Py_tp_traverse);
        let is_gc = slot(tp, ffi::Py_tp_is_gc);
        // SAFETY: the Py_tp_traverse and Py_tp_is_gc slots hold functions of exactly
        // these signatures (traverseproc, inquiry: Include/object.h, 3.10-3.13).
        unsafe {
            TraverseSlots {
                type_address: tp.address(),
                traverse: (!traverse.is_null())
                    .then(|| std::mem::transmute::<*mut c_void, ffi::traverseproc>(traverse)),
                is_gc: (!is_gc.is_null())
                    .then(|| std::mem::transmute::<*mut c_void, ffi::inquiry>(is_gc)),
            }
        }
    }

    /// True when `tp` has a `tp_is_gc` hook (whether an instance is a gc object is then
    /// decided per instance: only type objects have one).
    pub fn has_is_gc(tp: TypeRef<'_>) -> bool {
        !slot(tp, ffi::Py_tp_is_gc).is_null()
    }

    /// Calls `visit(referent, arg)` for each object `obj` refers to, as gc does.
    ///
    /// # Safety
    /// `self` must be the slots of `obj`'s type; `visit` must not run Python code, must not
    /// free objects and must return 0 unless stopping; `arg` must be what `visit` expects.
    #[inline]
    unsafe fn traverse(&self, obj: ObjRef<'_>, visit: ffi::visitproc, arg: *mut c_void) {
        let Some(traverse) = self.traverse else {
            return;
        };
        if let Some(is_gc) = self.is_gc {
            // Static type objects are not gc objects: type_traverse() aborts the process
            // (even in release builds) when called on one. Modules/gcmodule.c checks
            // _PyObject_IS_GC, i.e. this hook, before traversing; so do we.
            // SAFETY: is_gc is the type's tp_is_gc, called on an instance of that type.
            if unsafe { is_gc(obj.as_ptr()) } == 0 {
                return;
            }
        }
        // SAFETY: traverse is obj's tp_traverse; the caller guarantees the visit contract.
        unsafe { traverse(obj.as_ptr(), visit, arg) };
    }
}

/// Calls `each(referent)` for every reference `obj` holds, through its `tp_traverse`;
/// `slots` are those of `obj`'s type (`Err` otherwise: a bug in the caller).
///
/// Each referent is borrowed from `obj` (which holds it), hence its lifetime. `each` runs
/// inside CPython's traversal, so it must not call Python code. A panic in `each` is
/// caught here (it must not unwind through C) and reported as `Err`.
#[inline]
pub fn for_each_referent<'py, F: FnMut(ObjRef<'py>)>(
    slots: &TraverseSlots,
    obj: ObjRef<'py>,
    each: &mut F,
) -> Result<(), ()> {
    struct State<'a, F> {
        each: &'a mut F,
        panicked: bool,
    }
    unsafe extern "C" fn visit<'py, F: FnMut(ObjRef<'py>)>(
        referent: *mut ffi::PyObject,
        arg: *mut c_void,
    ) -> c_int {
        // SAFETY: arg is the &mut State passed below, alive for the whole traversal.
        let state = unsafe { &mut *(arg as *mut State<'_, F>) };
        // SAFETY: tp_traverse reports the references its object holds (Py_VISIT skips
        // NULL ones, Include/objimpl.h); a referent lives while the object holds it, and
        // the object lives for 'py.
        let Some(referent) = (unsafe { ObjRef::from_nullable(referent) }) else {
            return 0;
        };
        let each = &mut *state.each;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| each(referent))) {
            Ok(()) => 0,
            Err(_) => {
                state.panicked = true;
                1 // a non-zero return stops the traversal
            }
        }
    }
    if slots.type_address != type_of(obj).address() {
        return Err(());
    }
    let mut state = State {
        each,
        panicked: false,
    };
    // SAFETY: the slots are obj's type's (checked above); `visit` runs no Python code and
    // returns 0 unless stopping; `state` outlives the call.
    unsafe {
        slots.traverse(
            obj,
            visit::<F>,
            &mut state as *mut State<'_, F> as *mut c_void,
        )
    };
    if state.panicked {
        Err(())
    } else {
        Ok(())
    }
}

/// `_PyObject_IS_GC`: the type has Py_TPFLAGS_HAVE_GC and, if it has a `tp_is_gc` hook
/// (only type objects do), the hook says this instance takes part in gc.
pub fn object_is_gc(obj: ObjRef<'_>) -> bool {
    let tp = type_of(obj);
    if type_flags(tp) & (ffi::Py_TPFLAGS_HAVE_GC as u64) == 0 {
        return false;
    }
    let is_gc = slot(tp, ffi::Py_tp_is_gc);
    if is_gc.is_null() {
        return true;
    }
    // SAFETY: tp_is_gc has the inquiry signature (Include/object.h) and is called on an
    // instance of its own type, as _PyObject_IS_GC does (Include/internal/pycore_object.h).
    unsafe { std::mem::transmute::<*mut c_void, ffi::inquiry>(is_gc)(obj.as_ptr()) != 0 }
}

/// Turns automatic collection off for the duration of a walk that holds the GIL
/// throughout (no other thread can observe the change); returns whether it was on.
pub fn pause_automatic_gc(_py: Python<'_>) -> bool {
    // SAFETY: PyGC_Disable (Modules/gcmodule.c, 3.10+) only flips the interpreter's gc
    // flag; `_py` proves the GIL.
    unsafe { ffi::PyGC_Disable() != 0 }
}

/// Restores automatic collection after [`pause_automatic_gc`].
pub fn resume_automatic_gc(_py: Python<'_>, was_enabled: bool) {
    if was_enabled {
        // SAFETY: as in pause_automatic_gc (PyGC_Enable).
        unsafe { ffi::PyGC_Enable() };
    }
}

// ---------------------------------------------------------------------------------------
// Type facts.
// ---------------------------------------------------------------------------------------

/// Facts about a type that decide how its instances are ranked and described.
#[derive(Clone, Copy, Debug, Default)]
pub struct TypeFlags {
    /// Defined by a class statement or PyType_FromSpec (not a static builtin).
    pub is_heap_type: bool,
    /// Has tp_finalize (`__del__`) or a legacy tp_del.
    pub has_finalizer: bool,
    pub is_dict: bool,
    pub is_list: bool,
    pub is_tuple: bool,
    pub is_type: bool,
    pub is_exception: bool,
}

impl TypeFlags {
    pub fn of(tp: TypeRef<'_>) -> Self {
        let flags = type_flags(tp);
        TypeFlags {
            is_heap_type: flags & (ffi::Py_TPFLAGS_HEAPTYPE as u64) != 0,
            has_finalizer: !slot(tp, ffi::Py_tp_finalize).is_null()
                || !slot(tp, ffi::Py_tp_del).is_null(),
            is_dict: flags & (ffi::Py_TPFLAGS_DICT_SUBCLASS as u64) != 0,
            is_list: flags & (ffi::Py_TPFLAGS_LIST_SUBCLASS as u64) != 0,
            is_tuple: flags & (ffi::Py_TPFLAGS_TUPLE_SUBCLASS as u64) != 0,
            is_type: flags & (ffi::Py_TPFLAGS_TYPE_SUBCLASS as u64) != 0,
            is_exception: flags & (ffi::Py_TPFLAGS_BASE_EXC_SUBCLASS as u64) != 0,
        }
    }
}

/// True for type objects (instances of `type` or of a metaclass), read from tp_flags.
#[inline]
pub fn is_type(obj: ObjRef<'_>) -> bool {
    type_flags(type_of(obj)) & (ffi::Py_TPFLAGS_TYPE_SUBCLASS as u64) != 0
}

/// Whether a type's instances are descriptors: (`__get__`, `__set__`/`__delete__`).
pub fn descriptor_slots(tp: TypeRef<'_>) -> (bool, bool) {
    (
        !slot(tp, ffi::Py_tp_descr_get).is_null(),
        !slot(tp, ffi::Py_tp_descr_set).is_null(),
    )
}

/// A new reference to `getattr(obj, name)` through the *generic* lookup, or None.
///
/// Unlike `getattr`, this ignores a class's own `__getattribute__`/`__getattr__`; it
/// still honours data descriptors, so only call it for names that builtin types define
/// (`__qualname__` on a type, `args` on an exception, `f_code` on a frame...).
pub fn generic_getattr<'py>(obj: ObjRef<'py>, name: &CStr) -> Option<Bound<'py, PyAny>> {
    // SAFETY: GIL held (the handle); name is a valid C string. PyUnicode_InternFromString
    // and PyObject_GenericGetAttr (Objects/object.c) return a new reference or NULL with
    // an exception set, which we clear (a missing attribute is not an error here).
    unsafe {
        let key = ffi::PyUnicode_InternFromString(name.as_ptr());
        if key.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let value = ffi::PyObject_GenericGetAttr(obj.as_ptr(), key);
        ffi::Py_DecRef(key);
        owned_or_clear(value)
    }
}

/// A new reference to `getattr(obj, name)` through the generic lookup (see
/// [`generic_getattr`]), with `name` a str object; None (error cleared) if missing.
pub fn generic_getattr_object<'py>(
    obj: ObjRef<'py>,
    name: &Bound<'_, PyString>,
) -> Option<Bound<'py, PyAny>> {
    // SAFETY: GIL held; name is a str; PyObject_GenericGetAttr (Objects/object.c) returns
    // a new reference or NULL with an AttributeError set, which we clear.
    unsafe { owned_or_clear(ffi::PyObject_GenericGetAttr(obj.as_ptr(), name.as_ptr())) }
}

/// A new reference returned by the C API as a Bound, or None with the error cleared.
///
/// # Safety
/// `value` is a new (owned) reference or NULL with an exception set; the GIL is held for
/// `'py`.
unsafe fn owned_or_clear<'py>(value: *mut ffi::PyObject) -> Option<Bound<'py, PyAny>> {
    // SAFETY: the caller proves the GIL is held for 'py.
    let py = unsafe { Python::assume_attached() };
    if value.is_null() {
        // SAFETY: GIL held; clearing the exception that came with NULL.
        unsafe { ffi::PyErr_Clear() };
        None
    } else {
        // SAFETY: a non-null new reference, which the Bound takes over.
        Some(unsafe { Bound::from_owned_ptr(py, value) })
    }
}

// ---------------------------------------------------------------------------------------
// Type facts through `type`'s own descriptors.
//
// Looking an attribute up on a class (`PyObject_GetAttr(cls, "__dictoffset__")`, even the
// generic lookup) consults the *metaclass* first: a metaclass attribute or property named
// `__dictoffset__`, `__module__` or `__basicsize__` shadows `type`'s own member, returns
// whatever it likes and may run user code. refscope instead calls the descriptors that
// `type` (and `BaseException`) define for these names, taken once from `type.__dict__`:
// member descriptors read the PyTypeObject field (`PyMember_GetOne`, Python/structmember.c)
// and getset descriptors call type's C getter (`type_qualname`, `type_module`, `type_dict`
// in Objects/typeobject.c), whatever the metaclass defines. They work under the limited API
// on every CPython version (3.10–3.13 checked), unlike reading PyTypeObject fields directly.
// ---------------------------------------------------------------------------------------

/// An attribute of a class read through `type`'s own descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeAttr {
    /// `tp_name`-derived or `ht_qualname` (getset `type_qualname`).
    Qualname,
    /// `__module__` from the class's own dict, or `tp_name`'s prefix (getset `type_module`).
    Module,
    /// A mappingproxy of `tp_dict` (getset `type_dict`).
    Dict,
    /// `tp_bases` (getset `type_get_bases`).
    Bases,
    /// `tp_mro` (member).
    Mro,
    /// `tp_base` (member).
    Base,
    /// `tp_basicsize` (member).
    BasicSize,
    /// `tp_itemsize` (member).
    ItemSize,
    /// `tp_dictoffset` (member).
    DictOffset,
}

const TYPE_ATTRS: [(TypeAttr, &CStr); 9] = [
    (TypeAttr::Qualname, c"__qualname__"),
    (TypeAttr::Module, c"__module__"),
    (TypeAttr::Dict, c"__dict__"),
    (TypeAttr::Bases, c"__bases__"),
    (TypeAttr::Mro, c"__mro__"),
    (TypeAttr::Base, c"__base__"),
    (TypeAttr::BasicSize, c"__basicsize__"),
    (TypeAttr::ItemSize, c"__itemsize__"),
    (TypeAttr::DictOffset, c"__dictoffset__"),
];

/// The builtin descriptors refscope calls directly; each holds a strong reference for the
/// life of the process (they belong to static types, which are never freed).
struct BuiltinDescriptors {
    type_attrs: [usize; TYPE_ATTRS.len()],
    exception_args: usize,
    method_descriptor_type: usize,
    /// `object.__sizeof__`, whose result refscope can compute from the layout.
    object_sizeof: usize,
}

static BUILTIN_DESCRIPTORS: std::sync::OnceLock<BuiltinDescriptors> = std::sync::OnceLock::new();

/// A descriptor of the table, as a handle.
fn descriptor(_py: Python<'_>, address: usize) -> ObjRef<'_> {
    // SAFETY: every address in BUILTIN_DESCRIPTORS carries a strong reference taken by
    // load_builtin_descriptors and never released; `_py` proves the GIL.
    unsafe { ObjRef::from_raw(address as *mut ffi::PyObject) }
}

/// Borrowed `owner.__dict__[name]` of a static builtin type, found by pointer-free string
/// comparison over `PyDict_Next` (no `__eq__`/`__hash__` runs).
fn static_type_member<'py>(owner: TypeRef<'py>, name: &CStr) -> Option<ObjRef<'py>> {
    let dict = class_dict(owner)?;
    let wanted = name.to_str().ok()?;
    let mut found = None;
    for_each_dict_item(dict, |key, value| {
        if str_text(key).as_deref() == Some(wanted) {
            found = Some(value);
            false
        } else {
            true
        }
    });
    found
}

/// Reads the descriptors once (module initialisation).
pub fn load_builtin_descriptors(py: Python<'_>) -> Result<(), &'static str> {
    if BUILTIN_DESCRIPTORS.get().is_some() {
        return Ok(());
    }
    let type_type = TypeRef::type_type(py);
    // SAFETY: PyExc_BaseException (Objects/exceptions.c) and PyList_Type (Objects/
    // listobject.c) are static objects of the interpreter; reading the exported pointer
    // needs the GIL, which `py` proves.
    let (base_exception, list_type) = unsafe {
        (
            TypeRef::from_raw(ffi::PyExc_BaseException as *mut ffi::PyTypeObject),
            TypeRef::from_raw(std::ptr::addr_of_mut!(ffi::PyList_Type)),
        )
    };
    let mut type_attrs = [0usize; TYPE_ATTRS.len()];
    for (slot, (_, name)) in type_attrs.iter_mut().zip(TYPE_ATTRS) {
        let descr = static_type_member(type_type, name).ok_or("type lacks a descriptor")?;
        // Kept alive for the life of the process (a reference of ours, never dropped).
        std::mem::forget(descr.to_bound(py));
        *slot = descr.address();
    }
    let args = static_type_member(base_exception, c"args").ok_or("BaseException.args")?;
    let sizeof = static_type_member(list_type, c"__sizeof__").ok_or("list.__sizeof__")?;
    let object_sizeof =
        static_type_member(TypeRef::object(py), c"__sizeof__").ok_or("object.__sizeof__")?;
    std::mem::forget(args.to_bound(py));
    // The class dicts of `object` and `list` hold these for the life of the interpreter.
    let descriptors = BuiltinDescriptors {
        type_attrs,
        exception_args: args.address(),
        method_descriptor_type: type_of(sizeof).address(),
        object_sizeof: object_sizeof.address(),
    };
    if BUILTIN_DESCRIPTORS.set(descriptors).is_err() {
        // Another thread won (cannot happen with the GIL held); our references leak, once.
    }
    Ok(())
}

fn builtin_descriptors() -> Option<&'static BuiltinDescriptors> {
    BUILTIN_DESCRIPTORS.get()
}

/// A new reference to `descr.__get__(obj, type(obj))`, calling the descriptor's C slot.
/// Only called with descriptors of the table above.
fn call_descriptor<'py>(descr: ObjRef<'_>, obj: ObjRef<'py>) -> Option<Bound<'py, PyAny>> {
    let get = slot(type_of(descr), ffi::Py_tp_descr_get);
    if get.is_null() {
        return None;
    }
    // SAFETY: tp_descr_get has the descrgetfunc signature (Include/object.h); `descr` is
    // a member, getset or method descriptor of a builtin type whose getter is C code that
    // checks `obj`'s type first (descr_check in Objects/descrobject.c, 3.10-3.13) and
    // reads its C struct. The result is a new reference or NULL with an exception set.
    unsafe {
        let get = std::mem::transmute::<*mut c_void, ffi::descrgetfunc>(get);
        let value = get(
            descr.as_ptr(),
            obj.as_ptr(),
            type_of(obj).as_ptr() as *mut ffi::PyObject,
        );
        owned_or_clear(value)
    }
}

/// A new reference to attribute `which` of class `tp`, read by `type`'s own descriptor.
pub fn type_attr<'py>(tp: TypeRef<'py>, which: TypeAttr) -> Option<Bound<'py, PyAny>> {
    let descriptors = builtin_descriptors()?;
    let position = TYPE_ATTRS.iter().position(|(attr, _)| *attr == which)?;
    let descr = descriptors.type_attrs[position];
    call_descriptor(descriptor(tp.as_object().py(), descr), tp.as_object())
}

/// A numeric attribute of a class (`__basicsize__`, `__dictoffset__`...), from its C struct.
pub fn type_number(tp: TypeRef<'_>, which: TypeAttr) -> Option<i64> {
    int_value(type_attr(tp, which)?.as_obj())
}

/// A text attribute of a class (`__qualname__`, `__module__`), None unless a str.
pub fn type_text(tp: TypeRef<'_>, which: TypeAttr) -> Option<String> {
    str_text(type_attr(tp, which)?.as_obj())
}

/// Borrowed `tp_dict` of a class: the dict behind `type.__dict__`'s mappingproxy, found by
/// traversing the proxy (mappingproxy_traverse visits only its mapping), so neither the
/// proxy's methods nor the metaclass run.
pub fn class_dict(tp: TypeRef<'_>) -> Option<ObjRef<'_>> {
    // For `type` itself (during loading) the descriptor table does not exist yet: the
    // generic lookup on `type`, whose metaclass is `type`, involves no user code.
    let proxy = match builtin_descriptors() {
        Some(_) => type_attr(tp, TypeAttr::Dict)?,
        None => generic_getattr(tp.as_object(), c"__dict__")?,
    };
    let mut dict = None;
    let slots = TraverseSlots::of(type_of(proxy.as_obj()));
    let _ = for_each_referent(&slots, proxy.as_obj(), &mut |referent| {
        if dict.is_none() && is_dict(referent) {
            dict = Some(referent.address());
        }
    });
    // SAFETY: the dict is the class's tp_dict (the only dict a mappingproxy of it visits,
    // mappingproxy_traverse in Objects/descrobject.c), which the class holds for as long
    // as it lives: it outlives the proxy we drop here.
    dict.map(|address| unsafe { ObjRef::from_raw(address as *mut ffi::PyObject) })
}

/// A new reference to the value of `name` in the first class of `tp`'s MRO whose own dict
/// has it, as `_PyType_Lookup` finds it (Objects/typeobject.c), but comparing keys as text
/// over `PyDict_Next` so no key's `__eq__`/`__hash__` runs and no metaclass is consulted.
fn type_lookup<'py>(tp: TypeRef<'py>, name: &str) -> Option<Bound<'py, PyAny>> {
    let mro = type_attr(tp, TypeAttr::Mro)?;
    let mro_flags = TypeFlags::of(type_of(mro.as_obj()));
    // A NULL/None mro (a type being built) has no items.
    let count = builtin_len(mro.as_obj(), &mro_flags).filter(|_| mro_flags.is_tuple);
    for i in 0..count.unwrap_or(0) {
        let Some(cls) = sequence_item(mro.as_obj(), &mro_flags, i).and_then(ObjRef::as_type) else {
            continue;
        };
        let Some(dict) = class_dict(cls) else {
            continue;
        };
        let mut found = None;
        for_each_dict_item(dict, |key, value| {
            if str_text(key).as_deref() == Some(name) {
                found = Some(value.to_bound(mro.py()));
                false
            } else {
                true
            }
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A builtin C `__sizeof__` (a `method_descriptor`, as `list.__sizeof__` or
/// `object.__sizeof__`), found by [`SizeofMethod::of`].
pub struct SizeofMethod(Py<PyAny>);

impl SizeofMethod {
    /// The `__sizeof__` that `tp`'s MRO resolves to, when it is a builtin C method; None
    /// when a Python class defines its own `__sizeof__` (refscope never calls it). Found
    /// without the instance: its own `__dict__` and `__getattribute__` are not consulted
    /// (`weakref.proxy` and `super` forward attribute lookups; this does not), which is
    /// also how `sys.getsizeof` finds it (`_PyObject_LookupSpecial` on the type).
    pub fn of(tp: TypeRef<'_>) -> Option<Self> {
        let descriptors = builtin_descriptors()?;
        let method = type_lookup(tp, "__sizeof__")?;
        (type_of(method.as_obj()).address() == descriptors.method_descriptor_type)
            .then(|| SizeofMethod(method.unbind()))
    }

    /// True for `object.__sizeof__` itself (`object___sizeof___impl` in
    /// Objects/typeobject.c).
    pub fn is_object_sizeof(&self) -> bool {
        builtin_descriptors().is_some_and(|d| d.object_sizeof == self.address())
    }

    /// The method's address, to compare methods.
    pub fn address(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// `method(obj)`; None when it fails (it raises TypeError for an object of another
    /// type).
    pub fn call(&self, obj: ObjRef<'_>) -> Option<i64> {
        // SAFETY: the method is a method_descriptor of a builtin type (C code, checked by
        // `of`) that we hold; method_descriptor calls check `obj`'s type (descr_check in
        // Objects/descrobject.c, 3.10-3.13). The result is a new reference or NULL with
        // an exception set.
        let result = unsafe {
            owned_or_clear(ffi::PyObject_CallFunctionObjArgs(
                self.0.as_ptr(),
                obj.as_ptr(),
                std::ptr::null_mut::<ffi::PyObject>(),
            ))
        };
        int_value(result?.as_obj())
    }
}

/// Reads `ob_size` of the instances of one variable-size type (`tp_itemsize > 0`).
#[derive(Clone, Copy, Debug)]
pub struct VarSize {
    type_address: usize,
}

impl VarSize {
    /// For instances of exactly `tp`, when they are `PyVarObject`s (`tp_itemsize > 0`).
    pub fn of(tp: TypeRef<'_>) -> Option<Self> {
        (type_number(tp, TypeAttr::ItemSize)? > 0).then(|| VarSize {
            type_address: tp.address(),
        })
    }

    /// `Py_SIZE(obj)`; 0 for an object of another type.
    #[inline]
    pub fn read(self, obj: ObjRef<'_>) -> isize {
        if type_of(obj).address() != self.type_address {
            return 0;
        }
        // SAFETY: obj's type has tp_itemsize > 0, so obj starts with PyObject_VAR_HEAD
        // and ob_size is inside it (Include/object.h; an int's lv_tag sits there on 3.12+).
        unsafe { ffi::Py_SIZE(obj.as_ptr()) }
    }
}

/// A new reference to an exception's `args`, read by `BaseException`'s own getter
/// (BaseException_get_args), never a subclass's `args` property.
pub fn exception_args(exc: ObjRef<'_>) -> Option<Bound<'_, PyAny>> {
    let descriptors = builtin_descriptors()?;
    call_descriptor(descriptor(exc.py(), descriptors.exception_args), exc)
}

/// `__traceback__`, `__context__` and `__cause__` of an exception, as new references (all
/// None for an object that is not an exception).
pub fn exception_links(exc: ObjRef<'_>) -> [(&'static str, Option<Bound<'_, PyAny>>); 3] {
    if type_flags(type_of(exc)) & (ffi::Py_TPFLAGS_BASE_EXC_SUBCLASS as u64) == 0 {
        return [
            ("__traceback__", None),
            ("__context__", None),
            ("__cause__", None),
        ];
    }
    // SAFETY: exc is an exception instance (checked above: PyExceptionInstance_Check);
    // each getter (Objects/exceptions.c) reads the BaseException struct and returns a new
    // reference or NULL without setting an error.
    unsafe {
        [
            (
                "__traceback__",
                owned_or_clear(ffi::PyException_GetTraceback(exc.as_ptr())),
            ),
            (
                "__context__",
                owned_or_clear(ffi::PyException_GetContext(exc.as_ptr())),
            ),
            (
                "__cause__",
                owned_or_clear(ffi::PyException_GetCause(exc.as_ptr())),
            ),
        ]
    }
}

// ---------------------------------------------------------------------------------------
// Values of builtin types, read from their C structs.
// ---------------------------------------------------------------------------------------

/// The hash of an exact `str` or `int` (C code: a str caches its hash, an int computes it
/// from its digits); None for anything else, whose `__hash__` may be user code.
pub fn builtin_key_hash(obj: ObjRef<'_>) -> Option<i64> {
    // SAFETY: the exact-type checks read the object's type pointer; PyObject_Hash on an
    // exact str or int runs only unicode_hash / long_hash (Objects/unicodeobject.c,
    // longobject.c), which cannot fail.
    unsafe {
        let obj = obj.as_ptr();
        if ffi::PyUnicode_CheckExact(obj) == 0 && ffi::PyLong_CheckExact(obj) == 0 {
            return None;
        }
        let hash = ffi::PyObject_Hash(obj);
        if hash == -1 {
            ffi::PyErr_Clear();
        }
        Some(hash as i64)
    }
}

/// Calls `each(key, value)` for the items of a dict (or dict subclass; nothing for any
/// other object) without running user code: PyDict_Next reads the table directly, never
/// `__iter__` or `__hash__`. Stops when `each` returns false.
pub fn for_each_dict_item<'py>(
    dict: ObjRef<'py>,
    mut each: impl FnMut(ObjRef<'py>, ObjRef<'py>) -> bool,
) {
    let mut position: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: PyDict_Next (Objects/dictobject.c, 3.10-3.13) returns 0 for a non-dict and
    // otherwise yields borrowed, non-null keys and values, alive while the dict holds
    // them; `each` only compares and reads them (no Python code runs to change the dict).
    while unsafe { ffi::PyDict_Next(dict.as_ptr(), &mut position, &mut key, &mut value) } != 0 {
        // SAFETY: as above.
        let (key, value) = unsafe { (ObjRef::from_raw(key), ObjRef::from_raw(value)) };
        if !each(key, value) {
            break;
        }
    }
}

/// Number of items in a dict, list or tuple (or subclass), read from the C struct;
/// `flags` are those of `obj`'s type.
pub fn builtin_len(obj: ObjRef<'_>, flags: &TypeFlags) -> Option<isize> {
    // SAFETY: each size function (Objects/dictobject.c, listobject.c, tupleobject.c,
    // setobject.c) checks the object's type itself (SystemError otherwise, cleared below)
    // and reads the C structure (no `__len__`).
    let n = unsafe {
        let obj = obj.as_ptr();
        if flags.is_dict {
            ffi::PyDict_Size(obj)
        } else if flags.is_list {
            ffi::PyList_Size(obj)
        } else if flags.is_tuple {
            ffi::PyTuple_Size(obj)
        } else if ffi::PyAnySet_Check(obj) != 0 {
            ffi::PySet_Size(obj)
        } else {
            return None;
        }
    };
    if n < 0 {
        // SAFETY: clearing the error that came with -1.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    Some(n)
}

/// Borrowed item `i` of a list or tuple (or subclass); `flags` are those of its type.
pub fn sequence_item<'py>(obj: ObjRef<'py>, flags: &TypeFlags, i: isize) -> Option<ObjRef<'py>> {
    // SAFETY: PyList_GetItem / PyTuple_GetItem (Objects/listobject.c, tupleobject.c) check
    // the type and the bounds and return a borrowed reference, alive while the sequence
    // holds it, or NULL with an error set.
    let item = unsafe {
        if flags.is_list {
            ffi::PyList_GetItem(obj.as_ptr(), i)
        } else if flags.is_tuple {
            ffi::PyTuple_GetItem(obj.as_ptr(), i)
        } else {
            return None;
        }
    };
    if item.is_null() {
        // SAFETY: clearing the IndexError of an out-of-range or half-built slot.
        unsafe { ffi::PyErr_Clear() };
        None
    } else {
        // SAFETY: a borrowed item of `obj` (above).
        Some(unsafe { ObjRef::from_raw(item) })
    }
}

/// Borrowed items of a list, in order. The list holds them; the caller keeps it unchanged
/// while it uses them.
pub fn list_items<'a>(list: &'a Bound<'_, PyList>) -> Vec<ObjRef<'a>> {
    // Sized up front: a vector grown by doubling would keep up to twice the pointers
    // (8 bytes per object of a million-object analysis). Copied from the item array in
    // one pass, not through a call per item.
    let items = list_array(list);
    let mut out = Vec::with_capacity(items.len());
    // SAFETY: each non-NULL entry is an item the list holds, alive while it does.
    out.extend(
        items
            .iter()
            .filter_map(|&item| unsafe { ObjRef::from_nullable(item) }),
    );
    out
}

/// The item array of `list` (or of a list subclass, whose instances start with the same
/// `PyListObject`), borrowed: valid while no Python code runs.
fn list_array<'a>(list: &'a Bound<'_, PyList>) -> &'a [*mut ffi::PyObject] {
    // SAFETY: `list` is a live list; PyList_Size reads its size and `ob_item` (see
    // ListLayout) points at that many slots, each an item or NULL (a list being built),
    // unchanged until Python code runs again. An empty list may have no array.
    unsafe {
        let n = ffi::PyList_Size(list.as_ptr()).max(0) as usize;
        let layout = &*(list.as_ptr() as *const ListLayout);
        if n == 0 || layout.ob_item.is_null() {
            return &[];
        }
        std::slice::from_raw_parts(layout.ob_item, n)
    }
}

/// Empties `list` without releasing the references it held: they become the caller's.
/// The list's array is freed as `del list[:]` frees it, without the decref of every item
/// (a pass over a million scattered objects): with the size set to 0, `list_ass_slice`
/// (Objects/listobject.c, 3.10-3.13) takes its `Py_SIZE(a) + d == 0` branch to
/// `list_clear`, which frees `ob_item` and releases the 0 items left.
///
/// # Safety
/// The caller takes over one strong reference per entry the list holds now, and no entry
/// is NULL.
pub unsafe fn empty_list_taking_references(list: &Bound<'_, PyList>) {
    // SAFETY: a list is a PyVarObject (Include/cpython/listobject.h), its size ob_size;
    // a size of 0 with the array still allocated is a state list code handles (`allocated`
    // stays >= size). PyList_SetSlice of the empty range then frees the array; it cannot
    // fail for a list, but an error would be left for nobody: cleared.
    unsafe {
        (*(list.as_ptr() as *mut ffi::PyVarObject)).ob_size = 0;
        if ffi::PyList_SetSlice(list.as_ptr(), 0, 0, std::ptr::null_mut()) != 0 {
            ffi::PyErr_Clear();
        }
    }
}

/// The layout of a list object: `PyListObject` (Include/cpython/listobject.h, the same
/// from 3.10 to 3.13), which the limited API does not declare.
#[repr(C)]
struct ListLayout {
    ob_base: ffi::PyVarObject,
    ob_item: *mut *mut ffi::PyObject,
    allocated: ffi::Py_ssize_t,
}

/// A new list of `list`'s items, which `list` is left without (empty): the item array
/// itself moves, so no item's count is touched and nothing is copied
/// (`found = garbage[:]; del garbage[:]` increments and then decrements the count of
/// every object of a collection's garbage, two passes over objects scattered in
/// memory). None (and `list` unchanged) unless `list` is an exact list.
pub fn take_list_items<'py>(list: &Bound<'py, PyList>) -> PyResult<Option<Bound<'py, PyList>>> {
    // SAFETY: PyList_CheckExact only reads the type.
    if unsafe { ffi::PyList_CheckExact(list.as_ptr()) } == 0 {
        return Ok(None);
    }
    // SAFETY: PyList_New(0) returns an empty list (no array: ob_item NULL, allocated 0;
    // list_new_prealloc/PyList_New in Objects/listobject.c) or NULL with an error set.
    let taken = unsafe {
        Bound::from_owned_ptr_or_err(list.py(), ffi::PyList_New(0))?.cast_into_unchecked::<PyList>()
    };
    // SAFETY: both are exact lists, so `PyListObject`s (ListLayout); swapping size, array
    // and capacity moves `list`'s items with their references to `taken` and leaves `list`
    // the empty list `taken` was. No Python code runs meanwhile.
    unsafe {
        let from = &mut *(list.as_ptr() as *mut ListLayout);
        let to = &mut *(taken.as_ptr() as *mut ListLayout);
        std::mem::swap(&mut from.ob_base.ob_size, &mut to.ob_base.ob_size);
        std::mem::swap(&mut from.ob_item, &mut to.ob_item);
        std::mem::swap(&mut from.allocated, &mut to.allocated);
    }
    Ok(Some(taken))
}

/// The entries of a list, read in place (no copy of the list) while no Python code runs:
/// borrowed, alive while the list holds them.
#[derive(Clone, Copy)]
pub struct ListItems<'a> {
    items: &'a [*mut ffi::PyObject],
}

impl<'a> ListItems<'a> {
    /// The entries of `list` as it is now; the caller runs no Python code while it uses
    /// them (nothing else can change the list then).
    pub fn of(list: &'a Bound<'a, PyList>) -> Self {
        ListItems {
            items: list_array(list),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Entry `index` (below `len()`), or None for a slot of a list being built.
    #[inline]
    pub fn get(&self, index: usize) -> Option<ObjRef<'a>> {
        // SAFETY: the list holds the entry and has not changed since it was read (no
        // Python code ran).
        unsafe { ObjRef::from_nullable(*self.items.get(index)?) }
    }
}

/// UTF-8 text of a str (or str subclass) without calling `__str__`; None if not a str or
/// not encodable (lone surrogates).
pub fn str_text(obj: ObjRef<'_>) -> Option<String> {
    // SAFETY: PyUnicode_Check reads the type's flags; PyUnicode_AsUTF8AndSize (Objects/
    // unicodeobject.c) reads the string's own buffer, valid while the str lives, and
    // returns NULL with an error set on failure, which we clear.
    unsafe {
        let obj = obj.as_ptr();
        if ffi::PyUnicode_Check(obj) == 0 {
            return None;
        }
        let mut size: ffi::Py_ssize_t = 0;
        let data = ffi::PyUnicode_AsUTF8AndSize(obj, &mut size);
        if data.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let bytes = std::slice::from_raw_parts(data as *const u8, size as usize);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Value of an int (or int subclass) that fits in i64, without `__index__`/`__int__`.
pub fn int_value(obj: ObjRef<'_>) -> Option<i64> {
    // SAFETY: PyLong_Check reads the type's flags; for an int PyLong_AsLongLong (Objects/
    // longobject.c) reads the digits directly and only fails with OverflowError, cleared.
    unsafe {
        let obj = obj.as_ptr();
        if ffi::PyLong_Check(obj) == 0 {
            return None;
        }
        let value = ffi::PyLong_AsLongLong(obj);
        if value == -1 && !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(value)
    }
}

/// Value of an exact or subclassed float.
pub fn float_value(obj: ObjRef<'_>) -> Option<f64> {
    // SAFETY: PyFloat_Check reads the type's flags; PyFloat_AsDouble reads ob_fval of a
    // float (Objects/floatobject.c) without calling `__float__`.
    unsafe {
        let obj = obj.as_ptr();
        (ffi::PyFloat_Check(obj) != 0).then(|| ffi::PyFloat_AsDouble(obj))
    }
}

/// True for `None`, `True` and `False`, with their literal.
pub fn singleton_literal(obj: ObjRef<'_>) -> Option<&'static str> {
    // SAFETY: only the addresses of the interpreter's singletons are read (Py_None,
    // Py_True, Py_False: Include/object.h, boolobject.h).
    let (none, true_, false_) = unsafe { (ffi::Py_None(), ffi::Py_True(), ffi::Py_False()) };
    let obj = obj.as_ptr();
    if obj == none {
        Some("None")
    } else if obj == true_ {
        Some("True")
    } else if obj == false_ {
        Some("False")
    } else {
        None
    }
}

/// True for a dict or dict subclass.
#[inline]
pub fn is_dict(obj: ObjRef<'_>) -> bool {
    type_flags(type_of(obj)) & (ffi::Py_TPFLAGS_DICT_SUBCLASS as u64) != 0
}

/// True for an exact `dict` (not a subclass).
#[inline]
pub fn is_exact_dict(obj: ObjRef<'_>) -> bool {
    // SAFETY: PyDict_CheckExact compares the type pointer of a live object.
    unsafe { ffi::PyDict_CheckExact(obj.as_ptr()) != 0 }
}

/// An exact dict with one reference (its owner's): an instance dict nothing else holds,
/// whose references are its owner's own.
pub fn is_private_dict(obj: ObjRef<'_>) -> bool {
    is_exact_dict(obj) && refcount(obj) == 1
}

/// True for exact `list` / `tuple` (item order is the traversal order).
pub fn is_exact_list_or_tuple(obj: ObjRef<'_>) -> bool {
    // SAFETY: type checks of a live object (Include/listobject.h, tupleobject.h).
    unsafe {
        ffi::PyList_CheckExact(obj.as_ptr()) != 0 || ffi::PyTuple_CheckExact(obj.as_ptr()) != 0
    }
}

/// Borrowed globals dict of a module object (`PyModule_GetDict`, C), None for anything
/// that is not a module (a `sys.modules` entry can be any object).
pub fn module_dict(obj: ObjRef<'_>) -> Option<ObjRef<'_>> {
    // SAFETY: PyModule_Check reads the type; PyModule_GetDict (Objects/moduleobject.c)
    // returns the module's own dict, borrowed (the module holds it), without running code.
    unsafe {
        if ffi::PyModule_Check(obj.as_ptr()) == 0 {
            return None;
        }
        ObjRef::from_nullable(ffi::PyModule_GetDict(obj.as_ptr()))
    }
}

/// A new reference to an object's instance `__dict__`, or None if it has none.
///
/// Uses `PyObject_GenericGetDict`, never the class's `__dict__` attribute lookup (which a
/// class may override). On 3.11+ this *materialises* a dict for objects whose attributes
/// live inline; refscope only calls it after the walk, for objects on reported cycles.
pub fn instance_dict(obj: ObjRef<'_>) -> Option<Bound<'_, PyAny>> {
    // SAFETY: GIL held; PyObject_GenericGetDict (Objects/object.c) returns a new reference
    // or NULL with AttributeError set, cleared by owned_or_clear.
    let dict = unsafe {
        owned_or_clear(ffi::PyObject_GenericGetDict(
            obj.as_ptr(),
            std::ptr::null_mut(),
        ))
    }?;
    is_dict(dict.as_obj()).then_some(dict)
}

/// Reference count of a live object (`Py_REFCNT`).
#[inline]
pub fn refcount(obj: ObjRef<'_>) -> isize {
    // SAFETY: obj is live; reading ob_refcnt (Include/object.h) has no side effect.
    unsafe { ffi::Py_REFCNT(obj.as_ptr()) }
}

/// True for an immortal object (PEP 683, CPython 3.12 and 3.13): the low 32 bits of the
/// count, read as signed, are negative (`_Py_IsImmortal` in Include/object.h).
#[inline]
pub fn is_immortal(obj: ObjRef<'_>, minor: u8) -> bool {
    minor >= 12 && (refcount(obj) as u64 as u32 as i32) < 0
}

// ---------------------------------------------------------------------------------------
// Member slots (`__slots__`, C members).
// ---------------------------------------------------------------------------------------

// Member type codes from Include/descrobject.h (Py_T_OBJECT is `_Py_T_OBJECT` in 3.12+).
const MEMBER_T_OBJECT: c_int = 6;
const MEMBER_T_OBJECT_EX: c_int = 16;
const MEMBER_RELATIVE_OFFSET: c_int = 8;

/// Calls `each(offset, name)` for the object-valued members (`T_OBJECT`/`T_OBJECT_EX`,
/// absolute offset) of `tp` and of its `tp_base` chain (slots can only be laid out along
/// single inheritance); stops when `each` returns false.
fn for_each_object_member(tp: TypeRef<'_>, mut each: impl FnMut(isize, &str) -> bool) {
    let mut tp = Some(tp);
    let mut depth = 0;
    while let Some(current) = tp {
        if depth >= 64 {
            break;
        }
        let mut member = slot(current, ffi::Py_tp_members) as *const ffi::PyMemberDef;
        // SAFETY: Py_tp_members is a NULL-name-terminated array of PyMemberDef owned by
        // the type (Include/descrobject.h, 3.10-3.13), names are C strings.
        unsafe {
            while !member.is_null() && !(*member).name.is_null() {
                let def = &*member;
                let is_object =
                    def.type_code == MEMBER_T_OBJECT || def.type_code == MEMBER_T_OBJECT_EX;
                if is_object && def.flags & MEMBER_RELATIVE_OFFSET == 0 && def.offset > 0 {
                    let name = CStr::from_ptr(def.name as *const c_char).to_string_lossy();
                    if !each(def.offset, &name) {
                        return;
                    }
                }
                member = member.add(1);
            }
        }
        let base = slot(current, ffi::Py_tp_base) as *mut ffi::PyTypeObject;
        // SAFETY: tp_base is NULL or a base class, which its subclasses keep alive
        // (tp_base holds a reference: type_new in Objects/typeobject.c).
        tp = (!base.is_null()).then(|| unsafe { TypeRef::from_raw(base) });
        depth += 1;
    }
}

/// An object-valued member slot of the instances of one exact type.
#[derive(Clone, Copy, Debug)]
pub struct ObjectMember {
    type_address: usize,
    offset: isize,
}

impl ObjectMember {
    /// The value in the slot (None when unset, or for an object of another type).
    #[inline]
    pub fn value<'py>(self, obj: ObjRef<'py>) -> Option<ObjRef<'py>> {
        if type_of(obj).address() != self.type_address {
            return None;
        }
        // SAFETY: the offset comes from the PyMemberDef table of obj's type or a base
        // (for_each_object_member), where a T_OBJECT/T_OBJECT_EX member is a PyObject*
        // field, NULL or a reference the object holds (Python/structmember.c).
        unsafe {
            let field =
                (obj.as_ptr() as *const u8).offset(self.offset) as *const *mut ffi::PyObject;
            ObjRef::from_nullable(*field)
        }
    }
}

/// The object-valued members of instances of `tp`, with their names, each offset once.
pub fn object_members(tp: TypeRef<'_>) -> Vec<(ObjectMember, String)> {
    let mut out: Vec<(ObjectMember, String)> = Vec::new();
    for_each_object_member(tp, |offset, name| {
        if !out.iter().any(|(m, _)| m.offset == offset) {
            let member = ObjectMember {
                type_address: tp.address(),
                offset,
            };
            out.push((member, name.to_owned()));
        }
        true
    });
    out
}

/// Calls `each(name, value)` for every object-valued `__slots__`/member slot of `obj`
/// (value None when unset); stops when `each` returns false.
pub fn for_each_member_slot<'py>(
    obj: ObjRef<'py>,
    mut each: impl FnMut(&str, Option<ObjRef<'py>>) -> bool,
) {
    let tp = type_of(obj);
    for_each_object_member(tp, |offset, name| {
        let member = ObjectMember {
            type_address: tp.address(),
            offset,
        };
        each(name, member.value(obj))
    });
}

// ---------------------------------------------------------------------------------------
// Instance dicts.
// ---------------------------------------------------------------------------------------

/// Where the instances of one exact type keep their own `__dict__` pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DictSlot {
    type_address: usize,
    place: DictPlace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DictPlace {
    /// The type gives instances no `__dict__` (or refscope does not know where it is on
    /// this CPython version: then the dict is not looked through, which is safe).
    None,
    /// CPython 3.11-3.13 "managed dict" (Py_TPFLAGS_MANAGED_DICT): the pointer lives in
    /// the pre-header, three words before the object (MANAGED_DICT_OFFSET in
    /// Include/internal/pycore_object.h of 3.12 and 3.13; `_PyObject_ManagedDictPointer`
    /// in 3.11's Objects/object.c).
    Managed { minor: u8 },
    /// `tp_dictoffset` > 0: the pointer is at this offset inside the object.
    Offset(isize),
    /// `tp_dictoffset` < 0 (a `__dict__` on an int/tuple/bytes subclass, 3.10 and 3.11):
    /// counted from the end of the variable-size object, as `_PyObject_GetDictPtr` does in
    /// Objects/object.c of 3.10/3.11:
    /// `offset + _PyObject_VAR_SIZE(tp, abs(Py_SIZE(obj)))`.
    FromEnd {
        offset: isize,
        basicsize: isize,
        itemsize: isize,
    },
}

/// Py_TPFLAGS_MANAGED_DICT, bit 4 since CPython 3.11 (Include/object.h).
const TPFLAGS_MANAGED_DICT: u64 = 1 << 4;

impl DictSlot {
    /// Instances have no `__dict__` refscope looks at.
    pub const NONE: DictSlot = DictSlot {
        type_address: 0,
        place: DictPlace::None,
    };

    /// How instances of exactly `tp` store their dict, on CPython 3.`minor`.
    pub fn of(tp: TypeRef<'_>, minor: u8) -> Self {
        let place = Self::place(tp, minor);
        DictSlot {
            type_address: tp.address(),
            place,
        }
    }

    fn place(tp: TypeRef<'_>, minor: u8) -> DictPlace {
        if minor >= 11 && type_flags(tp) & TPFLAGS_MANAGED_DICT != 0 {
            // The pre-header layout was checked against 3.11, 3.12 and 3.13 only: any
            // other version reads no dict (its attributes are labelled `?`).
            return if (11..=13).contains(&minor) {
                DictPlace::Managed { minor }
            } else {
                DictPlace::None
            };
        }
        let offset = type_number(tp, TypeAttr::DictOffset).unwrap_or(0);
        if offset > 0 {
            return DictPlace::Offset(offset as isize);
        }
        // 3.12+ gives every such type a managed dict (tp_dictoffset == -1), handled above.
        if offset < 0 && offset != -1 && (10..=11).contains(&minor) {
            let basicsize = type_number(tp, TypeAttr::BasicSize).unwrap_or(0);
            let itemsize = type_number(tp, TypeAttr::ItemSize).unwrap_or(0);
            if basicsize > 0 && itemsize > 0 {
                return DictPlace::FromEnd {
                    offset: offset as isize,
                    basicsize: basicsize as isize,
                    itemsize: itemsize as isize,
                };
            }
        }
        DictPlace::None
    }

    /// The instance's own dict if it exists already; never creates one. None for an
    /// object of another type than the slot's.
    #[inline]
    pub fn materialised_dict(self, obj: ObjRef<'_>) -> Option<ObjRef<'_>> {
        if self.place == DictPlace::None {
            return None;
        }
        if type_of(obj).address() != self.type_address {
            return None;
        }
        let base = obj.as_ptr() as *const u8;
        let raw: *mut ffi::PyObject = match self.place {
            DictPlace::None => return None,
            // SAFETY: obj's type has Py_TPFLAGS_MANAGED_DICT (checked by `of`, and the
            // type check above), so CPython allocated the pre-header before the object;
            // the word three words before it is the dict pointer (3.11: `_PyObject_
            // ManagedDictPointer`, Objects/object.c; 3.13: MANAGED_DICT_OFFSET, Include/
            // internal/pycore_object.h: a plain pointer or NULL; 3.12: a PyDictOrValues
            // union whose low bit tags "values", Include/internal/pycore_object.h).
            DictPlace::Managed { minor } => unsafe {
                let word = *(base as *const usize).offset(-3);
                if minor == 12 && word & 1 == 1 {
                    return None;
                }
                word as *mut ffi::PyObject
            },
            // SAFETY: tp_dictoffset > 0 is the offset of a PyObject* field inside every
            // instance of the type (_PyObject_GetDictPtr in Objects/object.c, 3.10-3.13).
            DictPlace::Offset(offset) => unsafe {
                *(base.offset(offset) as *const *mut ffi::PyObject)
            },
            DictPlace::FromEnd {
                offset,
                basicsize,
                itemsize,
            } => {
                // SAFETY: the type is a variable-size type (itemsize > 0), so the object
                // is a PyVarObject; the computed slot is where CPython itself keeps the
                // dict pointer (_PyObject_GetDictPtr in Objects/object.c, 3.10/3.11),
                // inside the allocation.
                let items = unsafe { ffi::Py_SIZE(obj.as_ptr()) }.unsigned_abs() as isize;
                let pointer = std::mem::size_of::<usize>() as isize;
                let size = (basicsize + items * itemsize + pointer - 1) & !(pointer - 1);
                // SAFETY: as above.
                unsafe { *(base.offset(size + offset) as *const *mut ffi::PyObject) }
            }
        };
        // SAFETY: a non-null dict pointer names a dict the object holds (a reference of
        // its own), alive while the object is and does not replace it.
        let dict = unsafe { ObjRef::from_nullable(raw) }?;
        is_dict(dict).then_some(dict)
    }
}

// ---------------------------------------------------------------------------------------
// Reference-holding lists.
// ---------------------------------------------------------------------------------------

/// A list of objects whose first `taken` entries hold a strong reference of ours (taken
/// one by one with [`OwnedRefs::take_reference`]); released on drop unless handed over
/// with [`OwnedRefs::into_owned`].
pub struct OwnedRefs<'a> {
    objects: Vec<ObjRef<'a>>,
    taken: usize,
}

impl<'a> OwnedRefs<'a> {
    /// Adopts borrowed handles (kept alive by their owner until references are taken).
    pub fn adopt(objects: Vec<ObjRef<'a>>) -> Self {
        OwnedRefs { objects, taken: 0 }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    #[inline]
    pub fn object(&self, i: usize) -> ObjRef<'a> {
        self.objects[i]
    }

    /// Takes our reference to object `i`; references are taken in order.
    #[inline]
    pub fn take_reference(&mut self, i: usize) {
        debug_assert_eq!(i, self.taken);
        // SAFETY: the object is alive (the handle) and the GIL is held (the handle);
        // Py_IncRef (Objects/object.c) only increments the count.
        unsafe { ffi::Py_IncRef(self.objects[i].as_ptr()) };
        self.taken = i + 1;
    }

    /// Takes over `list`'s references to these objects, leaving the list empty, when the
    /// list holds exactly these objects in this order and none of them is taken yet; no
    /// count is touched. Returns whether it did (if not, nothing changed).
    pub fn take_over_list(&mut self, list: &Bound<'_, PyList>) -> bool {
        let items = ListItems::of(list);
        let same = self.taken == 0
            && items.len() == self.objects.len()
            && self.objects.iter().enumerate().all(|(i, obj)| {
                items
                    .get(i)
                    .is_some_and(|item| item.as_ptr() == obj.as_ptr())
            });
        if same {
            // SAFETY: the list holds one reference to each object, none NULL (checked
            // just now, no Python code runs meanwhile); they become these handles'.
            unsafe { empty_list_taking_references(list) };
            self.taken = self.objects.len();
        }
        same
    }

    /// Owned handles that take over the references, in order (all must have been taken).
    pub fn into_owned(mut self, py: Python<'_>) -> Vec<Py<PyAny>> {
        assert_eq!(
            self.taken,
            self.objects.len(),
            "every reference is taken before into_owned"
        );
        let refs = std::mem::take(&mut self.objects);
        self.taken = 0;
        refs.into_iter()
            // SAFETY: each object carries one strong reference taken by
            // `take_reference`, which the handle adopts.
            .map(|obj| unsafe { Bound::from_owned_ptr(py, obj.as_ptr()) }.unbind())
            .collect()
    }
}

impl Drop for OwnedRefs<'_> {
    fn drop(&mut self) {
        for obj in &self.objects[..self.taken] {
            // SAFETY: these hold one reference taken by `take_reference`; the GIL is held
            // (OwnedRefs holds GIL-bound handles, so it never leaves the analysing call).
            unsafe { ffi::Py_DecRef(obj.as_ptr()) };
        }
    }
}

/// A new list holding new references to `items`. Direct C calls: this builds one list per
/// cycle, hundreds of thousands of times for the recipe's format.
pub fn new_list<'py>(py: Python<'py>, items: &[ObjRef<'_>]) -> PyResult<Bound<'py, PyList>> {
    // The references are taken before the list is allocated: allocating may start a
    // collection that runs finalisers, which must not free the items.
    for item in items {
        // SAFETY: the item is alive (the handle) and the GIL is held (`py`).
        unsafe { ffi::Py_IncRef(item.as_ptr()) };
    }
    // SAFETY: PyList_New (Objects/listobject.c) returns a list with NULL slots or NULL
    // with an error set; each slot is filled exactly once with one of the references
    // taken above (PyList_SetItem steals it).
    unsafe {
        let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
        if list.is_null() {
            for item in items {
                ffi::Py_DecRef(item.as_ptr());
            }
            return Err(PyErr::fetch(py));
        }
        for (i, item) in items.iter().enumerate() {
            ffi::PyList_SetItem(list, i as ffi::Py_ssize_t, item.as_ptr());
        }
        Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

/// A new list that takes over `items`.
pub fn new_list_of_owned<'py, T>(
    py: Python<'py>,
    items: Vec<Bound<'py, T>>,
) -> PyResult<Bound<'py, PyList>> {
    // SAFETY: as in new_list; `into_ptr` hands over each item's reference to the list
    // (the Bounds held them while the list was allocated).
    unsafe {
        let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
        if list.is_null() {
            return Err(PyErr::fetch(py));
        }
        for (i, item) in items.into_iter().enumerate() {
            ffi::PyList_SetItem(list, i as ffi::Py_ssize_t, item.into_ptr());
        }
        Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

// =======================================================================================
// Heap snapshots (crate `heap` module). Everything below serves the whole-heap walk of
// `refscope.snapshot()`; checked against CPython 3.10, 3.11, 3.12 and 3.13.
// =======================================================================================

/// Starts loading the header of `obj` into cache: the walk asks for objects a few ahead
/// of the one it reads, so their first touch (refcount, type) no longer stalls it.
#[inline]
pub fn prefetch(obj: ObjRef<'_>) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that reads nothing into the program and never faults,
    // whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            obj.as_ptr() as *const i8
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = obj;
}

/// [`prefetch`], and the cache line before the object too: the gc header and, on
/// 3.11-3.13, the pre-header with the managed dict or inline values pointer
/// (Include/internal/pycore_object.h) sit just in front of the object.
#[inline]
pub fn prefetch_with_preheader(obj: ObjRef<'_>) {
    prefetch(obj);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `prefetch`: a hint, never a read the program sees, never a fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (obj.as_ptr() as *const i8).wrapping_sub(32),
        )
    };
}

/// CPython 3.11–3.13 keep the attributes of most instances inline ("split" dict values,
/// keyed by the class's shared keys `ht_cached_keys`) until something asks for
/// `__dict__`. Their traversal visits the values without names; these are the names.
///
/// Layouts (checked against each version's Include/internal/pycore_dict.h and
/// pycore_object.h): `PyDictKeysObject` starts with `dk_refcnt` (8 bytes),
/// `dk_log2_size`, `dk_log2_index_bytes`, `dk_kind` (one byte each), `dk_version` (4),
/// `dk_usable` (8), `dk_nentries` (8), then `1 << dk_log2_index_bytes` index bytes and
/// the `PyDictUnicodeEntry {me_key, me_value}` array. The values: 3.11, a
/// `PyDictValues *` four words before the object (NULL once the dict exists); 3.12, the
/// word three words before, tagged with the low bit (`_PyDictOrValues_GetValues` adds
/// 1); 3.13, embedded after `tp_basicsize` as `{capacity, size, embedded, valid}` bytes
/// and the pointer array. The offset of `ht_cached_keys` inside `PyHeapTypeObject`
/// (after `ht_name`, `ht_slots`, `ht_qualname`) is found at start-up by locating a probe
/// class's distinct `__qualname__` object, then the whole scheme is checked on a probe
/// instance with known attributes; if anything disagrees (or on any other minor
/// version), names are left unknown.
#[derive(Clone, Copy, Debug)]
pub struct InlineAttributes {
    minor: u8,
    cached_keys_offset: usize,
}

const TPFLAGS_INLINE_VALUES: u64 = 1 << 2;
const DICT_KEYS_SPLIT: u8 = 2;

/// How to read the inline attribute values of the instances of one exact type
/// ([`InlineAttributes::values_of`]).
#[derive(Clone, Copy, Debug)]
pub struct InlineValues {
    minor: u8,
    type_address: usize,
    /// Entries of the shared keys when the type was read; the values array of every
    /// instance has room for at least as many.
    count: usize,
    basicsize: usize,
}

impl InlineAttributes {
    /// Finds and checks the layout with `probe`, an instance of a class whose
    /// `__qualname__` differs from its name and whose first attributes are `names`, with
    /// the values `values`.
    pub fn discover(
        minor: u8,
        probe: ObjRef<'_>,
        names: &[&str],
        values: &[ObjRef<'_>],
    ) -> Option<Self> {
        if !(11..=13).contains(&minor) {
            return None;
        }
        let tp = type_of(probe);
        let flags = type_flags(tp);
        if flags & (ffi::Py_TPFLAGS_HEAPTYPE as u64) == 0 || flags & TPFLAGS_MANAGED_DICT == 0 {
            return None;
        }
        // The class keeps its qualname (ht_qualname), so the address stays meaningful.
        let qualname = type_attr(tp, TypeAttr::Qualname)?.as_ptr() as usize;
        let heap_type_size = type_number(TypeRef::type_type(probe.py()), TypeAttr::BasicSize)?;
        let words = heap_type_size as usize / 8;
        let mut found = None;
        for i in 0..words {
            // SAFETY: reading words inside the heap type object's own allocation, which
            // is at least `type.__basicsize__` bytes (sizeof(PyHeapTypeObject),
            // Include/cpython/object.h): heap types are instances of type or a subclass.
            let word = unsafe { *(tp.as_ptr() as *const usize).add(i) };
            if word == qualname {
                if found.is_some() {
                    return None; // ambiguous
                }
                found = Some((i + 1) * 8);
            }
        }
        let layout = InlineAttributes {
            minor,
            cached_keys_offset: found?,
        };
        if layout.cached_keys_offset + 8 > heap_type_size as usize {
            return None;
        }
        let keys = layout.shared_keys(tp)?;
        let inline = layout.values_of(tp)?.read(probe)?;
        if keys.len() < names.len() || inline.len() < values.len() {
            return None;
        }
        for (i, (name, value)) in names.iter().zip(values).enumerate() {
            if keys[i].and_then(str_text).as_deref() != Some(*name) || inline[i] != Some(*value) {
                return None;
            }
        }
        Some(layout)
    }

    /// Borrowed key strings of a heap type's shared keys, by entry index (None for an
    /// empty entry); None when the type has none.
    pub fn shared_keys<'py>(&self, tp: TypeRef<'py>) -> Option<Vec<Option<ObjRef<'py>>>> {
        let flags = type_flags(tp);
        if flags & (ffi::Py_TPFLAGS_HEAPTYPE as u64) == 0 || flags & TPFLAGS_MANAGED_DICT == 0 {
            return None;
        }
        // SAFETY: heap types are PyHeapTypeObjects (Include/cpython/object.h); the offset
        // of ht_cached_keys was found and checked by `discover` on this CPython. The keys
        // object is owned by the type (and its keys by the keys object); its fields are
        // read as laid out above (Include/internal/pycore_dict.h, 3.11-3.13), and its kind
        // byte is checked before the entries are read.
        unsafe {
            let keys =
                *((tp.as_ptr() as *const u8).add(self.cached_keys_offset) as *const *const u8);
            if keys.is_null() || *keys.add(10) != DICT_KEYS_SPLIT {
                return None;
            }
            let log2_index_bytes = *keys.add(9) as u32;
            let nentries = *(keys.add(24) as *const isize);
            if !(0..=1 << 16).contains(&nentries) || log2_index_bytes > 20 {
                return None;
            }
            let entries =
                keys.add(32 + (1usize << log2_index_bytes)) as *const [*mut ffi::PyObject; 2];
            Some(
                (0..nentries as usize)
                    .map(|i| ObjRef::from_nullable((*entries.add(i))[0]))
                    .collect(),
            )
        }
    }

    /// How to read the inline values of instances of exactly `tp` (a heap type with a
    /// managed dict), as many as its shared keys have entries now.
    pub fn values_of(&self, tp: TypeRef<'_>) -> Option<InlineValues> {
        let count = self.shared_keys(tp)?.len();
        let basicsize = type_number(tp, TypeAttr::BasicSize)?;
        Some(InlineValues {
            minor: self.minor,
            type_address: tp.address(),
            count,
            basicsize: usize::try_from(basicsize).ok()?,
        })
    }
}

impl InlineValues {
    /// The inline values of `obj` (NULL where unset), or None when `obj` has no inline
    /// values now (its dict exists) or is not an instance of the type.
    pub fn read<'py>(&self, obj: ObjRef<'py>) -> Option<Vec<Option<ObjRef<'py>>>> {
        let mut values = Vec::new();
        self.read_into(obj, &mut values).then_some(values)
    }

    /// [`InlineValues::read`] into `out` (cleared first), so that a walk reuses one
    /// buffer instead of allocating one per instance; false when there are none.
    pub fn read_into<'py>(&self, obj: ObjRef<'py>, out: &mut Vec<Option<ObjRef<'py>>>) -> bool {
        out.clear();
        self.read_values(obj, out).is_some()
    }

    fn read_values<'py>(&self, obj: ObjRef<'py>, out: &mut Vec<Option<ObjRef<'py>>>) -> Option<()> {
        let tp = type_of(obj);
        if tp.address() != self.type_address || type_flags(tp) & TPFLAGS_MANAGED_DICT == 0 {
            return None;
        }
        let count = self.count;
        let base = obj.as_ptr() as *const u8;
        // SAFETY: instances of a managed-dict type have the pre-header words (3.11, 3.12)
        // or, with Py_TPFLAGS_INLINE_VALUES, the embedded values after tp_basicsize
        // (3.13), as laid out above (Include/internal/pycore_object.h and pycore_dict.h of
        // each version); the values array has room for at least the shared keys' entry
        // count (shared_keys_usable_size, Objects/dictobject.c), and each value is NULL or
        // a reference the instance holds.
        unsafe {
            let values: *const *mut ffi::PyObject = match self.minor {
                11 => *(base as *const *const *mut ffi::PyObject).offset(-4),
                12 => {
                    let word = *(base as *const usize).offset(-3);
                    if word & 1 == 0 {
                        return None;
                    }
                    (word + 1) as *const *mut ffi::PyObject
                }
                13 => {
                    if type_flags(tp) & TPFLAGS_INLINE_VALUES == 0 {
                        return None;
                    }
                    let header = base.add(self.basicsize);
                    let capacity = *header as usize;
                    if *header.add(3) == 0 || capacity < count {
                        return None; // not valid: the dict holds the attributes
                    }
                    header.add(8) as *const *mut ffi::PyObject
                }
                _ => return None,
            };
            if values.is_null() {
                return None;
            }
            out.extend((0..count).map(|i| ObjRef::from_nullable(*values.add(i))));
            Some(())
        }
    }
}

/// The contents of a frame that is executing on a thread's stack. From CPython 3.11 on,
/// `frame_traverse` (Objects/frameobject.c) visits nothing inside a frame the thread owns
/// (`owner != FRAME_OWNED_BY_FRAME_OBJECT`): gc treats thread stacks as external roots.
/// A heap snapshot needs those references, named, so they are read from the
/// `_PyInterpreterFrame` (Include/internal/pycore_frame.h) that `PyFrameObject.f_frame`
/// (the word after `f_back`) points to:
///
/// * 3.11: `f_func, f_globals, f_builtins, f_locals, f_code, frame_obj, previous,
///   prev_instr` (8 words), `int stacktop`, `bool is_entry`, `char owner` (byte 69),
///   `localsplus` at byte 72;
/// * 3.12: `f_code, previous, f_funcobj, f_globals, f_builtins, f_locals, frame_obj,
///   prev_instr`, `int stacktop`, `uint16 return_offset`, `char owner` (byte 70),
///   `localsplus` at 72; 3.13 the same with `f_executable` first.
///
/// 3.10 traverses every frame's fast locals itself (`f_localsplus`, at byte 352 of the
/// `PyFrameObject`, Include/cpython/frameobject.h): only their names are read here. Only
/// the first `nlocalsplus` slots (arguments, locals, cells, free variables) are read,
/// which are always NULL or live; their number is taken from the frame's code object.
/// The layout is checked at start-up on a probe frame with known locals; on a mismatch
/// (or another version) frames are left as gc shows them. Every read first checks that
/// the object is a frame (of the type `PyEval_GetFrame` returns).
#[derive(Clone, Copy, Debug)]
pub struct FrameLayout {
    minor: u8,
    frame_type: usize,
}

const FRAME_OWNED_BY_THREAD: u8 = 0;

impl FrameLayout {
    /// The layout for CPython 3.`minor`, checked on `probe` (an executing frame, from
    /// `sys._getframe()`, whose first locals are `values`).
    pub fn discover(minor: u8, probe: ObjRef<'_>, values: &[ObjRef<'_>]) -> Option<Self> {
        if !(10..=13).contains(&minor) {
            return None;
        }
        // SAFETY: PyEval_GetFrame (Python/ceval.c, 3.10-3.13) returns the calling
        // thread's innermost frame object, borrowed (its thread keeps it), or NULL; only
        // its type is read, the frame type (Objects/frameobject.c, PyFrame_Type).
        let frame_type = unsafe {
            let current = ffi::PyEval_GetFrame() as *mut ffi::PyObject;
            if current.is_null() {
                return None;
            }
            ffi::Py_TYPE(current) as usize
        };
        let layout = FrameLayout { minor, frame_type };
        let contents = layout.locals(probe, values.len())?;
        (contents.iter().zip(values).all(|(c, v)| *c == Some(*v)) && contents.len() == values.len())
            .then_some(layout)
    }

    /// The frame type's address.
    pub fn frame_type(&self) -> usize {
        self.frame_type
    }

    fn is_frame(&self, obj: ObjRef<'_>) -> bool {
        type_of(obj).address() == self.frame_type
    }

    fn interpreter_frame(&self, frame: ObjRef<'_>) -> Option<*const u8> {
        if self.minor < 11 || !self.is_frame(frame) {
            return None;
        }
        // SAFETY: frame is a live PyFrameObject (checked above); f_frame is the word
        // after PyObject_HEAD and f_back (struct _frame, Include/internal/pycore_frame.h,
        // 3.11-3.13) and always points at live frame data.
        let data = unsafe { *((frame.as_ptr() as *const u8).add(24) as *const *const u8) };
        (!data.is_null()).then_some(data)
    }

    /// True when the thread owns the frame (it is executing or waiting on a call): then
    /// gc does not look inside it.
    pub fn owned_by_thread(&self, frame: ObjRef<'_>) -> bool {
        let Some(data) = self.interpreter_frame(frame) else {
            return false;
        };
        let owner_offset = if self.minor == 11 { 69 } else { 70 };
        // SAFETY: reading the owner byte of the frame data (layout above).
        unsafe { *data.add(owner_offset) == FRAME_OWNED_BY_THREAD }
    }

    /// Number of fast-local slots of the frame's code: `co_varnames`, the cells that are
    /// not also arguments (3.11+ gives those one slot), `co_freevars`, read through the
    /// C getters of the (final, builtin) frame and code types.
    fn fast_local_count(&self, frame: ObjRef<'_>) -> Option<usize> {
        let code = generic_getattr(frame, c"f_code")?;
        let tuple = TypeFlags {
            is_tuple: true,
            ..Default::default()
        };
        let names = |name: &CStr| -> Option<Vec<String>> {
            let value = generic_getattr(code.as_obj(), name)?;
            if !TypeFlags::of(type_of(value.as_obj())).is_tuple {
                return None;
            }
            let n = builtin_len(value.as_obj(), &tuple)?;
            (0..n)
                .map(|i| sequence_item(value.as_obj(), &tuple, i).and_then(str_text))
                .collect()
        };
        let varnames = names(c"co_varnames")?;
        let cells = names(c"co_cellvars")?;
        let cells = if self.minor >= 11 {
            cells.iter().filter(|c| !varnames.contains(c)).count()
        } else {
            cells.len()
        };
        Some(varnames.len() + cells + names(c"co_freevars")?.len())
    }

    /// The first `count` fast-local slots (None where unbound); None when `count` exceeds
    /// the frame's slots or `frame` is not a frame.
    pub fn locals<'py>(
        &self,
        frame: ObjRef<'py>,
        count: usize,
    ) -> Option<Vec<Option<ObjRef<'py>>>> {
        if !self.is_frame(frame) || count > self.fast_local_count(frame)? {
            return None;
        }
        let slots: *const *mut ffi::PyObject = if self.minor == 10 {
            // SAFETY: f_localsplus of a 3.10 PyFrameObject (layout above).
            unsafe { (frame.as_ptr() as *const u8).add(352) as *const *mut ffi::PyObject }
        } else {
            // SAFETY: localsplus of the frame data (layout above).
            unsafe { self.interpreter_frame(frame)?.add(72) as *const *mut ffi::PyObject }
        };
        // SAFETY: the first nlocalsplus slots exist (count is at most that, checked
        // above) and hold NULL or a reference the frame holds.
        Some(
            (0..count)
                .map(|i| unsafe { ObjRef::from_nullable(*slots.add(i)) })
                .collect(),
        )
    }

    /// `(name, object)` of the frame data's strong object fields other than the locals
    /// (3.11+): the code, the function and the locals dict.
    pub fn fields<'py>(&self, frame: ObjRef<'py>) -> Vec<(&'static str, ObjRef<'py>)> {
        let Some(data) = self.interpreter_frame(frame) else {
            return Vec::new();
        };
        // Only the strong references: f_globals and f_builtins are borrowed there.
        let layout: &[(&'static str, usize)] = if self.minor == 11 {
            &[("(function)", 0), (".f_locals", 24), (".f_code", 32)]
        } else {
            &[(".f_code", 0), ("(function)", 16), (".f_locals", 40)]
        };
        layout
            .iter()
            .filter_map(|&(name, offset)| {
                // SAFETY: object pointer fields of the frame data (layout above), NULL or
                // a reference the frame holds.
                unsafe { ObjRef::from_nullable(*(data.add(offset) as *const *mut ffi::PyObject)) }
                    .map(|obj| (name, obj))
            })
            .collect()
    }
}
