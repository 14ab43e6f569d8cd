//! The progress line of long snapshot work on stderr: the heap walk
//! (`refscope.snapshot(progress=True)`), reading a file (`refscope.load`) and the
//! dominator tree (`compute_dominators`).
//!
//! It is drawn from Rust, where the work runs, not by a Python callback. The walk holds
//! the GIL from start to end and keeps borrowed pointers to objects that only the heap
//! keeps alive (the untracked ones it reaches), so it must run no Python code before it
//! ends: a Python callback could let another thread run (the eval loop hands the GIL over
//! every few milliseconds) and free one of them. Loading and the dominators run with the
//! GIL released, and their loops in `refscope_core` report their position through
//! [`Progress`], which [`StepLine`] draws here. Writing to file descriptor 2 runs no
//! Python code and needs no GIL. The Python side decides whether to draw at all (stderr a
//! terminal, fd 2), after how long and how often; the look matches `refscope/_progress.py`.

use refscope_core::report::format::thousands;
use refscope_core::snapshot::progress::{Progress, Step};
use std::io::Write;
use std::time::{Duration, Instant};

/// The walk reports its position once every this many objects (cheap: one branch).
pub const EVERY: usize = 1 << 16;

/// When to draw: after `delay` seconds, then at most once every `interval` seconds.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub delay: f64,
    pub interval: f64,
}

/// One line on stderr, redrawn in place with `\r` and erased (`\r` + erase to the end
/// of the line) when dropped, if it was ever drawn.
pub struct ProgressLine {
    started: Instant,
    delay: Duration,
    interval: Duration,
    last_drawn: Option<Instant>,
}

impl ProgressLine {
    /// A line drawn on `schedule`; None for no schedule, or for times that are not a
    /// finite number of seconds (the Python side checks them; this is the panic-free net).
    pub fn new(schedule: Option<Schedule>) -> Option<ProgressLine> {
        let schedule = schedule?;
        let seconds = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).ok();
        Some(ProgressLine {
            started: Instant::now(),
            delay: seconds(schedule.delay)?,
            interval: seconds(schedule.interval)?,
            last_drawn: None,
        })
    }

    /// `refscope: TEXT (T s)`, unless too early or too soon after the last frame; `text`
    /// is only formatted for a frame that is drawn.
    pub fn draw(&mut self, text: impl FnOnce() -> String) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        if elapsed < self.delay {
            return;
        }
        if let Some(last) = self.last_drawn {
            if now.duration_since(last) < self.interval {
                return;
            }
        }
        self.last_drawn = Some(now);
        let line = format!(
            "\rrefscope: {} ({:.1} s)\x1b[K",
            text(),
            elapsed.as_secs_f64()
        );
        // A progress line is a courtesy: a closed or full stderr is not an error.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// `refscope: PHASE: DONE of TOTAL objects (T s)`.
    pub fn update(&mut self, phase: &str, done: usize, total: usize) {
        self.draw(|| {
            format!(
                "{phase}: {} of {} objects",
                thousands(done as u64),
                thousands(total as u64)
            )
        });
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if self.last_drawn.is_some() {
            let _ = std::io::stderr().write_all(b"\r\x1b[K");
        }
    }
}

/// Draws the reports of a core loop: `refscope: WHAT (step N of M, STEP): DONE of TOTAL
/// UNIT (T s)`.
/// UNIT (T s)`, or without the step numbers, `refscope: WHAT: STEP: ...`.
pub struct StepLine {
    pub what: String,
    pub line: ProgressLine,
    pub numbered: bool,
}

impl Progress for StepLine {
    fn report(&mut self, step: Step, done: u64, total: u64) {
        let (what, numbered) = (&self.what, self.numbered);
        self.line.draw(|| {
            let step_text = if numbered {
                format!(" (step {} of {}, {})", step.number, step.of, step.name)
            } else {
                format!(": {}", step.name)
            };
            format!(
                "{what}{step_text}: {} of {} {}",
                thousands(done),
                thousands(total),
                step.unit.name()
            )
        });
    }
}

/// A [`StepLine`] for `what` on `schedule`, or a silent one.
pub fn step_line(what: impl FnOnce() -> String, schedule: Option<Schedule>) -> Box<dyn Progress> {
    match ProgressLine::new(schedule) {
        Some(line) => Box::new(StepLine {
            what: what(),
            line,
            numbered: true,
        }),
        None => Box::new(refscope_core::snapshot::progress::Silent),
    }
}
