//! A builtin `__sizeof__` called as the C function it is, without the call machinery.
//!
//! A heap snapshot sizes every str, int, list, dict... through its type's builtin
//! `__sizeof__` (the method descriptor [`super::builtin_sizeof_method`] finds). Calling
//! the descriptor through `PyObject_CallFunctionObjArgs` costs more than the size
//! computation itself (varargs packing, vectorcall dispatch, `descr_check`, the recursion
//! guard): a tenth of a whole snapshot. A `METH_NOARGS` method is `ml_meth(self, NULL)`
//! (`method_vectorcall_NOARGS`, Objects/descrobject.c), so that is what is called here,
//! on instances of the type the descriptor was found on (so `descr_check` would pass).
//!
//! Layout (Include/descrobject.h, identical in 3.10-3.13): `PyMethodDescrObject` is
//! `PyDescr_COMMON` (`PyObject_HEAD`, `d_type`, `d_name`, `d_qualname`: five words) then
//! `PyMethodDef *d_method`. The layout is checked on each descriptor before use: the
//! descriptor must be a `method_descriptor`, its `PyMethodDef` must be named `__sizeof__`,
//! its `d_type` must be the type being sized and its flags exactly `METH_NOARGS`;
//! otherwise the caller keeps calling the descriptor the ordinary way.

use super::ObjPtr;
use pyo3::ffi;
use std::ffi::CStr;

/// Words before `d_method` in a `PyMethodDescrObject`.
const D_METHOD_WORD: usize = 5;
/// Word of `d_type`.
const D_TYPE_WORD: usize = 2;

/// The C function behind a builtin `__sizeof__` method descriptor.
#[derive(Clone, Copy)]
pub struct DirectSizeof {
    function: ffi::PyCFunction,
}

impl DirectSizeof {
    /// The C function of `method` (from [`super::builtin_sizeof_method`] of `tp`), if the
    /// descriptor is laid out as expected; None otherwise.
    pub fn of(method: ObjPtr, tp: *mut ffi::PyTypeObject) -> Option<DirectSizeof> {
        let descriptors = super::builtin_descriptors()?;
        if super::type_of(method) as usize != descriptors.method_descriptor_type {
            return None;
        }
        // SAFETY: `method` is a live method_descriptor (checked above), so it is a
        // PyMethodDescrObject (Include/descrobject.h) and its first six words are
        // readable; `d_method` points to the static PyMethodDef it was made from, whose
        // name is a NUL-terminated C string.
        unsafe {
            let words = method as *const usize;
            let d_type = *words.add(D_TYPE_WORD);
            let def = *words.add(D_METHOD_WORD) as *const ffi::PyMethodDef;
            if def.is_null() || (*def).ml_name.is_null() {
                return None;
            }
            let type_defined_on = d_type as *mut ffi::PyTypeObject;
            // The method must come from `tp` or a base it inherits it from.
            if ffi::PyType_IsSubtype(tp, type_defined_on) == 0 {
                return None;
            }
            if CStr::from_ptr((*def).ml_name).to_bytes() != b"__sizeof__"
                || (*def).ml_flags != ffi::METH_NOARGS
            {
                return None;
            }
            let function = (*def).ml_meth.PyCFunction;
            Some(DirectSizeof { function })
        }
    }

    /// `type(obj).__sizeof__(obj)`, for `obj` an instance of the type this was made for.
    #[inline]
    pub fn call(&self, obj: ObjPtr) -> Option<i64> {
        // SAFETY: a METH_NOARGS C function of `obj`'s type (or a base), called as
        // method_vectorcall_NOARGS calls it: `(self, NULL)`. It returns a new reference
        // or NULL with an exception set, which is cleared.
        unsafe {
            let result = (self.function)(obj, std::ptr::null_mut());
            if result.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            let size = super::int_value(result);
            ffi::Py_DecRef(result);
            size
        }
    }
}
