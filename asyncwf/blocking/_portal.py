"""One shared event loop in a daemon thread, reached through an anyio blocking portal.

Each calling thread gets its own persistent :mod:`contextvars` context, so a
blocking caller behaves like one long-lived task: ``set_default_client`` in
one blocking call is seen by the next call from the same thread, and each
thread has a default client of its own.

A blocking call always blocks, also from a thread that runs an event loop of
its own (a notebook cell, a sync function called from a coroutine): the work
runs on the portal's loop, never on the caller's, and the first such call in a
loop warns (:class:`~asyncwf.exceptions.BlockingCallWarning`) that the loop was
blocked and for how long. From the portal's own thread (code the blocking API
calls back, such as a sync job function run inline) there is no other loop
to wait on, so that is refused with :class:`~asyncwf.exceptions.EventLoopError`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.from_thread
from anyio import NoEventLoopError
from anyio.from_thread import BlockingPortal, start_blocking_portal

from asyncwf.client._defaults import ThreadScope, thread_scope
from asyncwf.exceptions import BlockingCallWarning, EventLoopError

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
            portal = stack.enter_context(start_blocking_portal(name="asyncwf-blocking"))
            _state["loop"] = portal.call(asyncio.get_running_loop)
            _state["portal"] = portal
            _state["stack"] = stack
            atexit.register(shutdown)
        return _state["portal"]  # type: ignore[no-any-return]


def shutdown() -> None:
    """Stop the shared loop (also registered with :mod:`atexit`)."""
    with _lock:
        stack = _state.pop("stack", None)
        _state.pop("portal", None)
        _state.pop("loop", None)
    if stack is not None:
        stack.close()


def _context() -> contextvars.Context:
    loop = _state.get("loop")
    ctx = getattr(_local, "context", None)
    if ctx is None or _local.loop is not loop:  # new, or made for a portal that has since shut down
        ctx = contextvars.Context()
        if loop is not None:
            ctx.run(thread_scope.set, ThreadScope(loop))
        _local.context, _local.loop = ctx, loop
    return ctx


#: Loops already warned that a blocking call blocked them (once per loop).
_warned: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _on_portal(loop: asyncio.AbstractEventLoop, ctx: contextvars.Context, fn: Callable[..., Any], args: Any,
               kwargs: Any, *, is_async: bool) -> Any:  # fmt: skip
    """Run ``fn`` on the portal's loop in ``ctx`` and wait for it: one task (or one callback), no more."""
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    started: list[asyncio.Task[Any]] = []

    def settle(task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            done.set_exception(asyncio.CancelledError())
        elif task.exception() is not None:
            done.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            done.set_result(task.result())

    def start() -> None:
        if not done.set_running_or_notify_cancel():
            return
        try:
            if not is_async:
                done.set_result(ctx.run(fn, *args, **kwargs))
                return
            task = loop.create_task(_await(fn(*args, **kwargs)), context=ctx)
        except BaseException as exc:
            done.set_exception(exc)
            return
        started.append(task)
        task.add_done_callback(settle)

    loop.call_soon_threadsafe(start)
    try:
        return done.result()
    except BaseException:
        if not done.done():  # the caller gave up (KeyboardInterrupt): stop the work too
            done.cancel()
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in started])
        raise


def _call(fn: Callable[..., Any], args: Any, kwargs: Any, *, is_async: bool) -> Any:
    """Run ``fn`` on the portal's loop; tell the caller's own event loop, if any, that it was blocked."""
    _portal()
    loop = _state["loop"]
    ctx = _context()
    try:
        caller_loop = asyncio.get_running_loop()
    except RuntimeError:
        return _on_portal(loop, ctx, fn, args, kwargs, is_async=is_async)
    if caller_loop is loop:
        raise EventLoopError(
            "an asyncwf.blocking call from the blocking portal's own thread would wait on itself; "
            "use the async API there"
        )
    started = time.perf_counter()
    try:
        return _on_portal(loop, ctx, fn, args, kwargs, is_async=is_async)
    finally:
        if caller_loop not in _warned:
            _warned.add(caller_loop)
            warnings.warn(
                f"an asyncwf.blocking call blocked this thread's running event loop for "
                f"{time.perf_counter() - started:.3f} s (warned once per loop); in async code use the async "
                "API (await ...)",
                BlockingCallWarning,
                stacklevel=4,
            )


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
    """Await ``fn(*args, **kwargs)`` and return its result (``SystemExit`` is re-raised in the calling
    thread: ``XFWorkerJob.error`` exits a blocking script as it exits an async one).

    From an AnyIO worker thread (a sync app, callback or job function that async code runs in a thread)
    it runs on that thread's event loop, where the objects it was handed live, in the context the thread
    was started with; from any other thread, on the shared portal's loop."""
    try:
        result: T | _Exit = anyio.from_thread.run(_in_context, contextvars.copy_context(), fn, args, kwargs)
    except NoEventLoopError:
        result = _call(fn, args, kwargs, is_async=True)
    if isinstance(result, _Exit):
        raise result.exc
    return result


def call_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a plain function on the loop's thread (for objects bound to that loop), as :func:`call_async`
    chooses the loop."""
    try:
        ctx = contextvars.copy_context()
        return anyio.from_thread.run_sync(lambda: ctx.run(fn, *args, **kwargs))
    except NoEventLoopError:
        pass
    result: T = _call(fn, args, kwargs, is_async=False)
    return result
