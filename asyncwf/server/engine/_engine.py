"""The job engine: one queue, leases, watches, progress, logs and results.

Compute jobs, service questions and task-script jobs all run through it.
State lives in a :class:`~asyncwf.server.Store`; result bytes above the inline
limit live in a :class:`~asyncwf.server.BlobStore`. Every change is committed
first and then pushed to watchers; nothing polls.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence

from asyncwf._ids import new_id
from asyncwf._model import JobEvent, JobFailure, JobInfo, JobState, ProgressUpdate
from asyncwf.server.engine._leases import LeaseKeeping
from asyncwf.server.engine._state import (
    _NOT_YET,
    _cache_hit,
    _now,
    _Prepared,
    valid_kind,
)
from asyncwf.server.engine._types import (
    LOCAL_OWNER_PREFIX,
    SHUTDOWN,
    CreateSpec,
    EngineConfig,
    Watcher,
)
from asyncwf.server.store._rows import request_digest
from asyncwf.server.store._store import JobFilter, NewJob

__all__ = ["LOCAL_OWNER_PREFIX", "SHUTDOWN", "CreateSpec", "EngineConfig", "JobEngine", "Watcher"]

log = logging.getLogger("asyncwf.server")
#: How long after another replica's change notice its watched jobs are read (one query for all of them).
REFRESH_DELAY = 0.002


class JobEngine(LeaseKeeping):
    """Creates, leases, watches and settles jobs."""

    async def start(self) -> None:
        """Recover leases left by a previous run and start the expiry sweeper.

        With several replicas, leases are recovered by the lease sweep instead: a job
        whose lease nobody renews is taken over once it expires.
        """
        if self._cluster is not None:
            await self._cluster.start()
        if self._shared_kinds is not None:
            self._shared_kinds.start()
        for job in await self.store.running_jobs() if self._cluster is None else ():
            if job.lease_owner.startswith(LOCAL_OWNER_PREFIX) or job.lease_owner == "":
                # The in-process executor died with the previous process.
                self._track_lease(job, None)
                await self._lease_lost(job.id, job.attempt, job.lease_owner, "EXECUTOR_LOST")
            else:
                # A remote executor may still be working: give it one lease period to heartbeat.
                self._track_lease(job, self.config.lease_seconds)
        self._sweeper = asyncio.create_task(self._sweep_expired(), name="asyncwf-expiry-sweeper")
        self._signal_work()

    async def stop(self) -> None:
        """End every watch stream (clients reconnect elsewhere) and stop timers."""
        self._closing = True
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(SHUTDOWN)
        self._lease_deadlines.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if self._cluster is not None:
            await self._cluster.stop()
        if self._shared_kinds is not None:
            await self._shared_kinds.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def remote_change(self, job_id: str, version: int, state: int) -> None:
        """A job changed (on any replica, this one included): wake claims, refresh caches and watchers."""
        if state == JobState.QUEUED.value:
            self._signal_work()
        cached = self._active.get(job_id)
        if cached is not None and cached.version < version:
            del self._active[job_id]
        if state == JobState.CANCELLED.value and job_id in self._leases:
            lease = self._drop_lease(job_id)
            if lease is not None and (notify := self._executors.get(lease.owner)) is not None:
                notify(job_id)
        if job_id in self._watchers and version > self._seen.get(job_id, 0):
            self._stale[job_id] = max(version, self._stale.get(job_id, 0))
            if not self._refreshing:
                self._refreshing = True
                self._spawn(self._refresh_stale())

    async def _refresh_stale(self) -> None:
        """Publish to this replica's watchers the versions other replicas made, read in one query per round.

        A round starts :data:`REFRESH_DELAY` after the first notice: the notice of a change this replica made
        itself often arrives before the change's own result, which publishes it; those are not read again.
        """
        try:
            while self._stale and not self._closing:
                await asyncio.sleep(REFRESH_DELAY)
                stale, self._stale = self._stale, {}
                ids = [j for j, version in stale.items() if j in self._watchers and version > self._seen.get(j, 0)]
                if not ids:
                    continue
                try:
                    jobs = await self.store.get_jobs(ids)  # type: ignore[attr-defined]  # (a ClusterStore)
                except Exception as exc:  # the store is away: try again (the watchers wait for these versions)
                    log.warning("refreshing %d watched jobs failed: %s", len(ids), exc)
                    for job_id, version in stale.items():
                        self._stale[job_id] = max(version, self._stale.get(job_id, 0))
                    await asyncio.sleep(0.5)
                    continue
                for job in jobs:
                    if job.version > self._seen.get(job.id, 0):
                        self._publish(job)
        finally:
            self._refreshing = False

    def remote_logs(self, job_id: str, seq: int) -> None:
        """A log entry was stored (on any replica): publish what this replica's watchers have not seen."""
        if job_id not in self._watchers or seq <= self._seen_logs.get(job_id, 0):
            return
        if job_id in self._fetching_logs:
            self._fetching_logs[job_id] = True  # fetch again when the fetch under way ends
            return
        self._fetching_logs[job_id] = False
        self._spawn(self._fetch_logs(job_id))

    async def _fetch_logs(self, job_id: str) -> None:
        try:
            while True:
                for record in await self.store.get_logs(job_id, self._seen_logs.get(job_id, 0)):
                    self._publish(record)
                if not self._fetching_logs.get(job_id):
                    return
                self._fetching_logs[job_id] = False
        finally:
            self._fetching_logs.pop(job_id, None)

    def remote_progress(self, job_id: str) -> None:
        """Progress was stored by another replica: send it to this replica's watchers of the job."""
        if job_id in self._watchers and job_id not in self._leases:  # a local executor's progress is pushed
            self._spawn(self._fetch_progress(job_id))

    async def _fetch_progress(self, job_id: str) -> None:
        job = await self.store.get_job(job_id)
        if job is not None and not job.done:
            self._publish(ProgressUpdate(job_id=job_id, version=0, progress=job.progress))

    async def take_over_expired(self, job: JobInfo) -> None:
        """Requeue (or fail, on its last attempt) a job whose lease expired on another replica."""
        if job.id in self._leases:
            return  # its executor reports here; the renewal keeps it
        ttl = job.result_ttl_seconds or self.config.result_ttl_seconds
        await self._requeue_or_fail(job.id, job.attempt, job.lease_owner, job.max_attempts, ttl, "LEASE_EXPIRED")

    async def create(self, spec: CreateSpec, identity: str | None = None) -> tuple[JobInfo, bool]:
        """Queue a job; a retry with the same idempotency key returns the first one."""
        return await self._insert(spec, identity, new_id())

    def _prepare(self, spec: CreateSpec, identity: str | None, job_id: str) -> _Prepared:
        """A new job's first snapshot, ready to insert: answered inline or leased directly when it can be."""
        spec = self._validate(spec)
        now = _now()
        job = JobInfo(
            id=job_id,
            kind=spec.kind,
            state=JobState.QUEUED,
            version=1,
            payload=spec.payload,
            content_type=spec.content_type,
            idempotency_key=spec.idempotency_key,
            labels=dict(spec.labels),
            owner=identity or "",
            max_attempts=spec.max_attempts or self.config.default_max_attempts,
            priority=spec.priority,
            timeout_seconds=spec.timeout_seconds or None,
            result_ttl_seconds=spec.result_ttl_seconds or None,
            created_at=now,
            updated_at=now,
            cache_key=spec.cache_key,
        )
        digest = request_digest(
            spec.kind, spec.payload, spec.content_type, repr(sorted(spec.labels.items())), str(job.max_attempts)
        )
        # The cache lookup travels with the insert; the copy is taken before the changes below.
        from_cache = functools.partial(_cache_hit, job.replace(), now) if spec.cache_key else None
        if (output := self._answer_inline(spec.kind, job_id, spec.payload)) is not None:
            # Answered as it is created (a small graft): stored finished, in one write, like a cache hit.
            # Set in place: no one else has seen this snapshot yet.
            job.state, job.attempt, job.started_at, job.finished_at = JobState.SUCCEEDED, 1, now, now
            job.expires_at = self._expiry(job, now)
            job.result_inline, job.result_size = output.data, len(output.data)
            job.result_content_type = output.content_type
        direct = self._reserve_direct(spec.kind) if job.state is JobState.QUEUED else None
        if direct is not None:
            # Direct dispatch: a slot is free, so the job is stored already leased (one write, not two).
            # Set in place: no one else has seen this snapshot yet (a copy costs ~7 us).
            job.state, job.attempt, job.lease_owner, job.started_at = JobState.RUNNING, 1, direct.executor_id, now
            job.lease_expires_at = self._db_lease_expiry(now, direct.lease_seconds)
        return _Prepared(NewJob(job, digest, from_cache), direct)

    def _inserted(self, prepared: _Prepared, stored: JobInfo, created: bool) -> tuple[JobInfo, bool]:
        """Publish a job the store has just inserted, and hand it to its executor or to the queue."""
        direct = prepared.direct
        if direct is not None and (not created or stored.cached_from):
            prepared.release()  # an existing job, or a cache hit: nothing to run
            direct = None
        if not created:
            return stored, created
        self._publish(stored)
        if direct is not None:
            self._track_lease(stored, direct.lease_seconds)
            direct.accept(stored)
        elif stored.state is JobState.QUEUED:
            self._signal_work()
        else:
            self._wake_sweeper(stored.expires_at)
        return stored, created

    async def _insert(self, spec: CreateSpec, identity: str | None, job_id: str) -> tuple[JobInfo, bool]:
        if spec.require_executor and (unserved := await self.unserved((self._validate(spec).kind,))):
            raise unserved[spec.kind]
        prepared = self._prepare(spec, identity, job_id)
        new = prepared.new
        try:
            stored, created = await self.store.insert_job(new.job, new.request_digest, from_cache=new.from_cache)
        except BaseException:
            prepared.release()
            raise
        return self._inserted(prepared, stored, created)

    async def create_and_watch(
        self, spec: CreateSpec, identity: str | None = None, *, include_logs: bool = False
    ) -> AsyncIterator[JobEvent]:
        """Create a job and watch it in one go: nothing that happens in between is missed."""
        job_id = new_id()
        with self._subscription(job_id) as queue:
            job, created = await self._insert(spec, identity, job_id)
            if created:
                # A job made just now has no stored log entries yet: any it gets come through the queue.
                async for event in self._watch_events(job, queue, include_logs, 0, stored_logs=False):
                    yield event
                return
        async for event in self.watch(job.id, include_logs=include_logs, identity=identity):
            yield event

    async def get(self, job_id: str, identity: str | None = None) -> JobInfo:
        """The job's snapshot (:class:`~asyncwf.exceptions.NotFound`, or PermissionDenied for another identity's)."""
        return await self._get(job_id, identity)

    async def list_jobs(self, flt: JobFilter, *, limit: int = 0, page_size: int = 500) -> AsyncIterator[JobInfo]:
        """Stream matching jobs in creation order, a page at a time."""
        after: tuple[float, str] | None = None
        sent = 0
        while True:
            want = page_size if not limit else min(page_size, limit - sent)
            page = await self.store.list_jobs(flt, after=after, limit=want)
            for job in page:
                yield job
            sent += len(page)
            if len(page) < want or (limit and sent >= limit):
                return
            last = page[-1]
            after = (last.created_at.timestamp() if last.created_at else 0.0, last.id)

    async def cancel(self, job_id: str, reason: str = "", identity: str | None = None) -> JobInfo:
        """Cancel a queued or running job; cancelling a finished job changes nothing."""
        job = await self._get(job_id, identity)
        while not job.done:
            now = _now()
            changes = {
                "state": JobState.CANCELLED,
                "error": JobFailure("CANCELLED", reason or "cancelled by request"),
                "finished_at": now,
                "updated_at": now,
                "expires_at": self._expiry(job, now),
                "lease_expires_at": None,
            }
            new = await self.store.update_job(job_id, changes, expect_states=(job.state,), expect_attempt=job.attempt)
            if new is not None:
                lease = self._drop_lease(job_id)
                if lease is not None and (notify := self._executors.get(lease.owner)) is not None:
                    notify(job_id)
                self._publish(new)
                self._wake_sweeper(new.expires_at)
                return new
            job = await self._get(job_id, identity)
        return job

    async def create_subscribed(
        self, spec: CreateSpec, watcher: Watcher, job_id: str, identity: str | None = None
    ) -> tuple[JobInfo, bool]:
        """Create job ``job_id`` (a fresh :func:`new_id`) with ``watcher`` subscribed to it first, so it
        misses nothing; it gets the first snapshot too. When an existing job is returned (``created``
        False) or creating fails, the watcher is unsubscribed again; else the caller unsubscribes it."""
        [outcome] = await self.create_many_subscribed([(spec, watcher, job_id)], identity)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def create_many_subscribed(
        self, requests: Sequence[tuple[CreateSpec, Watcher, str]], identity: str | None = None
    ) -> list[tuple[JobInfo, bool] | Exception]:
        """:meth:`create_subscribed` of each ``(spec, watcher, job id)``, inserted in one trip to the
        store: each ``(job, created)``, or the error that request alone met, in order."""
        outcomes: list[tuple[JobInfo, bool] | Exception] = []
        prepared: list[tuple[int, _Prepared]] = []
        unserved = await self.unserved({s.kind for s, _, _ in requests if s.require_executor and valid_kind(s.kind)})
        for index, (spec, watcher, job_id) in enumerate(requests):
            try:
                ready = self._prepare(spec, identity, job_id)  # invalid requests fail here first
                if spec.require_executor and spec.kind in unserved:
                    ready.release()
                    raise unserved[spec.kind]
                prepared.append((index, ready))
            except Exception as exc:  # an invalid request
                outcomes.append(exc)
                continue
            outcomes.append(_NOT_YET)
            self.subscribe(job_id, watcher)
        try:
            stored = await self.store.insert_jobs([p.new for _, p in prepared])
        except BaseException:
            for index, p in prepared:
                p.release()
                self.unsubscribe(requests[index][2], requests[index][1])
            raise
        for (index, p), outcome in zip(prepared, stored, strict=True):
            _, watcher, job_id = requests[index]
            if isinstance(outcome, Exception):
                p.release()
                self.unsubscribe(job_id, watcher)
                outcomes[index] = outcome
                continue
            job, created = outcomes[index] = self._inserted(p, *outcome)
            if created:
                watcher.put_nowait(job)  # usually published already: the watcher skips versions it has seen
            else:
                self.unsubscribe(job_id, watcher)
        return outcomes
