"""The job engine's state: its jobs, watchers and leases, publishing changes, and result expiry.

:class:`EngineState` holds what the engine knows and how changes reach
watchers; :class:`~asyncwf.server.engine._leases.LeaseKeeping` adds what
executors do; :class:`~asyncwf.server.engine._engine.JobEngine` what clients
and replicas do.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import Any

from asyncwf._clock import now as clock_now
from asyncwf._context import JobOutput
from asyncwf._deadlines import Deadlines
from asyncwf._model import JobEvent, JobInfo, JobState, LogRecord
from asyncwf.exceptions import InvalidArgument, NoExecutor, NotFound, PermissionDenied, Unavailable
from asyncwf.server.engine._cluster import ClusterLink, is_cluster_store
from asyncwf.server.engine._served import SharedServedKinds
from asyncwf.server.engine._types import (
    SHUTDOWN,
    CreateSpec,
    DirectExecutor,
    EngineConfig,
    InProcessExecutor,
    Watcher,
)
from asyncwf.server.store._blobs import BlobStore
from asyncwf.server.store._store import NewJob, Store

__all__ = ["EngineState", "check_content_type", "valid_kind"]

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


def valid_kind(kind: str) -> bool:
    """Whether ``kind`` is a well-formed job kind."""
    return _KIND.match(kind) is not None


_now = clock_now  # asyncwf's wall clock (moved by a test's SkippingClock)


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


class EngineState:
    """What the engine knows: jobs in flight, watchers, leases; publishing and expiry."""

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
        #: Several replicas share the store (PostgreSQL): see :mod:`asyncwf.server.engine._cluster`.
        self._cluster: ClusterLink | None = ClusterLink(self, store) if is_cluster_store(store) else None  # type: ignore[arg-type]
        #: The kinds other replicas' executors serve (see :mod:`asyncwf.server.engine._served`).
        self._shared_kinds = None if self._cluster is None else SharedServedKinds(store, self.kinds_served_here)
        #: Set (and replaced) when an executor connects: requests waiting for one of their kind look again.
        self._executor_added = asyncio.Event()
        #: The newest version and log entry published to this replica's watchers, per watched job.
        self._seen: dict[str, int] = {}
        #: Watched jobs another replica changed, and the newest version announced (see _refresh_stale).
        self._stale: dict[str, int] = {}
        self._refreshing = False
        self._seen_logs: dict[str, int] = {}
        self._fetching_logs: dict[str, bool] = {}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def set_direct_executor(self, executor: InProcessExecutor | None) -> None:
        """Let ``executor`` take new jobs of its kinds without a claim round trip."""
        self._direct = executor
        self._executors_changed()

    def add_remote_executor(self, executor: DirectExecutor) -> None:
        """A remote executor's lease stream may take new jobs at once too (after the in-process executor)."""
        self._remote_direct.append(executor)
        self._executors_changed()
        if self._shared_kinds is not None:
            self._shared_kinds.kinds_added(executor.served_kinds())

    def _executors_changed(self) -> None:
        """Wake the requests waiting for an executor of their kind (see :meth:`unserved`)."""
        changed, self._executor_added = self._executor_added, asyncio.Event()
        changed.set()

    def serves_here(self, kind: str) -> bool:
        """Whether an executor of this replica (in-process or connected) runs ``kind``."""
        if self._direct is not None and kind in self._direct.served_kinds():
            return True
        return any(kind in executor.served_kinds() for executor in self._remote_direct)

    def kinds_served_here(self) -> set[str]:
        """The kinds the executors of this replica run (the in-process one and the connected remote ones)."""
        kinds = set() if self._direct is None else set(self._direct.served_kinds())
        for executor in self._remote_direct:
            kinds.update(executor.served_kinds())
        return kinds

    async def unserved(self, kinds: Collection[str]) -> dict[str, NoExecutor]:
        """The error for each of ``kinds`` that no executor serves, here or (with several replicas) announced
        by another replica, after waiting up to ``unserved_grace_seconds`` for one to connect."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.unserved_grace_seconds
        missing = [kind for kind in kinds if not self.serves_here(kind)]
        while missing:
            if self._shared_kinds is not None:
                missing = [kind for kind in missing if not await self._shared_kinds.serves(kind)]
            left = deadline - loop.time()
            if not missing or left <= 0:
                break
            added = self._executor_added
            with contextlib.suppress(TimeoutError):  # looked at again at least every quarter second
                await asyncio.wait_for(added.wait(), min(left, 0.25))
            missing = [kind for kind in missing if not self.serves_here(kind)]
        return {kind: NoExecutor(
            f"no executor serves job kind {kind!r}: the backend runs its built-in kinds (asyncwf.*) and those of "
            "connected executors. Start one for it (a RemoteExecutor, 'asyncwf worker' or 'asyncwf serve-app'), "
            "or pass wait_for_executor=True to queue the job until one connects"
        ) for kind in missing}  # fmt: skip

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

    def _lease_lapsed(self, job_id: str) -> None:
        """A lapsing lease ran out (:class:`~asyncwf.server.engine._leases.LeaseKeeping` handles it)."""
        raise NotImplementedError


def _result_key(job: JobInfo | str) -> str:
    """The blob key of a job's stored result (a cached job points at the original's)."""
    if isinstance(job, JobInfo):
        return job.result_blob or f"results/{job.id}"
    return f"results/{job}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
