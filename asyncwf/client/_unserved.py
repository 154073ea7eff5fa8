"""A word when jobs wait with nobody to run them: ``run_job`` of a kind no executor serves would
otherwise wait in silence."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
from typing import TYPE_CHECKING

from asyncwf._clock import now as clock_now
from asyncwf._model import JobState
from asyncwf.exceptions import AsyncwfError

if TYPE_CHECKING:
    from asyncwf.client._client import Client

__all__ = ["QueuedNotice"]

log = logging.getLogger("asyncwf.client")


class QueuedNotice:
    """Counts the client's waiting ``run_job`` calls per kind; while there are any, one task looks every
    ``Client.QUEUED_NOTICE_SECONDS`` for a job of each such kind still ``QUEUED`` that long, and warns once
    per kind. Per call it costs two dict updates (no timer per job)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._waiting: collections.Counter[str] = collections.Counter()
        self._warned: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def enter(self, kind: str) -> None:
        self._waiting[kind] += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="asyncwf-queued-notice")

    def leave(self, kind: str) -> None:
        left = self._waiting[kind] - 1
        if left > 0:
            self._waiting[kind] = left
        else:
            del self._waiting[kind]

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        try:
            while self._waiting:
                seconds = self._client.QUEUED_NOTICE_SECONDS
                await asyncio.sleep(seconds)
                for kind in [k for k in self._waiting if k not in self._warned]:
                    await self._check(kind, seconds)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _check(self, kind: str, seconds: float) -> None:
        cutoff = clock_now() - dt.timedelta(seconds=seconds)
        try:
            async for job in self._client.list_jobs(kind=kind, states=[JobState.QUEUED], created_before=cutoff,
                                                     limit=1):  # fmt: skip
                self._warned.add(kind)
                log.warning(
                    "job %s of kind %r has waited in QUEUED for over %g s: no executor has taken it (none "
                    "serves %r, or all that do are busy). The backend runs its built-in kinds (asyncwf.*) and "
                    "those of connected executors: start a RemoteExecutor, 'asyncwf worker' or 'asyncwf "
                    "serve-app' for it, or cancel the job",
                    job.id, kind, seconds, kind,
                )  # fmt: skip
        except AsyncwfError:
            pass  # the backend is away: the waiting call hears of it
