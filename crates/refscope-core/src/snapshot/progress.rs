//! Progress of the long loops over a snapshot (loading a file, the dominator tree), for
//! a caller that shows it.
//!
//! The core draws nothing: a loop hands its position to a [`Progress`] once every
//! [`EVERY_OBJECTS`] objects or [`EVERY_BYTES`] bytes, never per item, so a caller that
//! ignores it ([`Silent`]) costs one predictable branch per item. A step names what the
//! loop does and its unit; `done` never decreases within a step, and steps come in order.

/// Objects a loop processes between two reports (a power of two: the test is a mask).
pub const EVERY_OBJECTS: usize = 1 << 16;
/// Bytes a loop reads between two reports.
pub const EVERY_BYTES: usize = 1 << 20;

/// What `done` and `total` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Objects,
    Bytes,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Objects => "objects",
            Unit::Bytes => "bytes",
        }
    }
}

/// One step of a longer piece of work: step `number` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub number: u8,
    pub of: u8,
    pub unit: Unit,
}

impl Step {
    /// Step `number` of `of`, counting `unit`s.
    pub const fn new(name: &'static str, number: u8, of: u8, unit: Unit) -> Self {
        Step {
            name,
            number,
            of,
            unit,
        }
    }
}

/// Receives the position of a long loop.
pub trait Progress {
    /// `done` of `total` units of `step` are processed.
    fn report(&mut self, step: Step, done: u64, total: u64);
}

/// Reports to no one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    #[inline]
    fn report(&mut self, _: Step, _: u64, _: u64) {}
}

/// True once every [`EVERY_OBJECTS`] items (item 0 included).
#[inline(always)]
pub(crate) fn due(i: usize) -> bool {
    i & (EVERY_OBJECTS - 1) == 0
}

/// The steps of [`HeapSnapshot::load_with_progress`](super::HeapSnapshot::load_with_progress).
pub mod load {
    use super::{Step, Unit};
    pub const READ: Step = Step::new("reading", 1, 3, Unit::Bytes);
    pub const CHECK: Step = Step::new("checking the checksum", 2, 3, Unit::Bytes);
    pub const DECODE: Step = Step::new("decoding", 3, 3, Unit::Bytes);
}

/// The steps of [`HeapSnapshot::dominators_with_progress`](super::HeapSnapshot::dominators_with_progress):
/// the search for unreachable objects (when the roots were not asked for before), then
/// those of [`Dominators::compute_with_progress`](super::Dominators::compute_with_progress).
pub mod dominators {
    use super::{Step, Unit};
    pub const MARK: Step = Step::new("marking what the roots reach", 1, 5, Unit::Objects);
    pub const NUMBER: Step = Step::new("numbering from the roots", 2, 5, Unit::Objects);
    pub const REFERRERS: Step = Step::new("listing referrers", 3, 5, Unit::Objects);
    pub const SEMI: Step = Step::new("semidominators", 4, 5, Unit::Objects);
    pub const TREE: Step = Step::new("dominator tree and retained sizes", 5, 5, Unit::Objects);
}

/// Every report, for tests: (step number, done, total).
#[derive(Debug, Default)]
pub struct Recorder {
    pub reports: Vec<(Step, u64, u64)>,
}

impl Progress for Recorder {
    fn report(&mut self, step: Step, done: u64, total: u64) {
        self.reports.push((step, done, total));
    }
}

impl Recorder {
    /// Checks the reports' order: steps in order, `done` never decreasing within a step
    /// and never above `total`.
    pub fn check(&self) -> Result<(), String> {
        for pair in self.reports.windows(2) {
            let ((a, da, _), (b, db, _)) = (pair[0], pair[1]);
            if b.number < a.number || (a == b && db < da) {
                return Err(format!("{pair:?} goes backwards"));
            }
        }
        match self.reports.iter().find(|(_, done, total)| done > total) {
            Some(bad) => Err(format!("{bad:?} is past its total")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{from_parts, HeapSnapshot, RootKind};
    use super::*;

    /// A heap of `n` nodes: a list-like root holding pairs that point at each other.
    fn heap(n: usize) -> HeapSnapshot {
        let mut edges: Vec<Vec<u32>> = vec![Vec::new(); n];
        edges[0] = (1..n as u32).step_by(2).collect();
        for v in (1..n as u32 - 1).step_by(2) {
            edges[v as usize].push(v + 1);
            edges[v as usize + 1].push(v);
        }
        from_parts(
            &vec![32; n],
            &vec![0; n],
            &edges,
            &[(RootKind::ModuleGlobals, 0)],
        )
        .unwrap()
    }

    fn steps_seen(recorder: &Recorder) -> Vec<u8> {
        let mut steps: Vec<u8> = recorder.reports.iter().map(|r| r.0.number).collect();
        steps.dedup();
        steps
    }

    #[test]
    fn dominators_report_every_step_in_order_and_agree_with_silence() {
        let n = 5 * EVERY_OBJECTS + 123;
        let snapshot = heap(n);
        let mut recorder = Recorder::default();
        // The roots were not asked for yet: the search for unreachable ones is step 1.
        let reported = snapshot.dominators_with_progress(&mut recorder).clone();
        recorder.check().unwrap();
        assert_eq!(steps_seen(&recorder), vec![1, 2, 3, 4, 5]);
        for step in 1..=5 {
            let reports: Vec<_> = recorder
                .reports
                .iter()
                .filter(|r| r.0.number == step)
                .collect();
            // Every EVERY_OBJECTS items, not per item, and the counts move.
            assert!(reports.len() >= 4 && reports.len() < 40, "{reports:?}");
            assert!(reports.last().unwrap().1 > reports[0].1);
            assert!(reports.iter().all(|r| r.2 == n as u64));
        }
        let quiet = heap(n);
        assert_eq!(reported, *quiet.dominators());
        assert_eq!(snapshot.roots(), quiet.roots());
        // Once computed, nothing is reported again.
        let mut again = Recorder::default();
        snapshot.dominators_with_progress(&mut again);
        assert!(again.reports.is_empty());
    }

    #[test]
    fn loading_reports_bytes_read_checked_and_decoded() {
        let n = 4 * EVERY_OBJECTS;
        let snapshot = heap(n);
        let bytes = snapshot.to_bytes();
        let path =
            std::env::temp_dir().join(format!("refscope-progress-{}.rscp", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let mut recorder = Recorder::default();
        let loaded = HeapSnapshot::load_with_progress(&path, &mut recorder);
        std::fs::remove_file(&path).unwrap();
        let loaded = loaded.unwrap();
        assert_eq!(loaded.to_bytes(), bytes);
        recorder.check().unwrap();
        assert_eq!(steps_seen(&recorder), vec![1, 2, 3]);
        let decode: Vec<_> = recorder
            .reports
            .iter()
            .filter(|r| r.0 == load::DECODE)
            .collect();
        assert!(decode.len() >= 8, "{decode:?}");
        assert!(decode.iter().all(|r| r.2 < bytes.len() as u64));
        let read: Vec<_> = recorder
            .reports
            .iter()
            .filter(|r| r.0 == load::READ)
            .collect();
        assert_eq!(read.last().unwrap().1, bytes.len() as u64);
    }

    #[test]
    fn a_refused_file_reports_no_further_than_the_fault() {
        let mut bytes = heap(1000).to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let mut recorder = Recorder::default();
        assert!(HeapSnapshot::from_bytes_with_progress(&bytes, &mut recorder).is_err());
        recorder.check().unwrap();
        assert_eq!(steps_seen(&recorder), vec![2]);
    }
}
