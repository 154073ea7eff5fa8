"""The job engine: one queue, leases, watches, progress, logs and results.

Compute jobs, service questions and task-script jobs all run through it.
State lives in a :class:`~asyncwf.server.Store`; result bytes above the inline
limit live in a :class:`~asyncwf.server.BlobStore`. Every change is committed
first and then pushed to watchers; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import math
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterator, Sequence
from typing import Any

from asyncwf._context import JobOutput
from asyncwf._deadlines import Deadlines
from asyncwf._ids import new_id
from asyncwf._model import JobEvent, JobFailure, JobInfo, JobState, LogRecord, Progress, ProgressUpdate
from asyncwf.exceptions import Conflict, InvalidArgument, NotFound, PermissionDenied, Unavailable
from asyncwf.server._blobs import BlobStore
from asyncwf.server._cluster import ClusterLink, is_cluster_store
from asyncwf.server._engine_types import (
    LOCAL_OWNER_PREFIX,
    SHUTDOWN,
    CreateSpec,
    DirectExecutor,
    EngineConfig,
    InProcessExecutor,
    Watcher,
)
from asyncwf.server._rows import request_digest
from asyncwf.server._store import JobFilter, JobUpdate, NewJob, Store, one_by_one

__all__ = ["LOCAL_OWNER_PREFIX", "SHUTDOWN", "CreateSpec", "EngineConfig", "JobEngine", "Watcher"]

log = logging.getLogger("asyncwf.server")
UTC = dt.UTC
_KIND = re.compile(r"^[A-Za-z0-9_.:/@+-]{1,200}$")
_ACTIVE = (JobState.QUEUED, JobState.RUNNING)


#: How soon a lost lease whose job could not be requeued (the store refused) is tried again.
LOST_LEASE_RETRY_SECONDS = 2.0


@dataclasses.dataclass(slots=True)
class _Lease:
    attempt: int
    owner: str
    max_attempts: int
    started: float
    #: Seconds the result is kept once the job ends.
    ttl: float
    #: The lease lapses unless renewed (a remote executor's); the in-process executor's never does.
    lapses: bool = False


@dataclasses.dataclass(slots=True)
class _Prepared:
    """A new job ready to insert, and the executor slot reserved for it (if it is dispatched directly)."""

    new: NewJob
    direct: DirectExecutor | None

    def release(self) -> None:
        """Give the reserved slot back (the job was not inserted, or has nothing to run)."""
        if self.direct is not None:
            self.direct.release()
            self.direct = None


#: A placeholder for outcomes still to come.
_NOT_YET: Any = object()


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


#: A small result to settle: ``(job id, executor id, attempt, data, content type)``.
Completion = tuple[str, str, int, bytes, str]


def check_content_type(content_type: str) -> None:
    """A content type travels in HTTP headers: printable ASCII only, at most 256 characters."""
    if len(content_type) > 256 or not all(" " <= c <= "~" for c in content_type):
        raise InvalidArgument(f"a content type is up to 256 printable ASCII characters, not {content_type[:64]!r}")


def _succeeded(
    lease: _Lease, inline: bytes | None, stored: bool, size: int, content_type: str, now: dt.datetime
) -> dict[str, Any]:
    """The changes that settle a job as SUCCEEDED."""
    return {
        "state": JobState.SUCCEEDED, "result_inline": inline, "result_stored": stored, "result_size": size,
        "result_content_type": content_type, "finished_at": now, "updated_at": now, "lease_expires_at": None,
        "expires_at": now + dt.timedelta(seconds=lease.ttl),
    }  # fmt: skip


def _cache_hit(new: JobInfo, now: dt.datetime, cached: JobInfo) -> JobInfo:
    """Content-addressed result cache: ``new`` answered at once with ``cached``'s stored result."""
    return new.replace(
        state=JobState.SUCCEEDED, cached_from=cached.id, started_at=now, finished_at=now,
        expires_at=cached.expires_at, result_inline=cached.result_inline, result_stored=cached.result_stored,
        result_size=cached.result_size, result_content_type=cached.result_content_type,
        result_blob=_result_key(cached) if cached.result_stored else "", progress=cached.progress,
    )  # fmt: skip


class JobEngine:
    """Creates, leases, watches and settles jobs."""

    def __init__(self, store: Store, blobs: BlobStore, config: EngineConfig | None = None) -> None:
        self.store = store
        self.blobs = blobs
        self.config = config or EngineConfig()
        self._watchers: dict[str, set[Watcher]] = {}
        self._leases: dict[str, _Lease] = {}
        #: When each lapsing lease lapses.
        self._lease_deadlines: Deadlines[str] = Deadlines(self._lease_lapsed)
        self._executors: dict[str, Callable[[str], None]] = {}
        self._work = asyncio.Event()
        self._expiry_wakeup = asyncio.Event()
        self._sweep_at = -math.inf
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        self._direct: InProcessExecutor | None = None
        #: Remote executors' lease streams, tried after the in-process executor.
        self._remote_direct: list[DirectExecutor] = []
        #: Log writes under way per job; a job is settled only after its logs are stored.
        self._log_writes: dict[str, set[asyncio.Task[None]]] = {}
        #: Latest snapshot of every queued or running job (trusted only when the store is this process's alone).
        self._active: dict[str, JobInfo] = {}
        #: Several replicas share the store (PostgreSQL): see :mod:`asyncwf.server._cluster`.
        self._cluster: ClusterLink | None = ClusterLink(self, store) if is_cluster_store(store) else None  # type: ignore[arg-type]
        #: The newest version and log entry published to this replica's watchers, per watched job.
        self._seen: dict[str, int] = {}
        self._seen_logs: dict[str, int] = {}
        self._fetching_logs: dict[str, bool] = {}

    # --- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Recover leases left by a previous run and start the expiry sweeper.

        With several replicas, leases are recovered by the lease sweep instead: a job
        whose lease nobody renews is taken over once it expires.
        """
        if self._cluster is not None:
            await self._cluster.start()
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
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- helpers -----------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def set_direct_executor(self, executor: InProcessExecutor | None) -> None:
        """Let ``executor`` take new jobs of its kinds without a claim round trip."""
        self._direct = executor

    def add_remote_executor(self, executor: DirectExecutor) -> None:
        """A remote executor's lease stream may take new jobs at once too (after the in-process executor)."""
        self._remote_direct.append(executor)

    def remove_remote_executor(self, executor: DirectExecutor) -> None:
        with contextlib.suppress(ValueError):
            self._remote_direct.remove(executor)

    def _answer_inline(self, kind: str, job_id: str, payload: bytes) -> JobOutput | None:
        """The in-process executor's inline answer for a new job, if it has one small enough to keep inline."""
        output = None if self._direct is None else self._direct.answer_inline(kind, job_id, payload)
        return output if output is not None and len(output.data) <= self.config.inline_result_bytes else None

    def _reserve_direct(self, kind: str) -> DirectExecutor | None:
        if self._direct is not None and self._direct.try_reserve(kind):
            return self._direct
        for executor in self._remote_direct:
            if executor.try_reserve(kind):
                return executor
        return None

    def _publish(self, event: JobEvent) -> None:
        if isinstance(event, JobInfo):
            job_id = event.id
            if event.done:
                self._active.pop(job_id, None)
            else:
                self._active[job_id] = event
        else:
            job_id = event.job_id
        queues = self._watchers.get(job_id, ())
        if queues and isinstance(event, JobInfo):
            self._seen[job_id] = max(self._seen.get(job_id, 0), event.version)
        elif queues and isinstance(event, LogRecord):
            self._seen_logs[job_id] = max(self._seen_logs.get(job_id, 0), event.seq)
        for queue in queues:
            queue.put_nowait(event)

    # --- several replicas ----------------------------------------------------

    def held_leases(self) -> Collection[str]:
        """Jobs whose executors report to this replica (their leases are renewed in the store)."""
        return self._leases.keys()

    def _db_lease_expiry(self, now: dt.datetime, lease_seconds: float | None) -> dt.datetime | None:
        """The lease expiry written to the store: with replicas, every lease expires unless renewed."""
        if lease_seconds is not None:
            return now + dt.timedelta(seconds=lease_seconds)
        return None if self._cluster is None else self._cluster.lease_expiry(now)

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
            self._spawn(self._refresh(job_id))

    async def _refresh(self, job_id: str) -> None:
        job = await self.store.get_job(job_id)
        if job is not None and job.version > self._seen.get(job_id, 0):
            self._publish(job)

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

    def _signal_work(self) -> None:
        self._work.set()
        self._work = asyncio.Event()

    @property
    def work_event(self) -> asyncio.Event:
        """Set when new work may be available; take it *before* claiming."""
        return self._work

    def stats(self) -> dict[str, int]:
        """Live per-job state held in memory (for leak checks)."""
        return {
            "watched_jobs": len(self._watchers),
            "leases": len(self._leases),
            "tasks": len(self._tasks),
            "active_jobs": len(self._active),
            "log_writes": len(self._log_writes),
        }

    async def _get(self, job_id: str, identity: str | None) -> JobInfo:
        if not job_id:
            raise InvalidArgument("job id is required")
        cached = self._active.get(job_id) if self._cluster is None else None
        job = cached or await self.store.get_job(job_id)
        if job is None:
            raise NotFound(f"job {job_id!r} does not exist")
        if identity is not None and job.owner != identity:
            raise PermissionDenied(f"job {job_id!r} belongs to another identity")
        return job

    def _validate(self, spec: CreateSpec) -> CreateSpec:
        cfg = self.config
        if not _KIND.match(spec.kind):
            raise InvalidArgument(f"invalid job kind {spec.kind!r}: 1-200 characters of letters, digits and _.:/@+-")
        if len(spec.payload) > cfg.max_payload_bytes:
            raise InvalidArgument(f"payload of {len(spec.payload)} bytes exceeds the limit of {cfg.max_payload_bytes}")
        if len(spec.labels) > cfg.max_labels or any(len(k) > 128 or len(v) > 1024 for k, v in spec.labels.items()):
            raise InvalidArgument(f"at most {cfg.max_labels} labels, keys up to 128 and values up to 1024 characters")
        if len(spec.idempotency_key) > 256 or len(spec.content_type) > 256 or len(spec.cache_key) > 256:
            raise InvalidArgument("idempotency key, cache key and content type are limited to 256 characters")
        check_content_type(spec.content_type)
        if not 0 <= spec.max_attempts <= 100:
            raise InvalidArgument("max_attempts must be between 1 and 100")
        for name in ("timeout_seconds", "result_ttl_seconds"):
            value = getattr(spec, name)
            if not 0 <= value < 10**9:
                raise InvalidArgument(f"{name} must be a non-negative number of seconds")
        return spec

    # --- client operations -------------------------------------------------

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

    async def watch(
        self, job_id: str, *, include_logs: bool = False, after_version: int = 0, identity: str | None = None
    ) -> AsyncIterator[JobEvent]:
        """Yield the current snapshot, then every change until the job is done."""
        with self._subscription(job_id) as queue:
            job = await self._get(job_id, identity)
            async for event in self._watch_events(job, queue, include_logs, after_version):
                yield event

    @contextlib.contextmanager
    def _subscription(self, job_id: str) -> Iterator[asyncio.Queue[Any]]:
        """Receive every event of ``job_id`` published while inside the block."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.subscribe(job_id, queue)
        try:
            yield queue
        finally:
            self.unsubscribe(job_id, queue)

    def subscribe(self, job_id: str, watcher: Watcher) -> None:
        """Hand every event of ``job_id`` published from now on to ``watcher.put_nowait`` (at shutdown, the
        ``SHUTDOWN`` marker), until :meth:`unsubscribe`. For callers that react to events without a task."""
        if self._closing:
            raise Unavailable("the backend is shutting down")
        self._watchers.setdefault(job_id, set()).add(watcher)

    def unsubscribe(self, job_id: str, watcher: Watcher) -> None:
        watchers = self._watchers.get(job_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[job_id]
                self._seen.pop(job_id, None)
                self._seen_logs.pop(job_id, None)

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
        for index, (spec, watcher, job_id) in enumerate(requests):
            try:
                prepared.append((index, self._prepare(spec, identity, job_id)))
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

    async def _watch_events(
        self, job: JobInfo, queue: asyncio.Queue[Any], include_logs: bool, after_version: int,
        *, stored_logs: bool = True,
    ) -> AsyncIterator[JobEvent]:  # fmt: skip
        version = after_version
        if job.version > version or job.done:
            # A finished job is always sent, so every watch ends on a final snapshot.
            version = job.version
            yield job
        log_seq = 0
        if include_logs and stored_logs:
            for record in await self.store.get_logs(job.id):
                log_seq = record.seq
                yield record
        if job.done:
            return
        while True:
            event = await queue.get()
            if event is SHUTDOWN:
                raise Unavailable("the backend is shutting down; watch again to resume")
            if isinstance(event, JobInfo):
                if event.version <= version:
                    continue
                version = event.version
                yield event
                if event.done:
                    return
            elif isinstance(event, LogRecord):
                if include_logs and event.seq > log_seq:
                    log_seq = event.seq
                    yield event
            else:
                yield event

    async def result(self, job_id: str, identity: str | None = None) -> tuple[JobInfo, AsyncIterator[bytes]]:
        """The job and a stream of its result bytes."""
        job = await self._get(job_id, identity)
        if job.state is not JobState.SUCCEEDED:
            raise InvalidArgument(f"job {job_id!r} has no result: it is {job.state.name}")
        if not job.result_stored:
            return job, _once(job.result_inline or b"")
        return job, self.blobs.get(_result_key(job))

    # --- executor operations -----------------------------------------------

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
            changes = {"state": JobState.QUEUED, "lease_owner": ""}
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
        lease = self._check_lease(job_id, executor_id, attempt)
        if lease is None:
            return await self._settled(job_id, executor_id, attempt)
        await self._flush_logs(job_id)
        inline, stored, size = await self._store_result(job_id, data)
        job = await self.store.update_job(
            job_id,
            _succeeded(lease, inline, stored, size, content_type, _now()),
            expect_states=(JobState.RUNNING,),
            expect_attempt=attempt,
            expect_owner=executor_id,
            known=self._known(job_id),
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

    # --- expiry --------------------------------------------------------------

    def _wake_sweeper(self, expires_at: dt.datetime | None) -> None:
        """Wake the sweeper only if ``expires_at`` comes before its next planned run."""
        if expires_at is not None and expires_at.timestamp() < self._sweep_at:
            self._expiry_wakeup.set()

    async def _sweep_expired(self) -> None:
        while True:
            self._expiry_wakeup.clear()
            self._sweep_at = -math.inf  # any expiry met during this round wakes the next one
            await self.expire_due()
            nxt = await self.store.next_expiry()
            delay = 3600.0 if nxt is None else max((nxt - _now()).total_seconds(), 0.0)
            self._sweep_at = time.time() + delay
            try:
                await asyncio.wait_for(self._expiry_wakeup.wait(), timeout=min(delay, 3600.0) + 0.01)
            except TimeoutError:
                pass

    async def expire_due(self) -> int:
        """Expire results and purge old records whose time has come; returns how many changed."""
        now = _now()
        changed = 0
        for job in await self.store.expiring_jobs(now, 500):
            if job.state is JobState.EXPIRED:
                await self.store.delete_job(job.id)
            else:
                new = await self.store.update_job(
                    job.id,
                    {
                        "state": JobState.EXPIRED,
                        "result_inline": None,
                        "result_stored": False,
                        "payload": b"",
                        "updated_at": now,
                        "expires_at": now + dt.timedelta(seconds=self.config.purge_after_seconds),
                    },
                    expect_states=(job.state,),
                )
                if job.result_stored and not job.cached_from:
                    await self.blobs.delete(_result_key(job))
                if new is not None:
                    self._publish(new)
            changed += 1
        return changed


def _result_key(job: JobInfo | str) -> str:
    """The blob key of a job's stored result (a cached job points at the original's)."""
    if isinstance(job, JobInfo):
        return job.result_blob or f"results/{job.id}"
    return f"results/{job}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
