//! A cycle's signature: the text of its steps (`"type label"`) joined by `" -> "`, kept
//! as runs of one repeated step.
//!
//! A ring of a million members of one class has a signature of 22 MB as text, and the
//! one-line summaries, the Monitor's records and the HTML report show only its first few
//! hundred characters. Kept as runs it is one step and a count; the whole text is made
//! only when asked for ([`Signature::to_text`], the JSON report). Comparisons, the hash
//! and the first characters are worked out from the runs, and all of them agree with the
//! text: two signatures are equal when their texts are, and order as their texts do.

use super::format::truncate_chars;
use std::cmp::Ordering;
use std::fmt;

/// Separator between the steps of a signature's text.
pub const SIGNATURE_SEPARATOR: &str = " -> ";

/// A signature (see the module's docs).
#[derive(Debug, Clone, Default)]
pub struct Signature {
    /// Runs of equal consecutive steps: the step's text and how many times it repeats
    /// (at least once).
    runs: Vec<(Box<str>, usize)>,
    /// The text's length in bytes.
    len: usize,
    /// FNV-1a 64 of the text.
    hash: u64,
}

impl Signature {
    /// The signature whose steps are `steps`, each `(text, times)` (consecutive equal
    /// steps may come separately; runs of none are skipped).
    pub fn from_runs<S: Into<Box<str>>>(steps: impl IntoIterator<Item = (S, usize)>) -> Self {
        let mut runs: Vec<(Box<str>, usize)> = Vec::new();
        for (text, times) in steps {
            if times == 0 {
                continue;
            }
            let text = text.into();
            match runs.last_mut() {
                Some((last, count)) if *last == text => *count += times,
                _ => runs.push((text, times)),
            }
        }
        let steps: usize = runs.iter().map(|(_, count)| count).sum();
        let len = runs
            .iter()
            .map(|(text, count)| text.len() * count)
            .sum::<usize>()
            + SIGNATURE_SEPARATOR.len() * steps.saturating_sub(1);
        let mut hash = FNV_OFFSET_BASIS;
        for (index, (text, count)) in runs.iter().enumerate() {
            if index > 0 {
                hash = fnv1a64_extend(hash, SIGNATURE_SEPARATOR.as_bytes());
            }
            hash = fnv1a64_extend(hash, text.as_bytes());
            if *count > 1 {
                let unit = [SIGNATURE_SEPARATOR, text].concat();
                hash = fnv1a64_extend_repeated(hash, unit.as_bytes(), count - 1);
            }
        }
        Signature { runs, len, hash }
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// FNV-1a 64 of the text (the same as [`fnv1a64`] of [`Signature::to_text`]).
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The text's pieces in order: each step and the separators between them.
    fn pieces(&self) -> impl Iterator<Item = &str> + '_ {
        self.runs
            .iter()
            .flat_map(|(text, count)| std::iter::repeat_n(&**text, *count))
            .enumerate()
            .flat_map(|(step, text)| {
                let separator = (step > 0).then_some(SIGNATURE_SEPARATOR);
                separator.into_iter().chain(std::iter::once(text))
            })
    }

    /// The whole text. A run writes its step once and then copies what it wrote,
    /// doubling, instead of once per step.
    pub fn to_text(&self) -> String {
        let mut text: Vec<u8> = Vec::with_capacity(self.len);
        for (step, count) in &self.runs {
            if !text.is_empty() {
                text.extend_from_slice(SIGNATURE_SEPARATOR.as_bytes());
            }
            text.extend_from_slice(step.as_bytes());
            if *count > 1 {
                let units_start = text.len();
                text.extend_from_slice(SIGNATURE_SEPARATOR.as_bytes());
                text.extend_from_slice(step.as_bytes());
                let end = units_start + (text.len() - units_start) * (count - 1);
                while text.len() < end {
                    let have = text.len() - units_start;
                    let want = (end - text.len()).min(have);
                    text.extend_from_within(units_start..units_start + want);
                }
            }
        }
        // Whole strs only were copied, so the bytes are UTF-8.
        String::from_utf8(text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// The first `max_chars` characters of the text (all of it when shorter).
    pub fn head(&self, max_chars: usize) -> String {
        let mut head = String::new();
        let mut left = max_chars;
        for piece in self.pieces() {
            if left == 0 {
                break;
            }
            match piece.char_indices().nth(left) {
                Some((end, _)) => {
                    head.push_str(&piece[..end]);
                    left = 0;
                }
                None => {
                    head.push_str(piece);
                    left -= piece.chars().count();
                }
            }
        }
        head
    }

    /// The text cut to `max_chars` characters, its last one `…` when it was cut
    /// ([`truncate_chars`] of the whole text).
    pub fn shortened(&self, max_chars: usize) -> String {
        truncate_chars(&self.head(max_chars.saturating_add(1)), max_chars).into_owned()
    }

    /// Whether the text has more than `max_chars` characters.
    pub fn is_longer_than(&self, max_chars: usize) -> bool {
        // A byte is at most a character: only a text of more bytes can be longer.
        self.len > max_chars && self.head(max_chars + 1).chars().count() > max_chars
    }

    /// Compares the texts byte by byte (`str`'s order), reading the runs.
    fn cmp_text(&self, other: &Signature) -> Ordering {
        if self.runs == other.runs {
            return Ordering::Equal;
        }
        let mut left = self.pieces().map(str::as_bytes);
        let mut right = other.pieces().map(str::as_bytes);
        let (mut a, mut b): (&[u8], &[u8]) = (&[], &[]);
        loop {
            if a.is_empty() {
                a = left.next().unwrap_or_default();
            }
            if b.is_empty() {
                b = right.next().unwrap_or_default();
            }
            match (a.is_empty(), b.is_empty()) {
                (true, true) => return Ordering::Equal,
                (true, false) => return Ordering::Less,
                (false, true) => return Ordering::Greater,
                (false, false) => {}
            }
            let n = a.len().min(b.len());
            match a[..n].cmp(&b[..n]) {
                Ordering::Equal => {
                    a = &a[n..];
                    b = &b[n..];
                }
                unequal => return unequal,
            }
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pieces().try_for_each(|piece| f.write_str(piece))
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Signature) -> bool {
        self.len == other.len && self.hash == other.hash && self.cmp_text(other).is_eq()
    }
}

impl Eq for Signature {}

impl PartialOrd for Signature {
    fn partial_cmp(&self, other: &Signature) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Signature {
    fn cmp(&self, other: &Signature) -> Ordering {
        self.cmp_text(other)
    }
}

impl PartialEq<str> for Signature {
    fn eq(&self, other: &str) -> bool {
        self.len == other.len() && self.cmp_text(&Signature::from_runs([(other, 1)])).is_eq()
    }
}

impl PartialEq<&str> for Signature {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// FNV-1a, 64 bits: tiny, stable and good enough to name groups (not a defence against
/// crafted collisions; the signature itself is the real identity).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_extend(FNV_OFFSET_BASIS, bytes)
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The FNV-1a 64 state after `bytes`, from state `hash`.
fn fnv1a64_extend(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The FNV-1a 64 state after `unit` repeated `count` times, from state `hash`: the same
/// as hashing the repeated bytes, in `count` steps instead of `count * unit.len()`.
///
/// One FNV-1a step is `h' = (h ^ b) * P`. The xor changes the low byte only, so it adds
/// to `h` an amount that depends on `h`'s low byte alone, and the low byte of `h'`
/// depends only on that of `h` (multiplication mod 2^8). Over a whole unit of `L`
/// bytes, then, `h_L = h * P^L + C(h mod 256)` (mod 2^64), and `C(s)`, the unit hashed
/// from the state `s` less `s * P^L`, is worked out once per low byte met (at most 256).
/// A ring of a million equal steps has a signature of 22 MB; hashing it byte by byte is
/// a serial chain of about 1.3 ns per byte.
fn fnv1a64_extend_repeated(mut hash: u64, unit: &[u8], count: usize) -> u64 {
    if count <= 8 {
        for _ in 0..count {
            hash = fnv1a64_extend(hash, unit);
        }
        return hash;
    }
    let mut power = 1u64;
    for _ in 0..unit.len() {
        power = power.wrapping_mul(FNV_PRIME);
    }
    let mut correction: [Option<u64>; 256] = [None; 256];
    for _ in 0..count {
        let low = hash & 0xff;
        let c = *correction[low as usize]
            .get_or_insert_with(|| fnv1a64_extend(low, unit).wrapping_sub(low.wrapping_mul(power)));
        hash = hash.wrapping_mul(power).wrapping_add(c);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fnv1a64_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_ring_of_a_million_steps_is_one_run_and_reads_as_its_text() {
        let ring = Signature::from_runs([("m.Node .next", 1_000_000)]);
        let text = vec!["m.Node .next"; 1_000_000].join(SIGNATURE_SEPARATOR);
        assert_eq!(ring.runs.len(), 1);
        assert_eq!(ring.len(), text.len());
        assert_eq!(ring.hash(), fnv1a64(text.as_bytes()));
        assert_eq!(ring.to_text(), text);
        assert_eq!(ring.head(20), &text[..20]);
        assert!(ring.is_longer_than(400) && !ring.is_longer_than(text.len()));
        assert_eq!(ring.shortened(400), truncate_chars(&text, 400));
    }

    fn steps() -> impl Strategy<Value = Vec<(String, usize)>> {
        let step = prop_oneof![
            Just("m.A .x".to_string()),
            Just("m.A .x -> m.A".to_string()), // a label that looks like a separator
            Just("é ['k']".to_string()),
            Just("m.B".to_string()),
        ];
        proptest::collection::vec((step, 0usize..4), 0..8)
    }

    fn text_of(steps: &[(String, usize)]) -> String {
        steps
            .iter()
            .flat_map(|(text, count)| std::iter::repeat_n(text.as_str(), *count))
            .collect::<Vec<_>>()
            .join(SIGNATURE_SEPARATOR)
    }

    proptest! {
        /// Every answer read from the runs is the text's: its hash, its characters,
        /// equality and order (also where different steps make the same text).
        #[test]
        fn runs_answer_as_the_text_does(a in steps(), b in steps(), max_chars in 0usize..60) {
            let (sa, sb) = (Signature::from_runs(a.clone()), Signature::from_runs(b.clone()));
            let (ta, tb) = (text_of(&a), text_of(&b));
            prop_assert_eq!(&sa.to_text(), &ta);
            prop_assert_eq!(sa.to_string(), ta.clone());
            prop_assert_eq!(sa.len(), ta.len());
            prop_assert_eq!(sa.hash(), fnv1a64(ta.as_bytes()));
            let head: String = ta.chars().take(max_chars).collect();
            prop_assert_eq!(sa.head(max_chars), head);
            prop_assert_eq!(sa.is_longer_than(max_chars), ta.chars().count() > max_chars);
            prop_assert_eq!(sa.shortened(max_chars), truncate_chars(&ta, max_chars));
            prop_assert_eq!(sa == sb, ta == tb);
            prop_assert_eq!(sa.cmp(&sb), ta.cmp(&tb));
            prop_assert!(sa == ta.as_str());
        }

        /// Hashing a unit repeated, a unit at a time, is hashing the repeated bytes.
        #[test]
        fn repeated_units_hash_as_their_bytes(
            start in any::<u64>(),
            unit in proptest::collection::vec(any::<u8>(), 0..30),
            count in 0usize..600,
        ) {
            let bytes: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * count).collect();
            prop_assert_eq!(
                fnv1a64_extend_repeated(start, &unit, count),
                fnv1a64_extend(start, &bytes)
            );
        }
    }
}
