"""The asyncwf API, synchronous: ``import asyncwf.blocking as wf``.

Every public name of :mod:`asyncwf` (and ``LocalBackend`` from
:mod:`asyncwf.testing`) is here with the same signature. Coroutines become
plain functions, async generators become iterators, async context managers
become ``with`` blocks. All of it runs on one shared event loop in a daemon
thread (an anyio blocking portal); nothing is implemented twice.

Do not call these from inside a running event loop's thread: use the async API there.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import asyncwf
import asyncwf.testing
from asyncwf.blocking._portal import shutdown
from asyncwf.blocking._wrap import context_twin, needs_twin, twin, twin_class

__all__ = [*asyncwf.__all__, "LocalBackend", "shutdown"]


def _blocking(value: Any) -> Any:
    if inspect.isclass(value) and needs_twin(value):
        return twin_class(value)
    if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value):
        return twin(value)
    if inspect.isfunction(value) and inspect.isasyncgenfunction(getattr(value, "__wrapped__", None)):
        return context_twin(value)  # an @asynccontextmanager: ``with connect(...) as conn``
    return value


def _mirror(module: types.ModuleType) -> dict[str, Any]:
    """The blocking form of every public name of ``module`` (for ``globals().update``)."""
    return {name: _blocking(getattr(module, name)) for name in module.__all__}


globals().update(_mirror(asyncwf))
LocalBackend = _blocking(asyncwf.testing.LocalBackend)


def __getattr__(name: str) -> Any:
    raise AttributeError(f"module 'asyncwf.blocking' has no attribute {name!r}")
