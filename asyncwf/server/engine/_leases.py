"""What executors do to jobs: claim them, hold and renew leases, report progress and logs, settle them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Sequence
from typing import Any

from asyncwf._model import JobFailure, JobInfo, JobState, LogRecord, Progress, ProgressUpdate
from asyncwf.exceptions import Conflict
from asyncwf.server.engine._state import (
    _NOT_YET,
    LOST_LEASE_RETRY_SECONDS,
    Completion,
    EngineState,
    _Lease,
    _now,
    _result_key,
    _succeeded,
    check_content_type,
    log,
)
from asyncwf.server.store._store import JobUpdate, one_by_one

__all__ = ["LeaseKeeping"]


class LeaseKeeping(EngineState):
    """Executor operations: leases, heartbeats, progress, logs, completion and failure."""

    def held_leases(self) -> Collection[str]:
        """Jobs whose executors report to this replica (their leases are renewed in the store)."""
        return self._leases.keys()

    def _db_lease_expiry(self, now: dt.datetime, lease_seconds: float | None) -> dt.datetime | None:
        """The lease expiry written to the store: with replicas, every lease expires unless renewed."""
        if lease_seconds is not None:
            return now + dt.timedelta(seconds=lease_seconds)
        return None if self._cluster is None else self._cluster.lease_expiry(now)

    def register_executor(self, executor_id: str, on_cancel: Callable[[str], None]) -> None:
        """Tell the engine how to reach an executor when one of its jobs is cancelled."""
        self._executors[executor_id] = on_cancel

    def unregister_executor(self, executor_id: str) -> None:
        self._executors.pop(executor_id, None)

    async def claim(
        self, kinds: Collection[str], limit: int, executor_id: str, lease_seconds: float | None
    ) -> list[JobInfo]:
        """Lease up to ``limit`` queued jobs; ``lease_seconds=None`` means no expiry (in-process)."""
        if limit <= 0 or not kinds or self._closing:
            return []
        now = _now()
        jobs = await self.store.claim_jobs(kinds, limit, executor_id, self._db_lease_expiry(now, lease_seconds), now)
        for job in jobs:
            self._track_lease(job, lease_seconds)
            self._publish(job)
        return jobs

    def _track_lease(self, job: JobInfo, lease_seconds: float | None) -> None:
        started = job.started_at.timestamp() if job.started_at else time.time()
        ttl = job.result_ttl_seconds or self.config.result_ttl_seconds
        lease = _Lease(job.attempt, job.lease_owner, job.max_attempts, started, ttl, lease_seconds is not None)
        self._leases[job.id] = lease
        if lease_seconds is not None:
            self._lease_deadlines.set(job.id, lease_seconds)
        else:
            self._lease_deadlines.discard(job.id)

    def _lease_lapsed(self, job_id: str) -> None:
        lease = self._leases.get(job_id)
        if lease is not None:
            self._spawn(self._lease_lost(job_id, lease.attempt, lease.owner, "LEASE_EXPIRED"))

    def _drop_lease(self, job_id: str) -> _Lease | None:
        lease = self._leases.pop(job_id, None)
        if lease is not None and lease.lapses:
            self._lease_deadlines.discard(job_id)
        return lease

    def _check_lease(self, job_id: str, executor_id: str, attempt: int) -> _Lease | None:
        lease = self._leases.get(job_id)
        if lease is None or lease.owner != executor_id or lease.attempt != attempt:
            return None
        return lease

    async def give_up_lease(self, job_id: str, executor_id: str, attempt: int, code: str) -> None:
        """An executor that cannot settle a job gives its lease back: the job runs again, or fails with
        ``code`` on its last attempt (as when a lease expires)."""
        await self._lease_lost(job_id, attempt, executor_id, code)

    async def _lease_lost(self, job_id: str, attempt: int, owner: str, code: str) -> None:
        lease = self._check_lease(job_id, owner, attempt)
        if lease is None:
            return
        self._drop_lease(job_id)
        try:
            await self._requeue_or_fail(job_id, attempt, owner, lease.max_attempts, lease.ttl, code)
        except Exception:
            # The store refused (a full disk ...): keep the lease, lapsing soon, so this is tried again.
            log.warning("job %s: could not requeue or fail it (%s); trying again", job_id, code, exc_info=True)
            self._leases[job_id] = dataclasses.replace(lease, lapses=True)
            self._lease_deadlines.set(job_id, LOST_LEASE_RETRY_SECONDS)

    async def _requeue_or_fail(
        self, job_id: str, attempt: int, owner: str, max_attempts: int, ttl: float, code: str
    ) -> None:
        """Requeue a job whose executor was lost, or fail it on its last attempt (if nothing changed it since)."""
        now = _now()
        if attempt >= max_attempts:
            message = f"the executor stopped reporting ({code}) on attempt {attempt} of {max_attempts}"
            changes: dict[str, Any] = {
                "state": JobState.FAILED,
                "error": JobFailure(code, message),
                "finished_at": now,
                "expires_at": now + dt.timedelta(seconds=ttl),
            }
        else:
            changes = {"state": JobState.QUEUED}  # (it keeps its last holder: see _late_lease)
            log.info("job %s: %s on attempt %d, requeued", job_id, code, attempt)
        changes.update(updated_at=now, lease_expires_at=None)
        new = await self.store.update_job(
            job_id, changes, expect_states=(JobState.RUNNING,), expect_attempt=attempt, expect_owner=owner
        )
        if new is not None:
            self._publish(new)
            if new.state is JobState.QUEUED:
                self._signal_work()
            else:
                self._wake_sweeper(new.expires_at)

    async def heartbeat(
        self, job_id: str, executor_id: str, attempt: int, lease_seconds: float | None = None
    ) -> tuple[dt.datetime | None, bool]:
        """Extend a lease; returns ``(new expiry, cancelled)``."""
        lease = self._check_lease(job_id, executor_id, attempt)
        if lease is None:
            job = await self._get(job_id, None)
            if job.state is JobState.CANCELLED:
                return None, True
            raise Conflict(f"the lease on job {job_id!r} (attempt {attempt}) is no longer held by {executor_id!r}")
        seconds = lease_seconds or self.config.lease_seconds
        if lease.lapses:
            self._lease_deadlines.set(job_id, seconds)
        return _now() + dt.timedelta(seconds=seconds), False

    def report_progress(self, job_id: str, steps_done: int, steps_total: int, message: str = "") -> None:
        """Publish progress now and persist it with the next write batch."""
        lease = self._leases.get(job_id)
        if lease is None:
            return
        steps_done = min(steps_done, steps_total) if steps_total else steps_done
        percent = 100.0 * steps_done / steps_total if steps_total else 0.0
        eta = None
        if steps_total and steps_done:
            elapsed = max(time.time() - lease.started, 0.0)
            eta = elapsed * (steps_total - steps_done) / steps_done
        progress = Progress(steps_done, steps_total, percent, eta, message)
        self._publish(ProgressUpdate(job_id=job_id, version=0, progress=progress))
        self.store.record_progress(job_id, progress)

    def append_logs_soon(self, job_id: str, entries: Collection[tuple[str, str, str, dt.datetime]]) -> None:
        """Store log entries in the background; settling the job waits for them."""
        task = asyncio.create_task(self.append_logs(job_id, entries))
        pending = self._log_writes.setdefault(job_id, set())
        pending.add(task)

        def done(t: asyncio.Task[None]) -> None:
            pending.discard(t)
            if not pending and self._log_writes.get(job_id) is pending:
                del self._log_writes[job_id]

        task.add_done_callback(done)

    async def _flush_logs(self, job_id: str) -> None:
        pending = self._log_writes.get(job_id)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def append_logs(self, job_id: str, entries: Collection[tuple[str, str, str, dt.datetime]]) -> None:
        """Store ``(level, message, logger, timestamp)`` entries and push them to watchers."""
        if not entries:
            return
        records = [LogRecord(job_id, 0, ts, level, message, logger) for level, message, logger, ts in entries]
        for record in await self.store.append_logs(records):
            self._publish(record)

    async def complete(
        self,
        job_id: str,
        executor_id: str,
        attempt: int,
        data: bytes | AsyncIterable[bytes],
        content_type: str = "",
    ) -> JobInfo:
        """Settle a job as SUCCEEDED with its result. Completing twice is harmless."""
        check_content_type(content_type)
        lease, state = self._check_lease(job_id, executor_id, attempt), JobState.RUNNING
        if lease is None:
            lease, state = await self._late_lease(job_id, executor_id, attempt), JobState.QUEUED
            if lease is None:
                return await self._settled(job_id, executor_id, attempt)
        await self._flush_logs(job_id)
        inline, stored, size = await self._store_result(job_id, data)
        job = await self.store.update_job(
            job_id,
            _succeeded(lease, inline, stored, size, content_type, _now()),
            expect_states=(state,),
            expect_attempt=attempt,
            expect_owner=executor_id,
            known=self._known(job_id) if state is JobState.RUNNING else None,
        )
        if job is None:
            if stored:
                await self.blobs.delete(_result_key(job_id))
            return await self._settled(job_id, executor_id, attempt)
        self._finish(job)
        return job

    async def complete_many(self, completions: Sequence[Completion]) -> list[JobInfo | Exception]:
        """:meth:`complete` of several jobs with small results, their updates in one trip to the store:
        each job's snapshot, or the error its completion alone met, in order."""
        outcomes: list[JobInfo | Exception] = [_NOT_YET] * len(completions)
        now = _now()
        together: list[tuple[int, JobUpdate]] = []
        for index, (job_id, executor_id, attempt, data, content_type) in enumerate(completions):
            lease = self._check_lease(job_id, executor_id, attempt)
            if lease is None or job_id in self._log_writes or len(data) > self.config.inline_result_bytes:
                continue  # (settled, logs still being written, or a result for the blob store: one by one)
            if len(content_type) > 256 or not content_type.isascii() or not content_type.isprintable():
                continue  # (refused one by one, with its own error)
            changes = _succeeded(lease, bytes(data), False, len(data), content_type, now)
            update = JobUpdate(job_id, changes, (JobState.RUNNING,), attempt, executor_id, self._known(job_id))
            together.append((index, update))
        updated = await self.store.update_jobs([update for _, update in together]) if together else []
        for (index, _), outcome in zip(together, updated, strict=True):
            if isinstance(outcome, JobInfo):
                self._finish(outcome)
            if outcome is not None:
                outcomes[index] = outcome
        rest = [index for index, outcome in enumerate(outcomes) if outcome is _NOT_YET]
        for index, result in zip(rest, await one_by_one(lambda i: self.complete(*completions[i]), rest), strict=True):
            outcomes[index] = result
        return outcomes

    async def fail(
        self, job_id: str, executor_id: str, attempt: int, error: JobFailure, *, retry: bool = False
    ) -> JobInfo:
        """Settle a job as FAILED, or requeue it when ``retry`` and attempts remain."""
        lease = self._check_lease(job_id, executor_id, attempt)
        if lease is None:
            return await self._settled(job_id, executor_id, attempt)
        await self._flush_logs(job_id)
        now = _now()
        if retry and attempt < lease.max_attempts:
            changes: dict[str, Any] = {"state": JobState.QUEUED, "lease_owner": "", "error": error}
        else:
            changes = {
                "state": JobState.FAILED,
                "error": error,
                "finished_at": now,
                "expires_at": now + dt.timedelta(seconds=lease.ttl),
            }
        changes.update(updated_at=now, lease_expires_at=None)
        job = await self.store.update_job(
            job_id, changes, expect_states=(JobState.RUNNING,), expect_attempt=attempt, expect_owner=executor_id
        )
        if job is None:
            return await self._settled(job_id, executor_id, attempt)
        if job.state is JobState.QUEUED:
            self._drop_lease(job_id)
            self._publish(job)
            self._signal_work()
            return job
        self._finish(job)
        return job

    async def _late_lease(self, job_id: str, executor_id: str, attempt: int) -> _Lease | None:
        """The lease of a job requeued when its lease lapsed, while no one has taken it since: its holder's
        late result is still welcome (a requeued job keeps its last holder until it is leased again)."""
        job = await self._get(job_id, None)
        if job.state is not JobState.QUEUED or job.attempt != attempt or job.lease_owner != executor_id:
            return None
        started = job.started_at.timestamp() if job.started_at else time.time()
        ttl = job.result_ttl_seconds or self.config.result_ttl_seconds
        return _Lease(job.attempt, executor_id, job.max_attempts, started, ttl)

    async def _settled(self, job_id: str, executor_id: str, attempt: int) -> JobInfo:
        """Answer a settle call whose lease is gone: harmless if the job already ended."""
        job = await self._get(job_id, None)
        if job.done:
            return job
        raise Conflict(f"the lease on job {job_id!r} (attempt {attempt}) is no longer held by {executor_id!r}")

    def _known(self, job_id: str) -> JobInfo | None:
        """The job's latest snapshot, when this backend alone changes the store (then every change
        but progress was published here); a finishing update then reads back less."""
        return self._active.get(job_id) if self._cluster is None else None

    def _expiry(self, job: JobInfo, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(seconds=job.result_ttl_seconds or self.config.result_ttl_seconds)

    def _finish(self, job: JobInfo) -> None:
        self._drop_lease(job.id)
        self._publish(job)
        self._wake_sweeper(job.expires_at)

    async def _store_result(self, job_id: str, data: bytes | AsyncIterable[bytes]) -> tuple[bytes | None, bool, int]:
        limit = self.config.inline_result_bytes
        if isinstance(data, bytes | bytearray | memoryview):
            if len(data) <= limit:
                return bytes(data), False, len(data)
            return None, True, await self.blobs.put(_result_key(job_id), bytes(data))
        iterator = aiter(data)
        head = bytearray()
        async for chunk in iterator:
            head += chunk
            if len(head) > limit:
                break
        else:
            return bytes(head), False, len(head)

        async def rest() -> AsyncIterator[bytes]:
            yield bytes(head)
            async for chunk in iterator:
                yield chunk

        return None, True, await self.blobs.put(_result_key(job_id), rest())
