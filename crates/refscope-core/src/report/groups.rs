//! Grouping of cycles by shape, so that 10,000 identical leaks read as one line.
//!
//! A cycle's *signature* is its sequence of (qualified type name, edge label) pairs, read
//! from the rotation that is least in lexicographic order. Two cycles that differ only in
//! where they start (the representative cycle of each component starts at its most
//! interesting member, which varies) therefore get the same signature.
//!
//! Cost: linear in the total number of cycle members plus `d log d` for sorting the `d`
//! distinct pairs. Each pair is interned once to a rank that follows the lexicographic
//! order of the pair's text, and the least rotation of the rank sequence is found in
//! O(n) time and O(1) extra space with the two-pointer "minimum expression" algorithm
//! (the same result as Booth's algorithm), so cycles of a million members are cheap.
//! Ranks come from a global order on the pairs' text, not from the order pairs were met,
//! so the signature of a cycle does not depend on the rest of the report.

use super::hints::{self, FixHint};
use super::{CycleRecord, EdgeLabel, Report};
use rustc_hash::FxHashMap;

pub use super::signature::{fnv1a64, Signature, SIGNATURE_SEPARATOR};

/// Cycles of one shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleGroup {
    /// Stable text: `"type label -> type label -> ..."`, from the least rotation (kept
    /// as runs of equal steps: see [`Signature`]).
    pub signature: Signature,
    /// First 12 hex digits of the FNV-1a 64 hash of `signature` (stable across runs,
    /// machines and versions): short enough for a metric label or a dict key.
    pub key: String,
    /// Indexes into [`Report::cycles`] of every cycle of this shape, in report order.
    /// The first one is the group's example.
    pub cycles: Vec<u32>,
    /// Shallow bytes of all the objects on all the group's cycles.
    pub total_size: u64,
    /// Some object on the group's cycles has a finaliser (`__del__`).
    pub has_finalizer: bool,
    /// Which edge to break, and how; `None` when refscope has no specific advice.
    pub hint: Option<FixHint>,
    /// Position in the example cycle where the least rotation starts (the example's
    /// `objects[rotation]` is the signature's first object).
    pub rotation: u32,
}

impl CycleGroup {
    /// Number of cycles of this shape.
    pub fn count(&self) -> u64 {
        self.cycles.len() as u64
    }

    /// Index into [`Report::cycles`] of the example cycle.
    pub fn example(&self) -> u32 {
        self.cycles[0]
    }

    /// Position in the example cycle of the object whose outgoing reference the hint says
    /// to break; `None` without a hint, or when the hint says nothing needs breaking.
    pub fn breakable_edge(&self) -> Option<usize> {
        self.hint
            .as_ref()
            .filter(|hint| hint.fix != hints::FixKind::NoneNeeded)
            .map(|hint| hint.edge_index as usize)
    }
}

/// The short key of a signature: first 12 hex digits of its FNV-1a 64 hash.
pub fn signature_key(signature: &str) -> String {
    key_of_hash(fnv1a64(signature.as_bytes()))
}

fn key_of_hash(hash: u64) -> String {
    let mut hex = format!("{hash:016x}");
    hex.truncate(12);
    hex
}

/// Start of the least rotation of `s` (the smallest such start when `s` is periodic).
///
/// Two candidates `i < j` are compared character by character; on the first mismatch
/// at offset `k` the larger one and the `k` starts after it cannot be least, so it jumps
/// past them. Each step advances `i + j + k`, which is bounded by `3n`: O(n).
pub fn least_rotation<T: Ord>(s: &[T]) -> usize {
    let n = s.len();
    // `i + k` and `j + k` stay below 2n: one subtraction wraps them (a division per
    // comparison was most of the cost on a ring of a million equal steps).
    let wrap = |x: usize| if x >= n { x - n } else { x };
    let (mut i, mut j, mut k) = (0usize, 1usize, 0usize);
    while i < n && j < n && k < n {
        let a = &s[wrap(i + k)];
        let b = &s[wrap(j + k)];
        match a.cmp(b) {
            std::cmp::Ordering::Equal => k += 1,
            std::cmp::Ordering::Greater => {
                i += k + 1;
                if i == j {
                    i += 1;
                }
                k = 0;
            }
            std::cmp::Ordering::Less => {
                j += k + 1;
                if i == j {
                    j += 1;
                }
                k = 0;
            }
        }
    }
    i.min(j).min(n.saturating_sub(1))
}

/// Pair ranks per cycle: `ranks[c][p]` ranks (type of object `p`, label `p`) of cycle `c`
/// in the lexicographic order of all distinct pairs of the report.
fn ranked_cycles(report: &Report) -> (Vec<Vec<u32>>, Vec<(String, String)>) {
    let mut interned: FxHashMap<(&str, &str), u32> = FxHashMap::default();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let provisional: Vec<Vec<u32>> = report
        .cycles
        .iter()
        .map(|cycle| {
            cycle
                .objects
                .iter()
                .zip(&cycle.labels)
                .map(|(&object, label)| {
                    let pair = (report.object(object).type_name.as_str(), label.as_str());
                    *interned.entry(pair).or_insert_with(|| {
                        pairs.push(pair);
                        (pairs.len() - 1) as u32
                    })
                })
                .collect()
        })
        .collect();
    let mut order: Vec<u32> = (0..pairs.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| pairs[a as usize].cmp(&pairs[b as usize]));
    let mut rank_of = vec![0u32; pairs.len()];
    for (rank, &id) in order.iter().enumerate() {
        rank_of[id as usize] = rank as u32;
    }
    let ranks = provisional
        .into_iter()
        .map(|mut cycle| {
            for id in &mut cycle {
                *id = rank_of[*id as usize];
            }
            cycle
        })
        .collect();
    let sorted_pairs = order
        .iter()
        .map(|&id| {
            (
                pairs[id as usize].0.to_owned(),
                pairs[id as usize].1.to_owned(),
            )
        })
        .collect();
    (ranks, sorted_pairs)
}

fn signature_text(rotated: &[u32], pairs: &[(String, String)]) -> Signature {
    signature_of_runs(&runs_of(rotated.iter().copied()), |rank| {
        let (type_name, label) = &pairs[rank as usize];
        (type_name.as_str(), label.as_str())
    })
}

/// Runs of equal consecutive ids: `(id, how many)`.
fn runs_of(ids: impl Iterator<Item = u32>) -> Vec<(u32, usize)> {
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for id in ids {
        match runs.last_mut() {
            Some((last, count)) if *last == id => *count += 1,
            _ => runs.push((id, 1)),
        }
    }
    runs
}

/// The signature of steps given as runs of step ids, `pair(id)` being a step's type name
/// and label.
fn signature_of_runs<'a>(
    runs: &[(u32, usize)],
    pair: impl Fn(u32) -> (&'a str, &'a str),
) -> Signature {
    Signature::from_runs(runs.iter().map(|&(id, count)| {
        let (type_name, label) = pair(id);
        (format!("{type_name} {label}"), count)
    }))
}

fn cycle_size(report: &Report, cycle: &CycleRecord) -> u64 {
    cycle.objects.iter().map(|&i| report.object(i).size).sum()
}

/// The signature of cycle `index` (same text as its group's).
pub fn cycle_signature(report: &Report, index: usize) -> String {
    signature_and_rotation(report, index).0.to_text()
}

/// The signature of cycle `index` and the position in it where its least rotation
/// starts. The (type, label) pairs are ranked in their text's order first, so the
/// rotation compares integers; consecutive equal pairs (a ring of one class: the same
/// type name and the same shared label) are ranked by pointer, without hashing text.
fn signature_and_rotation(report: &Report, index: usize) -> (Signature, usize) {
    let cycle = &report.cycles[index];
    let mut interned: FxHashMap<(&str, &str), u32> = FxHashMap::default();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut last: Option<(*const str, *const str, u32)> = None;
    // The step before, by record and label: stand-ins share one record per type, so a
    // run of them is recognised without reading the record.
    let mut previous: Option<(u32, &EdgeLabel, u32)> = None;
    // Runs of equal steps, not one id per step: a ring of a million links of one class
    // is one run, and its least rotation is its start.
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for (&object, label) in cycle.objects.iter().zip(cycle.labels.iter()) {
        let id = match previous {
            Some((o, l, id)) if o == object && l.is_shared_with(label) => id,
            _ => {
                let pair = (report.object(object).type_name.as_str(), label.as_str());
                let id = match last {
                    Some((t, l, id)) if std::ptr::eq(t, pair.0) && std::ptr::eq(l, pair.1) => id,
                    _ => {
                        let id = *interned.entry(pair).or_insert_with(|| {
                            pairs.push(pair);
                            (pairs.len() - 1) as u32
                        });
                        last = Some((pair.0 as *const str, pair.1 as *const str, id));
                        id
                    }
                };
                previous = Some((object, label, id));
                id
            }
        };
        match runs.last_mut() {
            Some((run_id, count)) if *run_id == id => *count += 1,
            _ => runs.push((id, 1)),
        }
    }
    // One distinct step (a ring of one class): every rotation is the least.
    if pairs.len() <= 1 {
        return (signature_of_runs(&runs, |id| pairs[id as usize]), 0);
    }
    let mut order: Vec<u32> = (0..pairs.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| pairs[a as usize].cmp(&pairs[b as usize]));
    let mut rank_of = vec![0u32; pairs.len()];
    for (rank, &id) in order.iter().enumerate() {
        rank_of[id as usize] = rank as u32;
    }
    let ranks: Vec<u32> = runs
        .iter()
        .flat_map(|&(id, count)| std::iter::repeat_n(rank_of[id as usize], count))
        .collect();
    let start = least_rotation(&ranks);
    drop(ranks);
    let ids = runs
        .iter()
        .flat_map(|&(id, count)| std::iter::repeat_n(id, count));
    let rotated = ids.clone().skip(start).chain(ids.take(start));
    let signature = signature_of_runs(&runs_of(rotated), |id| pairs[id as usize]);
    (signature, start)
}

/// Groups the report's cycles by signature: largest count first, then largest total
/// size, then signature text.
pub fn group_cycles(report: &Report) -> Vec<CycleGroup> {
    let (ranks, pairs) = ranked_cycles(report);
    let mut index_of: FxHashMap<Vec<u32>, usize> = FxHashMap::default();
    let mut groups: Vec<CycleGroup> = Vec::new();
    for (cycle_index, cycle_ranks) in ranks.into_iter().enumerate() {
        let cycle = &report.cycles[cycle_index];
        let start = least_rotation(&cycle_ranks);
        let mut rotated = cycle_ranks;
        rotated.rotate_left(start);
        let size = cycle_size(report, cycle);
        let has_finalizer = report.cycle_has_finalizer(cycle);
        match index_of.get(&rotated) {
            Some(&g) => {
                let group = &mut groups[g];
                group.cycles.push(cycle_index as u32);
                group.total_size += size;
                group.has_finalizer |= has_finalizer;
            }
            None => {
                let signature = signature_text(&rotated, &pairs);
                groups.push(CycleGroup {
                    key: key_of_hash(signature.hash()),
                    signature,
                    cycles: vec![cycle_index as u32],
                    total_size: size,
                    has_finalizer,
                    hint: None,
                    rotation: start as u32,
                });
                index_of.insert(rotated, groups.len() - 1);
            }
        }
    }
    drop(index_of);
    finish(report, groups)
}

/// Hints from each group's example, then the report order: largest count first, then
/// largest total size, then signature text.
fn finish(report: &Report, mut groups: Vec<CycleGroup>) -> Vec<CycleGroup> {
    for group in &mut groups {
        group.hint = hints::hint_for(report, &report.cycles[group.example() as usize]);
    }
    groups.sort_by(|a, b| {
        b.count()
            .cmp(&a.count())
            .then(b.total_size.cmp(&a.total_size))
            .then_with(|| a.signature.cmp(&b.signature))
    });
    groups
}

/// Groups from candidate groups (see [`crate::analysis::candidate_groups`]): each
/// candidate's first cycle must be described in `report` (objects and labels); the
/// others may be placeholders. Candidates whose example signatures are equal are merged.
/// `cycle_size(c)` and `cycle_has_finalizer(c)` answer for any cycle, described or not.
/// The result is ordered as [`group_cycles`] orders it, and equal to what it returns on
/// a fully described report.
pub fn group_candidates(
    report: &Report,
    candidates: &[Vec<u32>],
    cycle_size: impl Fn(u32) -> u64,
    cycle_has_finalizer: impl Fn(u32) -> bool,
) -> Vec<CycleGroup> {
    // By the signature's hash (computed once: it is also the key), then by its text: a
    // ring of a million members has a signature of megabytes, never copied.
    let mut index_of: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    let mut groups: Vec<CycleGroup> = Vec::new();
    for candidate in candidates {
        let Some(&example) = candidate.first() else {
            continue;
        };
        let (signature, rotation) = signature_and_rotation(report, example as usize);
        let hash = signature.hash();
        let size: u64 = candidate.iter().map(|&c| cycle_size(c)).sum();
        let finalizer = candidate.iter().any(|&c| cycle_has_finalizer(c));
        let same_hash = index_of.entry(hash).or_default();
        match same_hash
            .iter()
            .copied()
            .find(|&g| groups[g].signature == signature)
        {
            Some(g) => {
                let group = &mut groups[g];
                group.cycles.extend_from_slice(candidate);
                group.total_size += size;
                group.has_finalizer |= finalizer;
            }
            None => {
                same_hash.push(groups.len());
                groups.push(CycleGroup {
                    key: key_of_hash(hash),
                    signature,
                    cycles: candidate.clone(),
                    total_size: size,
                    has_finalizer: finalizer,
                    hint: None,
                    rotation: rotation as u32,
                });
            }
        }
    }
    for group in &mut groups {
        // Merged candidates interleave: keep report order, the earliest cycle first.
        group.cycles.sort_unstable();
    }
    finish(report, groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::thin_vec;
    use crate::report::{ObjectKind, ObjectRecord};
    use proptest::prelude::*;

    fn brute_least_rotation<T: Ord + Clone>(s: &[T]) -> Vec<T> {
        (0..s.len())
            .map(|r| {
                let mut v = s.to_vec();
                v.rotate_left(r);
                v
            })
            .min()
            .unwrap_or_default()
    }

    #[test]
    fn least_rotation_of_simple_sequences() {
        assert_eq!(least_rotation(&[3, 1, 2]), 1);
        assert_eq!(least_rotation(&[1, 1, 1]), 0);
        assert_eq!(least_rotation(&[2, 1, 2, 1]), 1);
        assert_eq!(least_rotation::<u32>(&[]), 0);
        assert_eq!(least_rotation(&[7]), 0);
    }

    #[test]
    fn least_rotation_of_a_million_members_is_found() {
        let mut s = vec![5u32; 1_000_000];
        s[999_999] = 1;
        assert_eq!(least_rotation(&s), 999_999);
    }

    proptest! {
        #[test]
        fn least_rotation_matches_brute_force(s in proptest::collection::vec(0u8..3, 0..40)) {
            let start = least_rotation(&s);
            let mut rotated = s.clone();
            rotated.rotate_left(start.min(s.len().saturating_sub(1)));
            prop_assert_eq!(rotated, brute_least_rotation(&s));
        }

        /// The signature written run by run reads as every step joined one by one, from
        /// the least rotation (runs of equal steps are what a ring is made of).
        #[test]
        fn signature_text_is_every_step_joined(steps in proptest::collection::vec((0u8..2, 0u8..2), 1..60)) {
            let mut report = Report::default();
            let names = ["m.A", "m.Bb"];
            let labels: Vec<crate::report::EdgeLabel> = [".x", "['k']"].iter().map(|&l| l.into()).collect();
            let mut cycle = CycleRecord { component_size: steps.len() as u64, ..Default::default() };
            for &(t, l) in &steps {
                cycle.objects.push(report.objects.len() as u32);
                report.objects.push(object(names[t as usize], 16, false));
                cycle.labels.push(labels[l as usize].clone());
            }
            report.cycles.push(cycle);
            let (signature, start) = signature_and_rotation(&report, 0);
            let text = signature.to_text();
            prop_assert_eq!(signature.hash(), fnv1a64(text.as_bytes()));
            let n = steps.len();
            let expected: Vec<String> = (0..n)
                .map(|i| {
                    let (t, l) = steps[(start + i) % n];
                    format!("{} {}", names[t as usize], labels[l as usize].as_str())
                })
                .collect();
            prop_assert_eq!(text, expected.join(SIGNATURE_SEPARATOR));
        }
    }

    #[test]
    fn signature_key_is_the_first_twelve_hex_digits_of_fnv1a64() {
        assert_eq!(signature_key("foobar"), "85944171f739");
    }

    fn object(type_name: &str, size: u64, has_finalizer: bool) -> ObjectRecord {
        ObjectRecord {
            type_name: type_name.into(),
            description: format!("{type_name} object"),
            kind: ObjectKind::Instance,
            size,
            has_finalizer,
            ..Default::default()
        }
    }

    /// A report with `n` A<->B pairs, half of them starting at B, and one C self-loop.
    fn report_of_pairs(n: usize) -> Report {
        let mut report = Report::default();
        for i in 0..n {
            let first = report.objects.len() as u32;
            report.objects.push(object("m.A", 48, false));
            report.objects.push(object("m.B", 56, true));
            let (objects, labels) = if i % 2 == 0 {
                (
                    thin_vec![first, first + 1],
                    thin_vec![".b".into(), ".a".into()],
                )
            } else {
                (
                    thin_vec![first + 1, first],
                    thin_vec![".a".into(), ".b".into()],
                )
            };
            report.cycles.push(CycleRecord {
                objects,
                labels: labels.into(),
                component_size: 2,
            });
        }
        let c = report.objects.len() as u32;
        report.objects.push(object("m.C", 1000, false));
        report.cycles.push(CycleRecord {
            objects: thin_vec![c],
            labels: thin_vec![".me".into()].into(),
            component_size: 1,
        });
        report
    }

    #[test]
    fn cycles_that_differ_only_in_their_start_share_a_group() {
        let groups = group_cycles(&report_of_pairs(10));
        assert_eq!(groups.len(), 2);
        let pairs = &groups[0];
        assert_eq!(pairs.signature, "m.A .b -> m.B .a");
        assert_eq!(pairs.count(), 10);
        assert_eq!(pairs.total_size, 10 * (48 + 56));
        assert!(pairs.has_finalizer);
        assert_eq!(pairs.example(), 0);
        assert_eq!(pairs.key, signature_key("m.A .b -> m.B .a"));
        assert_eq!(pairs.key.len(), 12);
        assert_eq!(groups[1].signature, "m.C .me");
        assert_eq!(groups[1].count(), 1);
        assert!(!groups[1].has_finalizer);
    }

    #[test]
    fn groups_of_equal_count_are_ordered_by_size_then_signature() {
        let mut report = report_of_pairs(1);
        let d = report.objects.len() as u32;
        report.objects.push(object("m.D", 1, false));
        report.cycles.push(CycleRecord {
            objects: thin_vec![d],
            labels: thin_vec![".me".into()].into(),
            component_size: 1,
        });
        let e = report.objects.len() as u32;
        report.objects.push(object("m.0", 1, false));
        report.cycles.push(CycleRecord {
            objects: thin_vec![e],
            labels: thin_vec![".me".into()].into(),
            component_size: 1,
        });
        let order: Vec<_> = group_cycles(&report)
            .into_iter()
            .map(|g| g.signature)
            .collect();
        assert_eq!(order, ["m.C .me", "m.A .b -> m.B .a", "m.0 .me", "m.D .me"]);
    }

    #[test]
    fn signature_does_not_depend_on_the_rest_of_the_report() {
        let alone = report_of_pairs(1);
        let mut crowded = report_of_pairs(1);
        // A pair met first in this report that sorts after everything else.
        let z = crowded.objects.len() as u32;
        crowded.objects.insert(0, object("zzz", 1, false));
        for cycle in &mut crowded.cycles {
            for o in &mut cycle.objects {
                *o += 1;
            }
        }
        crowded.cycles.insert(
            0,
            CycleRecord {
                objects: thin_vec![0],
                labels: thin_vec![".z".into()].into(),
                component_size: 1,
            },
        );
        let _ = z;
        let sig = |r: &Report| {
            group_cycles(r)
                .into_iter()
                .find(|g| g.signature.to_text().contains("m.A"))
                .map(|g| g.signature)
        };
        assert_eq!(sig(&alone), sig(&crowded));
        assert_eq!(cycle_signature(&crowded, 1), "m.A .b -> m.B .a");
    }

    #[test]
    fn empty_report_has_no_groups() {
        assert!(group_cycles(&Report::default()).is_empty());
    }
}
