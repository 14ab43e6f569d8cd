"""capture() and assert_no_cycles(): the cycles that became garbage while a block ran.

How a block is watched (and so exactly what counts):

1. On entry, one full ``gc.collect()`` runs with the caller's own gc settings, so garbage
   made before the block is freed (or kept in ``gc.garbage`` if the caller asked for that)
   and is never attributed to the block.
2. While the block runs, a ``gc.callbacks`` hook sets ``gc.DEBUG_SAVEALL`` for the length
   of each collection, automatic or explicit (``gc.collect()``, ``refscope.collect()``),
   takes what that collection found out of ``gc.garbage`` again and keeps it until the
   block ends. So code in the block sees gc behave as usual (finalisers run, weak
   references die), except that objects found to be garbage stay in memory until the
   block ends.
3. On exit, one more full collection (with the hook on) finds what the block left behind,
   and everything kept is analysed at once.

What is reported: every cycle among the objects that became unreachable during the block:
objects created in the block, and objects created before it whose last outside reference
the block dropped. Collections triggered by other threads during the block count too.
Garbage that is not on a cycle (a list hanging off a cycle) is analysed but reported only
as part of what a cycle holds.

Nesting: every active capture receives the garbage of every collection, so an inner
capture reports its own block and the outer one still sees the inner block's cycles.
"""

from __future__ import annotations

import functools
import gc
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ._analysis import _gc_state_lock, find_cycles
from ._report import Cycle, CycleReport

__all__ = ["Capture", "CyclesFoundError", "assert_no_cycles", "capture"]

# Captures currently watching, outermost first. The gc hook is in gc.callbacks exactly
# while this list is not empty.
_active_captures: list[Capture] = []
# Per collection in progress: len(gc.garbage) at its start, and whether the hook turned
# DEBUG_SAVEALL on (and so must take the found objects back out of gc.garbage).
_collection_garbage_start = 0
_collection_set_saveall = False


def _gc_hook_start(phase: str, info: dict[str, int]) -> None:
    """First of gc.callbacks: turn DEBUG_SAVEALL on for the collection about to run.

    The hook is split in two, first and last in ``gc.callbacks``, so that another hook of
    the same kind (``refscope.Monitor``, or a user's) registered before the capture sees
    the collection's garbage in ``gc.garbage`` too before it is taken out again.
    Neither half may raise (gc would report it as unraisable) or keep a reference to a
    frame or an exception (that would be a cycle of refscope's own).
    """
    global _collection_garbage_start, _collection_set_saveall
    if phase != "start":
        return
    callbacks = gc.callbacks
    if callbacks[-1] is not _gc_hook_stop:
        # A hook appended since the capture began would run after ours and find nothing:
        # move ours back to the end. (gc walks the list by index, and ours runs first, so
        # every callback still runs once in this collection.)
        try:
            callbacks.remove(_gc_hook_stop)
        except ValueError:
            pass
        callbacks.append(_gc_hook_stop)
    flags = gc.get_debug()
    _collection_garbage_start = len(gc.garbage)
    _collection_set_saveall = not flags & gc.DEBUG_SAVEALL
    if _collection_set_saveall:
        gc.set_debug(flags | gc.DEBUG_SAVEALL)


def _gc_hook_stop(phase: str, info: dict[str, int]) -> None:
    """Last of gc.callbacks: keep what the collection found for the active captures."""
    global _collection_set_saveall
    if phase != "stop":
        return
    start = min(_collection_garbage_start, len(gc.garbage))
    found = gc.garbage[start:]
    if _collection_set_saveall:
        del gc.garbage[start:]
        gc.set_debug(gc.get_debug() & ~gc.DEBUG_SAVEALL)
        _collection_set_saveall = False
    for active in tuple(_active_captures):  # another thread may enter or leave meanwhile
        active._found.extend(found)


def _install_hook() -> None:
    if not any(callback is _gc_hook_start for callback in gc.callbacks):
        gc.callbacks.insert(0, _gc_hook_start)
        gc.callbacks.append(_gc_hook_stop)


def _remove_hook() -> None:
    gc.callbacks[:] = [
        callback
        for callback in gc.callbacks
        if callback is not _gc_hook_start and callback is not _gc_hook_stop
    ]


class Capture:
    """The context manager returned by :func:`capture`.

    After the block, :attr:`report` is a :class:`CycleReport` of the cycles that became
    garbage while it ran (``None`` before the block has ended).
    """

    __slots__ = (
        "keep_objects",
        "frame_locals",
        "progress",
        "report",
        "elapsed",
        "_found",
        "_state",
        "_saved",
    )

    def __init__(
        self,
        *,
        keep_objects: bool = False,
        frame_locals: bool = True,
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.keep_objects = keep_objects
        self.frame_locals = frame_locals
        self.progress = progress
        self.report: CycleReport | None = None
        """What the block left behind; set when the block ends, even if it raised."""
        self.elapsed: float | None = None
        """Seconds spent in the final collection and the analysis."""
        self._found: list[object] = []
        self._state = "new"
        self._saved: tuple[bool, int, list[object]] | None = None

    def __enter__(self) -> Capture:
        if self._state != "new":
            raise RuntimeError(
                "a refscope.capture() object can be used for one block only; "
                "call refscope.capture() again for another block"
            )
        with _gc_state_lock:
            gc.collect()  # garbage from before the block is not the block's
            self._saved = (gc.isenabled(), gc.get_debug(), gc.garbage[:])
            _active_captures.append(self)
            _install_hook()
            self._state = "active"
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        del exc_type, exc, tb  # never keep the traceback: it would be a cycle of ours
        self._finish(analyse=True)
        return False

    def _finish(self, *, analyse: bool) -> None:
        """End the watch: collect, restore gc's state, and analyse unless told not to."""
        if self._state != "active":
            raise RuntimeError("this refscope.capture() block is not active")
        self._state = "done"
        started = time.perf_counter()
        try:
            with _gc_state_lock:
                try:
                    if analyse and self.progress is not None:
                        self.progress("collecting", len(self._found))
                    gc.collect()
                finally:
                    self._stop_watching()
            found, self._found = self._found, []
            if not analyse:
                return
            count = len(found)
            if self.progress is not None:
                self.progress("analysing", count)
            report = find_cycles(
                found,
                keep_objects=self.keep_objects,
                frame_locals=self.frame_locals,
                materialize_dicts=True,  # garbage the collector found
            )
            del found
            self.report = report
            self.elapsed = time.perf_counter() - started
            if self.progress is not None:
                self.progress("analysed", count)
        finally:
            if self.elapsed is None:
                self.elapsed = time.perf_counter() - started

    def _stop_watching(self) -> None:
        if self in _active_captures:
            _active_captures.remove(self)
        if not _active_captures:
            _remove_hook()
        saved, self._saved = self._saved, None
        if saved is None:
            return
        enabled, flags, garbage = saved
        # What the caller had in gc.garbage, plus the block's garbage when the caller
        # itself asked for DEBUG_SAVEALL (as refscope.collect() does).
        if flags & gc.DEBUG_SAVEALL:
            garbage = garbage + self._found
        gc.garbage[:] = garbage
        gc.set_debug(flags)
        if enabled:
            gc.enable()
        else:
            gc.disable()

    def __repr__(self) -> str:
        if self.report is None:
            return f"<refscope.Capture {self._state}>"
        return f"<refscope.Capture: {len(self.report)} cycles>"


def capture(
    *,
    keep_objects: bool = False,
    frame_locals: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> Capture:
    """Report the reference cycles that became garbage while a block ran.

    >>> import refscope
    >>> class Node:
    ...     pass
    >>> with refscope.capture() as cap:
    ...     node = Node()
    ...     node.me = node
    ...     del node
    >>> len(cap.report)
    1

    ``keep_objects=True`` keeps the objects of the cycles in the report (call
    ``cap.report.release()`` when done); by default the report holds descriptions only and
    the objects are freed by the next collection. ``frame_locals=False`` leaves frames'
    local variables out of the report. ``progress(stage, objects)`` is called when the
    block ends, with ``stage`` ``"collecting"`` (before the final collection; ``objects``:
    garbage kept so far), ``"analysing"`` and ``"analysed"`` (``objects``: how many are
    analysed), so a tool can show progress on a long analysis.

    gc's enabled state, debug flags and ``gc.garbage`` are as they were on entry when the
    block ends, even if it raises. See this module's documentation for exactly what counts.
    """
    return Capture(keep_objects=keep_objects, frame_locals=frame_locals, progress=progress)


# --------------------------------------------------------------------------------------
# Allow-lists: which cycles a check tolerates.

AllowSpec = type | str | Callable[[Cycle], bool]


def _qualified_names(cls: type) -> tuple[str, ...]:
    """Names ``cls`` answers to: ``module.QualName``, ``QualName``, and for a private C
    accelerator module (``_asyncio.Task``) the public spelling (``asyncio.Task``).

    Read through ``type``'s own descriptors so no metaclass code runs.
    """
    qualname = type.__dict__["__qualname__"].__get__(cls, type)
    module = type.__dict__["__module__"].__get__(cls, type)
    if not isinstance(qualname, str):
        return ()
    if not isinstance(module, str) or module == "builtins":
        return (qualname,)
    names = [f"{module}.{qualname}", qualname]
    if module.startswith("_"):
        names.append(f"{module.lstrip('_')}.{qualname}")
    return tuple(names)


class _Allow:
    """A compiled allow-list: type objects, type names, and predicates over a Cycle."""

    __slots__ = ("types", "names", "predicates")

    def __init__(self, allow: AllowSpec | Iterable[AllowSpec] | None) -> None:
        if allow is None:
            items: list[Any] = []
        elif isinstance(allow, (str, type)) or callable(allow):
            items = [allow]
        else:
            try:
                items = list(allow)
            except TypeError:
                raise TypeError(
                    "allow must be a type, a type name, a predicate taking a refscope.Cycle, "
                    f"or an iterable of those, not {type(allow).__name__}"
                ) from None
        self.types: set[type] = set()
        self.names: set[str] = set()
        self.predicates: list[Callable[[Cycle], bool]] = []
        for item in items:
            if isinstance(item, type):
                self.types.add(item)
            elif isinstance(item, str):
                for name in item.split(","):
                    if name.strip():
                        self.names.add(name.strip())
            elif callable(item):
                self.predicates.append(item)
            else:
                raise TypeError(
                    "allow entries must be types, type names or predicates taking a "
                    f"refscope.Cycle, not {type(item).__name__}: {item!r}"
                )

    def __bool__(self) -> bool:
        return bool(self.types or self.names or self.predicates)

    @property
    def needs_objects(self) -> bool:
        """Type entries are matched against every object of a component."""
        return bool(self.types or self.names)

    def _type_allowed(self, cls: type, cache: dict[type, bool]) -> bool:
        answer = cache.get(cls)
        if answer is None:
            answer = False
            for base in type.__dict__["__mro__"].__get__(cls, type):
                if base in self.types or any(
                    name in self.names for name in _qualified_names(base)
                ):
                    answer = True
                    break
            cache[cls] = answer
        return answer

    def allowed_indexes(self, report: CycleReport) -> set[int]:
        """Indexes of the report's cycles that the allow-list tolerates.

        A cycle is allowed when an object of its strongly connected component is an
        instance of an allowed type (by identity along the MRO, or by name), or when a
        predicate returns true for the cycle. Type entries need a report that kept its
        objects.
        """
        allowed: set[int] = set()
        if not self or not len(report):
            return allowed
        if self.needs_objects:
            cache: dict[type, bool] = {}
            for index, members in enumerate(report.sccs):
                if any(self._type_allowed(type(member), cache) for member in members):
                    allowed.add(index)
                del members
        if self.predicates:
            for index, cycle in enumerate(report.cycles):
                if index not in allowed and any(p(cycle) for p in self.predicates):
                    allowed.add(index)
        return allowed

    def describe(self) -> str:
        parts = sorted(self.names) + sorted(".".join(_qualified_names(t)[:1]) for t in self.types)
        parts += [getattr(p, "__qualname__", "predicate") for p in self.predicates]
        return ", ".join(parts)


# --------------------------------------------------------------------------------------
# The failure: CyclesFoundError and its message.


class _Group(NamedTuple):
    """A group of offending cycles when the report has no ``groups`` of its own."""

    signature: str
    count: int
    example: Cycle
    total_size: int
    has_finalizer: bool
    hint: Any = None


def _signature(cycle: Cycle) -> str:
    return " -> ".join(f"{entry.type} {entry.label}" for entry in cycle.entries)


def _offending_groups(report: CycleReport, offending: list[int]) -> list[Any]:
    """The report's groups whose cycles are offending (largest first)."""
    cycles = report.cycles
    wanted = set(offending)
    groups = getattr(report, "groups", None)
    if groups is not None:
        index_by_address = {cycle.entries[0].address: i for i, cycle in enumerate(cycles)}
        chosen = []
        for group in groups:
            example = group.example
            index = next(
                (index_by_address[e.address] for e in example.entries
                 if e.address in index_by_address),
                None,
            )
            if index in wanted:
                chosen.append(group)
        return chosen
    by_signature: dict[str, list[Cycle]] = {}
    for index in offending:
        by_signature.setdefault(_signature(cycles[index]), []).append(cycles[index])
    fallback = [
        _Group(
            signature,
            len(members),
            members[0],
            sum(entry.size for cycle in members for entry in cycle.entries),
            any(cycle.has_finalizer for cycle in members),
        )
        for signature, members in by_signature.items()
    ]
    fallback.sort(key=lambda group: (-group.count, -group.total_size, group.signature))
    return fallback


def _render_cycle(cycle: Cycle, max_objects: int) -> list[str]:
    lines = []
    shown = cycle.entries if max_objects <= 0 else cycle.entries[:max_objects]
    for position, entry in enumerate(shown):
        marker = " [__del__]" if entry.has_finalizer else ""
        lines.append(f"    {entry.type}{marker}  {entry.description}")
        last = position == len(cycle.entries) - 1
        back = " (back to the first object)" if last else ""
        lines.append(f"      --[{entry.label}]-->{back}")
    if len(shown) < len(cycle.entries):
        lines.append(f"    ... {len(cycle.entries) - len(shown)} more objects on this cycle")
    return lines


def format_failure(
    report: CycleReport,
    offending: list[int],
    *,
    allowed_count: int = 0,
    where: str = "the block",
    max_groups: int = 5,
    max_objects_per_cycle: int = 12,
) -> str:
    """The text of a CyclesFoundError: a summary, each group with its fix, an example."""
    groups = _offending_groups(report, offending)
    cycles_word = "cycle" if len(offending) == 1 else "cycles"
    shapes = f"{len(groups)} shape" + ("" if len(groups) == 1 else "s")
    lines = [
        f"refscope: {len(offending)} reference {cycles_word} ({shapes}) became garbage in "
        f"{where}"
        + (f"; {allowed_count} more allowed" if allowed_count else ""),
    ]
    for number, group in enumerate(groups[:max_groups], 1):
        finaliser = ", holds a finaliser (__del__)" if group.has_finalizer else ""
        lines.append("")
        lines.append(
            f"Group {number}: {group.count} × {group.signature}  "
            f"({group.total_size:,} bytes{finaliser})"
        )
        hint = group.hint
        if hint is not None:
            lines.append(f"  fix: {hint.advice}")
            if getattr(hint, "why", ""):
                lines.append(f"  why: {hint.why}")
        example = group.example
        objects = "object" if len(example) == 1 else "objects"
        lines.append(
            f"  example: {len(example)} {objects} (component of {example.component_size})"
        )
        lines.extend(_render_cycle(example, max_objects_per_cycle))
    if len(groups) > max_groups:
        lines.append("")
        lines.append(f"... and {len(groups) - max_groups} more groups (see the report)")
    return "\n".join(lines)


class CyclesFoundError(AssertionError):
    """Raised by :func:`assert_no_cycles` (and the pytest plugin) when a block created
    reference cycles. ``.report`` is the full :class:`CycleReport` (objects not kept),
    ``.cycles`` the offending cycles, ``.groups`` their groups."""

    def __init__(
        self,
        message: str,
        report: CycleReport,
        cycles: list[Cycle],
        groups: list[Any],
        allowed_count: int = 0,
    ) -> None:
        super().__init__(message)
        self.report = report
        self.cycles = cycles
        self.groups = groups
        self.allowed_count = allowed_count

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (e.g. to a pytest-xdist controller) as a plain AssertionError with the
        # message: the report holds native data that does not cross processes.
        return (AssertionError, (str(self),))


def _check(cap: Capture, allow: _Allow, where: str) -> CyclesFoundError | None:
    """The error to raise for a finished capture, or None when nothing offends."""
    report = cap.report
    if report is None or not len(report):
        return None
    try:
        allowed = allow.allowed_indexes(report)
    finally:
        report.release()
    offending = [index for index in range(len(report)) if index not in allowed]
    if not offending:
        return None
    message = format_failure(report, offending, allowed_count=len(allowed), where=where)
    cycles = report.cycles
    return CyclesFoundError(
        message,
        report,
        [cycles[index] for index in offending],
        _offending_groups(report, offending),
        len(allowed),
    )


class _NoCyclesCheck:
    """Context manager and decorator returned by :func:`assert_no_cycles`."""

    __slots__ = ("allow", "frame_locals", "_capture")

    def __init__(self, allow: _Allow, frame_locals: bool) -> None:
        self.allow = allow
        self.frame_locals = frame_locals
        self._capture: Capture | None = None

    def __enter__(self) -> Capture:
        if self._capture is not None:
            raise RuntimeError(
                "this assert_no_cycles() is already checking a block; "
                "call refscope.assert_no_cycles() again for a nested block"
            )
        cap = Capture(keep_objects=self.allow.needs_objects, frame_locals=self.frame_locals)
        self._capture = cap.__enter__()
        return cap

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        cap, self._capture = self._capture, None
        assert cap is not None
        if exc_type is not None:
            # The block failed on its own: that error is the one to see.
            del exc_type, exc, tb
            cap._finish(analyse=False)
            return False
        cap._finish(analyse=True)
        _raise_if_offending(cap, self.allow, "the block")
        return False

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return _decorate(function, self.allow, self.frame_locals)


def _raise_if_offending(cap: Capture, allow: _Allow, where: str) -> None:
    error = _check(cap, allow, where)
    if error is not None:
        try:
            raise error
        finally:
            # A local naming the error would make error -> traceback -> this frame ->
            # error: a reference cycle of refscope's own.
            del error


def _decorate(function: Callable[..., Any], allow: _Allow, frame_locals: bool) -> Any:
    if not callable(function):
        raise TypeError(
            f"assert_no_cycles() decorates functions, not {type(function).__name__}"
        )
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def check_coroutine(*args: Any, **kwargs: Any) -> Any:
            with _NoCyclesCheck(allow, frame_locals):
                return await function(*args, **kwargs)

        return check_coroutine

    @functools.wraps(function)
    def check(*args: Any, **kwargs: Any) -> Any:
        with _NoCyclesCheck(allow, frame_locals):
            return function(*args, **kwargs)

    return check


def assert_no_cycles(
    function: Callable[..., Any] | None = None,
    *,
    allow: AllowSpec | Iterable[AllowSpec] | None = None,
    frame_locals: bool = True,
) -> Any:
    """Fail with :class:`CyclesFoundError` if a block or a function creates reference
    cycles.

    As a context manager (``with refscope.assert_no_cycles(): ...``) it checks the block;
    as a decorator (``@refscope.assert_no_cycles`` or ``@refscope.assert_no_cycles(...)``)
    it checks every call of a function, ``async def`` ones included (there, the check
    spans the awaits: garbage made by other tasks meanwhile counts).

    ``allow`` tolerates known cycles: a type (matched by identity along each object's MRO),
    a type name (``"asyncio.Task"``, ``"mymodule.Node"`` or ``"Node"``), or a predicate
    taking a :class:`refscope.Cycle`; or an iterable of those. A cycle is allowed when
    any object of its strongly connected component has an allowed type, or when a
    predicate returns true for it.

    What counts as "created in the block" is what :func:`capture` reports. If the block
    itself raises, that exception propagates and no check is made.
    """
    compiled = _Allow(allow)
    if function is not None:
        return _decorate(function, compiled, frame_locals)
    return _NoCyclesCheck(compiled, frame_locals)
