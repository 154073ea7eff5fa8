"""A small pool of HTTP/2 connections, so many concurrent calls never queue on one.

An HTTP/2 peer caps the streams open on one connection (100 by default); past
that, grpclib makes every waiting call retry whenever any stream closes, and
h2 counts open streams in O(n) each time. The pool keeps each connection
under the cap, opens another one (up to ``max_connections``) when all are
busy, and beyond that queues calls fairly (FIFO) instead of in a herd.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from grpclib.client import Channel

__all__ = ["ChannelPool"]


class _Slot:
    __slots__ = ("channel", "inflight")

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.inflight = 0


class ChannelPool:
    """Hands out the least-loaded channel for each call."""

    def __init__(
        self, factory: Callable[[], Channel], *, streams_per_connection: int = 90, max_connections: int = 8
    ) -> None:
        self._factory = factory
        self._per = streams_per_connection
        self._max = max_connections
        self._slots: list[_Slot] = []
        self._capacity: asyncio.Semaphore | None = None

    @property
    def primary(self) -> Channel:
        """The first connection (the seed's ``Client.channel``)."""
        if not self._slots:
            self._slots.append(_Slot(self._factory()))
        return self._slots[0].channel

    def _pick(self) -> _Slot:
        if self._slots:
            best = min(self._slots, key=lambda s: s.inflight)
            if best.inflight < self._per or len(self._slots) >= self._max:
                return best
        slot = _Slot(self._factory())
        self._slots.append(slot)
        return slot

    @contextlib.asynccontextmanager
    async def channel(self) -> AsyncIterator[Channel]:
        """Borrow a channel for the duration of one call."""
        if self._capacity is None:
            self._capacity = asyncio.Semaphore(self._per * self._max)
        async with self._capacity:
            slot = self._pick()
            slot.inflight += 1
            try:
                yield slot.channel
            finally:
                slot.inflight -= 1

    def close(self) -> None:
        """Close every connection; the pool can be used again afterwards (in this loop or another)."""
        slots, self._slots = self._slots, []
        self._capacity = None  # a semaphore belongs to the loop that first waited on it
        for slot in slots:
            slot.channel.close()
