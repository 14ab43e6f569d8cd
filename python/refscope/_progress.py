"""The progress line of long snapshot work, on stderr: opt-in (``progress=True``).

Drawn only when stderr is a terminal, once the work has taken
``REFSCOPE_PROGRESS_DELAY`` seconds (default 1), at most ten times a second
(``REFSCOPE_PROGRESS_INTERVAL`` sets another minimum interval between frames, in
seconds; 0 draws every report), and erased when the work ends, so what the terminal
keeps is the output alone::

    refscope: walking the heap: 1,245,184 of 1,630,219 objects (1.3 s)
    refscope: loading heap.rscp (step 3 of 3, decoding): 31,457,280 of 52,114,923 bytes (1.1 s)
    refscope: computing dominators (step 4 of 5, semidominators): 6,488,064 of 10,000,000 ...

The walk, reading a file and the dominators are drawn by the native code itself, where
the work runs (``crates/refscope-py/src/heap_progress.rs``; the loops of the core report
their position every 65,536 objects or 1 MiB): the walk holds the GIL from start to end
and must run no Python code, and the others count what they have done. The native code
writes to file descriptor 2, so these lines are drawn only when ``sys.stderr`` is that
descriptor. Writing a file (``save``, ``export_heapsnapshot``) shows its elapsed time
only: a thread of this module redraws that line while the native code, with the GIL
released, writes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType

DELAY_ENV = "REFSCOPE_PROGRESS_DELAY"
INTERVAL_ENV = "REFSCOPE_PROGRESS_INTERVAL"
DEFAULT_DELAY = 1.0
INTERVAL = 0.1
ERASE = "\r\x1b[K"


def delay(progress: bool, *, native: bool = False) -> float | None:
    """Seconds after which to draw, or None for no line: not asked for, or stderr is not
    a terminal (``native``: not a terminal on file descriptor 2, where the native walk
    writes)."""
    if not progress:
        return None
    stream = sys.stderr
    try:
        if stream is None or not stream.isatty():
            return None
        if native and stream.fileno() != 2:
            return None
    except (AttributeError, ValueError, OSError):  # closed, or not a real file
        return None
    return _seconds(DELAY_ENV, DEFAULT_DELAY)


def interval() -> float:
    """Least seconds between two frames of the native line (``REFSCOPE_PROGRESS_INTERVAL``,
    default a tenth of a second)."""
    return _seconds(INTERVAL_ENV, INTERVAL)


def native(progress: bool) -> dict[str, float | None]:
    """The keyword arguments of a native call that draws its own line."""
    return {"progress_delay": delay(progress, native=True), "progress_interval": interval()}


def _seconds(name: str, default: float) -> float:
    """A non-negative finite number of seconds from the environment, else ``default``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        return default
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return default
    return max(seconds, 0.0)


def thousands(n: int) -> str:
    return f"{n:,}"


class Phase:
    """``with Phase(text, progress):`` around native code that releases the GIL: while
    it runs, ``refscope: TEXT (T s)`` is redrawn by a thread, and erased at the end."""

    def __init__(self, text: str, progress: bool) -> None:
        self._text = text
        self._delay = delay(progress)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._drawn = False
        self._started = 0.0

    def _draw(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            stream = sys.stderr
            elapsed = time.monotonic() - self._started
            try:
                stream.write(f"\rrefscope: {self._text} ({elapsed:.1f} s)\x1b[K")
                stream.flush()
            except (AttributeError, ValueError, OSError):
                return
            self._drawn = True

    def _run(self) -> None:
        assert self._delay is not None
        wait = self._delay - (time.monotonic() - self._started)
        if wait > 0 and self._stop.wait(wait):
            return
        while not self._stop.is_set():
            self._draw()
            if self._stop.wait(INTERVAL):
                return

    def __enter__(self) -> Phase:
        if self._delay is None:
            return self
        self._started = time.monotonic()
        if self._delay <= 0:
            self._draw()  # at once, from this thread: a zero delay always shows the line
        self._thread = threading.Thread(
            target=self._run, name="refscope progress", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        thread, self._thread = self._thread, None  # the thread refers to this object
        if thread is None:
            return
        with self._lock:
            self._stop.set()
        thread.join()
        if self._drawn:
            try:
                sys.stderr.write(ERASE)
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
