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
    /// The type gives instances no `__dict__`.
    None,
    /// CPython 3.11+ "managed dict" (Py_TPFLAGS_MANAGED_DICT): the pointer lives in the
    /// pre-header, three words before the object (MANAGED_DICT_OFFSET in
    /// Include/internal/pycore_object.h of 3.12 and 3.13; `_PyObject_ManagedDictPointer`
    /// in 3.11's Objects/object.c).
    Managed { minor: u8 },
    /// `tp_dictoffset` > 0: the pointer is at this offset inside the object.
    Offset(isize),
}

/// Py_TPFLAGS_MANAGED_DICT, bit 4 since CPython 3.11 (Include/object.h).
const TPFLAGS_MANAGED_DICT: u64 = 1 << 4;

impl DictSlot {
    /// How instances of heap type `tp` store their dict, on CPython 3.`minor`.
    pub fn of(tp: *mut ffi::PyTypeObject, minor: u8) -> Self {
        if minor >= 11 && type_flags(tp) & TPFLAGS_MANAGED_DICT != 0 {
            // Checked against 3.11, 3.12, 3.13; 3.14 keeps MANAGED_DICT_OFFSET at -3 words.
            return DictSlot::Managed { minor };
        }
        let offset = generic_getattr(tp as ObjPtr, c"__dictoffset__")
            .and_then(|v| {
                let n = int_value(v);
                decref(v);
                n
            })
            .unwrap_or(0);
        // A negative offset (counted from the end of a variable-size object) is left out:
        // such types (int/tuple/bytes subclasses with a __dict__) are rare in cycles.
        if offset > 0 {
            DictSlot::Offset(offset as isize)
        } else {
            DictSlot::None
        }
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

    /// A list that takes over the references, in order (all must have been taken).
    pub fn into_list(
        mut self,
        py: pyo3::Python<'_>,
    ) -> pyo3::PyResult<pyo3::Bound<'_, pyo3::types::PyList>> {
        assert_eq!(
            self.taken,
            self.objects.len(),
            "every reference is taken before into_list"
        );
        let refs = std::mem::take(&mut self.objects);
        self.taken = 0;
        // SAFETY: PyList_New returns a new list with NULL slots (or NULL with an error);
        // PyList_SetItem steals each reference we own and cannot fail for an index in range.
        unsafe {
            let list = ffi::PyList_New(refs.len() as ffi::Py_ssize_t);
            if list.is_null() {
                for obj in refs {
                    ffi::Py_DecRef(obj);
                }
                return Err(pyo3::PyErr::fetch(py));
            }
            for (i, obj) in refs.into_iter().enumerate() {
                ffi::PyList_SetItem(list, i as ffi::Py_ssize_t, obj);
            }
            Ok(pyo3::Bound::from_owned_ptr(py, list).cast_into_unchecked())
        }
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
