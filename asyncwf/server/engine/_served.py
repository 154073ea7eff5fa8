"""Which job kinds some executor serves, across replicas: ``run_job`` of a kind nobody serves fails at once.

A replica knows the kinds of its own executors (the in-process one and the remote executors connected to
it). With several replicas on one store, each also writes those kinds to the store, one document per kind
in the ``asyncwf.served-kinds`` collection saying until when the announcement holds: every
:data:`ANNOUNCE_SECONDS`, and at once when an executor brings a kind not announced yet. An announcement
holds for :data:`HOLD_SECONDS`, so an executor that restarts or reconnects to another replica within that
time still counts. A replica reads the others' announcements when asked about a kind it does not serve
itself, at most every :data:`REREAD_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterable

from asyncwf.exceptions import AlreadyExists
from asyncwf.server.store._store import Document, Store

__all__ = ["ANNOUNCE_SECONDS", "COLLECTION", "HOLD_SECONDS", "SharedServedKinds"]

log = logging.getLogger("asyncwf.server")

COLLECTION = "asyncwf.served-kinds"
ANNOUNCE_SECONDS = 10.0
HOLD_SECONDS = 30.0
REREAD_SECONDS = 0.5


class SharedServedKinds:
    """This replica's announcements of the kinds it serves, and what the others announced."""

    def __init__(
        self, store: Store, local_kinds: Callable[[], Iterable[str]], *, every: float = ANNOUNCE_SECONDS,
        hold: float = HOLD_SECONDS, reread: float = REREAD_SECONDS,
    ) -> None:  # fmt: skip
        self._store = store
        self._local_kinds = local_kinds
        self._every, self._hold, self._reread = every, hold, reread
        #: Kind -> the wall-clock time until which some replica announced it.
        self._announced: dict[str, float] = {}
        self._read_at = -math.inf
        self._reading: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._announcing: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._announce_forever(), name="asyncwf-served-kinds")

    async def stop(self) -> None:
        for task in (self._task, self._announcing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def kinds_added(self, kinds: Iterable[str]) -> None:
        """An executor brought ``kinds``: announce the new ones now rather than at the next round."""
        if self._task is None or all(self._announced.get(k, 0) > time.time() + self._every for k in kinds):
            return
        if self._announcing is None or self._announcing.done():
            self._announcing = asyncio.create_task(self._announce(), name="asyncwf-served-kinds-now")

    async def serves(self, kind: str) -> bool:
        """Whether another replica announced ``kind`` recently (re-read from the store when stale)."""
        if self._announced.get(kind, 0) > time.time():
            return True
        if time.monotonic() - self._read_at >= self._reread:
            await self._read()
        return self._announced.get(kind, 0) > time.time()

    async def _read(self) -> None:
        if self._reading is not None:  # one read at a time; the others wait for it
            await asyncio.shield(self._reading)
            return
        self._reading = asyncio.get_running_loop().create_future()
        try:
            docs = await self._store.list_documents(COLLECTION, name_prefix="", limit=100_000)
            for doc in docs:
                until = float(doc.body.get("until", 0))
                self._announced[doc.id] = max(until, self._announced.get(doc.id, 0))
            self._read_at = time.monotonic()
        finally:
            self._reading.set_result(None)
            self._reading = None

    async def _announce_forever(self) -> None:
        while True:
            try:
                await self._announce()
            except Exception as exc:  # the next round tries again; an announcement holds for three
                log.warning("announcing the kinds this replica's executors serve failed: %s", exc)
            await asyncio.sleep(self._every)

    async def _announce(self) -> None:
        until = time.time() + self._hold
        for kind in sorted(set(self._local_kinds())):
            await self._upsert(kind, until)
            self._announced[kind] = max(until, self._announced.get(kind, 0))

    async def _upsert(self, kind: str, until: float) -> None:
        body, now = {"until": until}, dt.datetime.now(dt.UTC)
        for _ in range(3):  # another replica may write the same kind meanwhile: either write will do
            doc = await self._store.get_document(COLLECTION, kind)
            if doc is None:
                with contextlib.suppress(AlreadyExists):
                    await self._store.insert_document(Document(COLLECTION, kind, kind, body, created_at=now,
                                                               updated_at=now))  # fmt: skip
                    return
            elif float(doc.body.get("until", 0)) >= until or await self._store.update_document(
                dataclasses.replace(doc, body=body, updated_at=now), doc.version
            ):
                return
