"""Run jobs outside the backend: lease them over gRPC, heartbeat, settle them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import anyio

from asyncwf._context import (
    JobContext,
    JobFunction,
    KindRegistry,
    call_on_loop,
    failure_from_exception,
    run_job_function,
)
from asyncwf._deadlines import Deadlines
from asyncwf._model import JobInfo, LogRecord, Progress, job_from_pb, log_to_pb, progress_to_pb
from asyncwf.client._client import Client
from asyncwf.client._errors import mapped_errors
from asyncwf.exceptions import ConfigurationError, Conflict, RPCError, RPCStatus, Unavailable, error_for_status
from asyncwf.v1 import jobs_pb2 as pb

__all__ = ["RemoteExecutor"]

log = logging.getLogger("asyncwf.executor")
UTC = dt.UTC
CHUNK = 1 << 20
#: Results up to this size settle over the lease stream, in batches; larger ones by a CompleteJob call.
SMALL_RESULT = 256 * 1024
#: Progress and log reports closer together than this travel in one heartbeat.
_COALESCE_SECONDS = 0.02


@dataclasses.dataclass(slots=True)
class _Running:
    job: JobInfo
    task: asyncio.Task[None] | None = None
    progress: Progress | None = None
    logs: list[LogRecord] = dataclasses.field(default_factory=list)
    #: Set when progress or logs wait to be sent.
    dirty: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    #: The job function returned: send what is pending once more, then stop heartbeating.
    finished: bool = False
    #: The heartbeat loop: started when the first heartbeat is due or something waits to be sent.
    heartbeat: asyncio.Task[None] | None = None
    #: Its slot was given back (with its completion: the function has returned).
    credited: bool = False
    #: When the lease ends (``time.monotonic()``), as the backend last said; settling is tried until then.
    lease_deadline: float = 0.0

    def extend(self, expires_at: dt.datetime | None) -> None:
        """Note the lease's expiry the backend gave (with the lease, or in a heartbeat's answer)."""
        if expires_at is not None:
            left = (expires_at - dt.datetime.now(dt.UTC)).total_seconds()
            self.lease_deadline = max(self.lease_deadline, time.monotonic() + left)


class _Reporter:
    """Buffers a job's progress and logs until its next heartbeat."""

    def __init__(self, executor: RemoteExecutor, loop: asyncio.AbstractEventLoop) -> None:
        self._executor = executor
        self._loop = loop

    def progress(self, job_id: str, steps_done: int, steps_total: int, message: str) -> None:
        call_on_loop(
            self._loop, self._executor._set_progress, job_id, Progress(steps_done, steps_total, 0.0, None, message)
        )

    def log(self, job_id: str, level: str, message: str, logger: str) -> None:
        record = LogRecord(job_id, 0, dt.datetime.now(UTC), level, message, logger)
        call_on_loop(self._loop, self._executor._add_log, job_id, record)


class RemoteExecutor:
    """Leases jobs of the given kinds from a backend and runs them in this process.

    Args:
        client: The client to reach the backend with.
        kinds: Kind name -> job function (async, or sync to run in a thread).
        capacity: The most jobs running here at once.
        lease_seconds: Lease length asked for; the backend's default if omitted.
        heartbeat_interval: Seconds between heartbeats; a third of the lease if omitted.
        executor_id: A stable name for this executor; random if omitted.

    Use as an async context manager (runs in the background) or await :meth:`run`.
    """

    def __init__(
        self,
        client: Client,
        kinds: Mapping[str, JobFunction] | KindRegistry,
        *,
        capacity: int = 8,
        lease_seconds: float | None = None,
        heartbeat_interval: float | None = None,
        executor_id: str | None = None,
        thread_limit: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ConfigurationError("capacity must be at least 1")
        if lease_seconds is not None and lease_seconds <= 0:
            raise ConfigurationError("lease_seconds must be positive")
        if isinstance(kinds, KindRegistry):
            self.registry = kinds
        else:
            self.registry = KindRegistry()
            for name, fn in kinds.items():
                self.registry.register(name, fn)
        if not self.registry:
            raise ConfigurationError("an executor needs at least one job kind")
        self.client = client
        self.capacity = capacity
        self.lease_seconds = lease_seconds
        self.heartbeat_interval = heartbeat_interval or (lease_seconds or 30.0) / 3
        #: When each running job's first heartbeat is due (a job that ends sooner with nothing to say
        #: never starts its heartbeat loop).
        self._first_heartbeats: Deadlines[str] = Deadlines(self._first_heartbeat_due)
        self.executor_id = executor_id or f"remote:{uuid.uuid4().hex[:12]}"
        self._limiter = anyio.CapacityLimiter(thread_limit or capacity)
        self._running: dict[str, _Running] = {}
        self._task: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._stream: Any = None
        #: What goes out with the next lease-stream message: freed slots and completions (answers by job id).
        self._credits = 0
        self._completions: list[pb.CompleteJobRequest] = []
        self._flushing: asyncio.Task[None] | None = None
        self._settling: dict[str, asyncio.Future[None]] = {}

    # --- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> RemoteExecutor:
        self._task = asyncio.create_task(self.run(), name=f"asyncwf-executor-{self.executor_id}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop leasing; give running jobs ``grace`` seconds, then cancel them (their leases lapse).

        Raises the error that stopped the executor by itself, if one did (the backend refused it:
        ``PermissionDenied`` for kinds its identity may not serve, ``Unauthenticated``).
        """
        failed: BaseException | None = None
        if self._task is not None:
            if self._task.done() and not self._task.cancelled():
                failed = self._task.exception()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        tasks = [r.task for r in self._running.values() if r.task is not None]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if failed is not None:
            raise failed

    @property
    def running_jobs(self) -> int:
        """How many jobs this executor is running now."""
        return len(self._running)

    async def run(self) -> None:
        """Lease and run jobs until cancelled; reconnects when the backend goes away."""
        attempt = 0
        while True:
            try:
                await self._session()
                attempt = 0
            except Unavailable as exc:
                attempt += 1
                delay = self.client.retry.backoff(min(attempt, 8))
                log.info("executor %s lost the backend (%s); reconnecting in %.2fs", self.executor_id, exc, delay)
                await asyncio.sleep(delay)
            except RPCError as exc:
                log.error("executor %s stopped: %s", self.executor_id, exc)
                raise

    # --- the lease stream --------------------------------------------------

    async def _session(self) -> None:
        with mapped_errors(self.client.address):
            async with (
                self.client._jobs() as stub,
                stub.Acquire.open(timeout=None, metadata=await self.client._metadata()) as stream,
            ):
                self._stream = stream
                try:
                    # A new stream starts from the slots free now: whatever the old one had not sent is void,
                    # and a job whose slot went back with its result holds none.
                    self._credits = 0
                    free = self.capacity - sum(not running.credited for running in self._running.values())
                    await self._send(
                        pb.AcquireRequest(
                            executor_id=self.executor_id,
                            kinds=list(self.registry),
                            lease_seconds=self.lease_seconds or 0.0,
                            credits=max(free, 0),
                            batches=True,
                        )
                    )
                    async for message in stream:
                        which = message.WhichOneof("event")
                        if which == "batch":
                            batch = message.batch
                            for lease in batch.leases:
                                self._start(job_from_pb(lease.job))
                            for settled in batch.settled:
                                self._settled(settled)
                            for job_id in batch.cancelled_job_ids:
                                self._cancel(job_id)
                        elif which == "lease":
                            self._start(job_from_pb(message.lease.job))
                        elif which == "cancelled_job_id":
                            self._cancel(message.cancelled_job_id)
                        elif which == "settled":
                            self._settled(message.settled)
                finally:
                    self._stream = None
                    for future in self._settling.values():
                        if not future.done():
                            future.set_exception(Unavailable("the lease stream ended"))
        raise Unavailable("the lease stream ended")

    async def _send(self, request: pb.AcquireRequest) -> None:
        async with self._send_lock:
            if self._stream is not None:
                await self._stream.send_message(request)

    def _give_credit(self) -> None:
        """Return a slot (it goes back with whatever else this pass of the loop sends)."""
        self._credits += 1
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_outbox())

    async def _flush_outbox(self) -> None:
        """Send the slots freed and the completions made in this pass of the loop as one message, so
        the backend leases and settles in bulk."""
        await asyncio.sleep(0)  # let the other jobs finishing in this pass add theirs
        credits, self._credits = self._credits, 0
        batch, self._completions = self._completions, []
        if not credits and not batch:
            return
        try:
            with mapped_errors(self.client.address):
                await self._send(pb.AcquireRequest(credits=credits, completions=batch))
        except Exception as exc:
            for request in batch:
                future = self._settling.get(request.job_id)
                if future is not None and not future.done():
                    future.set_exception(Unavailable(f"could not send the completion: {exc}"))

    def _start(self, job: JobInfo) -> None:
        running = _Running(job)
        running.extend(job.lease_expires_at)
        self._running[job.id] = running
        running.task = asyncio.create_task(self._run(running), name=f"asyncwf-job-{job.id}")

    def _cancel(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None and running.task is not None:
            running.task.cancel()

    def _set_progress(self, job_id: str, progress: Progress) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.progress = progress
            self._wake_heartbeat(running)

    def _add_log(self, job_id: str, record: LogRecord) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.logs.append(record)
            self._wake_heartbeat(running)

    def _first_heartbeat_due(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None:
            self._wake_heartbeat(running)

    def _wake_heartbeat(self, running: _Running) -> None:
        """Something is due (a heartbeat, progress or logs): have the heartbeat loop send it soon."""
        running.dirty.set()
        if running.heartbeat is None and not running.finished:
            self._first_heartbeats.discard(running.job.id)
            running.heartbeat = asyncio.create_task(self._heartbeats(running))

    # --- one job -----------------------------------------------------------

    async def _run(self, running: _Running) -> None:
        job = running.job
        loop = asyncio.get_running_loop()
        ctx = JobContext(job, _Reporter(self, loop))
        self._first_heartbeats.set(job.id, self.heartbeat_interval)
        try:
            try:
                output = await run_job_function(self.registry.get(job.kind), ctx, self._limiter)
            except asyncio.CancelledError:
                ctx.cancelled.set()
                raise
            except Exception as exc:
                await self._last_heartbeat(running)
                request = pb.FailJobRequest(
                    job_id=job.id,
                    executor_id=self.executor_id,
                    attempt=job.attempt,
                    error=_error_pb(failure_from_exception(exc)),
                )
                await self._until_lease_ends(
                    running, lambda: self.client._unary("FailJob", request, timeout=None, idempotent=True)
                )
            else:
                await self._last_heartbeat(running)
                await self._complete(running, output.data, output.content_type)
        except RPCError as exc:
            log.warning("executor %s could not settle job %s: %s", self.executor_id, job.id, exc)
        finally:
            running.finished = True
            self._first_heartbeats.discard(job.id)
            if running.heartbeat is not None:
                running.heartbeat.cancel()
            self._running.pop(job.id, None)
            if not running.credited:
                self._give_credit()

    async def _last_heartbeat(self, running: _Running) -> None:
        """Let the heartbeat loop send what is pending and stop, so logs land before the result."""
        running.finished = True
        self._first_heartbeats.discard(running.job.id)
        if running.heartbeat is not None:
            running.dirty.set()
            await asyncio.gather(running.heartbeat, return_exceptions=True)

    async def _heartbeats(self, running: _Running) -> None:
        """Heartbeat every interval; send progress and logs soon after they happen."""
        while True:
            if not running.finished:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(running.dirty.wait(), self.heartbeat_interval)
            running.dirty.clear()
            if running.finished and running.progress is None and not running.logs:
                return  # nothing left to say: the result follows at once
            try:
                cancelled = await self._flush(running)
            except Conflict:
                cancelled = True  # the lease is gone: someone else may run the job now
            except RPCError as exc:
                log.warning("heartbeat for job %s failed: %s", running.job.id, exc)
                cancelled = False
            if cancelled:
                if not running.finished and running.task is not None:
                    running.task.cancel()
                return
            if not running.finished:
                await asyncio.sleep(_COALESCE_SECONDS)
            # Once finished, loop at once: logs written during that flush still go before the result.

    async def _flush(self, running: _Running) -> bool:
        """Send a heartbeat with pending progress and logs; returns whether the job was cancelled."""
        request = pb.HeartbeatRequest(
            job_id=running.job.id, executor_id=self.executor_id, attempt=running.job.attempt,
            lease_seconds=self.lease_seconds or 0.0,
        )  # fmt: skip
        if running.progress is not None:
            request.progress.CopyFrom(progress_to_pb(running.progress))
            running.progress = None
        logs, running.logs = running.logs, []
        request.logs.extend(log_to_pb(r) for r in logs)
        reply = await self.client._unary("Heartbeat", request, timeout=None, idempotent=True)
        if reply.HasField("lease_expires_at"):
            running.extend(reply.lease_expires_at.ToDatetime(dt.UTC))
        return bool(reply.cancelled)

    async def _complete(self, running: _Running, data: bytes, content_type: str) -> None:
        """Settle a finished job: small results over the lease stream (batched), others by CompleteJob.

        A small result goes with the job's slot, given back at once (its function has returned): the
        backend can hand the slot a new job as it settles this one, not a message later."""
        job = running.job
        if len(data) <= SMALL_RESULT and self._stream is not None:
            settled = asyncio.get_running_loop().create_future()
            self._settling[job.id] = settled
            self._completions.append(pb.CompleteJobRequest(
                job_id=job.id, executor_id=self.executor_id, attempt=job.attempt, content_type=content_type,
                data=data,
            ))  # fmt: skip
            running.credited = True
            self._give_credit()
            try:
                await settled
                return
            except Unavailable:
                pass  # the stream dropped before the answer: settle it the other way (idempotent per attempt)
            finally:
                self._settling.pop(job.id, None)
        await self._until_lease_ends(running, lambda: self._complete_by_call(job, data, content_type))

    async def _until_lease_ends(self, running: _Running, settle: Callable[[], Awaitable[Any]]) -> None:
        """Settle a finished job, trying again while the backend is unreachable, until the lease ends
        (after that the backend may give the job to another executor, and this answer is moot)."""
        attempt = 0
        while True:
            try:
                await settle()
                return
            except RPCError as exc:
                attempt += 1
                left = running.lease_deadline - time.monotonic()
                if not isinstance(exc, self.client.retry.retry_on) or left <= 0:
                    raise
                delay = min(self.client.retry.backoff(min(attempt, 8)), left)
                log.info("job %s: settling failed (%s); trying again in %.2fs, %.1fs of its lease left",
                         running.job.id, exc, delay, left)  # fmt: skip
                await asyncio.sleep(delay)

    def _settled(self, message: pb.Settled) -> None:
        future = self._settling.get(message.job_id)
        if future is None or future.done():
            return
        if message.error_status:
            status = RPCStatus[message.error_status] if message.error_status in RPCStatus.__members__ else None
            future.set_exception(error_for_status(status.value if status else 2, message.error_message))
        else:
            future.set_result(None)

    async def _complete_by_call(self, job: JobInfo, data: bytes, content_type: str) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                with mapped_errors(self.client.address):
                    async with (
                        self.client._jobs() as stub,
                        stub.CompleteJob.open(
                            timeout=self.client.STREAM_TIMEOUT, metadata=await self.client._metadata()
                        ) as stream,
                    ):
                        head = pb.CompleteJobRequest(
                            job_id=job.id,
                            executor_id=self.executor_id,
                            attempt=job.attempt,
                            content_type=content_type,
                            data=data[:CHUNK],
                        )
                        await stream.send_message(head, end=len(data) <= CHUNK)
                        for start in range(CHUNK, len(data), CHUNK):
                            end = start + CHUNK >= len(data)
                            await stream.send_message(pb.CompleteJobRequest(data=data[start : start + CHUNK]), end=end)
                        await stream.recv_message()
                return
            except RPCError as exc:
                if not self.client.retry.should_retry(exc, attempt):
                    raise
                await asyncio.sleep(self.client.retry.backoff(attempt))


def _error_pb(failure: Any) -> pb.JobError:
    return pb.JobError(code=failure.code, message=failure.message, details=failure.details)
