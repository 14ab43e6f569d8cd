//! Group before describing: cycles grouped by cheap per-step keys, so that only one
//! cycle per group (and what a renderer shows) needs a description.
//!
//! Describing an object (type name, safe description, labels, frame details) costs far
//! more than finding its cycle, and 500,000 identical leaks need one description, not
//! 500,000. The binding gives every step of every cycle a *step key*: a `u64` made from
//! facts it reads without building any string or Python object (the object's type and
//! which reference of it the step follows: a member slot, a dict key's text, an index,
//! the position in `tp_traverse` order, the code object of a frame or function). Two
//! steps with equal keys have the same type and the same edge label, so cycles whose key
//! sequences are equal up to rotation have the same signature; this module finds those
//! *candidate groups* in linear time. The binding then describes each candidate's first
//! cycle and [`crate::report::groups::group_candidates`] merges candidates whose
//! described signatures are equal (two different keys may still give one label, e.g.
//! two dict keys that read the same once shortened).
//!
//! Not here: reading the keys (the binding) or the signature text (report::groups).

use crate::report::groups::least_rotation;
use rustc_hash::FxHashMap;

/// Cycles stored flat: cycle `i`'s steps are `keys[offsets[i]..offsets[i + 1]]`.
pub struct StepKeys<'a> {
    pub offsets: &'a [u32],
    pub keys: &'a [u64],
}

impl StepKeys<'_> {
    fn cycle(&self, i: usize) -> &[u64] {
        &self.keys[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
}

/// True when `a` rotated left by `ra` equals `b` rotated left by `rb`.
fn equal_rotated(a: &[u64], ra: usize, b: &[u64], rb: usize) -> bool {
    a.len() == b.len() && (0..a.len()).all(|k| a[(ra + k) % a.len()] == b[(rb + k) % b.len()])
}

/// FNV-1a over the rotated sequence, as 64 bits (equality is checked separately).
fn rotated_hash(keys: &[u64], start: usize) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ keys.len() as u64;
    for k in 0..keys.len() {
        hash ^= keys[(start + k) % keys.len()];
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        hash ^= hash >> 29;
    }
    hash
}

/// Cycles with equal step keys up to rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Cycle indexes of each candidate group, in report order; groups in order of their
    /// first cycle.
    pub groups: Vec<Vec<u32>>,
    /// Per cycle: its group.
    pub group_of: Vec<u32>,
    /// Per cycle: where the least rotation of its step keys starts (cycle `c`'s position
    /// `starts[c] + k` matches position `starts[e] + k` of its group's first cycle `e`).
    pub starts: Vec<u32>,
}

/// Candidate groups: cycle indexes whose step-key sequences are equal up to rotation.
pub fn candidate_groups(steps: &StepKeys<'_>) -> Candidates {
    // hash -> indexes of the candidates with that hash (a collision only costs a compare).
    let mut by_hash: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut starts: Vec<usize> = Vec::new(); // least-rotation start of each group's first cycle
    let mut group_of = Vec::with_capacity(steps.len());
    let mut cycle_starts = Vec::with_capacity(steps.len());
    for cycle in 0..steps.len() {
        let keys = steps.cycle(cycle);
        let start = least_rotation(keys);
        let hash = rotated_hash(keys, start);
        let candidates = by_hash.entry(hash).or_default();
        let found = candidates.iter().copied().find(|&g| {
            let first = groups[g][0] as usize;
            equal_rotated(keys, start, steps.cycle(first), starts[g])
        });
        let group = match found {
            Some(g) => {
                groups[g].push(cycle as u32);
                g
            }
            None => {
                candidates.push(groups.len());
                groups.push(vec![cycle as u32]);
                starts.push(start);
                groups.len() - 1
            }
        };
        group_of.push(group as u32);
        cycle_starts.push(start as u32);
    }
    Candidates {
        groups,
        group_of,
        starts: cycle_starts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flat(cycles: &[Vec<u64>]) -> (Vec<u32>, Vec<u64>) {
        let mut offsets = vec![0u32];
        let mut keys = Vec::new();
        for c in cycles {
            keys.extend_from_slice(c);
            offsets.push(keys.len() as u32);
        }
        (offsets, keys)
    }

    fn groups_of(cycles: &[Vec<u64>]) -> Vec<Vec<u32>> {
        let (offsets, keys) = flat(cycles);
        candidate_groups(&StepKeys {
            offsets: &offsets,
            keys: &keys,
        })
        .groups
    }

    #[test]
    fn rotations_of_one_cycle_are_one_group() {
        let groups = groups_of(&[vec![1, 2, 3], vec![2, 3, 1], vec![3, 1, 2], vec![1, 3, 2]]);
        assert_eq!(groups, vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn half_a_million_identical_pairs_are_one_group() {
        let cycles: Vec<Vec<u64>> = (0..500_000)
            .map(|i| if i % 2 == 0 { vec![7, 9] } else { vec![9, 7] })
            .collect();
        let groups = groups_of(&cycles);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].len(), 500_000);
    }

    #[test]
    fn a_ring_of_a_million_steps_is_grouped_in_linear_time() {
        let mut ring = vec![5u64; 1_000_000];
        ring[123_456] = 4;
        let groups = groups_of(&[ring.clone(), ring]);
        assert_eq!(groups, vec![vec![0, 1]]);
    }

    #[test]
    fn empty_input_has_no_groups() {
        assert!(groups_of(&[]).is_empty());
    }

    fn canonical(c: &[u64]) -> Vec<u64> {
        (0..c.len())
            .map(|r| {
                let mut v = c.to_vec();
                v.rotate_left(r);
                v
            })
            .min()
            .unwrap_or_default()
    }

    proptest! {
        #[test]
        fn groups_are_exactly_the_rotation_classes(
            cycles in proptest::collection::vec(proptest::collection::vec(0u64..3, 1..6), 0..30)
        ) {
            let groups = groups_of(&cycles);
            let mut seen = vec![false; cycles.len()];
            for group in &groups {
                let first = canonical(&cycles[group[0] as usize]);
                for &c in group {
                    prop_assert_eq!(canonical(&cycles[c as usize]), first.clone());
                    seen[c as usize] = true;
                }
            }
            prop_assert!(seen.iter().all(|&s| s));
            for (a, ga) in groups.iter().enumerate() {
                for gb in &groups[a + 1..] {
                    prop_assert_ne!(
                        canonical(&cycles[ga[0] as usize]),
                        canonical(&cycles[gb[0] as usize])
                    );
                }
            }
        }
    }
}
