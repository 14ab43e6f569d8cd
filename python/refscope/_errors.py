"""refscope's exceptions."""

from ._core import RefscopeError

__all__ = ["RefscopeError"]
