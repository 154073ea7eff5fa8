"""A word when jobs wait with nobody to run them: ``run_job`` of a kind no executor serves would
otherwise wait in silence."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING

from asyncwf._model import JobState
from asyncwf.exceptions import AsyncwfError

if TYPE_CHECKING:
    from asyncwf.client._client import Client

__all__ = ["QueuedNotice"]

log = logging.getLogger("asyncwf.client")


class QueuedNotice:
    """Arms a timer per waiting ``run_job``; when one fires, a job of that kind still ``QUEUED`` after
    ``seconds`` gets one warning per kind and client (a running or finished job, none)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._checked: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def arm(self, kind: str) -> asyncio.TimerHandle | None:
        """A timer to cancel once the job is done (None when this kind was looked at already)."""
        if kind in self._checked:
            return None
        seconds = self._client.QUEUED_NOTICE_SECONDS
        return asyncio.get_running_loop().call_later(seconds, self._fire, kind, seconds)

    def _fire(self, kind: str, seconds: float) -> None:
        if kind in self._checked:
            return
        self._checked.add(kind)
        task = asyncio.ensure_future(self._check(kind, seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, kind: str, seconds: float) -> None:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
        try:
            async for job in self._client.list_jobs(kind=kind, states=[JobState.QUEUED], created_before=cutoff,
                                                     limit=1):  # fmt: skip
                log.warning(
                    "job %s of kind %r has waited in QUEUED for over %g s: no executor has taken it (none "
                    "serves %r, or all that do are busy). The backend runs its built-in kinds (asyncwf.*) and "
                    "those of connected executors: start a RemoteExecutor, 'asyncwf worker' or 'asyncwf "
                    "serve-app' for it, or cancel the job",
                    job.id, kind, seconds, kind,
                )  # fmt: skip
                return
        except AsyncwfError:
            pass
        self._checked.discard(kind)  # nothing waiting after all: look again next time
