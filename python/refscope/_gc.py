"""The one place where refscope touches the collector's process-wide state.

refscope changes gc's state in exactly two ways, both temporary and both counted here:

* ``gc.DEBUG_SAVEALL`` for the length of one collection whose garbage some refscope
  component wants (:func:`refscope.collect`, an active :func:`refscope.capture`, a
  :class:`refscope.Monitor` sample). The "start" callback turns it on (unless the user
  had it on), the "stop" callback takes exactly the entries that collection added back
  out of ``gc.garbage`` and turns it off again. CPython runs one collection at a time
  (``gcstate->collecting`` in ``Modules/gcmodule.c``; a ``gc.collect()`` made while one
  runs returns 0 without running callbacks), so one collection record suffices, and
  anything that reads the flags meanwhile, another thread included, asks
  :func:`user_debug_flags` for what the *user* set rather than what gc shows.
* ``gc.freeze()`` around a block that should examine only objects created in it
  (:func:`refscope.capture` with ``new_objects_only=True``, the pytest plugin). Nested
  and concurrent blocks share one freeze (counted); the last one to end unfreezes. When
  the user had frozen objects already, refscope does not freeze at all (``gc.unfreeze()``
  cannot thaw only refscope's part), and the caller falls back to a full collection.
  On CPython 3.12 the collector itself parks immortal objects in the permanent
  generation (``update_refs`` in ``Modules/gcmodule.c``), so a non-zero freeze count
  alone does not mean the user froze anything: only mortal objects there count as the
  user's (:func:`_frozen_by_user`). Those immortal objects go back to the oldest
  generation when refscope unfreezes, and the next full collection parks them again.

refscope never calls ``gc.enable()``/``gc.disable()``: nothing it does needs automatic
collection paused (the heap walk holds strong references to every object it reports and
runs no Python code; a collection during the description cannot free those objects).

Subscribers (a capture, the monitors' hub, one ``collect()`` call) implement
``_gc_start(info) -> bool`` (want this collection's garbage?) and
``_gc_stop(info, found)`` (``found`` is the list of what it found, or ``None`` when the
subscriber did not ask for it). Both run inside gc callbacks: they must not raise, block,
or keep references to frames or exceptions.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any, Protocol

from . import _core
from ._errors import RefscopeError

__all__ = [
    "CollectionInProgressError",
    "collect",
    "free_delivered_garbage",
    "freeze_old_objects",
    "shared_with_others",
    "subscribe",
    "unfreeze_old_objects",
    "unsubscribe",
    "user_debug_flags",
]

_SAVEALL = gc.DEBUG_SAVEALL

# Guards subscriptions, the registration of the hooks and the freeze count. The gc
# callbacks themselves never need it except to unregister when the last subscriber left
# while a collection was running.
_lock = threading.RLock()

# How long a refscope collection waits for another thread's collection to end (it can
# be long: a finaliser of that collection may release the GIL and sleep).
_WAIT_FOR_OTHER_THREAD = 30.0
# How long it waits for some collection to end when it cannot tell who is collecting
# (refscope's hooks were not installed when that collection started): if none ends, the
# collection running is this thread's own (a __del__ that called refscope).
_WAIT_UNKNOWN = 1.0


class CollectionInProgressError(RefscopeError):
    """refscope needed a garbage collection but could not run one: the collector was
    already running in this thread (refscope was called from a ``__del__``, a weakref
    callback or a ``gc.callbacks`` hook of a collection under way), so ``gc.collect()``
    would have done nothing and the report would have been silently empty."""


class Subscriber(Protocol):
    def _gc_start(self, info: dict[str, int]) -> bool: ...

    def _gc_stop(self, info: dict[str, int], found: list[object] | None) -> None: ...


class _Collection:
    """The collection running now, as refscope's "start" callback saw it begin."""

    __slots__ = ("garbage_start", "added_saveall", "wanting", "thread")

    def __init__(
        self, garbage_start: int, added_saveall: bool, wanting: tuple[Any, ...],
        thread: int | None,
    ) -> None:
        self.garbage_start = garbage_start
        self.added_saveall = added_saveall
        self.wanting = wanting
        self.thread = thread


class _State:
    def __init__(self) -> None:
        # Replaced, never mutated, so that gc callbacks read it without the lock.
        self.subscribers: tuple[Any, ...] = ()
        self.registered = False
        self.collection: _Collection | None = None
        # Collections whose start refscope saw; lets collect() tell whether gc ran one.
        self.started = 0
        # The thread whose collection is running now (None: none, or its start unseen),
        # and an event set while none runs, for collect() to wait on without spinning.
        self.collecting_thread: int | None = None
        self.stops = 0  # "stop" callbacks seen, with or without their "start"
        self.no_collection = threading.Event()
        self.no_collection.set()
        # The collection whose garbage the "stop" callback is handing out now.
        self.delivering: _Collection | None = None
        # Active refscope freezes (nested and concurrent blocks share one gc.freeze()).
        self.freeze_depth = 0


_state = _State()


# -- the user's state ---------------------------------------------------------------------


def user_debug_flags() -> int:
    """gc's debug flags as the user set them: without refscope's temporary
    ``DEBUG_SAVEALL`` of a collection running now (in any thread)."""
    flags = gc.get_debug()
    collection = _state.collection
    if collection is not None and collection.added_saveall:
        flags &= ~_SAVEALL
    return flags


def user_froze_objects() -> bool:
    """Whether objects are in gc's permanent generation that refscope did not put there."""
    with _lock:
        return _state.freeze_depth == 0 and _frozen_by_user()


_GC_PARKS_IMMORTALS = sys.version_info[:2] == (3, 12)


def _frozen_by_user() -> bool:
    """Whether gc's permanent generation holds objects someone froze (caller holds
    ``_lock`` and knows refscope froze nothing now). On 3.12 immortal objects there are
    gc's own; when they cannot be told apart, every frozen object counts as the user's."""
    frozen = gc.get_freeze_count()
    if not frozen:
        return False
    if _GC_PARKS_IMMORTALS:
        return _core.permanent_generation_mortal_count(frozen) != 0
    return True


# -- the gc callbacks -----------------------------------------------------------------------


def _on_gc_start(phase: str, info: dict[str, int]) -> None:
    """First of ``gc.callbacks``: record the collection, turn DEBUG_SAVEALL on if wanted.

    A collection that examines no subscriber's interest allocates nothing here (young
    collections can come every few hundred microseconds)."""
    if phase != "start":
        return
    state = _state
    if state.collection is not None:
        # The previous collection's "stop" never reached us (someone removed our stop
        # hook from gc.callbacks): undo its DEBUG_SAVEALL before anything else.
        _end_collection(state.collection)
        state.collection = None
    state.started += 1
    state.collecting_thread = threading.get_ident()
    state.no_collection.clear()
    callbacks = gc.callbacks
    if not callbacks or callbacks[-1] is not _on_gc_stop:
        # A hook appended since we registered would run after ours at "stop" and find the
        # garbage gone: move ours back to the end. (gc walks the list by index and this
        # one runs first, so every callback still runs once in this collection.)
        try:
            callbacks.remove(_on_gc_stop)
        except ValueError:
            pass
        callbacks.append(_on_gc_stop)
    wanting: tuple[Any, ...] = ()
    for subscriber in state.subscribers:
        try:
            wants = subscriber._gc_start(info)
        except BaseException:  # noqa: BLE001 - nothing may escape into gc
            wants = False
        if wants:
            wanting = (*wanting, subscriber)
    if not wanting:
        return
    flags = gc.get_debug()
    added = not flags & _SAVEALL
    state.collection = _Collection(len(gc.garbage), added, wanting, state.collecting_thread)
    if added:
        gc.set_debug(flags | _SAVEALL)


def _end_collection(collection: _Collection) -> list[object]:
    """What ``collection`` found; taken out of gc.garbage again if refscope put it there."""
    garbage = gc.garbage
    start = min(collection.garbage_start, len(garbage))
    if not collection.added_saveall:
        return garbage[start:]
    # Exactly what this collection added; what was there before is the user's. All of
    # it (the usual case) moves to a list of its own without touching a million
    # objects' counts twice, as the slice and the deletion would.
    taken = _core.take_list_items(garbage) if start == 0 else None
    if taken is None:
        taken = garbage[start:]
        del garbage[start:]
    gc.set_debug(gc.get_debug() & ~_SAVEALL)
    return taken


def _on_gc_stop(phase: str, info: dict[str, int]) -> None:
    """Last of ``gc.callbacks``: hand each subscriber what it asked for."""
    if phase != "stop":
        return
    state = _state
    collection, state.collection = state.collection, None
    found: list[object] | None = None
    wanting: tuple[Any, ...] = ()
    if collection is not None:
        wanting = collection.wanting
        found = _end_collection(collection)
    state.delivering = collection
    try:
        for subscriber in state.subscribers:
            wanted = found is not None and any(w is subscriber for w in wanting)
            try:
                subscriber._gc_stop(info, found if wanted else None)
            except BaseException:  # noqa: BLE001 - nothing may escape into gc
                pass
    finally:
        state.delivering = None
    del found, wanting, collection
    # Only now: the subscribers above may release the GIL (the analysis does), and
    # another thread's collect() must not take this collection for ended before it has.
    state.collecting_thread = None
    state.stops += 1
    state.no_collection.set()
    if not state.subscribers and state.registered:
        # The last subscriber left while this collection ran: unregister now.
        if _lock.acquire(timeout=1.0):
            try:
                _unregister_if_idle()
            finally:
                _lock.release()


def free_delivered_garbage(subscriber: Subscriber, found: list[object]) -> bool:
    """Called from ``subscriber._gc_stop`` with the ``found`` it was given: free those
    objects now, as the collection would have without refscope, and say whether that was
    done (then they die when ``found`` goes).

    Only when ``subscriber`` is the one subscriber that wanted this collection's garbage,
    refscope (not the user) turned ``DEBUG_SAVEALL`` on for it, and nothing else came to
    hold one of the objects (``_core.clear_collected_garbage`` checks, and clears them
    with ``tp_clear`` as gc's ``delete_garbage`` would)."""
    if not may_free_delivered_garbage(subscriber, found):
        return False
    return _core.clear_collected_garbage(found) is not None


def may_free_delivered_garbage(subscriber: Subscriber, found: list[object]) -> bool:
    """Called from ``subscriber._gc_stop``: whether ``found`` is ``subscriber``'s alone to
    free (see :func:`free_delivered_garbage`), e.g. by an analysis that takes it over
    (``_core.analyze(free_garbage=True)``), which still checks that nothing else came to
    hold one."""
    collection = _state.delivering
    return not (
        collection is None
        or not collection.added_saveall
        or len(collection.wanting) != 1
        or collection.wanting[0] is not subscriber
        or not found
    )


def shared_with_others(subscriber: Subscriber, *, except_kind: type | None = None) -> bool:
    """Called from ``subscriber._gc_stop``: whether the garbage being handed out now also
    goes to another subscriber (not counting those of type ``except_kind``), or stays in
    ``gc.garbage`` by the user's own ``DEBUG_SAVEALL``: then it is not ``subscriber``'s
    alone to free later."""
    collection = _state.delivering
    return collection is not None and (
        not collection.added_saveall
        or any(
            wanting is not subscriber
            and not (except_kind is not None and isinstance(wanting, except_kind))
            for wanting in collection.wanting
        )
    )


def _register() -> None:
    # Caller holds _lock.
    if not _state.registered:
        # Whatever runs now started unseen: forget what an earlier registration saw.
        _state.collecting_thread = None
        _state.no_collection.set()
        gc.callbacks.insert(0, _on_gc_start)
        gc.callbacks.append(_on_gc_stop)
        _state.registered = True


def _unregister_if_idle() -> None:
    # Caller holds _lock. While a collection we turned DEBUG_SAVEALL on for is running
    # (in another thread, inside a finaliser that released the GIL), its "stop" must
    # still reach us, or the flag would stay on for good: that "stop" unregisters.
    state = _state
    if (
        state.registered
        and not state.subscribers
        and state.collection is None
        and state.collecting_thread is None
    ):
        gc.callbacks[:] = [
            callback
            for callback in gc.callbacks
            if callback is not _on_gc_start and callback is not _on_gc_stop
        ]
        state.registered = False


def subscribe(subscriber: Subscriber) -> None:
    """Start delivering collections to ``subscriber`` (no effect if already subscribed)."""
    with _lock:
        if not any(s is subscriber for s in _state.subscribers):
            _state.subscribers = (*_state.subscribers, subscriber)
        _register()


def unsubscribe(subscriber: Subscriber) -> None:
    with _lock:
        _state.subscribers = tuple(s for s in _state.subscribers if s is not subscriber)
        _unregister_if_idle()


# -- running a collection -----------------------------------------------------------------


class _Probe:
    """A subscriber that wants nothing: keeps the hooks installed so that collect() can
    see whether gc ran its collection."""

    __slots__ = ()

    def _gc_start(self, info: dict[str, int]) -> bool:
        return False

    def _gc_stop(self, info: dict[str, int], found: list[object] | None) -> None:
        return None


def collect(generation: int = 2, subscriber: Subscriber | None = None) -> int:
    """``gc.collect(generation)``, guaranteed to have run.

    ``subscriber`` (if given) is subscribed for the length of the call. When another
    thread's collection is running (a finaliser of it released the GIL), this waits for
    it to end and collects then. Raises :class:`CollectionInProgressError` when the
    collection running is this thread's own (refscope called from a finaliser or a gc
    callback), where ``gc.collect()`` would silently do nothing.
    """
    probe = subscriber if subscriber is not None else _Probe()
    subscribe(probe)
    try:
        me = threading.get_ident()
        deadline: float | None = None
        while True:
            before = _state.started
            collected = gc.collect(generation)
            if _state.started != before:
                return collected
            running = _state.collecting_thread
            if running == me:
                break
            now = time.monotonic()
            if deadline is None:
                wait = _WAIT_FOR_OTHER_THREAD if running is not None else _WAIT_UNKNOWN
                deadline = now + wait
            if now >= deadline or (running is None and threading.active_count() == 1):
                break
            if running is not None:
                # Another thread's collection: sleep (without the GIL) until it ends.
                _state.no_collection.wait(deadline - now)
            else:
                # Unseen (or just ending): try again shortly; if it is this thread's own,
                # it cannot end meanwhile and the deadline raises.
                time.sleep(0.0005)
    finally:
        unsubscribe(probe)
    raise CollectionInProgressError(
        "refscope cannot collect garbage now: a collection is already running in this "
        "thread (refscope was called from a __del__, a weakref callback or a gc callback), "
        "so gc.collect() does nothing and the report would be empty"
    )


# -- freezing what existed before a block -----------------------------------------------


def freeze_old_objects() -> bool:
    """``gc.freeze()`` every object that exists now, so that collections examine only
    objects created from now on; counted, so nested and concurrent blocks share one
    freeze. Returns False (and freezes nothing) when the user has frozen objects of their
    own: unfreezing later would thaw those too."""
    with _lock:
        state = _state
        if state.freeze_depth:
            state.freeze_depth += 1
            return True
        if _frozen_by_user():
            return False
        gc.freeze()
        state.freeze_depth = 1
        return True


def unfreeze_old_objects() -> None:
    """End one :func:`freeze_old_objects` that returned True; the last one unfreezes.

    The thawed objects go back to the oldest generation (``gc.unfreeze``); garbage among
    them is freed by a later full collection."""
    with _lock:
        state = _state
        if state.freeze_depth <= 0:
            raise RuntimeError("unfreeze_old_objects() without freeze_old_objects()")
        state.freeze_depth -= 1
        if state.freeze_depth == 0:
            gc.unfreeze()
