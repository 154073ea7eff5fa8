"""Deadlines for many keys with one timer per tick of time, not one per key.

Every job leased to a remote executor has a lease that lapses unless renewed.
A timer per lease costs a heap push and a cancel per job (the event loop's
timer heap compares in Python); here a deadline is filed in a slot of
``tick`` seconds, each slot with one timer, and setting, moving or dropping a
deadline is a dict and a set operation. A deadline is met up to ``tick``
seconds late.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Deadlines", "callbacks"]

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    """Calls ``expire(key)`` once a key's deadline has passed, unless it was moved or dropped first."""

    def __init__(self, expire: Callable[[K], None], *, tick: float = 0.025) -> None:
        if tick <= 0:
            raise ValueError("tick must be positive")
        self._expire = expire
        self._tick = tick
        #: key -> the slot it is filed in (a slot is a multiple of ``tick`` in loop time).
        self._slot_of: dict[K, int] = {}
        self._slots: dict[int, set[K]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        #: The loop of the first deadline (timers belong to one loop; asking for it costs a system call
        #: on Python 3.11).
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    def set(self, key: K, seconds: float) -> None:
        """(Re)set ``key``'s deadline to ``seconds`` from now."""
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + seconds) / self._tick)
        old = self._slot_of.get(key)
        if old == slot:
            return
        if old is not None:
            self._unfile(key, old)
        self._slot_of[key] = slot
        keys = self._slots.get(slot)
        if keys is None:
            keys = self._slots[slot] = set()
            self._timers[slot] = loop.call_at(slot * self._tick, self._fire, slot)
        keys.add(key)

    def discard(self, key: K) -> None:
        """Drop ``key``'s deadline (nothing happens if it has none)."""
        slot = self._slot_of.pop(key, None)
        if slot is not None:
            self._unfile(key, slot)

    def _unfile(self, key: K, slot: int) -> None:
        keys = self._slots.get(slot)  # (None while its slot fires)
        if keys is not None:
            keys.discard(key)

    def clear(self) -> None:
        """Drop every deadline and stop the timers."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._slots.clear()
        self._slot_of.clear()
        self._loop = None

    def _fire(self, slot: int) -> None:
        del self._timers[slot]
        for key in self._slots.pop(slot):
            # (an earlier key's expiry may have moved or dropped this one)
            if self._slot_of.get(key) == slot:
                del self._slot_of[key]
                self._expire(key)


#: Each event loop's deadlines of callbacks (timers belong to one loop).
_CALLBACKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines[Callable[[], object]]] = (
    weakref.WeakKeyDictionary()
)


def _call(callback: Callable[[], object]) -> None:
    callback()


def callbacks() -> Deadlines[Callable[[], object]]:
    """The running loop's deadlines whose keys are callbacks, each called once its deadline passes:
    ``callbacks().set(fn, seconds)`` is a coarse ``call_later`` that is cheap to cancel
    (``callbacks().discard(fn)``)."""
    loop = asyncio.get_running_loop()
    deadlines = _CALLBACKS.get(loop)
    if deadlines is None:
        deadlines = _CALLBACKS[loop] = Deadlines(_call)
    return deadlines
