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

use super::{
    is_immortal, is_private_dict, refcount, slot, type_flags, type_of, ListItems, ObjRef,
    TraverseSlots, TypeRef,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;
use refscope_core::index::AddressIndex;
use refscope_core::rank_index::RankIndex;
use rustc_hash::FxHashMap;
use std::ffi::{c_int, c_void};

/// Why the objects were not freed here (the caller then runs a full collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Something outside the set holds an object: it is not garbage any more.
    HeldFromOutside,
    /// An object gc would not clear (untracked, immortal, or with a legacy `tp_del`).
    NotClearable,
}

/// Which objects are in the set, as dense ids `0..distinct`.
// One per call, on the stack; a box would add a pointer to follow on every lookup.
#[allow(clippy::large_enum_variant)]
enum Membership {
    /// One bit per 16 bytes of the set's pages (`refscope_core::rank_index`): small, and
    /// stays in cache while every reference of every object is looked up, where a hashed
    /// table of 18 bytes per object (scattered objects such as frames) would miss.
    Ranked(RankIndex),
    /// Addresses ranks do not suit: the paged or the hashed address index.
    ByAddress(AddressIndex),
}

impl Membership {
    /// The membership of `objects`' objects, and how many distinct objects they are.
    fn of<'a>(
        objects: impl Iterator<Item = ObjRef<'a>> + Clone,
    ) -> Result<(Membership, usize), Refusal> {
        let addresses = objects.map(|p| p.address() as u64);
        // Ranks wherever the addresses suit them (a bit per 16 bytes of the objects'
        // pages, against up to 20 bytes per object for the paged index): this runs at the
        // end of an analysis, on top of what its report keeps.
        if let Some(index) = RankIndex::of(addresses.clone()) {
            let distinct = index.len();
            return Ok((Membership::Ranked(index), distinct));
        }
        let mut index = AddressIndex::for_addresses(addresses.clone());
        let mut next = 0u32;
        for address in addresses {
            let id = index
                .insert(address, next)
                .map_err(|_| Refusal::NotClearable)?;
            if id == next {
                next += 1;
            }
        }
        Ok((Membership::ByAddress(index), next as usize))
    }

    /// The id of the object at `address`, if it is in the set.
    #[inline]
    fn get(&self, address: usize) -> Option<u32> {
        match self {
            Membership::Ranked(index) => index.rank(address as u64),
            Membership::ByAddress(index) => index.get(address as u64),
        }
    }
}

struct Counts<'a> {
    index: &'a Membership,
    /// Per object (by its [`Membership`] id): its reference count less the references
    /// accounted for so far; zero for each when the set is still garbage.
    unexplained: &'a mut [i32],
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
    if let Some(id) = counts.index.get(target.address()) {
        counts.unexplained[id as usize] -= 1;
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

/// What the freeing step reads from an object's type, read once per type: each read is
/// a call (`PyType_GetSlot`, `PyType_GetFlags`), and a million objects are of a few types.
#[derive(Clone, Copy)]
struct TypeFacts {
    traverse: TraverseSlots,
    /// A legacy `tp_del` finaliser: gc never clears such objects.
    has_legacy_del: bool,
    /// `tp_clear`, for a gc type that has one.
    clear: Option<ffi::inquiry>,
}

impl TypeFacts {
    fn of(tp: TypeRef<'_>) -> TypeFacts {
        let clear = if type_flags(tp) & (ffi::Py_TPFLAGS_HAVE_GC as u64) == 0 {
            std::ptr::null_mut()
        } else {
            slot(tp, ffi::Py_tp_clear)
        };
        TypeFacts {
            traverse: TraverseSlots::of(tp),
            has_legacy_del: !slot(tp, ffi::Py_tp_del).is_null(),
            // SAFETY: Py_tp_clear holds an `inquiry` (Include/object.h).
            clear: (!clear.is_null())
                .then(|| unsafe { std::mem::transmute::<*mut c_void, ffi::inquiry>(clear) }),
        }
    }
}

/// [`TypeFacts`] per type seen: the last one first (runs of one type are the rule).
#[derive(Default)]
struct TypeFactsCache {
    last: Option<(usize, TypeFacts)>,
    seen: FxHashMap<usize, TypeFacts>,
}

impl TypeFactsCache {
    fn of(&mut self, tp: TypeRef<'_>) -> TypeFacts {
        let address = tp.address();
        match self.last {
            Some((last, facts)) if last == address => facts,
            _ => {
                let facts = *self
                    .seen
                    .entry(address)
                    .or_insert_with(|| TypeFacts::of(tp));
                self.last = Some((address, facts));
                facts
            }
        }
    }
}

/// `tp_clear`s the objects of `list` (the caller's list of them, `list_refs` references
/// per entry besides the list's own) if they are still exactly what gc would free; the
/// objects die when the caller drops its list.
///
/// Memory: the list is read in place. Per entry 1 byte (a mark), per object 4 for the
/// count and 1 for a mark, and the membership index (a bit per 16 bytes of the objects'
/// pages, or the address index); those go before the 8 per object of the references held
/// while clearing. This runs right after an analysis of a million objects, on top of what
/// its report keeps.
pub fn clear_if_unreachable<'py>(
    py: Python<'py>,
    list: &Bound<'py, PyList>,
    list_refs: usize,
) -> Result<usize, Refusal> {
    // No Python code runs until the objects are held below, so the list stays unchanged
    // and its items alive; they are read in place.
    let items = ListItems::of(list);
    let distinct = check_unreachable(py, items.len(), |i| items.get(i), 1 + list_refs)?;
    // Each object once, held for the clearing (which runs Python code: finalisers).
    let mut held: Vec<Py<PyAny>> = Vec::with_capacity(distinct.count);
    held.extend(
        (0..items.len())
            .filter(|&p| distinct.first_at[p])
            .filter_map(|p| items.get(p))
            .map(|obj| obj.to_bound(py).unbind()),
    );
    drop(distinct);
    clear_each(py, &held);
    Ok(held.len())
}

/// Why held objects were not freed, and the objects, handed back untouched.
pub type Refused = (Refusal, Vec<Py<PyAny>>);

/// [`clear_if_unreachable`] for objects that `objects` alone holds, one reference each
/// (no list): an analysis that took the garbage over frees it when it lets it go, with
/// no second array of references. On refusal the objects are handed back, untouched.
pub fn clear_held_if_unreachable(
    py: Python<'_>,
    objects: Vec<Py<PyAny>>,
) -> Result<usize, Refused> {
    let at = |i: usize| objects.get(i).map(|obj| ObjRef::of(obj.bind(py)));
    match check_unreachable(py, objects.len(), at, 1) {
        // Each object is held once.
        Ok(distinct) if distinct.count == objects.len() => Ok(release_in_order(py, objects)),
        Ok(_) => Err((Refusal::NotClearable, objects)),
        Err(refusal) => Err((refusal, objects)),
    }
}

/// [`clear_held_if_unreachable`] when the caller walked the objects without letting go of
/// the GIL since, and no Python code ran meanwhile: the references between them are the
/// ones the walk saw, and `in_refs[i]` (saturating) counts those to `objects[i]`. Each
/// object's count is then compared with them plus the caller's one: a read of its header,
/// not a second traversal (on a million-object ring, 4 ms instead of 35). What the walk
/// saw is what gc's `subtract_refs` would see now, so the answer is the one
/// [`check_unreachable`] gives; a saturated count, or any object this pass cannot vouch
/// for, falls back to that full check.
///
/// Returns how many were freed, and whether the counts sufficed.
pub fn clear_held_if_counts_match(
    py: Python<'_>,
    objects: Vec<Py<PyAny>>,
    in_refs: &[u8],
) -> Result<(usize, bool), Refused> {
    if in_refs.len() != objects.len() || !counts_match(py, &objects, in_refs) {
        return clear_held_if_unreachable(py, objects).map(|freed| (freed, false));
    }
    Ok((release_in_order(py, objects), true))
}

/// Whether every object is tracked, mortal, without a legacy `tp_del`, and referred to by
/// exactly `in_refs[i]` of the others plus the caller's one reference.
fn counts_match(py: Python<'_>, objects: &[Py<PyAny>], in_refs: &[u8]) -> bool {
    let minor = py.version_info().minor;
    let mut types = TypeFactsCache::default();
    // Headers are read in order of the array, long after the walk: ask for them ahead.
    const PREFETCH_AHEAD: usize = 8;
    objects
        .iter()
        .zip(in_refs)
        .enumerate()
        .all(|(i, (obj, &refs))| {
            if let Some(ahead) = objects.get(i + PREFETCH_AHEAD) {
                super::prefetch_with_preheader(ObjRef::of(ahead.bind(py)));
            }
            let obj = ObjRef::of(obj.bind(py));
            if refs == u8::MAX || refcount(obj) != isize::from(refs) + 1 {
                return false;
            }
            // SAFETY: obj is alive (the caller holds it) and the GIL is held;
            // PyObject_GC_IsTracked only reads its gc header (limited API since 3.9).
            let tracked = unsafe { ffi::PyObject_GC_IsTracked(obj.as_ptr()) } != 0;
            tracked && !is_immortal(obj, minor) && !types.of(type_of(obj)).has_legacy_del
        })
}

/// Which entries are their object's first, and how many distinct objects there are.
struct Distinct {
    first_at: Vec<bool>,
    count: usize,
}

/// Whether the objects `at(0..entries)`, each entry holding `refs_per_entry` references,
/// are still exactly what gc would free. The caller keeps them alive and runs no Python
/// code meanwhile (none runs here).
fn check_unreachable<'a>(
    py: Python<'_>,
    entries: usize,
    at: impl Fn(usize) -> Option<ObjRef<'a>> + Clone,
    refs_per_entry: usize,
) -> Result<Distinct, Refusal> {
    let minor = py.version_info().minor;
    if entries >= u32::MAX as usize {
        return Err(Refusal::NotClearable); // positions are u32 in the index
    }
    let objects = (0..entries).filter_map(at.clone());
    // Per entry: the first of its object's (repeated entries are rare but possible).
    let mut first_at = vec![false; entries];
    let (index, distinct) = Membership::of(objects)?;
    // Per object (by id): its reference count less the references accounted for
    // (a count beyond i32 is refused: no garbage is referred to two billion times).
    let mut unexplained = vec![0i32; distinct];
    // Per object: met already in this pass (each pass handles an object once).
    let mut met = vec![false; distinct];
    let per_entry = i32::try_from(refs_per_entry).map_err(|_| Refusal::NotClearable)?;
    let id_of = |obj: ObjRef<'_>| index.get(obj.address()).map(|id| id as usize);
    let mut types = TypeFactsCache::default();
    // One pass: each object's count is added and its references subtracted while its
    // header is in cache (the sums do not depend on the order).
    for (position, first) in first_at.iter_mut().enumerate() {
        let Some(obj) = at(position) else {
            continue;
        };
        // Every entry is indexed; None cannot happen.
        let id = id_of(obj).ok_or(Refusal::NotClearable)?;
        if !met[id] {
            met[id] = true;
            *first = true;
            let facts = types.of(type_of(obj));
            // SAFETY: obj is alive (the caller holds it) and the GIL is held;
            // PyObject_GC_IsTracked only reads its gc header (limited API since 3.9).
            let tracked = unsafe { ffi::PyObject_GC_IsTracked(obj.as_ptr()) } != 0;
            if !tracked || is_immortal(obj, minor) || facts.has_legacy_del {
                return Err(Refusal::NotClearable);
            }
            let count = i32::try_from(refcount(obj)).map_err(|_| Refusal::NotClearable)?;
            unexplained[id] = unexplained[id]
                .checked_add(count)
                .ok_or(Refusal::NotClearable)?;
            let mut counts = Counts {
                index: &index,
                unexplained: &mut unexplained,
                in_dict: false,
            };
            // SAFETY: the slots are obj's type's; count_reference runs no Python code,
            // frees nothing and returns 0; `counts` is what it expects.
            unsafe {
                facts.traverse.traverse(
                    obj,
                    count_reference,
                    &mut counts as *mut Counts<'_> as *mut c_void,
                )
            };
        }
        unexplained[id] -= per_entry;
    }
    drop(met);
    if unexplained.iter().any(|&n| n != 0) {
        return Err(Refusal::HeldFromOutside);
    }
    Ok(Distinct {
        first_at,
        count: distinct,
    })
}

/// Lets `objects` go in order, the way `delete_garbage` (Modules/gcmodule.c) frees
/// what a collection found: an object that another object still refers to is
/// `tp_clear`ed while held and then let go; one that nothing else refers to any more
/// (its last referrer was cleared or freed before it) is let go without clearing, and
/// its dealloc drops its references, as the cascade from its last referrer's clearing
/// would have freed it in gc. Each object is cleared and freed while in cache, and a
/// chain (a ring) is cleared once, not once per member.
fn release_in_order(py: Python<'_>, objects: Vec<Py<PyAny>>) -> usize {
    let count = objects.len();
    // Each object's type is read at its turn: a finaliser run by clearing may have
    // assigned another object's `__class__`.
    let mut types = TypeFactsCache::default();
    for held in objects {
        let obj = ObjRef::of(held.bind(py));
        if refcount(obj) > 1 {
            // Held across the call by `held`; the objects after it by `objects` still.
            clear_held(obj, &mut types);
        }
        // With the GIL held, dropping the reference decrefs now (which may free it).
        drop(held);
    }
    count
}

/// `tp_clear` on each of `objects`, which the caller holds throughout.
fn clear_each(py: Python<'_>, objects: &[Py<PyAny>]) {
    // Each object's type is read again here: a finaliser run by clearing may have
    // assigned another object's `__class__`.
    let mut types = TypeFactsCache::default();
    for obj in objects {
        // Held across the call by the caller, with every other object of the set, so
        // none is freed before the last is cleared.
        clear_held(ObjRef::of(obj.bind(py)), &mut types);
    }
}

/// `tp_clear` on `obj`, which the caller holds across the call (as delete_garbage
/// does), if its type has one.
fn clear_held(obj: ObjRef<'_>, types: &mut TypeFactsCache) {
    let Some(clear) = types.of(type_of(obj)).clear else {
        return;
    };
    // SAFETY: obj is alive (held by the caller) and the GIL is held. tp_clear may run
    // Python code (finalisers of objects only the set referred to); an error it leaves
    // is reported as unraisable, as gc does, and never propagated.
    unsafe {
        clear(obj.as_ptr());
        if !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_WriteUnraisable(obj.as_ptr());
        }
    }
}
