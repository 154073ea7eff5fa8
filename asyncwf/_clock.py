"""asyncwf's wall clock: the time now, moved forward with the event loop's clock by a test's
:class:`~asyncwf.testing.SkippingClock`.

Durations that asyncwf waits out (leases, execution timeouts, heartbeats, polls) run on the event loop's
clock; instants it stores (when a job was created, when its result expires) come from :func:`now`. A test
that skips time moves both by the same amount, so a job whose result expires in a day expires when the test
skips a day.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["now", "skipped"]

_skipped = dt.timedelta(0)


def now() -> dt.datetime:
    """The current time in UTC (plus whatever a test skipped)."""
    if _skipped:
        return dt.datetime.now(dt.UTC) + _skipped
    return dt.datetime.now(dt.UTC)


def skipped(seconds: float) -> None:
    """Move :func:`now` forward by ``seconds`` (for :class:`~asyncwf.testing.SkippingClock`)."""
    global _skipped
    _skipped += dt.timedelta(seconds=seconds)
