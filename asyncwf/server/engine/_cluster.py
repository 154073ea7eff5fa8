"""Several backend replicas on one PostgreSQL store: change notices, lease renewal, lease takeover.

Each replica's engine keeps leases of the executors connected to it in
memory; in cluster mode it also writes their expiry to the store, renewing
all of them in one statement every third of a lease. A replica that dies
stops renewing; after one lease period any other replica's sweep finds the
expired leases and requeues the jobs (or fails them on their last attempt),
with the same conditional update a local expiry uses, so a job is settled
once whichever replica sees it.

Every committed change of a job's version is announced by the store
(PostgreSQL: a trigger and ``NOTIFY``) as ``(job id, version, state)``. A
replica then wakes its executors' claims when a job became QUEUED, drops a
stale cached snapshot, stops a local executor's job cancelled elsewhere,
and sends a newer snapshot to its watchers of that job. Stored log entries
and progress are announced too: a replica with watchers of the job fetches
the entries it has not published yet, or the job's progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, Protocol

from asyncwf._model import JobInfo, JobState

if TYPE_CHECKING:
    from asyncwf.server.engine._engine import JobEngine

__all__ = ["ClusterLink", "ClusterStore"]

log = logging.getLogger("asyncwf.server.cluster")


class ClusterStore(Protocol):
    """What a store offers for several replicas (:class:`~asyncwf.server.PostgresStore` does)."""

    async def listen(self, callback: Any) -> None:
        """Call ``callback(what, job_id, a, b)`` for what any replica committed: ``("job", id, version,
        state)``, ``("logs", id, seq, 0)``, ``("progress", id, 0, 0)``."""

    async def renew_leases(self, job_ids: list[str], expires_at: dt.datetime) -> None:
        """Set the lease expiry of these RUNNING jobs (no version change)."""

    async def expired_leases(self, now: dt.datetime, limit: int) -> list[JobInfo]:
        """RUNNING jobs whose lease expired."""

    async def get_jobs(self, job_ids: list[str]) -> list[JobInfo]:
        """The snapshots of the jobs that exist among ``job_ids``, in one query."""


def is_cluster_store(store: Any) -> bool:
    return all(hasattr(store, name) for name in ("listen", "renew_leases", "expired_leases", "get_jobs"))


class ClusterLink:
    """Keeps one engine in step with the other replicas (see the module docstring)."""

    def __init__(self, engine: JobEngine, store: ClusterStore) -> None:
        self.engine = engine
        self.store = store
        self.lease_seconds = engine.config.lease_seconds
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.store.listen(self._notice)
        self._tasks = [asyncio.create_task(self._renew_forever(), name="asyncwf-cluster-renew"),
                       asyncio.create_task(self._sweep_forever(), name="asyncwf-cluster-sweep")]  # fmt: skip

    def _notice(self, what: str, job_id: str, a: int, b: int) -> None:
        if what == "job":
            self.engine.remote_change(job_id, a, b)
        elif what == "logs":
            self.engine.remote_logs(job_id, a)
        elif what == "progress":
            self.engine.remote_progress(job_id)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def lease_expiry(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(seconds=self.lease_seconds)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            ids = list(self.engine.held_leases())
            if ids:
                with contextlib.suppress(Exception):  # the next round tries again; expiry is a lease away
                    await self.store.renew_leases(ids, self.lease_expiry(dt.datetime.now(dt.UTC)))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 2)
            try:
                for job in await self.store.expired_leases(dt.datetime.now(dt.UTC), 500):
                    if job.state is JobState.RUNNING:
                        await self.engine.take_over_expired(job)
            except Exception as exc:
                log.warning("lease sweep failed: %s", exc)
