"""Monitor: watch the collections a live process really runs and aggregate their cycles.

A :class:`Monitor` hooks :data:`gc.callbacks`. For a sampled collection it turns on
``gc.DEBUG_SAVEALL`` in the "start" callback, so that the collector keeps what it found
unreachable in ``gc.garbage``; in the "stop" callback it takes exactly the entries that
collection added, removes them from ``gc.garbage``, restores the debug flags and analyses
the objects with :func:`refscope.find_cycles` (``keep_objects=False``). Their finalisers
and weakref callbacks already ran during the collection, as they would have anyway. Then
the objects are freed before the callback returns, with ``tp_clear`` as the collector's
last step would have (see :func:`refscope._gc.free_delivered_garbage`), so the heap ends
as the unsampled collection would have left it and no later collection pays for them.
When that cannot be done safely (another refscope block wanted the same garbage, the
user's own ``DEBUG_SAVEALL`` keeps it, or something came to hold one of the objects), they
are freed by the next collection of the generation they moved to instead.

What is kept is a bounded aggregate: one entry per cycle *group* (cycles with the same
signature: the same types joined by the same references), with a count, first and last
time seen, cumulative shallow bytes and a short example. At most ``max_groups`` groups
are kept; the least recently seen one is evicted into an "other" counter, so memory stays
bounded however long the process runs.

Sampling: every ``every``-th collection of one of ``generations`` is a candidate, and a
candidate is sampled only while the time the monitor itself spent in gc callbacks stays
within ``max_overhead`` (a fraction, default 1 %) of the CPU time the process used since
:meth:`Monitor.start`. CPU time rather than wall time: an idle server earns no budget, so
the monitor's share of the work stays at most ``max_overhead`` however busy the process
is. The first candidate is always sampled; after a sample that took *t* seconds, the next
one waits until the process has used about ``t / max_overhead`` more seconds of CPU.
:meth:`Monitor.collect` runs a full collection that is always sampled (the recipe's
``/collect/``, and the way to use a monitor with automatic gc disabled).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from array import array
from collections import OrderedDict, deque
from dataclasses import dataclass
from itertools import chain
from typing import Any

from . import _gc
from ._analysis import _analyse, find_cycles
from ._report import CycleReport

__all__ = ["GroupStats", "Monitor", "MonitorStats"]

# Kept per group in the aggregate: enough to recognise the cycle, bounded in size.
_MAX_EXAMPLE_ENTRIES = 12
_MAX_SIGNATURE_CHARS = 400
_MAX_DESCRIPTION_CHARS = 160
# Samples whose results wait for the aggregate lock (see Monitor._record).
_MAX_PENDING_SAMPLES = 64
_CPUS = os.cpu_count() or 1


@dataclass(frozen=True)
class GroupStats:
    """One cycle group of a monitor's aggregate."""

    key: str
    """Short stable hash of the signature: a dict key or a metric label."""
    signature: str
    """The cycle's types and references, canonically rotated (cut to 400 characters)."""
    count: int
    """Cycles of this group found in the sampled collections."""
    first_seen: float
    """``time.time()`` of the first sample that found it."""
    last_seen: float
    total_size: int
    """Shallow bytes of the cycles' objects, summed over every sample."""
    has_finalizer: bool
    example: tuple[tuple[str, str, str], ...]
    """(type, description, label) of the first objects of an example cycle."""
    example_length: int
    """Objects on the example cycle (``example`` may hold fewer)."""
    hint: str | None = None
    """Advice on the edge to break, when the analysis gives one."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "signature": self.signature,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "total_size": self.total_size,
            "has_finalizer": self.has_finalizer,
            "example": [
                {"type": t, "description": d, "label": label} for t, d, label in self.example
            ],
            "example_length": self.example_length,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class MonitorStats:
    """Counters of a monitor since it was created (or reset)."""

    running: bool
    collections_seen: int
    """Collections the monitor was called for, by generation (index 0, 1, 2)."""
    collections_by_generation: tuple[int, int, int]
    collections_sampled: int
    sampled_by_generation: tuple[int, int, int]
    skipped_for_budget: int
    """Candidate collections not sampled because of ``max_overhead``."""
    objects_collected: int
    """What gc reported collecting, over every collection seen."""
    garbage_objects: int
    """Objects analysed in sampled collections."""
    cycles_found: int
    groups: int
    """Groups currently in the aggregate."""
    other_count: int
    """Cycles of groups evicted from the aggregate."""
    analysis_seconds: float
    """Time the monitor itself spent in gc callbacks."""
    overhead: float
    """``analysis_seconds`` as a fraction of the process's CPU time since start."""
    errors: int
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class _GroupRecord:
    key: str
    signature: str
    count: int
    first_seen: float
    last_seen: float
    total_size: int
    has_finalizer: bool
    example: tuple[tuple[str, str, str], ...]
    example_length: int
    hint: str | None


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_signature(group: Any) -> str:
    """The group's signature cut to _MAX_SIGNATURE_CHARS, reading only that much of it."""
    head = group.signature_head(_MAX_SIGNATURE_CHARS + 1)
    return _short(head, _MAX_SIGNATURE_CHARS)


def report_groups(report: CycleReport) -> list[Any]:
    """``report.groups`` (largest first), as a list: the core's groups."""
    return list(report.groups)


def _summarise_groups(report: CycleReport) -> list[_GroupRecord]:
    """Small, self-contained records of a report's groups (no objects, bounded text)."""
    now = time.time()
    records = []
    for group in report_groups(report):
        entries = group.example_entries(_MAX_EXAMPLE_ENTRIES)
        hint = getattr(group, "hint", None)
        advice = getattr(hint, "advice", None) if hint is not None else None
        records.append(
            _GroupRecord(
                key=str(group.key),
                signature=_short_signature(group),
                count=int(group.count),
                first_seen=now,
                last_seen=now,
                total_size=int(group.total_size),
                has_finalizer=bool(group.has_finalizer),
                example=tuple(
                    (e.type, _short(e.description, _MAX_DESCRIPTION_CHARS), e.label)
                    for e in entries[:_MAX_EXAMPLE_ENTRIES]
                ),
                example_length=group.example_length,
                hint=str(advice) if advice is not None else None,
            )
        )
    return records


class _Sample:
    """State of one sampled collection, from its "start" callback to its "stop"."""

    __slots__ = ("generation", "monitors")

    def __init__(self, generation: int, monitors: tuple[Monitor, ...]) -> None:
        self.generation = generation
        self.monitors = monitors


class _GcHub:
    """The one subscriber to refscope's gc hooks (:mod:`refscope._gc`) shared by every
    Monitor of the process.

    A collection is sampled once, for every monitor that wants it, and analysed once per
    ``frame_locals`` setting. ``refscope._gc`` turns ``DEBUG_SAVEALL`` on for it and
    hands over exactly what it found.
    """

    def __init__(self) -> None:
        # Guards subscriptions (never taken inside a gc callback).
        self.lock = threading.RLock()
        # Serialises Monitor.collect() (its forced and quiet collections go in pairs).
        self.collect_lock = threading.RLock()
        self.monitors: tuple[Monitor, ...] = ()  # replaced, never mutated: read lock-free
        self.subscribed = False
        self.sample: _Sample | None = None
        self.in_callback = False
        self.quiet_thread: int | None = None
        self.forcing = 0  # Monitor.collect() calls under way
        # Generation -> ids of the objects a sample kept alive with DEBUG_SAVEALL; the next
        # collection of that generation frees them (or finds them again, see _gc_stop).
        # Ids as a flat array of machine words, not a set of ints: a sampled million-object
        # ring would otherwise cost a million int objects until the next collection.
        self.kept: dict[int, array[int]] = {}

    def subscribe(self, monitor: Monitor) -> None:
        with self.lock:
            if not any(m is monitor for m in self.monitors):
                self.monitors = (*self.monitors, monitor)
            if not self.subscribed:
                _gc.subscribe(self)
                self.subscribed = True

    def unsubscribe(self, monitor: Monitor) -> None:
        with self.lock:
            self.monitors = tuple(m for m in self.monitors if m is not monitor)
            if self.subscribed and not self.monitors:
                _gc.unsubscribe(self)
                self.subscribed = False
                # Unseen collections may free those objects from now on, and their ids be
                # reused.
                self.kept.clear()

    # -- called by refscope._gc inside gc callbacks: never raise, never block -------------

    def _gc_start(self, info: dict[str, int]) -> bool:
        # Young collections can come every few hundred microseconds, so the path for a
        # collection that is not sampled allocates nothing and makes no system call.
        if self.in_callback:  # a collection triggered while we analyse (gc forbids it today)
            return False
        self.sample = None
        wanting = self.decide(info)
        if not wanting:
            return False
        self.sample = _Sample(int(info.get("generation", 2)), wanting)
        return True

    def _gc_stop(self, info: dict[str, int], found: list[object] | None) -> None:
        if self.in_callback:
            return
        if self.sample is None and not self.kept:
            collected = info.get("collected", 0)
            for monitor in self.monitors:
                monitor._objects_collected += collected
            return
        self.in_callback = True
        began = time.perf_counter()
        involved: list[Monitor] = []
        try:
            self.on_stop(info, found, involved)
        except BaseException as error:  # noqa: BLE001 - must not escape into gc
            for monitor in involved or self.monitors:
                monitor._count_error(error)
        finally:
            spent = time.perf_counter() - began
            for monitor in involved:
                monitor._analysis_seconds += spent
            self.in_callback = False

    def decide(self, info: dict[str, int]) -> tuple[Monitor, ...]:
        """The monitors that sample this collection (each counts it either way)."""
        me = threading.get_ident() if self.forcing or self.quiet_thread is not None else None
        if me is not None and self.quiet_thread == me:
            return ()
        generation = info.get("generation", 2)
        # A collection that examines what an earlier sample kept must free it: only an
        # explicit Monitor.collect() samples it (it frees them right after, and objects
        # found again are left out of the analysis).
        forced = me is not None and any(m._force_thread == me for m in self.monitors)
        examines_kept = not forced and bool(self.kept) and any(
            kept <= generation for kept in self.kept
        )
        wanting = ()
        for monitor in self.monitors:
            if monitor._wants(generation, examines_kept, me):
                wanting = (*wanting, monitor)
        return wanting

    def on_stop(
        self, info: dict[str, int], found: list[object] | None, involved: list[Monitor]
    ) -> None:
        generation = int(info.get("generation", 2))
        collected = int(info.get("collected", 0))
        for monitor in self.monitors:
            monitor._objects_collected += collected
        refound_ids = [self.kept.pop(kept) for kept in [k for k in self.kept if k <= generation]]
        sample, self.sample = self.sample, None
        if sample is None or found is None:
            return
        refound: set[int] = set(chain.from_iterable(refound_ids)) if refound_ids else set()
        involved.extend(sample.monitors)
        delivered = found
        if refound:
            found = [obj for obj in found if id(obj) not in refound]
        # One analysis, of garbage that is this hub's alone: it takes the objects over
        # (emptying `delivered`, 8 bytes per object less at its peak) and frees them when
        # it lets them go, as this collection would have freed them unsampled.
        handed_over = (
            not refound
            and len({monitor.frame_locals for monitor in sample.monitors}) == 1
            and _gc.may_free_delivered_garbage(self, delivered)
        )
        reports: dict[object, CycleReport] = {}
        unfreed: list[object] = []
        try:
            for monitor in sample.monitors:
                try:
                    report = reports.get(monitor.frame_locals)
                    if report is None:
                        report = _analyse(
                            found,
                            keep_objects=False,
                            frame_locals=bool(monitor.frame_locals),
                            repr_locals=False,
                            materialize_dicts=True,  # garbage the collector found
                            free_garbage=handed_over,
                            # A sample keeps group records; a Monitor.collect() report
                            # is the caller's, described as any report is.
                            examples_only=not any(m._forced_pending for m in sample.monitors),
                        )
                        if handed_over:
                            unfreed = report._analysis.take_unfreed_garbage()
                        report.collected = collected - len(refound)
                        reports[monitor.frame_locals] = report
                    monitor._take_sample(report, generation)
                except BaseException as error:  # noqa: BLE001 - one monitor's failure
                    monitor._count_error(error)
        finally:
            del found, reports
            # Freed now, as this collection would have freed them unsampled: no later
            # collection pays for them and the heap is as it would have been. Else (another
            # subscriber wanted them too, the user's DEBUG_SAVEALL keeps them, something
            # came to hold one) they live until the next collection of the generation gc
            # moved them to (CPython gcmodule.c, delete_garbage: survivors go to the next
            # generation), which must not report them again.
            if handed_over and not delivered:
                # The analysis took them: it freed them, or handed back what it could not.
                left, keep = unfreed, bool(unfreed)
            else:
                left = delivered
                keep = bool(left) and (
                    refound or not _gc.free_delivered_garbage(self, delivered)
                )
            if keep:
                self.kept.setdefault(min(generation + 1, 2), array("Q")).extend(map(id, left))
            del delivered, unfreed, left


_HUB = _GcHub()


class Monitor:
    """Samples the collections gc really runs and keeps a bounded aggregate of their cycles.

    >>> import refscope
    >>> monitor = refscope.Monitor().start()
    >>> # ... the process runs; gc collects as usual ...
    >>> monitor.stop()

    ``every``: consider one collection in ``every`` (of the listed ``generations``).
    ``max_overhead``: fraction of the process's CPU time the monitor may spend in gc
    callbacks (default 0.01; ``None``: no time budget, every ``every``-th candidate).
    ``max_groups``: groups kept in the aggregate (least recently seen evicted first).
    ``frame_locals``: include frames' local variables in descriptions (off: they may hold
    secrets). Thread-safe; ``start()`` and ``stop()`` are idempotent. The monitor never takes
    entries of ``gc.garbage`` it did not cause, and leaves the garbage of a user who set
    ``gc.DEBUG_SAVEALL`` in ``gc.garbage`` (it still analyses it).
    """

    def __init__(
        self,
        *,
        every: int = 1,
        generations: tuple[int, ...] = (0, 1, 2),
        max_overhead: float | None = 0.01,
        max_groups: int = 200,
        frame_locals: bool = False,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"Monitor(every=...) must be an int >= 1, not {every!r}")
        generations = tuple(generations)
        if not generations or any(g not in (0, 1, 2) for g in generations):
            raise ValueError(
                f"Monitor(generations=...) must list gc generations 0, 1 or 2, not {generations!r}"
            )
        if max_overhead is not None and (
            isinstance(max_overhead, bool)
            or not isinstance(max_overhead, (int, float))
            or not 0 < max_overhead <= 1
        ):
            raise ValueError(
                "Monitor(max_overhead=...) must be a fraction in (0, 1] or None, "
                f"not {max_overhead!r}"
            )
        if isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups < 1:
            raise ValueError(f"Monitor(max_groups=...) must be an int >= 1, not {max_groups!r}")
        self.every = every
        self.generations = frozenset(generations)
        self.max_overhead = None if max_overhead is None else float(max_overhead)
        self.max_groups = max_groups
        self.frame_locals = bool(frame_locals)

        # Guards the aggregate. gc callbacks only ever try it without blocking: a collection
        # can start inside any allocation, including one made while this lock is held.
        self._lock = threading.Lock()
        # Serialises start/stop (never taken inside a gc callback).
        self._control_lock = threading.RLock()
        self._running = False
        self._force_thread: int | None = None
        self._forced_pending = False
        self._forced_report: CycleReport | None = None
        self._pending: deque[list[_GroupRecord]] = deque(maxlen=_MAX_PENDING_SAMPLES)
        self._groups: OrderedDict[str, _GroupRecord] = OrderedDict()
        self._reset_counters()

    # -- counters ---------------------------------------------------------------------------

    def _reset_counters(self) -> None:
        self._started_cpu = time.process_time()
        self._next_budget_check = 0.0
        self._seen_by_generation = [0, 0, 0]
        self._sampled_by_generation = [0, 0, 0]
        self._candidates = 0
        self._skipped_for_budget = 0
        self._objects_collected = 0
        self._garbage_objects = 0
        self._cycles_found = 0
        self._other_count = 0
        self._analysis_seconds = 0.0
        self._errors = 0
        self._last_error: str | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> Monitor:
        """Start sampling (no effect if already running). Returns the monitor."""
        with self._control_lock:
            if self._running:
                return self
            self._started_cpu = time.process_time()
            self._next_budget_check = 0.0
            self._running = True
            _HUB.subscribe(self)
        return self

    def stop(self) -> None:
        """Stop sampling (no effect if not running). A collection being sampled in another
        thread right now is finished and cleaned up by its own "stop" callback."""
        with self._control_lock:
            if not self._running:
                return
            self._running = False
            _HUB.unsubscribe(self)

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- called by the gc hub, inside gc callbacks -------------------------------------------

    def _wants(self, generation: int, examines_kept: bool, me: int | None) -> bool:
        """Whether to sample this collection (and count it). ``me``: the thread's id when
        a Monitor.collect() is under way somewhere, else None."""
        # Only the thread inside Monitor.collect() gets its collection forced.
        if me is not None and self._force_thread == me:
            self._force_thread = None
            self._forced_pending = True
            self._seen_by_generation[generation] += 1
            return True
        if not self._running:
            return False
        self._seen_by_generation[generation] += 1
        if examines_kept or generation not in self.generations:
            return False
        self._candidates += 1
        if (self._candidates - 1) % self.every:
            return False
        budget = self.max_overhead
        if budget is None:
            return True
        # process_time() is a system call: look at it only once the budget may allow a
        # sample (CPU time cannot grow faster than wall time times the number of CPUs).
        now = time.perf_counter()
        if now < self._next_budget_check:
            self._skipped_for_budget += 1
            return False
        used = time.process_time() - self._started_cpu
        deficit = self._analysis_seconds / budget - used
        if deficit > 0:
            self._next_budget_check = now + deficit / _CPUS
            self._skipped_for_budget += 1
            return False
        return True

    def _take_sample(self, report: CycleReport, generation: int) -> None:
        self._sampled_by_generation[generation] += 1
        self._garbage_objects += report.analysed_count
        self._cycles_found += len(report)
        if self._forced_pending:
            self._forced_pending = False
            self._forced_report = report
        self._record(_summarise_groups(report))

    def _count_error(self, error: BaseException) -> None:
        self._errors += 1
        self._last_error = f"{type(error).__name__}: {error}"

    # -- the aggregate ----------------------------------------------------------------------

    def _record(self, records: list[_GroupRecord]) -> None:
        if records:
            self._pending.append(records)
        # In a gc callback the lock may be held by the code that allocated: then the
        # records wait in _pending for the next caller that gets the lock.
        if self._lock.acquire(blocking=False):
            try:
                self._merge_pending()
            finally:
                self._lock.release()

    def _merge_pending(self) -> None:
        groups = self._groups
        while self._pending:
            for record in self._pending.popleft():
                known = groups.get(record.key)
                if known is None:
                    groups[record.key] = record
                else:
                    known.count += record.count
                    known.last_seen = record.last_seen
                    known.total_size += record.total_size
                    known.has_finalizer = known.has_finalizer or record.has_finalizer
                    groups.move_to_end(record.key)
                while len(groups) > self.max_groups:
                    _, evicted = groups.popitem(last=False)
                    self._other_count += evicted.count

    def groups(self) -> list[GroupStats]:
        """The aggregate's groups, most cycles first."""
        with self._lock:
            self._merge_pending()
            records = [
                GroupStats(
                    r.key, r.signature, r.count, r.first_seen, r.last_seen, r.total_size,
                    r.has_finalizer, r.example, r.example_length, r.hint,
                )
                for r in self._groups.values()
            ]
        records.sort(key=lambda g: (-g.count, -g.last_seen))
        return records

    def stats(self) -> MonitorStats:
        with self._lock:
            self._merge_pending()
            groups = len(self._groups)
            other = self._other_count
        elapsed = max(time.process_time() - self._started_cpu, 1e-9)
        return MonitorStats(
            running=self._running,
            collections_seen=sum(self._seen_by_generation),
            collections_by_generation=tuple(self._seen_by_generation),  # type: ignore[arg-type]
            collections_sampled=sum(self._sampled_by_generation),
            sampled_by_generation=tuple(self._sampled_by_generation),  # type: ignore[arg-type]
            skipped_for_budget=self._skipped_for_budget,
            objects_collected=self._objects_collected,
            garbage_objects=self._garbage_objects,
            cycles_found=self._cycles_found,
            groups=groups,
            other_count=other,
            analysis_seconds=self._analysis_seconds,
            overhead=self._analysis_seconds / elapsed,
            errors=self._errors,
            last_error=self._last_error,
        )

    def reset(self) -> None:
        """Forget the aggregate and the counters (sampling goes on if running)."""
        with self._lock:
            self._pending.clear()
            self._groups.clear()
            self._reset_counters()

    # -- an explicit collection -------------------------------------------------------------

    def collect(self, generation: int = 2) -> CycleReport:
        """Run ``gc.collect(generation)``, always sampled, and return its report (which
        holds descriptions only). Works whether or not the monitor is running; the
        cycles are added to the aggregate. ``report.collected`` is what gc collected."""
        if generation not in (0, 1, 2):
            raise ValueError(
                f"Monitor.collect(generation=...) must be 0, 1 or 2, not {generation!r}"
            )
        me = threading.get_ident()
        with _HUB.collect_lock:
            temporary = not self._running
            _HUB.subscribe(self)
            errors_before = self._errors
            self._forced_report = None
            self._force_thread = me
            _HUB.forcing += 1
            try:
                collected = _gc.collect(generation)
                # Free what that collection kept for the analysis, without sampling it:
                # otherwise the next /collect/ would find (and report) the same objects.
                self._force_thread = None
                _HUB.quiet_thread = me
                gc.collect(min(generation + 1, 2))
            finally:
                _HUB.forcing -= 1
                self._force_thread = None
                self._forced_pending = False
                _HUB.quiet_thread = None
                if temporary and not self._running:
                    _HUB.unsubscribe(self)
            report, self._forced_report = self._forced_report, None
        if report is None:
            # Another thread's collection was running (gc ran none), or analysing failed.
            if self._errors != errors_before:
                from ._errors import RefscopeError

                raise RefscopeError(f"analysing the collection failed: {self._last_error}")
            report = find_cycles([], keep_objects=False)
            report.collected = collected
        with self._lock:
            self._merge_pending()
        return report

    # -- output -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Counters and groups as JSON-ready data."""
        return {
            "stats": self.stats().to_dict(),
            "groups": [group.to_dict() for group in self.groups()],
        }

    def to_text(self) -> str:
        stats = self.stats()
        groups = self.groups()
        lines = [
            f"refscope monitor: {'running' if stats.running else 'stopped'}; "
            f"{stats.collections_sampled} of {stats.collections_seen} collections sampled, "
            f"{stats.cycles_found} cycles in {stats.groups} groups"
            + (f" (+{stats.other_count} in evicted groups)" if stats.other_count else ""),
            f"overhead {stats.overhead:.2%} of CPU time ({stats.analysis_seconds:.3f} s), "
            f"{stats.skipped_for_budget} skipped for the budget, {stats.errors} errors",
        ]
        if stats.last_error:
            lines.append(f"last error: {stats.last_error}")
        for group in groups:
            lines.append("")
            finaliser = ", holds a finaliser" if group.has_finalizer else ""
            lines.append(
                f"{group.count} x [{group.key}] {group.example_length} objects, "
                f"{group.total_size} bytes{finaliser}"
            )
            lines.append(f"  {group.signature}")
            if group.hint:
                lines.append(f"  hint: {group.hint}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<refscope.Monitor {state}, {len(self._groups)} groups>"
