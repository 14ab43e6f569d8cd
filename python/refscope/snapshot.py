"""Heap snapshots: what grew, why is this alive, what retains the most.

>>> import refscope
>>> snap = refscope.snapshot()              # the whole live heap, as plain data
>>> snap.top_types()[0].name                # doctest: +SKIP
'dict'

A :class:`Snapshot` holds every object reachable from the gc-tracked objects (str, int,
float, bytes and other untracked objects included): per object its type, its shallow size
as ``sys.getsizeof`` reports it for builtin types (the C layout for classes that define
their own ``__sizeof__``, which is never called), and its labelled references. It keeps
no object alive: queries take an object or its ``id()`` (an ``int`` always means an id),
and work the same on a snapshot loaded from a file.

Taking a snapshot runs no user code, forces no collection (automatic collection is held
off while the walk runs, and restored), creates no instance ``__dict__`` and reads no
frame's ``f_locals``.
"""

from __future__ import annotations

import gc
import heapq
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from . import _core, _progress

__all__ = [
    "CycleGroupStats",
    "DominatorTreeNode",
    "Retainer",
    "RetainerChain",
    "Root",
    "Snapshot",
    "SnapshotDiff",
    "TypeChange",
    "TypeGrowth",
    "TypeStats",
    "load",
    "snapshot",
]


class TypeStats(NamedTuple):
    """Objects of one type: how many, their shallow bytes, and the bytes they retain
    (freed if every object of the type were gone)."""

    name: str
    count: int
    size: int
    retained_size: int


class TypeGrowth(NamedTuple):
    """A type that grew since an older snapshot."""

    name: str
    count: int
    increase: int
    size_increase: int


class TypeChange(NamedTuple):
    """Objects of one type added and removed between two snapshots (matched by id and
    type, so an id reused by an object of another type counts as both)."""

    name: str
    count: int
    count_delta: int
    size_delta: int
    added: int
    added_size: int
    removed: int
    removed_size: int


class CycleGroupStats(NamedTuple):
    """Reference cycles (strongly connected components) whose members have the same
    types."""

    signature: str
    components: int
    objects: int
    size: int
    example_ids: list[int]


class Root(NamedTuple):
    """A named root: ``kind`` is ``module``, ``thread``, ``held from outside``,
    ``immortal`` or ``unreachable`` (garbage in cycles not collected yet)."""

    kind: str
    label: str
    id: int
    outside_references: int


class Retainer(NamedTuple):
    """An object and the bytes it keeps alive."""

    id: int
    type: str
    size: int
    retained_size: int


@dataclass(frozen=True)
class RetainerChain:
    """Why an object is alive: the shortest chain of references from a named root.

    ``steps`` are ``(label, id, type name)`` after the root; ``other_roots`` the further
    roots that also reach the object. ``references_found`` and ``outside_references``
    split the object's refcount: references from inside the heap, and from C code (C
    stacks, C globals, extension modules) that no object shows.
    """

    id: int
    type: str
    root: Root
    steps: list[tuple[str, int, str]]
    text: str
    other_roots: list[Root]
    references_found: int
    outside_references: int

    def __str__(self) -> str:
        lines = [self.text]
        refcount = self.references_found + self.outside_references
        if self.outside_references:
            lines.append(
                f"refcount {refcount}, {self.references_found} referrers seen: "
                f"{self.outside_references} reference"
                f"{'s' if self.outside_references != 1 else ''} held by C code"
            )
        for root in self.other_roots[:5]:
            lines.append(f"also reached from: {root.label}")
        if len(self.other_roots) > 5:
            lines.append(f"... and {len(self.other_roots) - 5} more roots")
        return "\n".join(lines)


@dataclass(frozen=True)
class DominatorTreeNode:
    """An object of the top of the dominator tree: it alone keeps its ``children`` alive
    (largest first), and its ``retained_size`` is its own ``size`` plus theirs.
    ``truncated``: it keeps alive more objects than ``children`` shows (the limits of
    :meth:`Snapshot.dominator_tree` cut them off)."""

    id: int
    type: str
    size: int
    retained_size: int
    children: list[DominatorTreeNode]
    truncated: bool


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed from an older snapshot to a newer one."""

    added: int
    added_size: int
    removed: int
    removed_size: int
    types: list[TypeChange] = field(default_factory=list)
    new_cycle_groups: list[CycleGroupStats] = field(default_factory=list)


def _root(snapshot: _core.HeapSnapshot, info: _core.RootInfo) -> Root:
    return Root(info.kind, info.label, snapshot.address(info.node), info.outside)


def _retainer(snapshot: _core.HeapSnapshot, retained: _core.Retained) -> Retainer:
    node = retained.node
    return Retainer(
        snapshot.address(node), snapshot.type_name(node), snapshot.shallow_size(node),
        retained.retained,
    )


class Snapshot:
    """The whole heap at one moment, as plain data (see the module documentation)."""

    def __init__(self, core: Any, path: str | None = None) -> None:
        self._core = core
        self.path = path
        # The snapshot taken just before this one (growth()'s default); only one level
        # is kept, so snapshots do not chain up in memory.
        self._previous: Snapshot | None = None

    # -- facts -------------------------------------------------------------------------
    @property
    def object_count(self) -> int:
        return int(self._core.node_count)

    @property
    def reference_count(self) -> int:
        return int(self._core.edge_count)

    @property
    def total_size(self) -> int:
        """Shallow bytes of every object."""
        return int(self._core.total_size)

    @property
    def memory_bytes(self) -> int:
        """Bytes this snapshot's graph occupies (outside the Python heap)."""
        return int(self._core.memory_bytes)

    @property
    def python_version(self) -> str:
        return str(self._core.meta.python_version)

    @property
    def taken_at(self) -> float:
        return float(self._core.meta.taken_at)

    @property
    def pid(self) -> int:
        return int(self._core.meta.pid)

    def __len__(self) -> int:
        return self.object_count

    def __repr__(self) -> str:
        return (
            f"<refscope.Snapshot of {self.object_count} objects, {self.reference_count} "
            f"references, {self.total_size} bytes>"
        )

    def _node(self, obj_or_id: object) -> int:
        address = obj_or_id if type(obj_or_id) is int else id(obj_or_id)
        node = self._core.node_of(address) if 0 <= address < 1 << 64 else None
        if node is None:
            raise KeyError(f"no object with id {address:#x} in this snapshot")
        return int(node)

    def __contains__(self, obj_or_id: object) -> bool:
        address = obj_or_id if type(obj_or_id) is int else id(obj_or_id)
        return 0 <= address < 1 << 64 and self._core.node_of(address) is not None

    def type_of(self, obj_or_id: object) -> str:
        """The type name recorded for an object."""
        return str(self._core.type_name(self._node(obj_or_id)))

    def shallow_size(self, obj_or_id: object) -> int:
        return int(self._core.shallow_size(self._node(obj_or_id)))

    def retained_size(self, obj_or_id: object) -> int:
        """Bytes freed if this object were: its own size plus that of every object only it
        keeps alive (that it dominates)."""
        return int(self._core.retained_size(self._node(obj_or_id)))

    def compute_dominators(self, *, progress: bool = False) -> None:
        """Compute the dominator tree now; otherwise the first query that needs it
        (``retained_size``, ``top_types``, ``largest_retainers``...) does. ``progress``:
        show a progress line on stderr if it takes more than a second (see
        :func:`refscope.snapshot`)."""
        self._core.compute_dominators(**_progress.native(progress))

    def dominator(self, obj_or_id: object) -> int | None:
        """id of the object that alone keeps this one reachable (None: several roots)."""
        node = self._core.dominator(self._node(obj_or_id))
        return None if node is None else int(self._core.address(node))

    def referrers(self, obj_or_id: object) -> list[int]:
        """ids of the objects that refer to this one."""
        return [self._core.address(n) for n in self._core.referrers(self._node(obj_or_id))]

    def references(self, obj_or_id: object) -> list[tuple[str, int]]:
        """``(label, id)`` of each reference this object holds."""
        core = self._core
        return [(r.label, core.address(r.node)) for r in core.references(self._node(obj_or_id))]

    def roots(self) -> list[Root]:
        return [_root(self._core, info) for info in self._core.roots()]

    # -- questions -----------------------------------------------------------------------
    def top_types(self, n: int | None = None) -> list[TypeStats]:
        """Per type: count, shallow bytes and retained bytes, most retained first."""
        stats = [
            TypeStats(t.name, t.count, t.shallow_bytes, t.retained_bytes)
            for t in self._core.top_types()
        ]
        return stats if n is None else stats[:n]

    def by_type(self, name: str) -> list[int]:
        """ids of the objects whose type is ``name`` (``Node`` or ``module.Node``)."""
        core = self._core
        return [core.address(n) for n in core.nodes_of_type(name)]

    def growth(self, older: Snapshot | None = None) -> list[TypeGrowth]:
        """Per type, the increase since ``older`` (default: the snapshot taken before this
        one in this process), largest first, like objgraph's ``show_growth`` but without
        forcing a collection."""
        if older is None:
            older = self._previous
            if older is None:
                return [
                    TypeGrowth(t.name, t.count, t.count, t.size) for t in self.top_types()
                ]
        return [
            TypeGrowth(t.name, t.count, t.count_delta, t.bytes_delta)
            for t in self._core.growth(older._core)
        ]

    def why_alive(self, obj_or_id: object, max_roots: int = 20) -> RetainerChain | None:
        """The shortest labelled chain from a named root to the object, the other roots
        that reach it, and how much of its refcount comes from C code."""
        core = self._core
        node = self._node(obj_or_id)
        counts = core.reference_counts(node)
        info = core.why_alive(node, max_roots)
        if info is None:
            return None
        root = _root(core, info.root)
        others = [_root(core, r) for r in info.roots]
        others = [r for r in others if r != root]
        steps = [(s.label, core.address(s.node), core.type_name(s.node)) for s in info.steps]
        return RetainerChain(
            id=core.address(node),
            type=core.type_name(node),
            root=root,
            steps=steps,
            text=info.text,
            other_roots=others,
            references_found=int(counts.found),
            outside_references=int(counts.outside),
        )

    def largest_retainers(self, n: int = 10) -> list[Retainer]:
        """The ``n`` objects that retain the most bytes."""
        core = self._core
        return [_retainer(core, r) for r in core.largest_retainers(n)]

    def dominated(self, obj_or_id: object | None = None, limit: int = 100) -> list[Retainer]:
        """The objects that ``obj_or_id`` alone keeps alive directly (its children in the
        dominator tree; None: the tree's top level), largest first."""
        core = self._core
        node = None if obj_or_id is None else self._node(obj_or_id)
        return [_retainer(core, r) for r in core.dominated(node, limit)]

    def dominator_tree(
        self, *, top: int = 30, children: int = 10, depth: int = 8, max_nodes: int = 300
    ) -> list[DominatorTreeNode]:
        """The top of the dominator tree, as far as the limits allow: the ``top`` objects
        that no single object keeps alive (largest first), and below each object the
        ``children`` largest it alone keeps alive, down to ``depth`` levels; the largest
        objects are expanded first, until ``max_nodes`` objects are in the tree. What
        the report's and ``refscope serve``'s trees start from."""
        for name, value in (("top", top), ("children", children), ("depth", depth),
                            ("max_nodes", max_nodes)):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        core = self._core
        # node -> (retained, child nodes); the tree's shape, before it is built.
        below: dict[int, list[int]] = {}
        retained_of: dict[int, int] = {}
        level: dict[int, int] = {}
        frontier: list[tuple[int, int]] = []  # (-retained, node): largest first

        def add(node: int, retained: int, at: int) -> None:
            below[node] = []
            retained_of[node] = retained
            level[node] = at
            if at + 1 < depth and retained > core.shallow_size(node):
                heapq.heappush(frontier, (-retained, node))

        tops = core.dominated(None, top)
        for r in tops:
            add(r.node, r.retained, 0)
        count = len(tops)
        while frontier and count < max_nodes:
            # A few of the largest at a time (each batch is one pass over the tree), so
            # the budget goes to the largest objects, however deep, before broad levels.
            batch = [heapq.heappop(frontier)[1] for _ in range(min(4, len(frontier)))]
            for node, kids in zip(batch, core.dominated_each(batch, children), strict=True):
                for kid in kids:
                    if count >= max_nodes:
                        break
                    below[node].append(kid.node)
                    add(kid.node, kid.retained, level[node] + 1)
                    count += 1

        built: dict[int, DominatorTreeNode] = {}
        for node in sorted(below, key=lambda n: -level[n]):  # children before parents
            kids = [built.pop(kid) for kid in below[node]]
            size = core.shallow_size(node)
            built[node] = DominatorTreeNode(
                id=core.address(node),
                type=core.type_name(node),
                size=size,
                retained_size=retained_of[node],
                children=kids,
                truncated=retained_of[node] != size + sum(k.retained_size for k in kids),
            )
        return [built[r.node] for r in tops]

    def cycle_groups(self) -> list[CycleGroupStats]:
        """The heap's reference cycles, grouped by member types, most bytes first."""
        return [self._group(row) for row in self._core.cycle_groups()]

    def _group(self, group: _core.HeapCycleGroup) -> CycleGroupStats:
        core = self._core
        return CycleGroupStats(
            group.signature,
            group.components,
            group.objects,
            group.bytes,
            [core.address(n) for n in group.example],
        )

    def diff(self, older: Snapshot) -> SnapshotDiff:
        """Objects added and removed since ``older``, per type, and the new cycle groups."""
        raw = self._core.diff(older._core)
        return SnapshotDiff(
            added=raw.added,
            added_size=raw.added_bytes,
            removed=raw.removed,
            removed_size=raw.removed_bytes,
            types=[
                TypeChange(
                    t.name,
                    t.count,
                    t.count_delta,
                    t.bytes_delta,
                    t.added,
                    t.added_bytes,
                    t.removed,
                    t.removed_bytes,
                )
                for t in raw.types
            ],
            new_cycle_groups=[self._group(g) for g in raw.new_cycle_groups],
        )

    # -- files -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, progress: bool = False) -> None:
        """Write the snapshot in refscope's compact format (read it with
        :func:`refscope.load`). ``progress``: as for :func:`refscope.snapshot`."""
        path = os.fspath(path)
        with _progress.Phase(f"writing {path}", progress):
            self._core.save(path)

    def export_heapsnapshot(
        self, path: str | os.PathLike[str], *, progress: bool = False
    ) -> None:
        """Write a Chrome DevTools ``.heapsnapshot`` (open it in DevTools' Memory tab,
        memlab, or any V8 heap tool); node ids are the objects' ``id()``.
        ``progress``: as for :func:`refscope.snapshot`."""
        path = os.fspath(path)
        with _progress.Phase(f"writing {path}", progress):
            self._core.export_heapsnapshot(path)

    def to_bytes(self, format: str = "refscope") -> bytes:  # noqa: A002 - as in the docs
        """The file :meth:`save` writes (``format="refscope"``), or the one
        :meth:`export_heapsnapshot` writes (``format="heapsnapshot"``), as bytes: to send
        over a network or store elsewhere without a temporary file. Write the bytes to a
        file to read them back with :func:`refscope.load`."""
        if format not in ("refscope", "heapsnapshot"):
            raise ValueError(f"format must be 'refscope' or 'heapsnapshot', not {format!r}")
        return bytes(self._core.to_bytes(format))


class _InlineProbe:
    """An instance with known attributes, from which the binding learns (and checks)
    where CPython 3.11+ keeps inline attribute values, to name them without creating the
    instance's ``__dict__``."""

    def __init__(self) -> None:
        self.refscope_probe_alpha = _PROBE_VALUES[0]
        self.refscope_probe_beta = _PROBE_VALUES[1]


_InlineProbe.__qualname__ = "refscope.snapshot._InlineProbe (layout probe)"
_PROBE_NAMES = ["refscope_probe_alpha", "refscope_probe_beta"]
_PROBE_VALUES: list[object] = [object(), object()]
_PROBE = _InlineProbe()

# The latest snapshot taken, for growth(); plain data, no Python objects inside.
_lock = threading.Lock()
_last: list[Snapshot] = []


def _thread_frames() -> list[object]:
    """``[frame, label, local names, ...]`` for every frame of every thread's stack; for
    the calling thread, from the caller of :func:`snapshot` down (refscope's own frames
    are left out, and none of them is bound to a local, which would make a cycle)."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    me = threading.get_ident()
    tops: list[tuple[object, Any]] = [(me, sys._getframe(2))]  # snapshot()'s caller
    tops.extend((ident, top) for ident, top in sys._current_frames().items() if ident != me)
    out: list[object] = []
    for ident, current in tops:
        thread = names.get(ident, f"{ident}")
        while current is not None:
            code = current.f_code
            out.append(current)
            out.append(
                f"thread {thread}, {code.co_name}() at "
                f"{os.path.basename(code.co_filename)}:{current.f_lineno}"
            )
            out.append("\0".join(_local_names(code)))
            current = current.f_back
    tops.clear()
    return out


def _local_names(code: Any) -> list[str]:
    """Names of a code object's fast-local slots, in slot order: arguments and locals,
    cells, free variables (3.11+ gives an argument that is also a cell one slot)."""
    varnames = list(code.co_varnames)
    if sys.version_info >= (3, 11):
        cells = [name for name in code.co_cellvars if name not in varnames]
    else:
        cells = list(code.co_cellvars)
    return varnames + cells + list(code.co_freevars)


def _walk(
    refscope_probe_local_a: object,
    refscope_probe_local_b: object,
    objects: list[object],
    frames: list[object],
    progress: dict[str, float | None],
) -> Any:
    """Runs the walk from a frame whose first two locals are the probe values, so the
    binding can check where this CPython keeps an executing frame's locals."""
    return _core.take_heap_snapshot(
        objects,
        sys.modules,
        frames,
        _PROBE,
        _PROBE_NAMES,
        _PROBE_VALUES,
        sys._getframe(),
        sys.version,
        os.getpid(),
        int(time.time()),
        **progress,
    )


def snapshot(*, progress: bool = False, baseline: bool = True) -> Snapshot:
    """Record the whole live heap (see the module documentation).

    ``progress``: when stderr is a terminal, show a progress line there if the walk takes
    more than a second (``REFSCOPE_PROGRESS_DELAY`` sets another delay, in seconds),
    redrawn at most ten times a second and erased when done. Off by default: a library
    call prints nothing unless asked; the command line asks.

    ``baseline``: make this snapshot the one the next snapshot's :meth:`Snapshot.growth`
    compares with (the default). ``False`` leaves that as it was, and nothing but the
    caller keeps this snapshot: for code that takes snapshots on behalf of someone else
    (the ``top/`` endpoint), which must neither shift the user's baseline nor keep a whole
    heap's graph alive after use.
    """
    schedule = _progress.native(progress)
    frames = _thread_frames()
    objects = gc.get_objects()
    try:
        core = _walk(
            _PROBE_VALUES[0],
            _PROBE_VALUES[1],
            objects,
            frames,
            schedule,
        )
    finally:
        del objects, frames
    result = Snapshot(core)
    with _lock:
        if not baseline:
            result._previous = _last[0] if _last else None
        else:
            if _last:
                result._previous = _last[0]
                _last[0]._previous = None
            _last[:] = [result]
    return result


def load(path: str | os.PathLike[str], *, progress: bool = False) -> Snapshot:
    """Read a snapshot written by :meth:`Snapshot.save`. A file that is not one (empty,
    truncated, damaged, foreign, or from a newer refscope) raises ``ValueError`` naming the
    file and the fault. ``progress``: as for :func:`snapshot`."""
    core = _core.load_heap_snapshot(os.fspath(path), **_progress.native(progress))
    return Snapshot(core, path=str(Path(path)))
