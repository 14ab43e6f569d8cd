"""capture() and assert_no_cycles(): the cycles that became garbage while a block ran.

How a block is watched (and so exactly what counts):

1. On entry, one full ``gc.collect()`` runs with the caller's own gc settings, so garbage
   made before the block is freed (or kept in ``gc.garbage`` if the caller asked for that)
   and is never attributed to the block.
2. While the block runs, refscope's gc hook (:mod:`refscope._gc`, shared with
   ``collect()`` and ``Monitor``) sets ``gc.DEBUG_SAVEALL`` for the length
   of each collection, automatic or explicit (``gc.collect()``, ``refscope.collect()``),
   takes what that collection found out of ``gc.garbage`` again and keeps it until the
   block ends. So code in the block sees gc behave as usual (finalisers run, weak
   references die), except that objects found to be garbage stay in memory until the
   block ends.
3. On exit, one more full collection (with the hook on) finds what the block left behind,
   and everything kept is analysed at once. Unless the report keeps the objects, they are
   then freed as the collections would have freed them (``tp_clear``, gc's last step;
   :func:`refscope.collect` does the same), or by the next collection when another
   subscriber or the user's ``DEBUG_SAVEALL`` shares them.

What is reported: every cycle among the objects that became unreachable during the block:
objects created in the block, and objects created before it whose last outside reference
the block dropped. Collections triggered by other threads during the block count too.
Garbage that is not on a cycle (a list hanging off a cycle) is analysed but reported only
as part of what a cycle holds.

With ``new_objects_only=True`` step 1 is replaced by ``gc.freeze()`` of every object that
exists on entry (until the block ends): only objects created in the block are examined,
so older garbage the block releases is not reported.

Nesting: every active capture receives the garbage of every collection, so an inner
capture reports its own block and the outer one still sees the inner block's cycles.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import _core, _gc
from ._analysis import _analyse
from ._report import Cycle, CycleReport

__all__ = ["AllowList", "Capture", "CyclesFoundError", "assert_no_cycles", "capture"]


class Capture:
    """The context manager returned by :func:`capture`.

    After the block, :attr:`report` is a :class:`CycleReport` of the cycles that became
    garbage while it ran (``None`` before the block has ended).
    """

    __slots__ = (
        "keep_objects",
        "frame_locals",
        "new_objects_only",
        "progress",
        "report",
        "elapsed",
        "_found",
        "_state",
        "_frozen",
        "_shared",
    )

    def __init__(
        self,
        *,
        keep_objects: bool = False,
        frame_locals: bool = True,
        progress: Callable[[str, int], None] | None = None,
        new_objects_only: bool = False,
    ) -> None:
        if progress is not None and not callable(progress):
            raise TypeError(
                f"capture() argument 'progress' must be callable or None, not "
                f"{type(progress).__name__}"
            )
        self.keep_objects = bool(keep_objects)
        self.frame_locals = bool(frame_locals)
        self.new_objects_only = bool(new_objects_only)
        self.progress = progress
        self.report: CycleReport | None = None
        """What the block left behind; set when the block ends, even if it raised."""
        self.elapsed: float | None = None
        """Seconds spent in the final collection and the analysis."""
        self._found: list[object] = []
        self._state = "new"
        self._frozen = False
        # Some of the garbage also went to another subscriber or stays in gc.garbage.
        self._shared = False

    # gc collections, delivered by refscope._gc while the block runs.

    def _gc_start(self, info: dict[str, int]) -> bool:
        return self._state == "active"

    def _gc_stop(self, info: dict[str, int], found: list[object] | None) -> None:
        if found:
            self._found.extend(found)
            # Other captures hold what they were given until they end, which the check
            # before freeing sees; a Monitor remembers ids it expects to meet again.
            if _gc.shared_with_others(self, except_kind=Capture):
                self._shared = True

    def __enter__(self) -> Capture:
        if self._state != "new":
            raise RuntimeError(
                "a refscope.capture() object can be used for one block only; "
                "call refscope.capture() again for another block"
            )
        self._frozen = self.new_objects_only and _gc.freeze_old_objects()
        if not self._frozen:
            _gc.collect(2)  # garbage from before the block is not the block's
        self._state = "active"
        _gc.subscribe(self)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        del exc_type, exc, tb  # never keep the traceback: it would be a cycle of ours
        self.close(analyse=True)
        return False

    def close(self, *, analyse: bool = True) -> None:
        """End the block (what leaving the ``with`` statement does): collect once more,
        stop watching and, unless ``analyse=False``, analyse what the block left behind
        into :attr:`report`. For a block that is not a ``with`` statement (a test
        framework's hook: enter with ``__enter__()``, end with ``close()``)."""
        if self._state != "active":
            raise RuntimeError("this refscope.capture() block is not active")
        started = time.perf_counter()
        try:
            try:
                if analyse and self.progress is not None:
                    self.progress("collecting", len(self._found))
                _gc.collect(2)
            finally:
                self._state = "done"
                _gc.unsubscribe(self)
                if self._frozen:
                    self._frozen = False
                    _gc.unfreeze_old_objects()
            found, self._found = self._found, []
            if not analyse:
                return
            count = len(found)
            if self.progress is not None:
                self.progress("analysing", count)
            # Freed once analysed, as the block's collections would have freed them
            # without refscope (their finalisers and weakref callbacks already ran):
            # tp_clear, gc's last step, which the analysis takes when it lets them go, when
            # nothing else came to hold one; else the next collection frees them.
            report = _analyse(
                found,
                keep_objects=bool(self.keep_objects),
                frame_locals=bool(self.frame_locals),
                repr_locals=False,
                materialize_dicts=True,  # garbage the collector found
                free_garbage=bool(found) and not self.keep_objects and not self._shared,
            )
            # When they could not be freed (something else holds one), the next
            # collection frees what is still garbage.
            report._analysis.take_unfreed_garbage()
            del found
            self.report = report
            self.elapsed = time.perf_counter() - started
            if self.progress is not None:
                self.progress("analysed", count)
        finally:
            self._found = []
            if self.elapsed is None:
                self.elapsed = time.perf_counter() - started

    def __repr__(self) -> str:
        if self.report is None:
            return f"<refscope.Capture {self._state}>"
        return f"<refscope.Capture: {len(self.report)} cycles>"


def capture(
    *,
    keep_objects: bool = False,
    frame_locals: bool = True,
    progress: Callable[[str, int], None] | None = None,
    new_objects_only: bool = False,
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
    the objects are freed before the block's exit returns. ``frame_locals=False`` leaves frames'
    local variables out of the report. ``progress(stage, objects)`` is called when the
    block ends, with ``stage`` ``"collecting"`` (before the final collection; ``objects``:
    garbage kept so far), ``"analysing"`` and ``"analysed"`` (``objects``: how many are
    analysed), so a tool can show progress on a long analysis.

    ``new_objects_only=True`` reports only cycles among objects created during the block:
    instead of a full collection on entry, every older object is moved to gc's permanent
    generation (``gc.freeze()``) until the block has ended, so no collection during the
    block examines them, and older garbage that the block releases is freed later,
    unreported. It is also much cheaper on a large heap. When the process has frozen
    objects of its own (``gc.freeze()`` was called), refscope does not freeze (it could
    not unfreeze only its part) and runs the full collection instead. (On CPython 3.12
    the collector parks immortal objects in the permanent generation by itself; those do
    not count as the process's own.)

    Options that are flags are read by truthiness, as ``if`` reads them. Raises
    :class:`refscope.CollectionInProgressError` when it is called while this thread's
    own collection runs (from a ``__del__``), where it could not collect.

    refscope's own changes to gc's state (``DEBUG_SAVEALL`` during a collection, the
    freeze) are undone when the block ends, even if it raises; what you set yourself,
    in this thread or another, is left as you set it. See this module's documentation for
    exactly what counts.
    """
    return Capture(
        keep_objects=keep_objects,
        frame_locals=frame_locals,
        progress=progress,
        new_objects_only=new_objects_only,
    )


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


class AllowList:
    """A compiled allow-list: type objects, type names, and predicates over a Cycle.

    What :func:`assert_no_cycles` and the pytest plugin tolerate; ``allow`` takes what
    ``assert_no_cycles(allow=...)`` takes. :meth:`allowed_indexes` says which cycles of a
    report it tolerates.
    """

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
# The failure: CyclesFoundError and its message (rendered by the core, like every report).

_MESSAGE_MAX_GROUPS = 5
_MESSAGE_MAX_OBJECTS = 12


class CyclesFoundError(AssertionError):
    """Raised by :func:`assert_no_cycles` (and the pytest plugin) when a block created
    reference cycles. ``.report`` is the full :class:`CycleReport` (objects not kept),
    ``.cycles`` the offending cycles, ``.groups`` the groups holding them (largest
    first), ``.allowed_count`` how many cycles were tolerated."""

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

    @classmethod
    def from_report(
        cls,
        report: CycleReport,
        offending: Iterable[int] | None = None,
        *,
        where: str = "the block",
        allowed_count: int = 0,
        note: str = "",
    ) -> CyclesFoundError:
        """The error for the cycles ``offending`` (indexes into ``report.cycles``; all of
        them by default) of ``report``: a summary line, then the core's text report of
        the groups holding them (at most five, each with its fix hint and an example),
        then ``note`` if given. For tools that decide themselves what to tolerate (the
        pytest plugin does)."""
        indexes = sorted(set(range(len(report)) if offending is None else offending))
        if any(not 0 <= index < len(report) for index in indexes):
            raise IndexError(f"cycle index out of range (report has {len(report)} cycles)")
        analysis = report._analysis
        group_indexes = _core.groups_of_cycles(analysis, indexes)
        cycles_word = "cycle" if len(indexes) == 1 else "cycles"
        shapes = f"{len(group_indexes)} shape" + ("" if len(group_indexes) == 1 else "s")
        header = (
            f"refscope: {len(indexes)} reference {cycles_word} ({shapes}) became garbage in "
            f"{where}" + (f"; {allowed_count} more allowed" if allowed_count else "")
        )
        body = _core.groups_to_text(
            analysis,
            group_indexes,
            color=False,
            max_objects_per_cycle=_MESSAGE_MAX_OBJECTS,
            max_cycles_per_group=1,
            max_groups=_MESSAGE_MAX_GROUPS,
        )
        message = header + "\n\n" + body.rstrip("\n")
        if note:
            message += "\n\n" + note
        all_groups = report.groups
        return cls(
            message,
            report,
            [report._cycle(index) for index in indexes],
            [all_groups[index] for index in group_indexes],
            allowed_count,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (e.g. to a pytest-xdist controller) as a plain AssertionError with the
        # message: the report holds native data that does not cross processes.
        return (AssertionError, (str(self),))


def _check(cap: Capture, allow: AllowList, where: str) -> CyclesFoundError | None:
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
    return CyclesFoundError.from_report(
        report, offending, where=where, allowed_count=len(allowed)
    )


class _NoCyclesCheck:
    """Context manager and decorator returned by :func:`assert_no_cycles`."""

    __slots__ = ("allow", "frame_locals", "_capture")

    def __init__(self, allow: AllowList, frame_locals: bool) -> None:
        self.allow = allow
        self.frame_locals = bool(frame_locals)
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
            cap.close(analyse=False)
            return False
        cap.close(analyse=True)
        _raise_if_offending(cap, self.allow, "the block")
        return False

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return _decorate(function, self.allow, self.frame_locals)


def _raise_if_offending(cap: Capture, allow: AllowList, where: str) -> None:
    error = _check(cap, allow, where)
    if error is not None:
        try:
            raise error
        finally:
            # A local naming the error would make error -> traceback -> this frame ->
            # error: a reference cycle of refscope's own.
            del error


def _decorate(function: Callable[..., Any], allow: AllowList, frame_locals: bool) -> Any:
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
    compiled = AllowList(allow)
    if function is not None:
        return _decorate(function, compiled, frame_locals)
    return _NoCyclesCheck(compiled, frame_locals)
