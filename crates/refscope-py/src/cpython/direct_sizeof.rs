//! A builtin `__sizeof__` called as the C function it is, without the call machinery.
//!
//! A heap snapshot sizes every str, int, list, dict... through its type's builtin
//! `__sizeof__` ([`SizeofMethod`]). Calling the descriptor through
//! `PyObject_CallFunctionObjArgs` costs more than the size computation itself (varargs
//! packing, vectorcall dispatch, `descr_check`, the recursion guard): a tenth of a whole
//! snapshot. A `METH_NOARGS` method is `ml_meth(self, NULL)` (`method_vectorcall_NOARGS`,
//! Objects/descrobject.c), so that is what is called here.
//!
//! Layout (Include/descrobject.h, identical in 3.10-3.13): `PyMethodDescrObject` is
//! `PyDescr_COMMON` (`PyObject_HEAD`, `d_type`, `d_name`, `d_qualname`: five words) then
//! `PyMethodDef *d_method`. It is checked on each descriptor before use: the `PyMethodDef`
//! must be named `__sizeof__`, its flags exactly `METH_NOARGS`, and the type being sized a
//! subtype of `d_type` (what `descr_check` checks per call). Like the other per-type facts
//! of this module, the function is tied to the exact type it was read for and only called
//! on instances of that type; anything else gets None and the ordinary call.

use super::{int_value, owned_or_clear, type_of, AsObj, ObjRef, SizeofMethod, TypeRef};
use pyo3::ffi;
use std::ffi::CStr;

/// Words before `d_method` in a `PyMethodDescrObject`.
const D_METHOD_WORD: usize = 5;
/// Word of `d_type`.
const D_TYPE_WORD: usize = 2;

/// The C function behind a builtin `__sizeof__`, for the instances of one exact type.
#[derive(Clone, Copy)]
pub struct DirectSizeof {
    function: ffi::PyCFunction,
    type_address: usize,
}

impl DirectSizeof {
    /// The C function of `method` ([`SizeofMethod::of`] of `tp`), if its descriptor is laid
    /// out as expected; None otherwise.
    pub fn of(method: &SizeofMethod, tp: TypeRef<'_>) -> Option<DirectSizeof> {
        let words = method.0.as_ptr() as *const usize;
        // SAFETY: SizeofMethod holds a method_descriptor (checked by SizeofMethod::of), so
        // a PyMethodDescrObject (Include/descrobject.h) whose first six words are
        // readable; `d_method` points to the static PyMethodDef it was made from, with a
        // NUL-terminated name; `d_type` is the type that defines it (alive: the descriptor
        // holds a reference, Objects/descrobject.c descr_new).
        unsafe {
            let d_type = *words.add(D_TYPE_WORD) as *mut ffi::PyTypeObject;
            let def = *words.add(D_METHOD_WORD) as *const ffi::PyMethodDef;
            if d_type.is_null() || def.is_null() || (*def).ml_name.is_null() {
                return None;
            }
            if ffi::PyType_IsSubtype(tp.as_ptr(), d_type) == 0
                || CStr::from_ptr((*def).ml_name).to_bytes() != b"__sizeof__"
                || (*def).ml_flags != ffi::METH_NOARGS
            {
                return None;
            }
            Some(DirectSizeof {
                function: (*def).ml_meth.PyCFunction,
                type_address: tp.address(),
            })
        }
    }

    /// `type(obj).__sizeof__(obj)`; None for an object of another type (call the method
    /// then) or when the method fails.
    #[inline]
    pub fn call(&self, obj: ObjRef<'_>) -> Option<i64> {
        if type_of(obj).address() != self.type_address {
            return None;
        }
        // SAFETY: a METH_NOARGS C function of `obj`'s type or a base (checked by `of` and
        // above), called as method_vectorcall_NOARGS calls it: `(self, NULL)`, with the
        // GIL held (the handle). It returns a new reference or NULL with an exception set.
        let result = unsafe { owned_or_clear((self.function)(obj.as_ptr(), std::ptr::null_mut())) };
        int_value(result?.as_obj())
    }
}
