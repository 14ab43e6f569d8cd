"""CycleReport and Cycle: the Python face of an analysis."""

from __future__ import annotations

import errno
import os
import platform
import sys
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from . import _core


class CycleEntry(NamedTuple):
    """One object on a cycle, described safely, and the reference to the next object."""

    type: str
    """Qualified type name (``module.QualName``; builtins without module)."""
    description: str
    """Safe one-line description (never the object's own ``__repr__``)."""
    label: str
    """How this object refers to the next one: ``.attr``, ``['key']``, ``[0]``, ``local x``,
    ``.__self__``... or ``?`` when it cannot be determined."""
    kind: str
    size: int
    """Shallow size in bytes (like ``sys.getsizeof``, without running ``__sizeof__``)."""
    has_finalizer: bool
    """The type defines ``__del__`` (or a legacy ``tp_del``)."""
    address: int
    """``id()`` of the object when analysed."""
    frame_stack: tuple[tuple[str, int, str], ...] = ()
    """For frames: (filename, line, function) of the frame and its callers."""
    frame_locals: tuple[tuple[str, str], ...] = ()
    """For frames: (name, safe description) of each local variable."""
    allocated_at: tuple[tuple[str, int], ...] = ()
    """Where the object was allocated, as (filename, line), oldest call first, when
    ``tracemalloc`` was tracing then and now (see the README); otherwise empty."""


def _entry(info: _core.ObjectInfo) -> CycleEntry:
    frame = info.frame
    sites = info.allocated_at
    return CycleEntry(
        info.type,
        info.description,
        info.label,
        info.kind,
        info.size,
        info.has_finalizer,
        info.address,
        () if frame is None else tuple((s.filename, s.lineno, s.function) for s in frame.stack),
        () if frame is None else tuple((v.name, v.value) for v in frame.locals),
        tuple((s.filename, s.lineno) for s in sites) if sites else (),
    )


class Cycle:
    """A reference cycle: ``objects[i]`` refers to ``objects[i + 1]`` through ``labels[i]``,
    and the last object refers back to the first."""

    __slots__ = ("entries", "objects", "component_size")

    def __init__(
        self, entries: list[CycleEntry], objects: list[object] | None, component_size: int
    ) -> None:
        self.entries = entries
        self.objects = objects
        """The objects themselves, or None when the report did not keep them."""
        self.component_size = component_size
        """Objects in the strongly connected component this cycle stands for."""

    @property
    def labels(self) -> list[str]:
        return [entry.label for entry in self.entries]

    @property
    def types(self) -> list[str]:
        return [entry.type for entry in self.entries]

    @property
    def has_finalizer(self) -> bool:
        return any(entry.has_finalizer for entry in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[CycleEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        path = " -> ".join(f"{e.type} {e.label}" for e in self.entries[:6])
        more = " ..." if len(self.entries) > 6 else ""
        return f"<Cycle of {len(self)} objects: {path}{more}>"


class FixHint(NamedTuple):
    """Which edge of a group's example cycle to break, how, and why."""

    edge_index: int
    """The reference from ``example.entries[edge_index]`` to the next object."""
    label: str
    """That reference's label (``example.labels[edge_index]``)."""
    fix: str
    """Stable name of the fix: ``weakmethod``, ``weak-closure``, ``weakref-back-reference``,
    ``del-exception``, ``clear-traceback``, ``clear-frame-local``, ``context-manager``,
    ``weakref``, ``clear-namespace``, ``self-recursive-closure`` or ``none-needed``."""
    advice: str
    """What to change."""
    why: str
    """Why that edge."""


class CycleGroup:
    """Cycles of one shape: the same sequence of (type, edge label), wherever they start."""

    __slots__ = (
        "key",
        "count",
        "total_size",
        "has_finalizer",
        "hint",
        "_report",
        "_example_index",
        "_index",
        "_example",
        "_info",
        "_signature",
    )

    def __init__(self, report: CycleReport, info: _core.GroupInfo, index: int = 0) -> None:
        self._index = index
        self._info = info
        self._signature: str | None = None
        self.key: str = info.key
        """12 hex digits of the FNV-1a 64 hash of :attr:`signature`, stable across runs."""
        self.count: int = info.count
        """Number of cycles of this shape."""
        self.total_size: int = info.total_size
        """Shallow bytes of all the objects on all the group's cycles."""
        self.has_finalizer: bool = info.has_finalizer
        hint = info.hint
        self.hint: FixHint | None = None if hint is None else FixHint(
            hint.edge_index, hint.label, hint.fix, hint.advice, hint.why
        )
        self._report = report
        self._example_index: int = info.example
        self._example: Cycle | None = None

    @property
    def signature(self) -> str:
        """``"type label -> type label -> ..."`` from the least rotation of the cycle."""
        if self._signature is None:
            self._signature = self._info.signature
        return self._signature

    def signature_head(self, max_chars: int) -> str:
        """The first ``max_chars`` characters of :attr:`signature` (``0`` or a longer
        limit = all of it), without making the whole text a string first: a ring of a
        million members has a signature of megabytes."""
        limit = _limit("max_chars", max_chars)
        return self._info.signature_head(limit) if limit else self.signature

    @property
    def example(self) -> Cycle:
        """The group's first cycle in report order."""
        if self._example is None:
            self._example = self._report._cycle(self._example_index)
        return self._example

    def example_entries(self, max_entries: int) -> list[CycleEntry]:
        """The first ``max_entries`` entries of :attr:`example` (``0`` = all), without
        building the others: a group whose example is a ring of a million objects costs
        ``max_entries`` entries, not a million."""
        return self._report._entries(self._example_index, _limit("max_entries", max_entries))

    @property
    def example_length(self) -> int:
        """Number of objects on :attr:`example`."""
        return self._report._analysis.cycle_length(self._example_index)

    @property
    def cycle_indexes(self) -> list[int]:
        """Indexes into the report's :attr:`CycleReport.cycles` of every cycle of this
        group, in report order (the first is the example)."""
        return list(self._report._analysis.group_cycles(self._index))

    def __repr__(self) -> str:
        return f"<CycleGroup {self.key} ×{self.count}: {self.signature_head(120)}>"


def _report_path(path: str | os.PathLike[str], what: str) -> str:
    """``path`` as a str, or a clear error (OSError for a path no file can have)."""
    try:
        filename = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"the path of the {what} must be a str or os.PathLike, not {type(path).__name__}"
        ) from None
    if isinstance(filename, bytes):
        filename = os.fsdecode(filename)
    if not filename or "\0" in filename:
        raise OSError(errno.EINVAL, f"cannot write the {what}: invalid path", filename)
    return filename


def _cannot_write(error: OSError, what: str, filename: str) -> OSError:
    reason = os.strerror(error.errno) if error.errno else str(error)
    return OSError(error.errno, f"cannot write the {what} ({reason})", filename)


def _write_report_file(path: str | os.PathLike[str], text: str, what: str) -> str:
    """Writes ``text`` to ``path`` (UTF-8); any failure is an OSError naming the path."""
    filename = _report_path(path, what)
    try:
        with open(filename, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
    except OSError as error:
        raise _cannot_write(error, what, filename) from error
    return filename


def _limit(name: str, value: object) -> int:
    """A non-negative int option (0 = no limit), or a clear error naming the option."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (0 = no limit), not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (0 = no limit), not {value}")
    return value


def _colour_wanted(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


class CycleReport:
    """What one analysis found. ``len(report)`` is the number of cycles."""

    __slots__ = ("_analysis", "collected", "__weakref__")

    def __init__(self, analysis: _core.CycleAnalysis) -> None:
        self._analysis = analysis
        self.collected: int | None = None
        """For :func:`refscope.collect`: what ``gc.collect()`` returned."""

    def __len__(self) -> int:
        return len(self._analysis)

    @property
    def analysed_count(self) -> int:
        """Distinct objects analysed."""
        return self._analysis.analysed_count

    @property
    def edge_count(self) -> int:
        """References found among the analysed objects."""
        return self._analysis.edge_count

    @property
    def keeps_objects(self) -> bool:
        return self._analysis.keeps_objects

    def _entries(self, index: int, max_objects: int = 0) -> list[CycleEntry]:
        return [_entry(info) for info in self._analysis.cycle_info(index, max_objects)]

    def _cycle(self, index: int) -> Cycle:
        analysis = self._analysis
        entries = self._entries(index)
        objects = analysis.cycle_objects(index) if analysis.keeps_objects else None
        return Cycle(entries, objects, analysis.component_size(index))

    @property
    def cycles(self) -> list[Cycle]:
        """One representative cycle per strongly connected component holding a cycle."""
        self._analysis.describe_all()  # one pass, not one description per cycle
        return [self._cycle(i) for i in range(len(self))]

    @property
    def groups(self) -> list[CycleGroup]:
        """Cycles grouped by signature: most cycles first, then most bytes, then by
        signature. Identical leaks made 10,000 times are one group with ``count == 10000``."""
        return [
            CycleGroup(self, info, index)
            for index, info in enumerate(self._analysis.groups_info())
        ]

    @property
    def sccs(self) -> list[list[object]]:
        """The member objects of each strongly connected component holding a cycle (same
        order as :attr:`cycles`). Needs a report that kept its objects."""
        return [self._analysis.component_objects(i) for i in range(len(self))]

    def release(self) -> None:
        """Stop keeping the analysed objects alive (text and descriptions remain)."""
        self._analysis.release()

    def to_text(
        self,
        color: bool | None = None,
        max_objects_per_cycle: int = 100,
        *,
        max_cycles_per_group: int = 1,
        max_groups: int = 100,
    ) -> str:
        """The report as text: one line per group of identical cycles (largest first,
        ``×count``), then each group's fix hint and example cycles.

        ``color=None`` colours only when stdout is a terminal and ``NO_COLOR`` is unset.
        The ``max_groups`` largest groups are listed and detailed, each with
        ``max_cycles_per_group`` example cycles of at most ``max_objects_per_cycle``
        objects (``0`` = no limit, for each); the text says what it left out."""
        if color is None:
            color = _colour_wanted(sys.stdout)
        return self._analysis.to_text(
            color=bool(color),
            max_objects_per_cycle=_limit("max_objects_per_cycle", max_objects_per_cycle),
            max_cycles_per_group=_limit("max_cycles_per_group", max_cycles_per_group),
            max_groups=_limit("max_groups", max_groups),
        )

    def to_json(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        indent: int | None = None,
        max_groups: int = 1000,
        max_cycles_per_group: int = 10,
        max_objects_per_cycle: int = 1000,
    ) -> str:
        """The report as JSON text (format ``refscope.report``, version 1; the JSON Schema
        is ``refscope/schema/report-v1.json``, documented in ``docs/json-schema.md``).

        The ``max_groups`` largest groups come first, each with at most
        ``max_cycles_per_group`` of its cycles and each cycle with at most
        ``max_objects_per_cycle`` objects (``0`` = all, for each; ``groups_omitted``,
        ``count``, ``cycles_omitted``, ``length`` and ``objects_omitted`` say what was left
        out). ``indent`` spaces per level, or ``None`` for compact output. With ``path``,
        the text is also written there (UTF-8); failure raises ``OSError`` naming it.
        """
        if indent is not None:
            indent = _limit("indent", indent)
        text = self._analysis.to_json(
            indent=indent,
            max_groups=_limit("max_groups", max_groups),
            max_cycles_per_group=_limit("max_cycles_per_group", max_cycles_per_group),
            max_objects_per_cycle=_limit("max_objects_per_cycle", max_objects_per_cycle),
        )
        if path is not None:
            _write_report_file(path, text, "JSON report")
        return text

    def to_dot(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_groups: int = 100,
        max_cycles_per_group: int = 1,
        max_objects_per_cycle: int = 50,
    ) -> str:
        """The report as Graphviz DOT source (render it with ``dot -Tsvg``).

        One cluster per drawn cycle: the example cycle of each of the ``max_groups``
        largest groups (and up to ``max_cycles_per_group`` of its cycles), each with at
        most ``max_objects_per_cycle`` objects (``0`` = no limit, for each). Objects with
        a finaliser are red, frames are blue hexagons, and the reference the group's fix
        hint says to break is orange. Every name and label is escaped for DOT. With
        ``path``, the text is also written there; failure raises ``OSError`` naming it.
        """
        text = self._analysis.to_dot(
            max_groups=_limit("max_groups", max_groups),
            max_cycles_per_group=_limit("max_cycles_per_group", max_cycles_per_group),
            max_objects_per_cycle=_limit("max_objects_per_cycle", max_objects_per_cycle),
        )
        if path is not None:
            _write_report_file(path, text, "DOT report")
        return text

    def to_svg(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_objects: int = 50,
        max_groups: int = 100,
    ) -> str:
        """The report as one SVG document, drawn by refscope itself (no graphviz needed).

        Each group of cycles is a ring of its example cycle, largest group first: boxes
        are objects, arrows are references named by their labels. Objects with a
        finaliser (``__del__``) are red, frames are blue hexagons, and the reference the
        group's fix hint says to break is orange. Cycles longer than ``max_objects`` are
        drawn capped, with a "… N more …" marker; at most ``max_groups`` rings are
        drawn. ``0`` means no limit for either. Every name and label is XML-escaped.
        With ``path``, the picture is also written there (UTF-8); failure raises
        ``OSError`` naming it.
        """
        text = self._analysis.to_svg(
            max_objects=_limit("max_objects", max_objects),
            max_groups=_limit("max_groups", max_groups),
        )
        if path is not None:
            _write_report_file(path, text, "SVG picture")
        return text

    def to_html(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        title: str = "refscope report",
        max_groups: int = 1000,
        max_objects: int = 50,
    ) -> str:
        """The report as one self-contained HTML page: returned as a ``str``, or, with
        ``path``, written there (as :meth:`write_html` does) and the path returned.

        The page needs no network (CSS, script and pictures are inline, allowed by a
        hash-based Content-Security-Policy) and works when opened from disk: the groups of
        cycles (largest first, with count, total size and fix hint), a picture of each
        group's example cycle, the details of an object when it is clicked (type, size,
        address, finaliser, frame locals and stack), and a filter by type. At most
        ``max_groups`` groups are shown and ``max_objects`` objects drawn per cycle
        (``0`` = no limit).
        """
        if path is not None:
            return self.write_html(
                path, title=title, max_groups=max_groups, max_objects=max_objects
            )
        title, subtitle, limits = self._html_options(title, max_groups, max_objects)
        return self._analysis.to_html(title, subtitle, **limits)

    def write_html(
        self,
        path: str | os.PathLike[str],
        *,
        title: str = "refscope report",
        max_groups: int = 1000,
        max_objects: int = 50,
    ) -> str:
        """Write :meth:`to_html`'s page to ``path`` (UTF-8) and return the path. The core
        renders and writes it without a Python copy of the page. Raises ``OSError``
        naming ``path`` when the file cannot be written."""
        title, subtitle, limits = self._html_options(title, max_groups, max_objects)
        filename = _report_path(path, "HTML report")
        try:
            self._analysis.write_html(filename, title, subtitle, **limits)
        except OSError as error:
            raise _cannot_write(error, "HTML report", filename) from error
        return filename

    @staticmethod
    def _html_options(
        title: object, max_groups: int, max_objects: int
    ) -> tuple[str, str, dict[str, int]]:
        if not isinstance(title, str):
            raise TypeError(f"to_html() argument 'title' must be a str, not {type(title).__name__}")
        limits = {
            "max_groups": _limit("max_groups", max_groups),
            "max_objects": _limit("max_objects", max_objects),
        }
        subtitle = (
            f"Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} by refscope"
            f" on Python {platform.python_version()}, process {os.getpid()}"
        )
        return title, subtitle, limits

    def __str__(self) -> str:
        return self.to_text(color=False)

    def __repr__(self) -> str:
        return (
            f"<CycleReport: {len(self)} cycles among {self.analysed_count} objects"
            f"{'' if self.keeps_objects else ', objects not kept'}>"
        )
