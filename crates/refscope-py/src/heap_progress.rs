//! The progress line `refscope.snapshot(progress=True)` draws on stderr while it walks.
//!
//! It is drawn from Rust, not by a Python callback: the walk holds the GIL from start to
//! end and keeps borrowed pointers to objects that only the heap keeps alive (the
//! untracked ones it reaches), so it must run no Python code before it ends. A Python
//! callback could let another thread run (the eval loop hands the GIL over every few
//! milliseconds) and free one of them. Writing to file descriptor 2 runs no Python code
//! and does not release the GIL. The Python side decides whether to draw at all (stderr
//! a terminal, fd 2) and after how long; the look matches `refscope/_progress.py`.

use refscope_core::report::format::thousands;
use std::io::Write;
use std::time::{Duration, Instant};

/// The walk reports its position once every this many objects (cheap: one branch).
pub const EVERY: usize = 1 << 16;
/// At most ten redraws a second.
const INTERVAL: Duration = Duration::from_millis(100);

/// One line on stderr, redrawn in place with `\r` and erased (`\r` + erase to the end
/// of the line) when dropped, if it was ever drawn.
pub struct ProgressLine {
    started: Instant,
    delay: Duration,
    last_drawn: Option<Instant>,
}

impl ProgressLine {
    /// A line drawn only once `delay_seconds` have passed; None for a delay that is not a
    /// finite number of seconds (the Python side checks it; this is the panic-free net).
    pub fn new(delay_seconds: f64) -> Option<ProgressLine> {
        let delay = Duration::try_from_secs_f64(delay_seconds.max(0.0)).ok()?;
        Some(ProgressLine {
            started: Instant::now(),
            delay,
            last_drawn: None,
        })
    }

    /// `refscope: PHASE: DONE of TOTAL objects (T s)`, unless too early or too soon.
    pub fn update(&mut self, phase: &str, done: usize, total: usize) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        if elapsed < self.delay {
            return;
        }
        if let Some(last) = self.last_drawn {
            if now.duration_since(last) < INTERVAL {
                return;
            }
        }
        self.last_drawn = Some(now);
        let line = format!(
            "\rrefscope: {phase}: {} of {} objects ({:.1} s)\x1b[K",
            thousands(done as u64),
            thousands(total as u64),
            elapsed.as_secs_f64()
        );
        // A progress line is a courtesy: a closed or full stderr is not an error.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if self.last_drawn.is_some() {
            let _ = std::io::stderr().write_all(b"\r\x1b[K");
        }
    }
}
