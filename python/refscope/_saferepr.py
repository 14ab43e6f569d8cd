"""Guarded ``repr()`` of frame locals, for ``find_cycles(..., repr_locals=True)``.

This is the only place where refscope runs user code on purpose, and only when asked:
``repr()`` of each local variable of the frames on reported cycles. Each call is guarded:

* an exception from ``__repr__`` (including ``RecursionError`` from a runaway recursive
  ``__repr__``) becomes ``<repr failed: ExcType>``; ``KeyboardInterrupt`` and
  ``SystemExit`` still propagate;
* containers are shown as :mod:`reprlib` does: at most a few items per level and a few
  levels deep, so a local holding ten million items does not produce ten million items
  of text;
* every result is cut to :data:`MAX_LENGTH` characters;
* a ``__repr__`` that itself asks refscope for a guarded repr (re-entrance) gets
  ``<repr skipped: nested>`` instead of recursing through refscope.
"""

from __future__ import annotations

import reprlib
import threading

MAX_LENGTH = 200
"""Longest text returned for one value."""

_state = threading.local()


class _GuardedRepr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxarray = 8
        self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 8
        self.maxstring = MAX_LENGTH
        self.maxlong = 60
        self.maxother = MAX_LENGTH

    def repr1(self, x: object, level: int) -> str:
        # reprlib calls user code for containers' items too (their __repr__, and
        # __iter__ of a user class named like a builtin): guard every level.
        try:
            return super().repr1(x, level)
        except Exception as error:  # any failure of user code is reported
            return f"<repr failed: {type(error).__name__}>"

    def repr_instance(self, x: object, level: int) -> str:
        try:
            text = repr(x)
        except Exception as error:  # any failure of user code is reported
            return f"<repr failed: {type(error).__name__}>"
        if not isinstance(text, str):  # a C type may still return something odd
            return f"<repr failed: {type(text).__name__} returned>"
        return _shorten(text)


def _shorten(text: str) -> str:
    if len(text) <= MAX_LENGTH:
        return text
    keep = MAX_LENGTH - 1
    return text[: keep // 2 + keep % 2] + "…" + text[len(text) - keep // 2 :]


_repr = _GuardedRepr()


def guarded_repr(value: object) -> str:
    """``repr(value)``, guarded and shortened as the module docstring says."""
    if getattr(_state, "active", False):
        return "<repr skipped: nested>"
    _state.active = True
    try:
        return _shorten(_repr.repr(value))
    except Exception as error:  # e.g. RecursionError escaping reprlib itself
        return f"<repr failed: {type(error).__name__}>"
    finally:
        _state.active = False
