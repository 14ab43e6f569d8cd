"""refscope: find the reference cycles your program creates, and explain them.

>>> import gc, refscope
>>> class Node:
...     pass
>>> a, b = Node(), Node()
>>> a.other, b.other = b, a
>>> report = refscope.find_cycles([a, b])
>>> len(report)
1
>>> report.cycles[0].labels
['.other', '.other']
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from ._analysis import collect, find_circular_references, find_cycles
from ._capture import AllowList, Capture, CyclesFoundError, assert_no_cycles, capture
from ._errors import RefscopeError
from ._gc import CollectionInProgressError
from ._report import Cycle, CycleEntry, CycleGroup, CycleReport, FixHint
from .monitor import Monitor

# --- Heap snapshots ---
from .snapshot import Snapshot, load, snapshot

# --- end of heap snapshots ---

# --- Terminal output (used by refscope.cli; public so other tools decide the same way) ---


def color_wanted(stream: object) -> bool:
    """Whether text written to ``stream`` should be coloured: ``stream.isatty()`` is true
    and the ``NO_COLOR`` environment variable is unset or empty. ``CycleReport.to_text()``
    decides this for stdout; pass ``color=refscope.color_wanted(sys.stderr)`` when the
    text goes elsewhere."""
    from ._report import _colour_wanted

    return _colour_wanted(stream)


# --- end of terminal output ---

try:
    __version__ = _version("refscope")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Cycle",
    "CycleEntry",
    "CycleGroup",
    "CycleReport",
    "CyclesFoundError",
    "Capture",
    "Monitor",
    "FixHint",
    "RefscopeError",
    "assert_no_cycles",
    "capture",
    "collect",
    "color_wanted",
    "find_circular_references",
    "find_cycles",
    "__version__",
    # gc state and checks for test tools
    "AllowList",
    "CollectionInProgressError",
    # Heap snapshots
    "Snapshot",
    "load",
    "snapshot",
]
