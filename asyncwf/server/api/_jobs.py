"""The gRPC face of the job engine (grpclib).

Every handler maps asyncwf errors to gRPC statuses; no handler sees a request
before the auth listener has checked its token; a size-limited codec rejects
oversized messages with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from google.protobuf.message import DecodeError
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from asyncwf._model import (
    JobFailure,
    JobInfo,
    JobState,
    event_to_pb,
    job_to_pb,
    progress_from_pb,
    ts_into,
)
from asyncwf.exceptions import InternalError, InvalidArgument, RPCError, wire_message
from asyncwf.server.api._authz import TokenAuth
from asyncwf.server.api._runjobs import GROUP, RunJobsSession, create_spec
from asyncwf.server.engine._engine import JobEngine
from asyncwf.server.store._store import JobFilter
from asyncwf.v1 import jobs_grpc
from asyncwf.v1 import jobs_pb2 as pb

__all__ = ["CallTracker", "JobService", "LimitedProtoCodec"]

log = logging.getLogger("asyncwf.server")
F = TypeVar("F", bound=Callable[..., Awaitable[None]])


class LimitedProtoCodec(ProtoCodec):
    """Protobuf codec that refuses messages above ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def decode(self, data: bytes, message_type: Any) -> Any:
        if len(data) > self.max_bytes:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED, f"message of {len(data)} bytes exceeds the limit of {self.max_bytes}"
            )
        try:
            return super().decode(data, message_type)
        except DecodeError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, f"malformed {message_type.__name__}: {exc}") from exc


class CallTracker:
    """Counts a service's calls in flight, so shutdown can wait for them."""

    def __init__(self) -> None:
        self.inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.inflight += 1
        self._idle.clear()

    def exit(self) -> None:
        self.inflight -= 1
        if not self.inflight:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def _grpc_errors(fn: F) -> F:
    """Count the call in ``self.calls`` and translate asyncwf errors into gRPC statuses."""

    @functools.wraps(fn)
    async def wrapper(self: Any, stream: Stream[Any, Any]) -> None:
        tracker: CallTracker = self.calls
        tracker.enter()
        try:
            await fn(self, stream)
        except RPCError as exc:
            raise GRPCError(Status(exc.status.value), wire_message(exc)) from exc
        except (ValueError, TypeError) as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from exc
        finally:
            tracker.exit()

    return wrapper  # type: ignore[return-value]


async def _request(stream: Stream[Any, Any]) -> Any:
    request = await stream.recv_message()
    if request is None:
        raise InvalidArgument("the request message is missing")
    return request


class _Mailbox:
    """Events for a lease stream's loop: a list, and an asyncio.Event set while it holds any (an
    asyncio.Queue costs several times more per item)."""

    __slots__ = ("items", "ready")

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.ready = asyncio.Event()

    def put(self, what: str, value: Any) -> None:
        self.items.append((what, value))
        self.ready.set()

    def take(self) -> list[tuple[str, Any]]:
        items, self.items = self.items, []
        self.ready.clear()
        return items


class _AcquireSession:
    """A remote executor's open lease stream, as the engine sees it for direct dispatch."""

    def __init__(self, executor_id: str, lease_seconds: float, kinds: frozenset[str],
                 events: _Mailbox) -> None:  # fmt: skip
        self.executor_id = executor_id
        self.lease_seconds: float | None = lease_seconds
        self.kinds = kinds
        self.credits = 0
        self._events = events

    def served_kinds(self) -> Collection[str]:
        return self.kinds

    def try_reserve(self, kind: str) -> bool:
        if self.credits > 0 and kind in self.kinds:
            self.credits -= 1
            return True
        return False

    def release(self) -> None:
        self.credits += 1

    def accept(self, job: JobInfo) -> None:
        self._events.put("lease", job)


#: The longest lease an executor may ask for (a day): a lease is how long a lost executor goes unnoticed.
MAX_LEASE_SECONDS = 86_400.0


def _check_lease_seconds(seconds: float) -> None:
    """0 (the backend's default) or a finite number of seconds up to a day."""
    if not 0 <= seconds <= MAX_LEASE_SECONDS:  # (also refuses NaN)
        raise InvalidArgument(f"lease_seconds is between 0 and {MAX_LEASE_SECONDS:.0f}, not {seconds}")


def _lease_pb(job: JobInfo) -> pb.Lease:
    lease = pb.Lease(job=job_to_pb(job))
    if job.lease_expires_at is not None:
        lease.expires_at.CopyFrom(lease.job.lease_expires_at)  # (converted once, by job_to_pb)
    return lease


#: Event kind -> (its field in a single AcquireResponse, its list in an AcquireBatch).
_ACQUIRE_FIELDS = {"lease": ("lease", "leases"), "settled": ("settled", "settled"),
                   "cancel": ("cancelled_job_id", "cancelled_job_ids")}  # fmt: skip


class _AcquireOutbox:
    """Events for one executor: sent one message each, or together in an AcquireBatch when it takes them."""

    def __init__(self, stream: Stream[pb.AcquireRequest, pb.AcquireResponse], *, batches: bool) -> None:
        self.stream = stream
        self.batches = batches
        self.batch = pb.AcquireBatch()

    async def add(self, what: str, value: Any) -> None:
        """``("lease", job)``, ``("settled", pb.Settled)`` or ``("cancel", job id)``."""
        single, listed = _ACQUIRE_FIELDS[what]
        if what == "lease":
            value = _lease_pb(value)
        if self.batches:
            getattr(self.batch, listed).append(value)
        else:
            await self.stream.send_message(pb.AcquireResponse(**{single: value}))

    async def flush(self) -> None:
        batch = self.batch
        if batch.leases or batch.settled or batch.cancelled_job_ids:
            self.batch = pb.AcquireBatch()
            await self.stream.send_message(pb.AcquireResponse(batch=batch))


async def _first_of(*waits: Awaitable[Any]) -> None:
    """Return when the first of ``waits`` finishes (the others are cancelled)."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class JobService(jobs_grpc.JobServiceBase):
    """``asyncwf.v1.JobService`` backed by a :class:`JobEngine`."""

    def __init__(self, engine: JobEngine, auth: TokenAuth, *, stream_chunk_bytes: int = 1 << 20) -> None:
        self.engine = engine
        self.auth = auth
        self.chunk = stream_chunk_bytes
        self.calls = CallTracker()
        self._draining = False
        self._acquirers: set[_Mailbox] = set()

    def _identity(self, stream: Stream[Any, Any]) -> str | None:
        return self.auth.identify(stream.metadata or {})

    async def drain(self, timeout: float) -> bool:
        """Stop executor streams and wait up to ``timeout`` s for in-flight calls."""
        self._draining = True
        for mailbox in self._acquirers:
            mailbox.put("end", "")
        return await self.calls.wait_idle(timeout)

    # --- client RPCs -------------------------------------------------------

    @_grpc_errors
    async def CreateJob(self, stream: Stream[pb.CreateJobRequest, pb.CreateJobResponse]) -> None:
        req = await _request(stream)
        job, created = await self.engine.create(create_spec(req), self._identity(stream))
        # The caller has the payload: not echoed back (a big graft would travel twice).
        await stream.send_message(pb.CreateJobResponse(job=job_to_pb(job, include_payload=False), created=created))

    @_grpc_errors
    async def CreateAndWatch(self, stream: Stream[pb.CreateAndWatchRequest, pb.JobEvent]) -> None:
        req = await _request(stream)
        events = self.engine.create_and_watch(
            create_spec(req.create), self._identity(stream), include_logs=req.include_logs
        )
        async for event in events:
            if not req.final_only or (isinstance(event, JobInfo) and event.done):
                await stream.send_message(event_to_pb(event))

    @_grpc_errors
    async def RunJobs(self, stream: Stream[pb.RunJobsRequest, pb.RunJobsResponse]) -> None:
        session = RunJobsSession(self.engine, self._identity(stream), draining=lambda: self._draining)
        await session.serve(stream)

    @_grpc_errors
    async def GetJob(self, stream: Stream[pb.GetJobRequest, pb.Job]) -> None:
        req = await _request(stream)
        await stream.send_message(job_to_pb(await self.engine.get(req.id, self._identity(stream))))

    @_grpc_errors
    async def ListJobs(self, stream: Stream[pb.ListJobsRequest, pb.Job]) -> None:
        req = await _request(stream)
        identity = self._identity(stream)
        flt = JobFilter(
            states=frozenset(JobState(s) for s in req.states),
            kind=req.kind,
            labels=dict(req.labels),
            owner=identity,
            created_after=req.created_after.ToDatetime(dt.UTC) if req.HasField("created_after") else None,
            created_before=req.created_before.ToDatetime(dt.UTC) if req.HasField("created_before") else None,
        )
        async for job in self.engine.list_jobs(flt, limit=req.limit):
            await stream.send_message(job_to_pb(job, include_payload=False))

    @_grpc_errors
    async def CancelJob(self, stream: Stream[pb.CancelJobRequest, pb.Job]) -> None:
        req = await _request(stream)
        job = await self.engine.cancel(req.id, req.reason, self._identity(stream))
        await stream.send_message(job_to_pb(job, include_payload=False))

    @_grpc_errors
    async def WatchJob(self, stream: Stream[pb.WatchJobRequest, pb.JobEvent]) -> None:
        req = await _request(stream)
        events = self.engine.watch(
            req.id, include_logs=req.include_logs, after_version=req.after_version, identity=self._identity(stream)
        )
        async for event in events:
            await stream.send_message(event_to_pb(event))

    @_grpc_errors
    async def GetResult(self, stream: Stream[pb.GetResultRequest, pb.ResultChunk]) -> None:
        req = await _request(stream)
        job, chunks = await self.engine.result(req.id, self._identity(stream))
        offset = 0
        async for chunk in chunks:
            for start in range(0, max(len(chunk), 1), self.chunk):
                piece = chunk[start : start + self.chunk]
                await stream.send_message(
                    pb.ResultChunk(
                        data=piece, offset=offset, total_size=job.result_size, content_type=job.result_content_type
                    )
                )
                offset += len(piece)

    # --- executor RPCs -----------------------------------------------------

    @_grpc_errors
    async def Acquire(self, stream: Stream[pb.AcquireRequest, pb.AcquireResponse]) -> None:
        first = await _request(stream)
        identity = self._identity(stream)
        if not first.executor_id or not first.kinds:
            raise InvalidArgument("the first AcquireRequest must name executor_id and kinds")
        self.auth.check_kinds(identity, first.kinds)
        executor_id = self.auth.lease_holder(identity, first.executor_id)
        _check_lease_seconds(first.lease_seconds)
        lease_seconds = first.lease_seconds or self.engine.config.lease_seconds
        kinds = list(first.kinds)
        # ("credits", n) from the executor, ("cancel", job id) from the engine, ("lease", job) when the engine
        # hands it a new job directly, ("settled", ...) answers to completions, ("end", "") to stop.
        events = _Mailbox()
        events.put("credits", first.credits)
        self._acquirers.add(events)
        self.engine.register_executor(executor_id, lambda job_id: events.put("cancel", job_id))
        session = _AcquireSession(executor_id, lease_seconds, frozenset(kinds), events)
        self.engine.add_remote_executor(session)

        settling: set[asyncio.Task[None]] = set()

        async def settle(requests: list[pb.CompleteJobRequest]) -> None:
            outcomes = await self.engine.complete_many(
                [(r.job_id, executor_id, r.attempt, r.data, r.content_type) for r in requests]
            )
            for request, outcome in zip(requests, outcomes, strict=True):
                reply = pb.Settled(job_id=request.job_id)
                if isinstance(outcome, Exception):
                    if not isinstance(outcome, RPCError):
                        log.error("settling job %s failed", request.job_id, exc_info=outcome)
                        outcome = InternalError("the completion could not be stored")
                    reply.error_status, reply.error_message = outcome.status.name, wire_message(outcome)
                events.put("settled", reply)

        async def read_credits() -> None:
            async for more in stream:
                if more.credits:
                    events.put("credits", more.credits)
                completions = list(more.completions)
                # The completions of one message settle a group at a time (a trip to the store each).
                for start in range(0, len(completions), GROUP):
                    task = asyncio.create_task(settle(completions[start : start + GROUP]))
                    settling.add(task)
                    task.add_done_callback(settling.discard)
            events.put("end", "")

        reader = asyncio.create_task(read_credits())
        out = _AcquireOutbox(stream, batches=first.batches)
        #: The engine's work event as of the last claim that left slots free: while it is not set, nothing
        #: was queued since, and a claim would find nothing (new jobs reach free slots by direct dispatch).
        drained: asyncio.Event | None = None
        try:
            while True:
                if events.items:
                    if first.batches:
                        await asyncio.sleep(0)  # let the other settlements and leases of this pass join
                    for what, value in events.take():
                        if what == "end":
                            return
                        if what == "credits":
                            session.credits += value
                        else:
                            await out.add(what, value)
                    await out.flush()
                if not session.credits:
                    await events.ready.wait()
                    continue
                if drained is not None and not drained.is_set():
                    await _first_of(drained.wait(), events.ready.wait())
                    continue
                work = self.engine.work_event
                # The slots are taken for the claim, so that direct dispatch cannot use them meanwhile.
                wanted, session.credits = session.credits, 0
                jobs = await self.engine.claim(kinds, wanted, executor_id, lease_seconds)
                session.credits += wanted - len(jobs)
                drained = work if session.credits else None
                for job in jobs:
                    await out.add("lease", job)
                await out.flush()
        finally:
            reader.cancel()
            self.engine.remove_remote_executor(session)
            self._acquirers.discard(events)
            self.engine.unregister_executor(executor_id)

    @_grpc_errors
    async def Heartbeat(self, stream: Stream[pb.HeartbeatRequest, pb.HeartbeatResponse]) -> None:
        req = await _request(stream)
        holder = self.auth.lease_holder(self._identity(stream), req.executor_id)
        _check_lease_seconds(req.lease_seconds)
        expires, cancelled = await self.engine.heartbeat(req.job_id, holder, req.attempt, req.lease_seconds or None)
        if not cancelled:
            if req.HasField("progress"):
                p = progress_from_pb(req.progress)
                self.engine.report_progress(req.job_id, p.steps_done, p.steps_total, p.message)
            if req.logs:
                entries = [(e.level or "INFO", e.message, e.logger, e.timestamp.ToDatetime(dt.UTC)) for e in req.logs]
                await self.engine.append_logs(req.job_id, entries)
        reply = pb.HeartbeatResponse(cancelled=cancelled)
        if expires is not None:
            ts_into(reply.lease_expires_at, expires)
        await stream.send_message(reply)

    @_grpc_errors
    async def CompleteJob(self, stream: Stream[pb.CompleteJobRequest, pb.Job]) -> None:
        first = await _request(stream)
        holder = self.auth.lease_holder(self._identity(stream), first.executor_id)

        async def chunks() -> Any:
            yield first.data
            async for more in stream:
                yield more.data

        job = await self.engine.complete(first.job_id, holder, first.attempt, chunks(), first.content_type)
        await stream.send_message(job_to_pb(job, include_payload=False))

    @_grpc_errors
    async def FailJob(self, stream: Stream[pb.FailJobRequest, pb.Job]) -> None:
        req = await _request(stream)
        holder = self.auth.lease_holder(self._identity(stream), req.executor_id)
        error = JobFailure(req.error.code or "EXECUTOR_ERROR", req.error.message, req.error.details)
        job = await self.engine.fail(req.job_id, holder, req.attempt, error, retry=req.retry)
        await stream.send_message(job_to_pb(job, include_payload=False))
