//! Step keys: what each step of a cycle is, read cheaply enough to do for every step of
//! every cycle before anything is described (see `refscope_core::analysis`).
//!
//! A step `src -> dst` is keyed by `src`'s type and by which of `src`'s references leads
//! to `dst`, read without building a string or a Python object and without user code:
//! * a dict (or an instance through its own `__dict__`): the hash of the key (exact str
//!   and int keys; the key's type otherwise), or that `dst` is a key;
//! * a set: nothing more (every element reads `{element}`);
//! * a list or tuple: the index (`list_traverse` visits from the end, so a position in
//!   traversal order would name another index in a list of another length);
//! * anything else: the position of `dst` in `src`'s `tp_traverse` order, which names one
//!   field for fixed layouts (frames, functions, cells, methods, exceptions, member
//!   slots, types), and the shared-key slot for instances
//!   whose attributes live inline (3.11+); for frames, functions and generators also the
//!   code object they visit, since the same position is another local in other code.
//!
//! Equal keys mean equal type and edge label, except for positions among an instance's
//! inline attribute values (3.11+ instances without a `__dict__`): an unset attribute is
//! not visited, so instances of one class whose *different* attributes are unset can share
//! a position for different attributes. Such keys are marked inexact: they still group
//! (two such cycles may then share a group whose signature is the first one's, a rare
//! inaccuracy of the count), but labels are never reused for them. `__slots__` members
//! are keyed by name, so unset slots do not shift anything. Different keys may still read
//! the same, which the signature merge after describing undoes.

use crate::cpython::{self, DictSlot, ObjRef, ObjectMember, TraverseSlots, TypeFlags, TypeRef};
use crate::describe::KnownTypes;
use crate::sizes::SizeRule;
use rustc_hash::FxHashMap;

/// Per-type facts the step keys, sizes and finaliser flags need.
struct TypeEntry {
    slots: TraverseSlots,
    flags: TypeFlags,
    dict_slot: DictSlot,
    size: SizeRule,
    /// Frames, functions and generators: their code object is part of the key.
    keyed_by_code: bool,
    is_set: bool,
    /// Instances of heap types: their object-valued `__slots__`/member slots, each with
    /// the hash of its name, read from the type once (not per step: a ring of a million
    /// `__slots__` objects would walk the type's bases and hash the name a million times).
    members: Vec<(ObjectMember, u64)>,
}

/// Reads step keys, shallow sizes and finaliser flags for the members of cycles.
pub struct StepReader {
    known: KnownTypes,
    /// Type address -> index into `entries`.
    types: FxHashMap<usize, u32>,
    entries: Vec<TypeEntry>,
    /// The type asked for last, and its entry: consecutive members usually share a type
    /// (every step reads size, finaliser and key of the same object).
    last: (usize, u32),
}

const KEY_OF_DICT: u64 = 0x9e37_79b9_7f4a_7c15;
const VALUE_OF_DICT: u64 = 0xc2b2_ae3d_27d4_eb4f;
const SET_ELEMENT: u64 = 0x1656_67b1_9e37_79f9;
const INDEX: u64 = 0x27d4_eb2f_1656_67c5;
const MEMBER: u64 = 0x85eb_ca77_c2b2_ae63;

fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 finaliser over the combination: cheap and well spread.
    let mut z = a ^ b.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl StepReader {
    pub fn new(known: KnownTypes) -> Self {
        StepReader {
            known,
            types: FxHashMap::default(),
            entries: Vec::new(),
            last: (0, 0),
        }
    }

    fn entry(&mut self, tp: TypeRef<'_>) -> &TypeEntry {
        if self.last.0 == tp.address() && !self.entries.is_empty() {
            return &self.entries[self.last.1 as usize];
        }
        let known = self.known;
        let entries = &mut self.entries;
        let index = *self.types.entry(tp.address()).or_insert_with(|| {
            let flags = TypeFlags::of(tp);
            let t = tp.address();
            let members = if flags.is_heap_type && !flags.is_type {
                cpython::object_members(tp)
                    .into_iter()
                    .map(|(member, name)| (member, member_name_key(&name)))
                    .collect()
            } else {
                Vec::new()
            };
            entries.push(TypeEntry {
                members,
                slots: TraverseSlots::of(tp),
                flags,
                dict_slot: if flags.is_heap_type && !flags.is_type {
                    DictSlot::of(tp, known.minor)
                } else {
                    DictSlot::NONE
                },
                size: SizeRule::of(tp, known.minor),
                keyed_by_code: t == known.frame
                    || t == known.function
                    || t == known.generator
                    || t == known.coroutine
                    || t == known.async_generator,
                is_set: t == known.set || t == known.frozenset,
            });
            (entries.len() - 1) as u32
        });
        self.last = (tp.address(), index);
        &self.entries[index as usize]
    }

    /// Shallow size of `obj`, as the description would give it.
    pub fn size(&mut self, obj: ObjRef<'_>) -> u64 {
        let tp = cpython::type_of(obj);
        self.entry(tp).size.size(obj)
    }

    /// Whether `obj`'s type has a finaliser.
    pub fn has_finalizer(&mut self, obj: ObjRef<'_>) -> bool {
        let tp = cpython::type_of(obj);
        self.entry(tp).flags.has_finalizer
    }

    /// The key of the step `src -> dst` (see [`with_exactness`]), and whether it names the reference exactly (a
    /// dict key, an index, a member slot, a fixed field); a position among an instance's
    /// inline attribute values is not exact (unset attributes are not visited, so the
    /// same position may be another attribute in another instance of the class).
    pub fn key(&mut self, src: ObjRef<'_>, dst: ObjRef<'_>) -> (u64, bool) {
        let tp = cpython::type_of(src);
        let code_type = self.known.code;
        let entry = self.entry(tp);
        let type_key = tp.address() as u64;
        if entry.is_set {
            return (mix(type_key, SET_ELEMENT), true);
        }
        let dict = if entry.flags.is_dict {
            Some(src)
        } else {
            entry.dict_slot.materialised_dict(src)
        };
        if let Some(dict) = dict {
            if let Some(fact) = dict_fact(dict, dst) {
                return (mix(type_key, fact), true);
            }
        }
        if entry.flags.is_list || entry.flags.is_tuple {
            // list_traverse visits items from the end: a position would not tell the index.
            let flags = entry.flags;
            let n = cpython::builtin_len(src, &flags).unwrap_or(0);
            if let Some(i) = (0..n).find(|&i| cpython::sequence_item(src, &flags, i) == Some(dst)) {
                return (mix(mix(type_key, INDEX), i as u64), true);
            }
        }
        let heap_instance = entry.flags.is_heap_type && !entry.flags.is_type;
        if heap_instance {
            // `__slots__` members by their name (an unset slot is not visited, so its
            // traversal position would not tell which slot).
            let member = entry
                .members
                .iter()
                .find(|(member, _)| member.value(src) == Some(dst));
            if let Some(&(_, fact)) = member {
                return (mix(type_key, fact), true);
            }
        }
        let keyed_by_code = entry.keyed_by_code;
        let mut position = u64::MAX;
        let mut code = 0u64;
        let mut seen = 0u64;
        let _ = cpython::for_each_referent(&entry.slots, src, &mut |referent| {
            if referent == dst && position == u64::MAX {
                position = seen;
            }
            if keyed_by_code && code == 0 && cpython::type_of(referent).address() == code_type {
                code = referent.address() as u64;
            }
            seen += 1;
        });
        (mix(mix(type_key, position), code), !heap_instance)
    }
}

/// The key part naming a member slot.
fn member_name_key(name: &str) -> u64 {
    name.bytes().fold(MEMBER, |h, b| mix(h, u64::from(b)))
}

/// Which entry of `dict` leads to `dst`: a value under a key (hash of exact str/int keys,
/// the key's type otherwise) or a key. PyDict_Next reads the table: no user code.
fn dict_fact(dict: ObjRef<'_>, dst: ObjRef<'_>) -> Option<u64> {
    let mut fact = None;
    cpython::for_each_dict_item(dict, |key, value| {
        if value == dst || key == dst {
            let key_fact = cpython::builtin_key_hash(key)
                .map(|h| h as u64)
                .unwrap_or(cpython::type_of(key).address() as u64);
            let side = if value == dst {
                VALUE_OF_DICT
            } else {
                KEY_OF_DICT
            };
            fact = Some(mix(side, key_fact));
            false
        } else {
            true
        }
    });
    fact
}

/// The bit of a step key that says it names its reference exactly.
const EXACT_BIT: u64 = 1 << 63;

/// `key` carrying `exact` in its top bit (one array instead of a key and a flag per cycle
/// member: 8 bytes per member instead of 9).
pub fn with_exactness(key: u64, exact: bool) -> u64 {
    (key & !EXACT_BIT) | if exact { EXACT_BIT } else { 0 }
}

/// Whether a key made by [`with_exactness`] names its reference exactly.
pub fn is_exact(key: u64) -> bool {
    key & EXACT_BIT != 0
}
