"""What ``refscope attach`` runs inside the target, in a thread of its own.

Started by :mod:`refscope.attach._bootstrap` once the target's refscope is known to be
the caller's version. It answers one request (collect, monitor, top) on the connection
and leaves the garbage collector as it found it: enabled, debug flags, thresholds,
``gc.callbacks`` and ``gc.garbage`` are compared after the work and put back if anything
changed them (a restore is reported to the caller, since it means a bug).
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import time
from typing import Any

import refscope

from . import _channel

TOP_DEFAULT = 25


class _GcState:
    """What the work must not change in the target's garbage collector."""

    def __init__(self) -> None:
        self.enabled = gc.isenabled()
        self.debug = gc.get_debug()
        self.threshold = gc.get_threshold()
        self.callbacks = list(gc.callbacks)
        self.garbage_length = len(gc.garbage)

    def restore(self) -> list[str]:
        """Put back what changed; the names of what had to be restored."""
        restored = []
        if gc.isenabled() != self.enabled:
            (gc.enable if self.enabled else gc.disable)()
            restored.append("gc enabled")
        if gc.get_debug() != self.debug:
            gc.set_debug(self.debug)
            restored.append("gc debug flags")
        if gc.get_threshold() != self.threshold:
            gc.set_threshold(*self.threshold)
            restored.append("gc thresholds")
        now = gc.callbacks
        same = len(now) == len(self.callbacks) and all(
            a is b for a, b in zip(now, self.callbacks, strict=True)
        )
        if not same:
            now[:] = self.callbacks
            restored.append("gc.callbacks")
        if len(gc.garbage) > self.garbage_length and not self.debug & gc.DEBUG_SAVEALL:
            # Only the work can have appended; entries that were there stay. (A process
            # that set DEBUG_SAVEALL itself gets what the collection found, as from
            # refscope.collect().)
            del gc.garbage[self.garbage_length :]
            restored.append("gc.garbage")
        return restored


def _free_pending_call_argument(address: Any) -> None:
    """Free the copy of the pending call's code the debugger made with ``strdup``.

    CPython parsed all of it before running any (``PyRun_SimpleString`` compiles the whole
    string first), so nothing reads it any more. Only with a ctypes the target already
    loaded: importing ctypes would change the target more than the ~250 bytes it frees.
    ``pythonapi[name]`` makes a fresh function pointer (attribute access would cache one
    on the target's ``ctypes.pythonapi``, and make a cycle).
    """
    ctypes = sys.modules.get("ctypes")
    if ctypes is None or not isinstance(address, int) or address <= 0:
        return
    try:
        free = ctypes.pythonapi["free"]
        free.argtypes = [ctypes.c_void_p]
        free.restype = None
        free(ctypes.c_void_p(address))
    except Exception:
        pass


def _type_name(kind: type) -> str:
    """``module.qualname`` read through ``type``'s own descriptors, which a metaclass
    cannot shadow (they read ``tp_name``/``ht_qualname`` and the type's own dict)."""
    try:
        qualname = type.__dict__["__qualname__"].__get__(kind)
        module = type.__dict__["__module__"].__get__(kind)
    except Exception:
        return "?"
    qualname = qualname if type(qualname) is str else "?"
    if type(module) is not str or module == "builtins":
        return qualname
    return f"{module}.{qualname}"


def census(limit: int) -> dict[str, Any]:
    """Objects tracked by gc, counted by type (``type(o)`` and ``object.__sizeof__``: no
    user code runs)."""
    started = time.perf_counter()
    objects = gc.get_objects()
    by_type: dict[int, list[Any]] = {}
    sizeof = object.__sizeof__
    try:
        for obj in objects:
            kind = type(obj)
            entry = by_type.get(id(kind))
            if entry is None:
                by_type[id(kind)] = [kind, 1, sizeof(obj)]
            else:
                entry[1] += 1
                entry[2] += sizeof(obj)
        total = len(objects)
    finally:
        del objects
    rows = sorted(by_type.values(), key=lambda row: (-row[1], -row[2]))
    types = [
        {"type": _type_name(kind), "count": count, "size": size}
        for kind, count, size in rows[: limit or None]
    ]
    distinct = len(rows)
    del rows, by_type
    return {
        "format": "refscope.top",
        "version": 1,
        "pid": os.getpid(),
        "objects": total,
        "distinct_types": distinct,
        "types": types,
        "seconds": time.perf_counter() - started,
    }


def census_text(data: dict[str, Any]) -> str:
    lines = [
        f"refscope top: {data['objects']:,} objects tracked by gc in process {data['pid']}, "
        f"{data['distinct_types']:,} types; the {len(data['types'])} most numerous:",
        f"{'count':>12}  {'shallow bytes':>14}  type",
    ]
    for row in data["types"]:
        lines.append(f"{row['count']:>12,}  {row['size']:>14,}  {row['type']}")
    return "\n".join(lines) + "\n"


def _collect(options: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    report = refscope.collect(frame_locals=bool(options.get("frame_locals", True)))
    analysed = time.perf_counter() - started
    fmt = options.get("format", "text")
    if fmt == "json":
        body = report.to_json(indent=2)
    elif fmt == "html":
        program = sys.argv[0] if sys.argv else "?"
        body = report.to_html(title=f"refscope attach {os.getpid()} ({program})")
    else:
        body = report.to_text(
            color=bool(options.get("color", False)),
            max_objects_per_cycle=int(options.get("max_objects", 12)),
        )
    return {
        "body": body,
        "cycles": len(report),
        "groups": len(report.groups),
        "objects": report.analysed_count,
        "collected": report.collected,
        "seconds": analysed,
    }


def _monitor(options: dict[str, Any]) -> dict[str, Any]:
    seconds = float(options["seconds"])
    monitor = refscope.Monitor(max_overhead=None, frame_locals=bool(options.get("frame_locals")))
    monitor.start()
    try:
        time.sleep(seconds)
    finally:
        monitor.stop()
    if options.get("format") == "json":
        import json

        body = json.dumps(monitor.to_dict(), indent=2) + "\n"
    else:
        body = monitor.to_text()
    stats = monitor.stats()
    return {
        "body": body,
        "collections_seen": stats.collections_seen,
        "collections_sampled": stats.collections_sampled,
        "cycles": stats.cycles_found,
        "seconds": seconds,
    }


def _top(options: dict[str, Any]) -> dict[str, Any]:
    limit = int(options.get("limit", TOP_DEFAULT))
    data = census(limit)
    if options.get("format") == "json":
        import json

        body = json.dumps(data, indent=2) + "\n"
    else:
        body = census_text(data)
    return {"body": body, "objects": data["objects"], "seconds": data["seconds"]}


def _snapshot(options: dict[str, Any]) -> dict[str, Any]:
    """``refscope.snapshot()`` written to the caller's channel directory. The module keeps
    the latest snapshot for ``growth()``; that is put back as it was, so the target's own
    growth() comparisons and memory are unchanged."""
    # (``refscope.snapshot`` the attribute is the function; the module is in sys.modules.)
    snapshots = sys.modules["refscope.snapshot"]
    with snapshots._lock:
        kept = list(snapshots._last)
        kept_previous = kept[0]._previous if kept else None
    started = time.perf_counter()
    try:
        taken = refscope.snapshot()
        try:
            if options.get("format") == "heapsnapshot":
                taken.export_heapsnapshot(options["path"])
            else:
                taken.save(options["path"])
            counts = {"objects": taken.object_count, "references": taken.reference_count,
                      "size": taken.total_size}
        finally:
            del taken
    finally:
        with snapshots._lock:
            snapshots._last[:] = kept
            if kept:
                kept[0]._previous = kept_previous
    return {"body": "", "seconds": time.perf_counter() - started, **counts}


ACTIONS = {"collect": _collect, "monitor": _monitor, "top": _top, "snapshot": _snapshot}


def serve(connection: socket.socket, hello: dict[str, Any]) -> None:
    """Say hello, answer one request, and leave gc as it was."""
    hello["ok"] = True
    _channel.send(connection, hello)
    request = _channel.receive(connection)
    action = ACTIONS.get(str(request.get("action")))
    if action is None:
        _channel.send(
            connection,
            {"ok": False, "error": "not-available",
             "message": f"this refscope cannot {request.get('action')!r} in the target"},
        )
        return
    options = request.get("options") or {}
    connection.settimeout(None if request.get("action") == "monitor" else 60)
    state = _GcState()
    try:
        result = action(options)
        result["ok"] = True
    except Exception as error:  # reported to the caller; the target carries on
        result = {"ok": False, "error": "failed", "message": f"{type(error).__name__}: {error}"}
    finally:
        restored = state.restore()
        _free_pending_call_argument(request.get("free_address"))
    result["restored"] = restored
    _channel.send(connection, result)
