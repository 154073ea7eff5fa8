"""Time skipping for tests: a job with a one-hour lease or timeout is tested in milliseconds."""

from __future__ import annotations

import asyncio
from typing import Any

from asyncwf import _clock
from asyncwf.exceptions import ConfigurationError

__all__ = ["SkippingClock"]


class SkippingClock:
    """Moves the running event loop's clock, and asyncwf's wall clock with it, forward on demand.

    Installed on the test's loop (the ``asyncwf_clock`` fixture does it), it changes nothing until
    :meth:`skip` is awaited: then every timer of the loop due within the skipped time fires, in order, as if
    that time had passed — the backend's lease deadlines, execution timeouts (``execution_timeout``), job
    functions' ``asyncio.sleep``, executors' heartbeats — and instants asyncwf stores (result expiry) move
    too. Between two timers the loop runs for ``settle`` seconds of real time, so what a timer starts (a
    heartbeat's round trip, a store write in a thread) is done before the next one fires.

    It skips what runs on the loop of the test's process (an in-process :class:`LocalBackend`, executors,
    clients); a backend in another process, or ``time.sleep`` in a thread, keeps real time.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *, settle: float = 0.005) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._settle = settle
        self.offset = 0.0
        real_time = self._loop.time
        if getattr(self._loop, "_asyncwf_clock", None) is not None:
            raise ConfigurationError("this event loop already has a SkippingClock")

        def time() -> float:
            return real_time() + self.offset

        self._real_time = real_time
        self._loop.time = time  # type: ignore[method-assign]
        self._loop._asyncwf_clock = self  # type: ignore[attr-defined]

    def close(self) -> None:
        """Give the loop its own clock back (times already skipped stay skipped for timers set meanwhile)."""
        if getattr(self._loop, "_asyncwf_clock", None) is self:
            del self._loop.time  # the instance attribute: the class's method again
            del self._loop._asyncwf_clock  # type: ignore[attr-defined]
            _clock.skipped(-self.offset)

    def time(self) -> float:
        """The loop's time now (real time plus what was skipped)."""
        return self._loop.time()

    async def skip(self, seconds: float) -> None:
        """Let ``seconds`` pass at once: each timer due meanwhile fires in turn (see the class)."""
        if not seconds >= 0:
            raise ConfigurationError("skip a non-negative number of seconds")
        target = self._loop.time() + seconds
        while True:
            await asyncio.sleep(self._settle)
            now = self._loop.time()
            due = self._next_timer()
            if due is None or due > target:
                self._advance(max(target - now, 0.0))
                break
            self._advance(max(due - now, 0.0))
        await asyncio.sleep(self._settle)

    def _advance(self, seconds: float) -> None:
        self.offset += seconds
        _clock.skipped(seconds)

    def _next_timer(self) -> float | None:
        """When the loop's next timer is due (None when it has none, or keeps them out of sight)."""
        scheduled: list[Any] | None = getattr(self._loop, "_scheduled", None)  # asyncio's heap of timers
        if not scheduled:
            return None
        if not scheduled[0].cancelled():
            return float(scheduled[0].when())
        return min((timer.when() for timer in scheduled if not timer.cancelled()), default=None)
