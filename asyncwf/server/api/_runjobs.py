"""``RunJobs``: many create-and-wait requests of one client over one stream.

Each request's job is created with a watcher subscribed to it first
(:meth:`JobEngine.create_subscribed`); the watcher turns the job's events into
results as the engine publishes them - an early ``accepted``, log entries,
the final snapshot - with no task or queue per job. The results of a stream
go out in batches: whatever is ready when its sender wakes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from grpclib.const import Status
from grpclib.server import Stream

from asyncwf._ids import new_id
from asyncwf._model import JobInfo, LogRecord, job_to_pb, log_to_pb, ts_into
from asyncwf.exceptions import RPCError, Unavailable, wire_message
from asyncwf.server.engine._engine import SHUTDOWN, CreateSpec, JobEngine
from asyncwf.server.engine._state import valid_kind
from asyncwf.v1 import jobs_pb2 as pb

__all__ = ["RunJobsSession", "accepted_pb", "create_spec"]

log = logging.getLogger("asyncwf.server")

#: Requests (or completions) of one message handled together, in one trip to the store.
GROUP = 16


def create_spec(req: pb.CreateJobRequest) -> CreateSpec:
    return CreateSpec(
        kind=req.kind,
        payload=req.payload,
        content_type=req.content_type,
        idempotency_key=req.idempotency_key,
        labels=dict(req.labels),
        max_attempts=req.max_attempts,
        timeout_seconds=req.timeout_seconds,
        result_ttl_seconds=req.result_ttl_seconds,
        priority=req.priority,
        cache_key=req.cache_key,
        require_executor=req.require_executor,
    )


def accepted_pb(job: JobInfo) -> pb.Job:
    """What an ``accepted`` result says: the job's identity, state and creation time (not a full snapshot)."""
    msg = pb.Job(id=job.id, kind=job.kind, state=job.state.value, version=job.version, attempt=job.attempt)
    if job.created_at is not None:
        ts_into(msg.created_at, job.created_at)
    return msg


def _error_result(tag: int, exc: Exception) -> pb.RunJobResult:
    if isinstance(exc, RPCError):
        return pb.RunJobResult(tag=tag, error_status=exc.status.value, error_message=wire_message(exc))
    if isinstance(exc, ValueError | TypeError):
        return pb.RunJobResult(tag=tag, error_status=Status.INVALID_ARGUMENT.value, error_message=str(exc))
    return pb.RunJobResult(tag=tag, error_status=Status.INTERNAL.value, error_message="the job could not be created")


class _Watch:
    """One request's job, watched without a task: each published event becomes a result at once."""

    __slots__ = ("accepted", "done", "job_id", "log_seq", "request", "session", "version")

    def __init__(self, session: RunJobsSession, request: pb.RunJobRequest) -> None:
        self.session = session
        self.request = request
        self.job_id = new_id()
        self.version = 0
        self.log_seq = 0
        self.accepted = False
        self.done = False

    def put_nowait(self, event: Any) -> None:
        """Called by the engine for every event of the job (never blocks, never raises)."""
        if self.done:
            return
        request = self.request
        if isinstance(event, JobInfo):
            if event.version <= self.version:
                return
            self.version = event.version
            if event.done:
                self.done = True
                self.session.finish(self, pb.RunJobResult(tag=request.tag, job=job_to_pb(event, include_payload=False)))
            elif request.notify_accepted and not self.accepted:
                self.accepted = True
                self.session.put(pb.RunJobResult(tag=request.tag, accepted=True, job=accepted_pb(event)))
        elif isinstance(event, LogRecord):
            if request.include_logs and event.seq > self.log_seq:
                self.log_seq = event.seq
                self.session.put(pb.RunJobResult(tag=request.tag, logs=[log_to_pb(event)]))
        elif event is SHUTDOWN:
            self.done = True
            error = Unavailable("the backend is shutting down; watch again to resume")
            self.session.finish(self, _error_result(request.tag, error))


class RunJobsSession:
    """Serves one ``RunJobs`` stream."""

    def __init__(self, engine: JobEngine, identity: str | None, *, draining: Callable[[], bool]) -> None:
        self.engine = engine
        self.identity = identity
        #: Called to learn whether the backend is shutting down (new requests are then refused).
        self._draining = draining
        #: Results ready to send (None once the client has sent its last request), and set when there are.
        self._ready: list[pb.RunJobResult | None] = []
        self._has_ready = asyncio.Event()
        #: Finished watches to unsubscribe (when the sender next wakes: not while the engine may be
        #: going through the job's watchers).
        self._finished: list[_Watch] = []
        self._outstanding = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: Watches subscribed to their job and not finished.
        self._watches: set[_Watch] = set()

    def put(self, result: pb.RunJobResult | None) -> None:
        self._ready.append(result)
        self._has_ready.set()

    def finish(self, watch: _Watch | None, result: pb.RunJobResult) -> None:
        """A request's last result (its final snapshot or its error)."""
        self._outstanding -= 1
        self.put(result)
        if watch is not None:
            self._watches.discard(watch)
            self._finished.append(watch)

    async def serve(self, stream: Stream[pb.RunJobsRequest, pb.RunJobsResponse]) -> None:
        receiver = asyncio.create_task(self._receive(stream))
        receiving = True
        try:
            while receiving or self._outstanding:
                await self._has_ready.wait()
                self._has_ready.clear()
                ready, self._ready = self._ready, []
                finished, self._finished = self._finished, []
                for watch in finished:
                    self.engine.unsubscribe(watch.job_id, watch)
                batch = [item for item in ready if item is not None]
                if len(batch) < len(ready):
                    receiving = False
                    receiver.result()  # re-raise a broken request stream
                if batch:
                    await stream.send_message(pb.RunJobsResponse(results=batch))
        finally:
            receiver.cancel()
            for task in list(self._tasks):
                task.cancel()
            for watch in self._watches:
                watch.done = True
                self.engine.unsubscribe(watch.job_id, watch)
            self._watches.clear()
            for watch in self._finished:
                self.engine.unsubscribe(watch.job_id, watch)
            self._finished.clear()

    async def _receive(self, stream: Stream[pb.RunJobsRequest, pb.RunJobsResponse]) -> None:
        try:
            async for batch in stream:
                requests = list(batch.requests)
                self._outstanding += len(requests)
                # The requests of one message are created a group at a time (a trip to the store each):
                # the first are answered while the rest are still being written.
                for start in range(0, len(requests), GROUP):
                    self._spawn(self._start(requests[start : start + GROUP]))
        finally:
            self.put(None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, requests: list[pb.RunJobRequest], *, checked: bool = False) -> None:
        """Create the requests' jobs with their watches subscribed; the watches do the rest. Requests that
        must not wait for an executor, of a kind no executor here serves, wait apart (``checked`` then)."""
        if not checked:
            serves = self.engine.serves_here
            apart = [r.create.require_executor and valid_kind(r.create.kind) and not serves(r.create.kind)
                     for r in requests]  # fmt: skip
            if any(apart):
                self._spawn(self._start_when_served([r for r, a in zip(requests, apart, strict=True) if a]))
                requests = [r for r, a in zip(requests, apart, strict=True) if not a]
        watches: list[_Watch] = []
        creates: list[tuple[CreateSpec, _Watch, str]] = []
        for request in requests:
            watch = _Watch(self, request)
            try:
                if self._draining():
                    raise Unavailable("the backend is shutting down")
                creates.append((create_spec(request.create), watch, watch.job_id))
                watches.append(watch)
            except Exception as exc:
                self._failed(watch, exc)
        outcomes = await self.engine.create_many_subscribed(creates, self.identity) if creates else []
        existing: list[tuple[_Watch, str]] = []
        for watch, outcome in zip(watches, outcomes, strict=True):
            if isinstance(outcome, Exception):
                self._failed(watch, outcome)
            elif outcome[1]:
                if not watch.done:
                    self._watches.add(watch)
            else:  # an idempotency key used before: the job exists, watch it from where it is
                existing.append((watch, outcome[0].id))
        await asyncio.gather(*(self._follow_existing(watch, job_id) for watch, job_id in existing))

    async def _start_when_served(self, requests: list[pb.RunJobRequest]) -> None:
        """Fail the requests whose kind no executor serves after the engine's grace; create the others."""
        errors = await self.engine.unserved({request.create.kind for request in requests})
        for request in requests:
            if request.create.kind in errors:
                self._failed(_Watch(self, request), errors[request.create.kind])
        served = [request for request in requests if request.create.kind not in errors]
        if served:
            await self._start(served, checked=True)

    def _failed(self, watch: _Watch, exc: Exception) -> None:
        if not isinstance(exc, RPCError | ValueError | TypeError):
            log.error("creating a job failed", exc_info=exc)
        if not watch.done:  # (a watch that finished has sent its request's last result)
            watch.done = True
            self.finish(None, _error_result(watch.request.tag, exc))

    async def _follow_existing(self, watch: _Watch, job_id: str) -> None:
        try:
            final = await self._watch_existing(job_id, watch)
            self.finish(None, pb.RunJobResult(tag=watch.request.tag, job=job_to_pb(final, include_payload=False)))
        except Exception as exc:
            self._failed(watch, exc)

    async def _watch_existing(self, job_id: str, watch: _Watch) -> JobInfo:
        events: AsyncIterator[Any] = self.engine.watch(
            job_id, include_logs=watch.request.include_logs, identity=self.identity
        )
        async for event in events:
            if isinstance(event, JobInfo) and event.done:
                return event
            watch.put_nowait(event)  # accepted and log entries, as for a new job
        raise Unavailable("the job's watch ended early")
