//! Freeing the garbage a `DEBUG_SAVEALL` collection kept, the way the collector would
//! have, without a second full collection.
//!
//! `refscope.collect()` runs one collection with `DEBUG_SAVEALL` to see the garbage and,
//! after the analysis, must free it (else the next such collection reports it again).
//! A second `gc.collect()` would examine the whole heap again. But that first collection
//! already did everything CPython does to garbage before freeing it: `gc_collect_main`
//! (Modules/gcmodule.c, 3.10–3.12; `gc_collect_region` in Python/gc.c, 3.13) clears the
//! weakrefs to it and calls their callbacks (`handle_weakrefs`), runs the finalisers
//! (`finalize_garbage`, PEP 442: each object once) and drops what they resurrected
//! (`handle_resurrected_objects`); only `delete_garbage` differs, appending to
//! `gc.garbage` instead of calling `tp_clear`. What is left is that `tp_clear` step, on
//! exactly these objects.
//!
//! It is taken only when the objects are still garbage, checked the way gc checks
//! (`update_refs`/`subtract_refs`): every object's reference count equals the references
//! to it from the other objects of the set plus those of the caller's list and of this
//! function. Any other holder (a user's `gc.callbacks` hook kept one, another thread
//! found one through `gc.get_objects()`), an untracked or immortal object, or a legacy
//! `tp_del` finaliser (which gc never clears: those objects stay in `gc.garbage`) makes
//! it refuse, and the caller runs the collection instead.

use super::{is_immortal, refcount, slot, type_flags, type_of, ObjRef, TraverseSlots};
use pyo3::ffi;
use pyo3::prelude::*;
use refscope_core::index::AddressIndex;
use std::ffi::{c_int, c_void};

/// Why the objects were not freed here (the caller then runs a full collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Something outside the set holds an object: it is not garbage any more.
    HeldFromOutside,
    /// An object gc would not clear (untracked, immortal, or with a legacy `tp_del`).
    NotClearable,
}

struct Counts<'a> {
    index: &'a AddressIndex,
    inside: &'a mut [u32],
    /// Inside an instance dict made after the collection (see `count_reference`).
    in_dict: bool,
}

unsafe extern "C" fn count_reference(target: *mut ffi::PyObject, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Counts` that `clear_if_unreachable` passes to tp_traverse
    // below, alive and not otherwise borrowed while tp_traverse runs.
    let counts = unsafe { &mut *(arg as *mut Counts<'_>) };
    // SAFETY: tp_traverse visits the non-null references its object holds (Py_VISIT,
    // Include/objimpl.h); the object is held by the caller's list, so the target lives.
    let Some(target) = (unsafe { ObjRef::from_nullable(target) }) else {
        return 0;
    };
    if let Some(id) = counts.index.get(target.address() as u64) {
        counts.inside[id as usize] += 1;
    } else if !counts.in_dict && is_private_dict(target) {
        // An instance dict the analysis materialised after the collection (CPython 3.11+
        // keeps attributes inline until asked): owned by this object alone, so its
        // references are the object's own, and clearing the object frees it.
        counts.in_dict = true;
        // SAFETY: target is a live exact dict (its owner is held); dict_traverse
        // (Objects/dictobject.c) visits its keys and values with this same visitor.
        unsafe {
            TraverseSlots::of(type_of(target)).traverse(target, count_reference, arg);
        }
        counts.in_dict = false;
    }
    0
}

/// An exact dict with one reference (its owner's).
fn is_private_dict(obj: ObjRef<'_>) -> bool {
    super::is_exact_dict(obj) && refcount(obj) == 1
}

/// `tp_clear`s `objects` (the caller's list of them, `list_refs` references per entry
/// besides `objects`' own) if they are still exactly what gc would free; the objects die
/// when the caller drops its list.
pub fn clear_if_unreachable(
    py: Python<'_>,
    objects: &[Py<PyAny>],
    list_refs: usize,
) -> Result<usize, Refusal> {
    let minor = py.version_info().minor;
    let pointers: Vec<ObjRef<'_>> = objects.iter().map(|o| ObjRef::of(o.bind(py))).collect();
    let mut index = AddressIndex::for_addresses(pointers.iter().map(|p| p.address() as u64));
    let mut entries = vec![0u32; pointers.len()];
    let mut distinct: Vec<ObjRef<'_>> = Vec::with_capacity(pointers.len());
    for &obj in &pointers {
        let id = index
            .insert(obj.address() as u64, distinct.len() as u32)
            .map_err(|_| Refusal::NotClearable)?;
        if id as usize == distinct.len() {
            let tp = type_of(obj);
            // SAFETY: obj is alive (held by `objects`) and the GIL is held;
            // PyObject_GC_IsTracked only reads its gc header (limited API since 3.9).
            let tracked = unsafe { ffi::PyObject_GC_IsTracked(obj.as_ptr()) } != 0;
            if !tracked || is_immortal(obj, minor) || !slot(tp, ffi::Py_tp_del).is_null() {
                return Err(Refusal::NotClearable);
            }
            distinct.push(obj);
        }
        entries[id as usize] += 1;
    }
    let mut inside = vec![0u32; distinct.len()];
    {
        let mut counts = Counts {
            index: &index,
            inside: &mut inside,
            in_dict: false,
        };
        for &obj in &distinct {
            let slots = TraverseSlots::of(type_of(obj));
            // SAFETY: the slots are obj's type's; count_reference runs no Python code,
            // frees nothing and returns 0; `counts` is what it expects.
            unsafe {
                slots.traverse(
                    obj,
                    count_reference,
                    &mut counts as *mut Counts<'_> as *mut c_void,
                )
            };
        }
    }
    let per_entry = 1 + list_refs;
    for (id, &obj) in distinct.iter().enumerate() {
        let expected = inside[id] as usize + entries[id] as usize * per_entry;
        if refcount(obj) as usize != expected {
            return Err(Refusal::HeldFromOutside);
        }
    }
    for &obj in &distinct {
        let tp = type_of(obj);
        if type_flags(tp) & (ffi::Py_TPFLAGS_HAVE_GC as u64) == 0 {
            continue;
        }
        let clear = slot(tp, ffi::Py_tp_clear);
        if clear.is_null() {
            continue;
        }
        // SAFETY: Py_tp_clear holds an `inquiry` (Include/object.h). As delete_garbage
        // does, the object is held across the call (it is also held by `objects`, so no
        // object of the set is freed before the caller drops its list). tp_clear may run
        // Python code (finalisers of objects only the set referred to); an error it
        // leaves is reported as unraisable, as gc does, and never propagated.
        unsafe {
            let clear = std::mem::transmute::<*mut c_void, ffi::inquiry>(clear);
            ffi::Py_INCREF(obj.as_ptr());
            clear(obj.as_ptr());
            if !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_WriteUnraisable(obj.as_ptr());
            }
            ffi::Py_DECREF(obj.as_ptr());
        }
    }
    Ok(distinct.len())
}
