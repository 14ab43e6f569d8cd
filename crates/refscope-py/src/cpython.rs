//! All of refscope's CPython-internal knowledge and every `unsafe` block of the binding.
//!
//! Checked against CPython 3.10, 3.11, 3.12 and 3.13 (`Objects/typeobject.c`,
//! `Modules/gcmodule.c`, `Include/descrobject.h`). Everything here uses the limited API
//! (abi3, cp310+): type slots are read with `PyType_GetSlot`, which accepts static types
//! since 3.10. Callers must hold the GIL for every function in this module.
//!
//! Rules every function here keeps:
//! * No user code runs: no `__repr__`, `__eq__`, `__hash__`, `__getattr__`, `__len__`,
//!   `__iter__` or `__sizeof__` of a user class. Only C functions of builtin types and the
//!   objects' own `tp_traverse` are called.
//! * Borrowed pointers are only used while the caller keeps the owning container alive.

use pyo3::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::os::raw::c_char;

pub mod direct_sizeof;
pub mod free_garbage;
pub mod permanent_generation;

/// A borrowed, non-null object pointer that the caller keeps alive.
pub type ObjPtr = *mut ffi::PyObject;

/// The C function gc calls to list an object's references, and the `tp_is_gc` hook that
/// says whether a particular instance takes part in gc (only type objects have one).
#[derive(Clone, Copy)]
pub struct TraverseSlots {
    traverse: Option<ffi::traverseproc>,
    is_gc: Option<ffi::inquiry>,
}

/// Type pointer of `obj`.
#[inline]
pub fn type_of(obj: ObjPtr) -> *mut ffi::PyTypeObject {
    // SAFETY: `obj` is a live object (module rule), so its header is readable.
    unsafe { ffi::Py_TYPE(obj) }
}

/// `tp_flags` of a type.
#[inline]
pub fn type_flags(tp: *mut ffi::PyTypeObject) -> u64 {
    // SAFETY: `tp` is a live type object; PyType_GetFlags only reads it.
    unsafe { ffi::PyType_GetFlags(tp) as u64 }
}

fn slot(tp: *mut ffi::PyTypeObject, id: c_int) -> *mut c_void {
    // SAFETY: PyType_GetSlot accepts static and heap types since 3.10 and returns NULL for
    // an unset slot; an invalid id sets SystemError, which we never pass.
    unsafe { ffi::PyType_GetSlot(tp, id) }
}

impl TraverseSlots {
    /// Reads the traversal slots of `tp`.
    pub fn of(tp: *mut ffi::PyTypeObject) -> Self {
        if type_flags(tp) & (ffi::Py_TPFLAGS_HAVE_GC as u64) == 0 {
            // Like gc.get_referents: objects without Py_TPFLAGS_HAVE_GC are leaves.
            return TraverseSlots {
                traverse: None,
                is_gc: None,
            };
        }
        let traverse = slot(tp, ffi::Py_tp_traverse);
        let is_gc = slot(tp, ffi::Py_tp_is_gc);
        // SAFETY: these slots hold functions of exactly these signatures (object.h).
        unsafe {
            TraverseSlots {
                traverse: (!traverse.is_null())
                    .then(|| std::mem::transmute::<*mut c_void, ffi::traverseproc>(traverse)),
                is_gc: (!is_gc.is_null())
                    .then(|| std::mem::transmute::<*mut c_void, ffi::inquiry>(is_gc)),
            }
        }
    }

    /// Calls `visit(referent, arg)` for each object `obj` refers to, as gc does.
    ///
    /// # Safety
    /// `self` must be the slots of `obj`'s type; `visit` must not run Python code, must not
    /// free objects and must return 0; `arg` must be what `visit` expects.
    #[inline]
    pub unsafe fn traverse(&self, obj: ObjPtr, visit: ffi::visitproc, arg: *mut c_void) {
        let Some(traverse) = self.traverse else {
            return;
        };
        if let Some(is_gc) = self.is_gc {
            // Static type objects are not gc objects: type_traverse() aborts the process
            // (even in release builds) when called on one. gcmodule.c checks
            // _PyObject_IS_GC, i.e. this hook, before traversing; so do we.
            // SAFETY: is_gc is the type's tp_is_gc, called on an instance of that type.
            if unsafe { is_gc(obj) } == 0 {
                return;
            }
        }
        // SAFETY: traverse is obj's tp_traverse; caller guarantees visit/arg contract.
        unsafe { traverse(obj, visit, arg) };
    }
}

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
    pub fn of(tp: *mut ffi::PyTypeObject) -> Self {
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

/// New reference to `getattr(obj, name)` through the *generic* lookup, or None.
///
/// Unlike `getattr`, this ignores a class's own `__getattribute__`/`__getattr__`; it
/// still honours data descriptors, so only call it for names that builtin types define
/// (`__qualname__` on a type, `args` on an exception, `f_code` on a frame...).
pub fn generic_getattr(obj: ObjPtr, name: &CStr) -> Option<ObjPtr> {
    // SAFETY: GIL held; name is a valid C string; the result is a new reference or NULL
    // with an exception set, which we clear (a missing attribute is not an error here).
    unsafe {
        let key = ffi::PyUnicode_InternFromString(name.as_ptr());
        if key.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let value = ffi::PyObject_GenericGetAttr(obj, key);
        ffi::Py_DecRef(key);
        if value.is_null() {
            ffi::PyErr_Clear();
            None
        } else {
            Some(value)
        }
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

/// Borrowed `owner.__dict__[name]` of a static builtin type, found by pointer-free string
/// comparison over `PyDict_Next` (no `__eq__`/`__hash__` runs).
fn static_type_member(owner: *mut ffi::PyTypeObject, name: &CStr) -> Option<ObjPtr> {
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

/// Reads the descriptors once (module initialisation). Needs the GIL.
pub fn load_builtin_descriptors() -> Result<(), &'static str> {
    if BUILTIN_DESCRIPTORS.get().is_some() {
        return Ok(());
    }
    // SAFETY: PyType_Type and PyExc_BaseException are static objects of the interpreter.
    let (type_type, base_exception, list_type) = unsafe {
        (
            std::ptr::addr_of_mut!(ffi::PyType_Type),
            ffi::PyExc_BaseException as *mut ffi::PyTypeObject,
            std::ptr::addr_of_mut!(ffi::PyList_Type),
        )
    };
    let mut type_attrs = [0usize; TYPE_ATTRS.len()];
    for (slot, (_, name)) in type_attrs.iter_mut().zip(TYPE_ATTRS) {
        let descr = static_type_member(type_type, name).ok_or("type lacks a descriptor")?;
        // SAFETY: keeping the descriptor alive for the life of the process.
        unsafe { ffi::Py_IncRef(descr) };
        *slot = descr as usize;
    }
    let args = static_type_member(base_exception, c"args").ok_or("BaseException.args")?;
    let sizeof = static_type_member(list_type, c"__sizeof__").ok_or("list.__sizeof__")?;
    // SAFETY: PyBaseObject_Type is a static object of the interpreter.
    let object_type = std::ptr::addr_of_mut!(ffi::PyBaseObject_Type);
    let object_sizeof =
        static_type_member(object_type, c"__sizeof__").ok_or("object.__sizeof__")?;
    // SAFETY: as above.
    unsafe { ffi::Py_IncRef(args) };
    let descriptors = BuiltinDescriptors {
        type_attrs,
        exception_args: args as usize,
        method_descriptor_type: type_of(sizeof) as usize,
        object_sizeof: object_sizeof as usize,
    };
    if BUILTIN_DESCRIPTORS.set(descriptors).is_err() {
        // Another thread won (cannot happen with the GIL held); our references leak, once.
    }
    Ok(())
}

fn builtin_descriptors() -> Option<&'static BuiltinDescriptors> {
    BUILTIN_DESCRIPTORS.get()
}

/// New reference to `descr.__get__(obj, type(obj))`, calling the descriptor's C slot.
fn call_descriptor(descr: ObjPtr, obj: ObjPtr) -> Option<ObjPtr> {
    let get = slot(type_of(descr), ffi::Py_tp_descr_get);
    if get.is_null() {
        return None;
    }
    // SAFETY: tp_descr_get has the descrgetfunc signature (object.h); `descr` is a member,
    // getset or method descriptor of a builtin type whose getter is C code that checks
    // `obj`'s type (descr_check in Objects/descrobject.c) and reads its C struct. A NULL
    // result comes with an exception set, which we clear.
    unsafe {
        let get = std::mem::transmute::<*mut c_void, ffi::descrgetfunc>(get);
        let value = get(descr, obj, type_of(obj) as ObjPtr);
        if value.is_null() {
            ffi::PyErr_Clear();
            None
        } else {
            Some(value)
        }
    }
}

/// True for type objects (instances of `type` or of a metaclass), read from tp_flags.
pub fn is_type(obj: ObjPtr) -> bool {
    type_flags(type_of(obj)) & (ffi::Py_TPFLAGS_TYPE_SUBCLASS as u64) != 0
}

/// New reference to attribute `which` of class `tp`, read by `type`'s own descriptor.
pub fn type_attr(tp: *mut ffi::PyTypeObject, which: TypeAttr) -> Option<ObjPtr> {
    let descriptors = builtin_descriptors()?;
    if !is_type(tp as ObjPtr) {
        return None;
    }
    let position = TYPE_ATTRS.iter().position(|(attr, _)| *attr == which)?;
    call_descriptor(descriptors.type_attrs[position] as ObjPtr, tp as ObjPtr)
}

/// A numeric attribute of a class (`__basicsize__`, `__dictoffset__`...), from its C struct.
pub fn type_number(tp: *mut ffi::PyTypeObject, which: TypeAttr) -> Option<i64> {
    let value = type_attr(tp, which)?;
    let number = int_value(value);
    decref(value);
    number
}

/// A text attribute of a class (`__qualname__`, `__module__`), None unless a str.
pub fn type_text(tp: *mut ffi::PyTypeObject, which: TypeAttr) -> Option<String> {
    let value = type_attr(tp, which)?;
    let text = str_text(value);
    decref(value);
    text
}

/// Borrowed `tp_dict` of a class: the dict behind `type.__dict__`'s mappingproxy, found by
/// traversing the proxy (mappingproxy_traverse visits only its mapping), so neither the
/// proxy's methods nor the metaclass run.
pub fn class_dict(tp: *mut ffi::PyTypeObject) -> Option<ObjPtr> {
    // SAFETY: PyType_Type is static; for it (and during loading) the descriptor table may
    // not exist yet, so fall back to PyObject_GenericGetAttr on `type` itself, whose
    // metaclass is `type` (no user code can be involved).
    let proxy = match builtin_descriptors() {
        Some(_) => type_attr(tp, TypeAttr::Dict)?,
        None => generic_getattr(tp as ObjPtr, c"__dict__")?,
    };
    let mut dict: Option<ObjPtr> = None;
    let slots = TraverseSlots::of(type_of(proxy));
    let _ = for_each_referent(&slots, proxy, &mut |referent| {
        // SAFETY: PyDict_Check reads the type of a live referent.
        if dict.is_none() && unsafe { ffi::PyDict_Check(referent) } != 0 {
            dict = Some(referent);
        }
    });
    // The class holds its tp_dict, so the borrowed dict outlives the proxy we drop here.
    decref(proxy);
    dict
}

/// Borrowed value of `name` in the first class of `tp`'s MRO whose own dict has it, as
/// `_PyType_Lookup` finds it (Objects/typeobject.c), but comparing keys as text over
/// `PyDict_Next` so no key's `__eq__`/`__hash__` runs and no metaclass is consulted.
pub fn type_lookup(tp: *mut ffi::PyTypeObject, name: &str) -> Option<ObjPtr> {
    let mro = type_attr(tp, TypeAttr::Mro)?;
    let mut found = None;
    // SAFETY: tp_mro is a tuple (PyTuple_Check guards a NULL/None mro of a type being
    // built); its items are borrowed while we hold the tuple.
    let count = unsafe {
        if ffi::PyTuple_Check(mro) != 0 {
            ffi::PyTuple_Size(mro)
        } else {
            0
        }
    };
    for i in 0..count {
        // SAFETY: i is in range of the tuple we hold.
        let cls = unsafe { ffi::PyTuple_GetItem(mro, i) };
        if cls.is_null() || !is_type(cls) {
            continue;
        }
        let Some(dict) = class_dict(cls as *mut ffi::PyTypeObject) else {
            continue;
        };
        for_each_dict_item(dict, |key, value| {
            if str_text(key).as_deref() == Some(name) {
                found = Some(value);
                false
            } else {
                true
            }
        });
        if found.is_some() {
            break;
        }
    }
    decref(mro);
    found
}

/// New reference to the `__sizeof__` that `tp`'s MRO resolves to, when it is a builtin C
/// method (a `method_descriptor`, as `list.__sizeof__` or `object.__sizeof__`); None when
/// a Python class defines its own `__sizeof__` (refscope never calls it). Found without
/// the instance: its own `__dict__` and `__getattribute__` are not consulted
/// (`weakref.proxy` and `super` forward attribute lookups; this does not), which is also
/// how `sys.getsizeof` finds it (`_PyObject_LookupSpecial` on the type).
pub fn builtin_sizeof_method(tp: *mut ffi::PyTypeObject) -> Option<ObjPtr> {
    let descriptors = builtin_descriptors()?;
    let method = type_lookup(tp, "__sizeof__")?;
    if type_of(method) as usize != descriptors.method_descriptor_type {
        return None;
    }
    // SAFETY: a borrowed value of a live class dict; the caller gets its own reference.
    unsafe { ffi::Py_IncRef(method) };
    Some(method)
}

/// True for `object.__sizeof__` itself (`object___sizeof___impl` in Objects/typeobject.c).
pub fn is_object_sizeof(method: ObjPtr) -> bool {
    builtin_descriptors().is_some_and(|d| d.object_sizeof == method as usize)
}

/// `method(obj)` for a method from [`builtin_sizeof_method`] of `obj`'s type.
pub fn call_sizeof(method: ObjPtr, obj: ObjPtr) -> Option<i64> {
    // SAFETY: `method` is a method_descriptor of a builtin type (C code) that the caller
    // holds; it type-checks `obj` (descr_check). The result is a new reference or NULL
    // with an exception set, which we clear.
    unsafe {
        let result =
            ffi::PyObject_CallFunctionObjArgs(method, obj, std::ptr::null_mut::<ffi::PyObject>());
        if result.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let size = int_value(result);
        ffi::Py_DecRef(result);
        size
    }
}

/// New reference to an exception's `args`, read by `BaseException`'s own getter
/// (BaseException_get_args), never a subclass's `args` property.
pub fn exception_args(exc: ObjPtr) -> Option<ObjPtr> {
    let descriptors = builtin_descriptors()?;
    call_descriptor(descriptors.exception_args as ObjPtr, exc)
}

/// The hash of an exact `str` or `int` (C code: a str caches its hash, an int computes it
/// from its digits); None for anything else, whose `__hash__` may be user code.
pub fn builtin_key_hash(obj: ObjPtr) -> Option<i64> {
    // SAFETY: the exact-type checks read the object's type pointer; PyObject_Hash on an
    // exact str or int runs only their C hash functions, which cannot fail.
    unsafe {
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

/// Drops a new reference obtained from this module.
pub fn decref(obj: ObjPtr) {
    // SAFETY: obj is a new (owned) reference handed out by this module.
    unsafe { ffi::Py_DecRef(obj) }
}

/// Calls `each(key, value)` for the items of a dict (or dict subclass) without running
/// user code: PyDict_Next reads the table directly, never `__iter__` or `__hash__`.
pub fn for_each_dict_item(dict: ObjPtr, mut each: impl FnMut(ObjPtr, ObjPtr) -> bool) {
    let mut position: ffi::Py_ssize_t = 0;
    let mut key: ObjPtr = std::ptr::null_mut();
    let mut value: ObjPtr = std::ptr::null_mut();
    // SAFETY: dict is a live dict; PyDict_Next yields borrowed refs valid while the dict
    // is unchanged, and `each` does not mutate it (it only compares and formats).
    while unsafe { ffi::PyDict_Next(dict, &mut position, &mut key, &mut value) } != 0 {
        if !each(key, value) {
            break;
        }
    }
}

/// Number of items in a dict, list or tuple (or subclass), read from the C struct.
pub fn builtin_len(obj: ObjPtr, flags: &TypeFlags) -> Option<isize> {
    // SAFETY: each size function is called on an instance of its own type family and reads
    // the C structure (no `__len__`).
    let n = unsafe {
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
    (n >= 0).then_some(n)
}

/// Borrowed item `i` of a list or tuple (or subclass).
pub fn sequence_item(obj: ObjPtr, flags: &TypeFlags, i: isize) -> Option<ObjPtr> {
    // SAFETY: bounds-checked getters returning borrowed references; NULL on error.
    let item = unsafe {
        if flags.is_list {
            ffi::PyList_GetItem(obj, i)
        } else if flags.is_tuple {
            ffi::PyTuple_GetItem(obj, i)
        } else {
            return None;
        }
    };
    if item.is_null() {
        // SAFETY: clearing the IndexError of an out-of-range or half-built slot.
        unsafe { ffi::PyErr_Clear() };
        None
    } else {
        Some(item)
    }
}

/// New reference to an object's instance `__dict__`, or None if it has none.
///
/// Uses `PyObject_GenericGetDict`, never the class's `__dict__` attribute lookup (which a
/// class may override). On 3.11+ this *materialises* a dict for objects whose attributes
/// live inline; refscope only calls it after the walk, for objects on reported cycles.
pub fn instance_dict(obj: ObjPtr) -> Option<ObjPtr> {
    // SAFETY: GIL held; result is a new reference or NULL with AttributeError set.
    unsafe {
        let dict = ffi::PyObject_GenericGetDict(obj, std::ptr::null_mut());
        if dict.is_null() {
            ffi::PyErr_Clear();
            None
        } else if ffi::PyDict_Check(dict) == 0 {
            ffi::Py_DecRef(dict);
            None
        } else {
            Some(dict)
        }
    }
}

// Member type codes from Include/descrobject.h (Py_T_OBJECT is `_Py_T_OBJECT` in 3.12+).
const MEMBER_T_OBJECT: c_int = 6;
const MEMBER_T_OBJECT_EX: c_int = 16;
const MEMBER_RELATIVE_OFFSET: c_int = 8;

/// `(name, value)` of every object-valued `__slots__`/member slot of `obj`, walking the
/// `tp_base` chain (slots can only be laid out along single inheritance). Values are
/// borrowed and may be NULL (an unset slot).
pub fn for_each_member_slot(obj: ObjPtr, mut each: impl FnMut(&str, ObjPtr) -> bool) {
    let mut tp = type_of(obj);
    let mut depth = 0;
    while !tp.is_null() && depth < 64 {
        let mut member = slot(tp, ffi::Py_tp_members) as *const ffi::PyMemberDef;
        // SAFETY: tp_members is a NULL-name-terminated array of PyMemberDef; each offset
        // (when not relative) is an offset into instances of `tp`, and `obj` is one
        // (tp is in obj's base chain). Object members hold a PyObject* or NULL.
        unsafe {
            while !member.is_null() && !(*member).name.is_null() {
                let def = &*member;
                let is_object =
                    def.type_code == MEMBER_T_OBJECT || def.type_code == MEMBER_T_OBJECT_EX;
                if is_object && def.flags & MEMBER_RELATIVE_OFFSET == 0 && def.offset > 0 {
                    let field = (obj as *const u8).offset(def.offset) as *const ObjPtr;
                    let name = CStr::from_ptr(def.name as *const c_char).to_string_lossy();
                    if !each(&name, *field) {
                        return;
                    }
                }
                member = member.add(1);
            }
        }
        tp = slot(tp, ffi::Py_tp_base) as *mut ffi::PyTypeObject;
        depth += 1;
    }
}

/// `__traceback__`, `__context__` and `__cause__` of an exception, as new references.
pub fn exception_links(exc: ObjPtr) -> [(&'static str, Option<ObjPtr>); 3] {
    // SAFETY: exc is an exception instance; each getter returns a new reference or NULL
    // without setting an error and reads the BaseException struct directly.
    unsafe {
        let wrap = |p: ObjPtr| (!p.is_null()).then_some(p);
        [
            ("__traceback__", wrap(ffi::PyException_GetTraceback(exc))),
            ("__context__", wrap(ffi::PyException_GetContext(exc))),
            ("__cause__", wrap(ffi::PyException_GetCause(exc))),
        ]
    }
}

/// UTF-8 text of a str (or str subclass) without calling `__str__`; None if not a str or
/// not encodable (lone surrogates).
pub fn str_text(obj: ObjPtr) -> Option<String> {
    // SAFETY: PyUnicode_Check reads flags; AsUTF8AndSize reads the string's own buffer and
    // returns NULL with an error set on failure, which we clear.
    unsafe {
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
pub fn int_value(obj: ObjPtr) -> Option<i64> {
    // SAFETY: PyLong_Check reads flags; for an int instance PyLong_AsLongLong reads the
    // digits directly and only fails with OverflowError, which we clear.
    unsafe {
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
pub fn float_value(obj: ObjPtr) -> Option<f64> {
    // SAFETY: PyFloat_Check reads flags; PyFloat_AsDouble reads ob_fval for floats.
    unsafe { (ffi::PyFloat_Check(obj) != 0).then(|| ffi::PyFloat_AsDouble(obj)) }
}

/// True for `None`, `True` and `False`, with their literal.
pub fn singleton_literal(obj: ObjPtr) -> Option<&'static str> {
    // SAFETY: comparing against the interpreter's singletons.
    unsafe {
        if obj == ffi::Py_None() {
            Some("None")
        } else if obj == ffi::Py_True() {
            Some("True")
        } else if obj == ffi::Py_False() {
            Some("False")
        } else {
            None
        }
    }
}

/// `ob_size` of a variable-size object (only meaningful when the type's itemsize > 0 and
/// the type is not int, whose layout changed in 3.12).
pub fn var_size(obj: ObjPtr) -> isize {
    // SAFETY: caller checked the object is a PyVarObject (itemsize > 0).
    unsafe { ffi::Py_SIZE(obj) }
}

/// Borrowed items of a list, in order. The caller keeps the list alive and unchanged.
pub fn list_items(list: ObjPtr) -> Vec<ObjPtr> {
    // SAFETY: list is a live list; PyList_GetItem returns borrowed references in range.
    unsafe {
        let n = ffi::PyList_Size(list).max(0);
        (0..n)
            .map(|i| ffi::PyList_GetItem(list, i))
            .filter(|p| !p.is_null())
            .collect()
    }
}

/// Calls `each(referent)` for every reference `obj` holds, through its `tp_traverse`.
///
/// `each` runs inside CPython's traversal, so it must not call Python code. A panic in
/// `each` is caught here (it must not unwind through C) and reported as `Err`.
pub fn for_each_referent<F: FnMut(ObjPtr)>(
    slots: &TraverseSlots,
    obj: ObjPtr,
    each: &mut F,
) -> Result<(), ()> {
    struct State<'a, F> {
        each: &'a mut F,
        panicked: bool,
    }
    unsafe extern "C" fn visit<F: FnMut(ObjPtr)>(referent: ObjPtr, arg: *mut c_void) -> c_int {
        // SAFETY: arg is the &mut State passed below, alive for the whole traversal.
        let state = unsafe { &mut *(arg as *mut State<'_, F>) };
        if referent.is_null() {
            return 0;
        }
        let each = &mut *state.each;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| each(referent))) {
            Ok(()) => 0,
            Err(_) => {
                state.panicked = true;
                1 // a non-zero return stops the traversal
            }
        }
    }
    let mut state = State {
        each,
        panicked: false,
    };
    // SAFETY: `visit` runs no Python code and returns 0 unless stopping; `state` outlives
    // the call.
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

/// True for an exact `dict` (not a subclass).
pub fn is_exact_dict(obj: ObjPtr) -> bool {
    // SAFETY: PyDict_CheckExact compares the type pointer of a live object.
    unsafe { ffi::PyDict_CheckExact(obj) != 0 }
}

/// A new strong reference to a borrowed object the caller keeps alive.
pub fn borrowed(py: pyo3::Python<'_>, obj: ObjPtr) -> pyo3::Bound<'_, pyo3::PyAny> {
    // SAFETY: obj is non-null and alive (module rule); from_borrowed_ptr increfs it.
    unsafe { pyo3::Bound::from_borrowed_ptr(py, obj) }
}

/// Where an instance keeps its own `__dict__` pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictSlot {
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
    /// How instances of heap type `tp` store their dict, on CPython 3.`minor`.
    pub fn of(tp: *mut ffi::PyTypeObject, minor: u8) -> Self {
        if minor >= 11 && type_flags(tp) & TPFLAGS_MANAGED_DICT != 0 {
            // The pre-header layout was checked against 3.11, 3.12 and 3.13 only.
            return if (11..=13).contains(&minor) {
                DictSlot::Managed { minor }
            } else {
                DictSlot::None
            };
        }
        let offset = type_number(tp, TypeAttr::DictOffset).unwrap_or(0);
        if offset > 0 {
            return DictSlot::Offset(offset as isize);
        }
        // 3.12+ gives every such type a managed dict (tp_dictoffset == -1), handled above.
        if offset < 0 && offset != -1 && (10..=11).contains(&minor) {
            let basicsize = type_number(tp, TypeAttr::BasicSize).unwrap_or(0);
            let itemsize = type_number(tp, TypeAttr::ItemSize).unwrap_or(0);
            if basicsize > 0 && itemsize > 0 {
                return DictSlot::FromEnd {
                    offset: offset as isize,
                    basicsize: basicsize as isize,
                    itemsize: itemsize as isize,
                };
            }
        }
        DictSlot::None
    }

    /// The instance's own dict if it exists already; never creates one.
    pub fn materialised_dict(self, obj: ObjPtr) -> Option<ObjPtr> {
        let raw: usize = match self {
            DictSlot::None => return None,
            // SAFETY: for a managed-dict type, CPython allocates three words of pre-header
            // before the object; the word at -3 is the dict pointer (3.11, 3.13: a plain
            // pointer or NULL; 3.12: a PyDictOrValues union whose low bit tags "values").
            DictSlot::Managed { minor } => unsafe {
                let word = *((obj as *const usize).offset(-3));
                if minor == 12 && word & 1 == 1 {
                    return None;
                }
                word
            },
            // SAFETY: tp_dictoffset > 0 is the offset of a PyObject* field inside every
            // instance of the type (Objects/object.c, _PyObject_GetDictPtr).
            DictSlot::Offset(offset) => unsafe {
                *((obj as *const u8).offset(offset) as *const usize)
            },
            DictSlot::FromEnd {
                offset,
                basicsize,
                itemsize,
            } => {
                // SAFETY: the type is a variable-size type (itemsize > 0), so the object
                // is a PyVarObject; the computed slot is where CPython itself keeps the
                // dict pointer (_PyObject_GetDictPtr, 3.10/3.11), inside the allocation.
                let items = unsafe { ffi::Py_SIZE(obj) }.unsigned_abs() as isize;
                let pointer = std::mem::size_of::<usize>() as isize;
                let size = (basicsize + items * itemsize + pointer - 1) & !(pointer - 1);
                // SAFETY: as above.
                unsafe { *((obj as *const u8).offset(size + offset) as *const usize) }
            }
        };
        // SAFETY: a non-null dict pointer names a live dict owned by the object.
        (raw != 0 && unsafe { ffi::PyDict_Check(raw as ObjPtr) } != 0).then_some(raw as ObjPtr)
    }
}

/// A list of objects whose first `taken` entries hold a strong reference of ours (taken
/// one by one with [`OwnedRefs::take_reference`]); released on drop unless handed to a
/// Python list with [`OwnedRefs::into_list`].
pub struct OwnedRefs {
    objects: Vec<ObjPtr>,
    taken: usize,
}

impl OwnedRefs {
    /// Adopts borrowed pointers (kept alive by the caller until references are taken).
    pub fn adopt(objects: Vec<ObjPtr>) -> Self {
        OwnedRefs { objects, taken: 0 }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn object(&self, i: usize) -> ObjPtr {
        self.objects[i]
    }

    /// Takes our reference to object `i`; references are taken in order.
    #[inline]
    pub fn take_reference(&mut self, i: usize) {
        debug_assert_eq!(i, self.taken);
        // SAFETY: the object is alive (borrowed from the caller's list) and the GIL is held.
        unsafe { ffi::Py_IncRef(self.objects[i]) };
        self.taken = i + 1;
    }

    /// Owned handles that take over the references, in order (all must have been taken).
    pub fn into_owned(mut self, py: pyo3::Python<'_>) -> Vec<pyo3::Py<pyo3::PyAny>> {
        assert_eq!(
            self.taken,
            self.objects.len(),
            "every reference is taken before into_owned"
        );
        let refs = std::mem::take(&mut self.objects);
        self.taken = 0;
        refs.into_iter()
            // SAFETY: each pointer carries one strong reference taken by `take_reference`,
            // which the handle adopts.
            .map(|obj| unsafe { pyo3::Bound::from_owned_ptr(py, obj) }.unbind())
            .collect()
    }
}

impl Drop for OwnedRefs {
    fn drop(&mut self) {
        for &obj in &self.objects[..self.taken] {
            // SAFETY: these hold one reference taken by `take_reference`; dropping happens
            // with the GIL held (OwnedRefs never leaves the analysing call).
            unsafe { ffi::Py_DecRef(obj) };
        }
    }
}

/// New reference to `getattr(obj, name)` through the generic lookup (see
/// [`generic_getattr`]), with `name` a str object; None (error cleared) if missing.
pub fn generic_getattr_object(obj: ObjPtr, name: ObjPtr) -> Option<ObjPtr> {
    // SAFETY: GIL held; name is a str; the result is a new reference or NULL with an
    // AttributeError set, which we clear.
    unsafe {
        let value = ffi::PyObject_GenericGetAttr(obj, name);
        if value.is_null() {
            ffi::PyErr_Clear();
            None
        } else {
            Some(value)
        }
    }
}

/// Whether a type's instances are descriptors: (`__get__`, `__set__`/`__delete__`).
pub fn descriptor_slots(tp: *mut ffi::PyTypeObject) -> (bool, bool) {
    (
        !slot(tp, ffi::Py_tp_descr_get).is_null(),
        !slot(tp, ffi::Py_tp_descr_set).is_null(),
    )
}

/// Takes ownership of a new reference handed out by this module.
pub fn owned(py: pyo3::Python<'_>, obj: ObjPtr) -> pyo3::Bound<'_, pyo3::PyAny> {
    // SAFETY: obj is a non-null new reference (e.g. from generic_getattr) that we own.
    unsafe { pyo3::Bound::from_owned_ptr(py, obj) }
}

/// A new list holding new references to `items` (alive, GIL held). Direct C calls: this
/// builds one list per cycle, hundreds of thousands of times for the recipe's format.
pub fn new_list<'py>(
    py: pyo3::Python<'py>,
    items: &[ObjPtr],
) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyList>> {
    // SAFETY: PyList_New returns a list with NULL slots or NULL with an error set; each
    // slot is filled exactly once with a new reference (PyList_SetItem steals it).
    unsafe {
        let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
        if list.is_null() {
            return Err(pyo3::PyErr::fetch(py));
        }
        for (i, &obj) in items.iter().enumerate() {
            ffi::Py_IncRef(obj);
            ffi::PyList_SetItem(list, i as ffi::Py_ssize_t, obj);
        }
        Ok(pyo3::Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

/// A new list that takes over `items`.
pub fn new_list_of_owned<'py, T>(
    py: pyo3::Python<'py>,
    items: Vec<pyo3::Bound<'py, T>>,
) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyList>> {
    // SAFETY: as in new_list; `into_ptr` hands over each item's reference to the list.
    unsafe {
        let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
        if list.is_null() {
            return Err(pyo3::PyErr::fetch(py));
        }
        for (i, item) in items.into_iter().enumerate() {
            ffi::PyList_SetItem(list, i as ffi::Py_ssize_t, item.into_ptr());
        }
        Ok(pyo3::Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

// =======================================================================================
// Heap snapshots (crate `heap` module). Everything below serves the whole-heap walk of
// `refscope.snapshot()`; checked against CPython 3.10, 3.11, 3.12 and 3.13.
// =======================================================================================

/// Starts loading the header of `obj` into cache: the walk asks for objects a few ahead
/// of the one it reads, so their first touch (refcount, type) no longer stalls it.
#[inline]
pub fn prefetch(obj: ObjPtr) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that reads nothing into the program and never faults,
    // whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(obj as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = obj;
}

/// Reference count of a live object (`Py_REFCNT`).
#[inline]
pub fn refcount(obj: ObjPtr) -> isize {
    // SAFETY: obj is live (module rule); reading the count has no side effect.
    unsafe { ffi::Py_REFCNT(obj) }
}

/// True for an immortal object (PEP 683, CPython 3.12 and 3.13): the low 32 bits of the
/// count, read as signed, are negative (`_Py_IsImmortal` in Include/object.h).
#[inline]
pub fn is_immortal(obj: ObjPtr, minor: u8) -> bool {
    minor >= 12 && (refcount(obj) as u64 as u32 as i32) < 0
}

/// Turns automatic collection off for the duration of a walk that holds the GIL
/// throughout (no other thread can observe the change); returns whether it was on.
pub fn pause_automatic_gc() -> bool {
    // SAFETY: PyGC_Disable (3.10+) only flips the interpreter's gc flag.
    unsafe { ffi::PyGC_Disable() != 0 }
}

/// Restores automatic collection after [`pause_automatic_gc`].
pub fn resume_automatic_gc(was_enabled: bool) {
    if was_enabled {
        // SAFETY: as above.
        unsafe { ffi::PyGC_Enable() };
    }
}

/// `_PyObject_IS_GC`: the type has Py_TPFLAGS_HAVE_GC and, if it has a `tp_is_gc` hook
/// (only type objects do), the hook says this instance takes part in gc.
pub fn object_is_gc(obj: ObjPtr) -> bool {
    let tp = type_of(obj);
    if type_flags(tp) & (ffi::Py_TPFLAGS_HAVE_GC as u64) == 0 {
        return false;
    }
    let is_gc = slot(tp, ffi::Py_tp_is_gc);
    if is_gc.is_null() {
        return true;
    }
    // SAFETY: tp_is_gc has the inquiry signature and is called on an instance of its type.
    unsafe { std::mem::transmute::<*mut c_void, ffi::inquiry>(is_gc)(obj) != 0 }
}

/// The `object` type.
pub fn object_type() -> *mut ffi::PyTypeObject {
    std::ptr::addr_of_mut!(ffi::PyBaseObject_Type)
}

impl TraverseSlots {
    /// True when `tp` has a `tp_is_gc` hook (whether an instance is a gc object is then
    /// decided per instance: only type objects have one).
    pub fn has_is_gc(tp: *mut ffi::PyTypeObject) -> bool {
        !slot(tp, ffi::Py_tp_is_gc).is_null()
    }
}

/// Borrowed globals dict of a module object (`PyModule_GetDict`, C), None for anything
/// that is not a module (a `sys.modules` entry can be any object).
pub fn module_dict(obj: ObjPtr) -> Option<ObjPtr> {
    // SAFETY: PyModule_Check reads the type; PyModule_GetDict returns the module's own
    // dict, borrowed, without running code.
    unsafe {
        if ffi::PyModule_Check(obj) == 0 {
            return None;
        }
        let dict = ffi::PyModule_GetDict(obj);
        (!dict.is_null()).then_some(dict)
    }
}

/// True for exact `list` / `tuple` (item order is the traversal order).
pub fn is_exact_list_or_tuple(obj: ObjPtr) -> bool {
    // SAFETY: type checks of a live object.
    unsafe { ffi::PyList_CheckExact(obj) != 0 || ffi::PyTuple_CheckExact(obj) != 0 }
}

/// `(offset, name)` of every object-valued member (`T_OBJECT`/`T_OBJECT_EX`) of
/// instances of `tp`, along its `tp_base` chain (Include/descrobject.h, PyMemberDef).
pub fn object_members(tp: *mut ffi::PyTypeObject) -> Vec<(isize, String)> {
    let mut out = Vec::new();
    let mut tp = tp;
    let mut depth = 0;
    while !tp.is_null() && depth < 64 {
        let mut member = slot(tp, ffi::Py_tp_members) as *const ffi::PyMemberDef;
        // SAFETY: tp_members is a NULL-name-terminated array of PyMemberDef.
        unsafe {
            while !member.is_null() && !(*member).name.is_null() {
                let def = &*member;
                let is_object =
                    def.type_code == MEMBER_T_OBJECT || def.type_code == MEMBER_T_OBJECT_EX;
                if is_object && def.flags & MEMBER_RELATIVE_OFFSET == 0 && def.offset > 0 {
                    let name = CStr::from_ptr(def.name as *const c_char).to_string_lossy();
                    if !out.iter().any(|(o, _)| *o == def.offset) {
                        out.push((def.offset, name.into_owned()));
                    }
                }
                member = member.add(1);
            }
        }
        tp = slot(tp, ffi::Py_tp_base) as *mut ffi::PyTypeObject;
        depth += 1;
    }
    out
}

/// The object pointer stored at `offset` in `obj` (may be NULL).
///
/// # Safety
/// `offset` must come from [`object_members`] of `obj`'s type or one of its bases.
#[inline]
pub unsafe fn member_value(obj: ObjPtr, offset: isize) -> ObjPtr {
    // SAFETY: the caller guarantees a PyObject* field at this offset.
    unsafe { *((obj as *const u8).offset(offset) as *const ObjPtr) }
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
/// instance with known attributes; if anything disagrees, names are left unknown.
#[derive(Clone, Copy, Debug)]
pub struct InlineAttributes {
    minor: u8,
    cached_keys_offset: usize,
}

const TPFLAGS_INLINE_VALUES: u64 = 1 << 2;
const DICT_KEYS_SPLIT: u8 = 2;

impl InlineAttributes {
    /// Finds and checks the layout with `probe`, an instance of a class whose
    /// `__qualname__` differs from its name and whose first attributes are `names`, with
    /// the values `values`.
    pub fn discover(minor: u8, probe: ObjPtr, names: &[&str], values: &[ObjPtr]) -> Option<Self> {
        if !(11..=13).contains(&minor) {
            return None;
        }
        let tp = type_of(probe);
        let flags = type_flags(tp);
        if flags & (ffi::Py_TPFLAGS_HEAPTYPE as u64) == 0 || flags & TPFLAGS_MANAGED_DICT == 0 {
            return None;
        }
        let qualname = type_attr(tp, TypeAttr::Qualname)?;
        decref(qualname); // the class keeps it (ht_qualname)
        let heap_type_size = type_number(
            std::ptr::addr_of_mut!(ffi::PyType_Type),
            TypeAttr::BasicSize,
        )? as usize;
        let words = heap_type_size / 8;
        let mut found = None;
        for i in 0..words {
            // SAFETY: reading words inside the type object's own allocation
            // (`type.__basicsize__` bytes, the size of PyHeapTypeObject).
            let word = unsafe { *(tp as *const usize).add(i) };
            if word == qualname as usize {
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
        if layout.cached_keys_offset + 8 > heap_type_size {
            return None;
        }
        let keys = layout.shared_keys(tp)?;
        let basicsize = type_number(tp, TypeAttr::BasicSize)? as usize;
        let inline = layout.values(probe, keys.len(), basicsize)?;
        if keys.len() < names.len() || inline.len() < values.len() {
            return None;
        }
        for (i, (name, value)) in names.iter().zip(values).enumerate() {
            if str_text(keys[i]).as_deref() != Some(*name) || inline[i] != *value {
                return None;
            }
        }
        Some(layout)
    }

    /// Borrowed key strings of a heap type's shared keys, by entry index; None when the
    /// type has none.
    pub fn shared_keys(&self, tp: *mut ffi::PyTypeObject) -> Option<Vec<ObjPtr>> {
        let flags = type_flags(tp);
        if flags & (ffi::Py_TPFLAGS_HEAPTYPE as u64) == 0 || flags & TPFLAGS_MANAGED_DICT == 0 {
            return None;
        }
        // SAFETY: heap types are PyHeapTypeObject; the offset was found and checked by
        // `discover`. The keys object is owned by the type; its fields are read as laid
        // out above, and its kind byte is checked before the entries are read.
        unsafe {
            let keys = *((tp as *const u8).add(self.cached_keys_offset) as *const *const u8);
            if keys.is_null() || *keys.add(10) != DICT_KEYS_SPLIT {
                return None;
            }
            let log2_index_bytes = *keys.add(9) as u32;
            let nentries = *(keys.add(24) as *const isize);
            if !(0..=1 << 16).contains(&nentries) || log2_index_bytes > 20 {
                return None;
            }
            let entries = keys.add(32 + (1usize << log2_index_bytes)) as *const [ObjPtr; 2];
            Some(
                (0..nentries as usize)
                    .map(|i| (*entries.add(i))[0])
                    .collect(),
            )
        }
    }

    /// The inline values of `obj` (first `count`, NULL where unset), or None when `obj`
    /// has no inline values now (its dict exists).
    /// `basicsize` is `type(obj).__basicsize__`.
    pub fn values(&self, obj: ObjPtr, count: usize, basicsize: usize) -> Option<Vec<ObjPtr>> {
        let tp = type_of(obj);
        if type_flags(tp) & TPFLAGS_MANAGED_DICT == 0 {
            return None;
        }
        // SAFETY: managed-dict instances have the pre-header words (3.11, 3.12) or, with
        // Py_TPFLAGS_INLINE_VALUES, the embedded values after tp_basicsize (3.13), as laid
        // out above; the values array holds at least the shared keys' entry count.
        unsafe {
            let values: *const ObjPtr = match self.minor {
                11 => *((obj as *const *const ObjPtr).offset(-4)),
                12 => {
                    let word = *((obj as *const usize).offset(-3));
                    if word & 1 == 0 {
                        return None;
                    }
                    (word + 1) as *const ObjPtr
                }
                13 => {
                    if type_flags(tp) & TPFLAGS_INLINE_VALUES == 0 {
                        return None;
                    }
                    let header = (obj as *const u8).add(basicsize);
                    let capacity = *header as usize;
                    if *header.add(3) == 0 || capacity < count {
                        return None; // not valid: the dict holds the attributes
                    }
                    header.add(8) as *const ObjPtr
                }
                _ => return None,
            };
            if values.is_null() {
                return None;
            }
            Some((0..count).map(|i| *values.add(i)).collect())
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
/// `PyFrameObject`): only their names are read here. Only the first `nlocalsplus` slots
/// (arguments, locals, cells, free variables) are read, which are always NULL or live.
/// The layout is checked at start-up on a probe frame with known locals; on a mismatch
/// (or another version) frames are left as gc shows them.
#[derive(Clone, Copy, Debug)]
pub struct FrameLayout {
    minor: u8,
}

const FRAME_OWNED_BY_THREAD: u8 = 0;

impl FrameLayout {
    /// The layout for CPython 3.`minor`, checked on `probe` (an executing frame, from
    /// `sys._getframe()`, whose first locals are `values`).
    pub fn discover(minor: u8, probe: ObjPtr, values: &[ObjPtr]) -> Option<Self> {
        if !(10..=13).contains(&minor) {
            return None;
        }
        let layout = FrameLayout { minor };
        let contents = layout.locals(probe, values.len())?;
        (contents == values).then_some(layout)
    }

    fn interpreter_frame(&self, frame: ObjPtr) -> Option<*const u8> {
        if self.minor < 11 {
            return None;
        }
        // SAFETY: frame is a live PyFrameObject (checked by the caller); f_frame is the
        // word after PyObject_HEAD and f_back, and always points at live frame data.
        let data = unsafe { *((frame as *const u8).add(24) as *const *const u8) };
        (!data.is_null()).then_some(data)
    }

    /// True when the thread owns the frame (it is executing or waiting on a call): then
    /// gc does not look inside it.
    pub fn owned_by_thread(&self, frame: ObjPtr) -> bool {
        let Some(data) = self.interpreter_frame(frame) else {
            return false;
        };
        let owner_offset = if self.minor == 11 { 69 } else { 70 };
        // SAFETY: reading the owner byte of the frame data (layout above).
        unsafe { *data.add(owner_offset) == FRAME_OWNED_BY_THREAD }
    }

    /// The first `count` fast-local slots (NULL where unbound).
    pub fn locals(&self, frame: ObjPtr, count: usize) -> Option<Vec<ObjPtr>> {
        let slots: *const ObjPtr = if self.minor == 10 {
            // SAFETY: f_localsplus of a 3.10 PyFrameObject (layout above).
            unsafe { (frame as *const u8).add(352) as *const ObjPtr }
        } else {
            // SAFETY: localsplus of the frame data (layout above).
            unsafe { self.interpreter_frame(frame)?.add(72) as *const ObjPtr }
        };
        // SAFETY: the first nlocalsplus slots exist and hold NULL or a live object.
        Some((0..count).map(|i| unsafe { *slots.add(i) }).collect())
    }

    /// `(name, object)` of the frame data's strong object fields other than the locals
    /// (3.11+): the code, the function and the locals dict.
    pub fn fields(&self, frame: ObjPtr) -> Vec<(&'static str, ObjPtr)> {
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
            // SAFETY: object pointer fields of the frame data (layout above), NULL or live.
            .map(|&(name, offset)| (name, unsafe { *(data.add(offset) as *const ObjPtr) }))
            .filter(|(_, p)| !p.is_null())
            .collect()
    }
}
