"""One shared event loop in a daemon thread, reached through an anyio blocking portal.

Each calling thread gets its own persistent :mod:`contextvars` context, so a
blocking caller behaves like one long-lived task: ``set_default_client`` in
one blocking call is seen by the next call from the same thread.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["call_async", "call_sync", "shutdown"]

T = TypeVar("T")
_lock = threading.Lock()
_state: dict[str, Any] = {}
_local = threading.local()


def _portal() -> BlockingPortal:
    portal = _state.get("portal")
    if portal is not None:
        return portal  # type: ignore[no-any-return]
    with _lock:
        if "portal" not in _state:
            stack = contextlib.ExitStack()
            _state["portal"] = stack.enter_context(start_blocking_portal(name="asyncwf-blocking"))
            _state["stack"] = stack
            atexit.register(shutdown)
        return _state["portal"]  # type: ignore[no-any-return]


def shutdown() -> None:
    """Stop the shared loop (also registered with :mod:`atexit`)."""
    with _lock:
        stack = _state.pop("stack", None)
        _state.pop("portal", None)
    if stack is not None:
        stack.close()


def _context() -> contextvars.Context:
    ctx = getattr(_local, "context", None)
    if ctx is None:
        ctx = _local.context = contextvars.Context()
    return ctx


class _Exit:
    """A ``SystemExit`` raised by an async function, carried back to the calling thread."""

    def __init__(self, exc: SystemExit) -> None:
        self.exc = exc


async def _await(awaitable: Awaitable[T]) -> T | _Exit:
    try:
        return await awaitable
    except SystemExit as exc:  # leaving the shared loop's task would stop the loop; exit the caller instead
        return _Exit(exc)


async def _in_context(ctx: contextvars.Context, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any) -> T | _Exit:
    task = asyncio.get_running_loop().create_task(_await(fn(*args, **kwargs)), context=ctx)
    return await task


def call_async(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Await ``fn(*args, **kwargs)`` on the shared loop and return its result (``SystemExit`` is re-raised
    in the calling thread: ``XFWorkerJob.error`` exits a blocking script as it exits an async one)."""
    result: T | _Exit = _portal().call(_in_context, _context(), fn, args, kwargs)
    if isinstance(result, _Exit):
        raise result.exc
    return result


def call_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a plain function on the shared loop's thread (for objects bound to that loop)."""
    ctx = _context()
    result: T = _portal().call(lambda: ctx.run(fn, *args, **kwargs))
    return result
