"""Default clients: one per event loop, one per calling thread of the blocking API.

A client holds loop-bound state (HTTP/2 connections, the shared ``RunJobs``
stream, semaphores), so the implicit default is never shared between loops:

- ``Client.set_default_client`` sets a context variable (the task and the
  tasks it starts see it);
- otherwise each running event loop gets its own default, made on first use
  and closed when the loop shuts down (``asyncio.run``, pytest-asyncio and
  ``asyncio.Runner`` close their async generators before closing the loop,
  and a parked async generator is how the loop is told what it owns);
- the blocking API runs every call on the portal's one loop, in a context
  per calling thread; there each thread gets a default of its own, closed
  when the thread ends or the portal stops;
- outside any loop, one process-wide default is handed out; it binds to the
  first loop that uses it and starts afresh once that loop is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncwf.client._client import Client

__all__ = ["ThreadScope", "default_client", "explicit_default", "release_at_shutdown"]

explicit_default: contextvars.ContextVar[Client | None] = contextvars.ContextVar("asyncwf_default_client", default=None)


class ThreadScope:
    """The default client of one thread that calls the blocking API (held in that thread's context)."""

    __slots__ = ("__weakref__", "box")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.box: list[Client] = []
        # When the thread ends its context goes, and with it this scope: close its client on the loop.
        weakref.finalize(self, _close_soon, loop, self.box)


#: Set by the blocking portal in each calling thread's context.
thread_scope: contextvars.ContextVar[ThreadScope | None] = contextvars.ContextVar("asyncwf_thread_scope", default=None)


class _Owned:
    """What a loop holds: the clients bound to it (their connections and run streams are released by the
    loop's shutdown of async generators) and its default client."""

    __slots__ = ("clients", "keeper", "loop_default")

    def __init__(self) -> None:
        self.clients: weakref.WeakSet[Client] = weakref.WeakSet()
        self.loop_default: Client | None = None
        self.keeper: AsyncGenerator[None, None] | None = None


_lock = threading.Lock()
_by_loop: dict[asyncio.AbstractEventLoop, _Owned] = {}
_loopless: list[Client] = []


def default_client(factory: Callable[[], Client]) -> Client:
    """The default client of the caller: explicit, else of its blocking thread, else of its loop."""
    client = explicit_default.get()
    if client is not None:
        return client
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        with _lock:
            if not _loopless:
                _loopless.append(factory())
            return _loopless[0]
    scope = thread_scope.get()
    if scope is not None:
        if not scope.box:
            scope.box.append(factory())
        return scope.box[0]
    owned = _by_loop.get(loop)
    if owned is None or owned.loop_default is None:
        owned = _owned(loop)
        owned.loop_default = factory()
    return owned.loop_default


def release_at_shutdown(loop: asyncio.AbstractEventLoop, client: Client) -> None:
    """Have ``loop`` release what ``client`` holds in it (connections, run stream) when the loop shuts down."""
    _owned(loop).clients.add(client)


def _owned(loop: asyncio.AbstractEventLoop) -> _Owned:
    owned = _by_loop.get(loop)
    if owned is not None:
        return owned
    with _lock:
        _forget_closed_loops()
        owned = _by_loop[loop] = _Owned()
    keeper = _close_at_shutdown(loop, owned)
    # Park the generator at its ``yield`` without awaiting anything: its first step registers it with the
    # running loop (the loop's first-iteration hook), which closes it in ``shutdown_asyncgens``.
    step = keeper.asend(None)
    try:
        step.send(None)
    except StopIteration:
        pass
    owned.keeper = keeper
    return owned


async def _close_at_shutdown(loop: asyncio.AbstractEventLoop, owned: _Owned) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        _by_loop.pop(loop, None)
        clients, owned.clients = list(owned.clients), weakref.WeakSet()
        owned.loop_default = None
        for client in clients:
            if not loop.is_closed():
                await client.aclose()


def _forget_closed_loops() -> None:
    """Drop what loops closed without shutting down their async generators still hold (sync close)."""
    for loop in [loop for loop in _by_loop if loop.is_closed()]:
        owned = _by_loop.pop(loop)
        for client in owned.clients:
            with contextlib.suppress(RuntimeError):
                client.close()
        owned.clients = weakref.WeakSet()
        keeper = owned.keeper
        if keeper is not None:
            # Finish the parked generator here (it has nothing left to await), so it is not finalized
            # later through its closed loop.
            closing = keeper.aclose()
            try:
                closing.send(None)
            except BaseException:  # noqa: S110 - StopIteration is the normal end; anything else is moot
                pass
            finally:
                closing.close()


def _close_soon(loop: asyncio.AbstractEventLoop, box: list[Client]) -> None:
    if not box or loop.is_closed():
        return
    client = box[0]

    def start() -> None:
        task = loop.create_task(client.aclose())
        _closing.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(_closing.discard)

    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError:  # the loop closed meanwhile
        client.close()


#: Closings of ended threads' clients still running.
_closing: set[asyncio.Task[None]] = set()
