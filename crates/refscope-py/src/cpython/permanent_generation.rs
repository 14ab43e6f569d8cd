//! What is in gc's permanent generation on CPython 3.12, where the collector itself puts
//! objects there.
//!
//! CPython 3.12's `update_refs` (Modules/gcmodule.c) moves every immortal object it meets
//! into the permanent generation ("the reference count is not accurately reflecting the
//! actual number of live references"), so `gc.get_freeze_count()` is non-zero from
//! start-up (375 immortal tuples on 3.12.1) although nobody called `gc.freeze()`. 3.10,
//! 3.11 and 3.13 do not. To tell a user's `gc.freeze()` from gc's own bookkeeping, refscope
//! counts the mortal objects on that list: zero means the user froze nothing.
//!
//! The list head is `PyInterpreterState.gc.permanent_generation.head`. Its offsets come
//! from 3.12's Include/internal/pycore_interp.h and pycore_gc.h (`gc` at 112 in
//! `struct _is`; in `struct _gc_runtime_state`: `generations[0]` at 24, the
//! `generation0` pointer at 96, `permanent_generation` at 104; checked with 3.12.1's
//! headers). They are validated before the list is read: `generation0` must point at
//! `generations[0].head`, and the walk must find exactly `gc.get_freeze_count()` entries;
//! on any mismatch (another 3.12.x layout) the answer is "unknown" and refscope treats
//! the frozen objects as the user's, which is the safe side.

use pyo3::ffi;
use pyo3::Python;

const GC_STATE_OFFSET_312: usize = 112;
const GENERATION0_HEAD: usize = 24;
const GENERATION0_POINTER: usize = 96;
const PERMANENT_HEAD: usize = 104;
/// `sizeof(PyGC_Head)`: two words before every gc object (Include/internal/pycore_gc.h).
const GC_HEAD_SIZE: usize = 2 * std::mem::size_of::<usize>();
/// `NEXT_MASK_UNREACHABLE`, set in `_gc_next` only while a collection runs.
const NEXT_MASK_UNREACHABLE: usize = 1;

/// The number of mortal objects in the permanent generation, if this is CPython 3.12 and
/// the list could be read and validated against `expected_len` (`gc.get_freeze_count()`);
/// `None` otherwise.
pub fn mortal_count(py: Python<'_>, expected_len: usize) -> Option<usize> {
    let version = py.version_info();
    if (version.major, version.minor) != (3, 12) {
        return None;
    }
    // SAFETY: the GIL is held (the `py` token); PyInterpreterState_Get returns the
    // current interpreter, never NULL while a thread state is attached (Python/pystate.c).
    let interp = unsafe { ffi::PyInterpreterState_Get() } as usize;
    let gc_state = interp.checked_add(GC_STATE_OFFSET_312)?;
    let read = |address: usize| -> usize {
        // SAFETY: every address read lies inside the interpreter state (383,552 bytes on
        // 3.12.1, so all offsets above are in bounds) or inside a PyGC_Head of an object
        // on the validated list; the GIL keeps the list from changing meanwhile.
        unsafe { std::ptr::read(address as *const usize) }
    };
    if read(gc_state + GENERATION0_POINTER) != gc_state + GENERATION0_HEAD {
        return None;
    }
    let head = gc_state + PERMANENT_HEAD;
    let mut node = read(head) & !NEXT_MASK_UNREACHABLE;
    let mut seen = 0usize;
    let mut mortal = 0usize;
    while node != head {
        if node == 0 || seen >= expected_len {
            return None;
        }
        // SAFETY: a node of the validated permanent-generation list is the PyGC_Head of
        // a live gc object (Include/internal/pycore_gc.h: the object follows its header);
        // the GIL keeps it on the list, and so alive, while this runs.
        let object =
            unsafe { super::ObjRef::from_raw((node + GC_HEAD_SIZE) as *mut ffi::PyObject) };
        if !super::is_immortal(object, 12) {
            mortal += 1;
        }
        seen += 1;
        node = read(node) & !NEXT_MASK_UNREACHABLE;
    }
    (seen == expected_len).then_some(mortal)
}
