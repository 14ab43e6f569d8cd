//! Shallow sizes of objects, as `sys.getsizeof` reports them, without user code.
//!
//! One [`SizeRule`] per type, decided once: the builtin C `__sizeof__` the type's MRO
//! resolves to is called (exact for lists, dicts, sets...), except `object.__sizeof__`
//! on 3.10-3.12, whose result is the layout formula computed here without a call
//! (`object___sizeof___impl` in Objects/typeobject.c: `tp_basicsize + Py_SIZE * tp_itemsize`;
//! 3.13 adds inline values, so it is called there). A Python class's own `__sizeof__` is
//! never called: its instances get the layout formula. `sys.getsizeof` adds the gc header
//! for gc types (Python/sysmodule.c, `_PySys_GetSizeOf`), and so does this.

use crate::cpython::{self, ObjRef, SizeofMethod, TypeAttr, TypeRef, VarSize};
use pyo3::ffi;

/// Bytes of `PyGC_Head` (two words) on 64-bit builds.
const GC_HEAD: u64 = 16;

/// How to size the instances of one type.
pub struct SizeRule {
    /// The builtin `__sizeof__` to call, when the layout formula is not exact.
    method: Option<SizeofMethod>,
    basicsize: u64,
    itemsize: u64,
    /// Reads the item count of a variable-size type (`tp_itemsize > 0`).
    var_size: Option<VarSize>,
    gc_head: u64,
    /// ints keep their digit count in a tagged field on 3.12+: no variable part.
    int_like: bool,
}

impl SizeRule {
    pub fn of(tp: TypeRef<'_>, minor: u8) -> Self {
        let number = |attr| cpython::type_number(tp, attr).unwrap_or(0).max(0) as u64;
        let method = SizeofMethod::of(tp).filter(|m| !(minor <= 12 && m.is_object_sizeof()));
        let gc = cpython::type_flags(tp) & (ffi::Py_TPFLAGS_HAVE_GC as u64) != 0;
        SizeRule {
            method,
            basicsize: number(TypeAttr::BasicSize),
            itemsize: number(TypeAttr::ItemSize),
            var_size: VarSize::of(tp),
            gc_head: if gc { GC_HEAD } else { 0 },
            int_like: cpython::type_flags(tp) & (ffi::Py_TPFLAGS_LONG_SUBCLASS as u64) != 0,
        }
    }

    /// Shallow size of `obj`, an instance of the rule's type.
    pub fn size(&self, obj: ObjRef<'_>) -> u64 {
        if let Some(method) = &self.method {
            if let Some(v) = method.call(obj) {
                return v.max(0) as u64 + self.gc_head;
            }
        }
        let mut size = self.basicsize;
        if let (Some(var_size), false) = (self.var_size, self.int_like) {
            size += self.itemsize * var_size.read(obj).unsigned_abs() as u64;
        }
        size + self.gc_head
    }
}
