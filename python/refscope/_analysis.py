"""find_cycles, find_circular_references and collect: the entry points of an analysis."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable

from . import _core, _gc
from ._report import CycleReport
from ._saferepr import guarded_repr


def _as_object_list(garbage: Iterable[object] | None, caller: str) -> list[object]:
    """The objects to analyse, as a list. A list is used as it is: the walk reads all its
    items before any Python code can run again, and keeps its own references."""
    if garbage is None:
        return gc.garbage
    if type(garbage) is list:
        return garbage
    if isinstance(garbage, (str, bytes, bytearray)):
        raise TypeError(
            f"{caller}() argument 'garbage' must be an iterable of objects such as "
            f"gc.garbage, not {type(garbage).__name__}"
        )
    try:
        iterator = iter(garbage)
    except TypeError:
        raise TypeError(
            f"{caller}() argument 'garbage' must be an iterable of objects such as "
            f"gc.garbage, not {type(garbage).__name__}"
        ) from None
    return list(iterator)


def find_cycles(
    garbage: Iterable[object] | None = None,
    *,
    keep_objects: bool = True,
    frame_locals: bool = True,
    repr_locals: bool = False,
    materialize_dicts: bool = True,
) -> CycleReport:
    """Find every reference cycle among ``garbage`` (default: ``gc.garbage``).

    Returns a :class:`CycleReport` with one representative cycle per strongly connected
    component that holds a cycle. ``keep_objects=False`` keeps only descriptions, so the
    report does not keep the objects alive. ``frame_locals=False`` leaves frames' local
    variables out of the report (they may hold secrets).

    ``repr_locals=True`` shows frames' locals with their ``repr()`` instead of safe
    descriptions. That runs user ``__repr__`` code, guarded: an exception becomes
    ``<repr failed: ExcType>``, containers are abbreviated as :mod:`reprlib` does, text
    is cut to 200 characters, and runaway recursion is caught. With ``keep_objects=True``
    the reprs are taken when the report is first used.

    Flags are read by truthiness (``keep_objects=0`` is ``False``). Automatic gc is not
    paused meanwhile, and gc's state is left untouched.

    Otherwise no user ``__repr__``, ``__eq__``, ``__hash__`` or ``__getattr__`` runs.
    Attribute labels are read from an instance ``__dict__`` if it exists, else by looking
    up, in the instance itself, the names its class's code uses (CPython 3.11+ keeps
    attributes inline until something asks for ``__dict__``). Only an attribute neither
    way finds (set from outside the class, or under a computed name) needs the instance
    dict, which CPython 3.11+ then creates: harmless for garbage, which is what this
    function is for. For live objects pass ``materialize_dicts=False``: the heap is then
    left exactly as it is and such an attribute is labelled ``?``.
    """
    objects = _as_object_list(garbage, "find_cycles")
    return _analyse(
        objects,
        keep_objects=bool(keep_objects),
        frame_locals=bool(frame_locals),
        repr_locals=bool(repr_locals),
        materialize_dicts=bool(materialize_dicts),
    )


def _analyse(
    objects: list[object],
    *,
    keep_objects: bool,
    frame_locals: bool,
    repr_locals: bool,
    materialize_dicts: bool = True,
    free_garbage: bool = False,
    examples_only: bool = False,
) -> CycleReport:
    """:func:`find_cycles` of a list. ``free_garbage=True`` (with ``keep_objects=False``)
    is for the garbage of a saving collection in a list only refscope holds: the analysis
    empties the list once it holds the objects, and frees them with ``tp_clear`` when it
    lets them go (``report._analysis.garbage_freed`` says whether it could).
    ``examples_only=True`` (with ``keep_objects=False``) describes only the groups'
    examples before the objects go, for a caller that reads nothing else."""
    # Automatic gc is not paused: the walk holds a strong reference to every object it
    # reports and runs no Python code, so a collection meanwhile cannot free or change
    # what it reads, and pausing it would change process-wide state other threads use.
    analysis = _core.analyze(
        objects,
        keep_objects=keep_objects,
        frame_locals=frame_locals,
        local_repr=guarded_repr if repr_locals else None,
        materialize_dicts=materialize_dicts,
        free_garbage=free_garbage,
        examples_only=examples_only,
    )
    return CycleReport(analysis)


def find_circular_references(garbage: Iterable[object] | None = None) -> list[list[object]]:
    """Drop-in for the recipe's function: a list of cycles, each a list of objects that
    starts and ends with the same object, each object referring to the next.

    Unlike the recipe, ``garbage=[]`` means "no objects" (only ``None`` means
    ``gc.garbage``), every strongly connected component holding a cycle is reported
    exactly once, and there is no recursion limit.
    """
    objects = _as_object_list(garbage, "find_circular_references")
    return _core.cycle_object_lists(objects, close=True)


def collect(
    *, keep_objects: bool = False, frame_locals: bool = True, repr_locals: bool = False
) -> CycleReport:
    """Run a full ``gc.collect()`` and report the cycles it found.

    The collection runs with ``gc.DEBUG_SAVEALL`` so that what it would free is kept for
    the analysis; afterwards the previous debug flags and the previous contents of
    ``gc.garbage`` are restored. Unless ``keep_objects=True``, the report holds only
    descriptions, and the analysed objects are freed before this returns (their
    finalisers and weakref callbacks already ran in the collection, as they would have
    anyway; refscope then takes gc's last step, ``tp_clear``, on exactly those objects, or
    runs a plain collection when something else came to hold one), so the next
    ``collect()`` does not report them again. With ``keep_objects=True`` they
    live as long as the report; once it is gone, the next collection frees them (and a
    ``collect()`` would report them again).
    ``report.collected`` is what ``gc.collect()`` returned. ``frame_locals`` and
    ``repr_locals`` are as for :func:`find_cycles`; flags are read by truthiness.

    Only refscope's own ``DEBUG_SAVEALL`` is undone: flags, the enabled state and entries
    of ``gc.garbage`` that you (or another thread) set are never overwritten. Raises
    :class:`refscope.CollectionInProgressError` when called while this thread's own
    collection runs (from a ``__del__`` or a gc callback), where ``gc.collect()`` would do
    nothing; while another thread's collection runs, it waits for that one to end.
    """
    keep_objects = bool(keep_objects)
    taker = _CollectionTaker()
    collected = _gc.collect(2, taker)
    found, taker.found = taker.found or [], None
    # Still unreachable, they would be found (and reported) again by the next collection
    # made with DEBUG_SAVEALL: free them once analysed. The collection above already
    # cleared their weakrefs and ran their finalisers, so what remains is gc's last step,
    # tp_clear, on exactly these objects, which the analysis takes when it lets them go
    # (when nothing else came to hold one meanwhile; else a full collection frees them).
    free = bool(collected) and not keep_objects and not _gc.user_debug_flags() & gc.DEBUG_SAVEALL
    try:
        report = _analyse(
            found,
            keep_objects=keep_objects,
            frame_locals=bool(frame_locals),
            repr_locals=bool(repr_locals),
            materialize_dicts=True,  # the objects are garbage: nothing else will see it
            free_garbage=free,
        )
        if free and report._analysis.garbage_freed is None:
            # Something else came to hold one: the analysis let none of them go. A full
            # collection frees what is still garbage.
            del found
            report._analysis.take_unfreed_garbage()
            gc.collect()
    finally:
        found = None
    report.collected = collected
    return report


class _CollectionTaker:
    """The garbage of the one collection :func:`collect` runs (in its own thread)."""

    __slots__ = ("thread", "found")

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.found: list[object] | None = None

    def _gc_start(self, info: dict[str, int]) -> bool:
        return self.found is None and threading.get_ident() == self.thread

    def _gc_stop(self, info: dict[str, int], found: list[object] | None) -> None:
        if found is not None and self.found is None:
            self.found = found
