"""Many ``run_job`` calls over one long-lived ``RunJobs`` stream.

Each call gets a tag; requests that are waiting when the sender wakes go out
in one message, and the backend answers with batches of final snapshots. A
job then costs a share of two messages instead of a whole RPC (HTTP/2
stream set-up, headers and trailers). When the stream breaks, every open
request is sent again on a new one: creates carry idempotency keys, so a
resend never makes a second job. The stream closes when nothing is pending,
so an idle client holds no task.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asyncwf.client._errors import mapped_errors
from asyncwf.exceptions import RPCError, Unauthenticated, Unavailable, error_for_status
from asyncwf.v1 import jobs_pb2 as pb

if TYPE_CHECKING:
    from asyncwf.client._client import Client

__all__ = ["RunMux"]


class RunMux:
    """Multiplexes run requests of one client onto one stream."""

    def __init__(self, client: Client, *, linger: float = 2.0) -> None:
        self._client = client
        #: Seconds an idle stream stays open for the next request.
        self.linger = linger
        self._has_work = asyncio.Event()
        self._tags = itertools.count(1)
        self._pending: dict[int, tuple[pb.RunJobRequest, asyncio.Future[pb.Job]]] = {}
        self._on_accepted: dict[int, Callable[[pb.Job], None]] = {}
        self._on_log: dict[int, Callable[[pb.LogEntry], None]] = {}
        self._outbox: list[pb.RunJobRequest] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(
        self, create: pb.CreateJobRequest, on_accepted: Callable[[pb.Job], None] | None = None,
        on_log: Callable[[pb.LogEntry], None] | None = None,
    ) -> pb.Job:  # fmt: skip
        """Create a job, wait until it is done and return its final snapshot.

        ``on_accepted`` is called with the job's first snapshot as soon as it
        exists; ``on_log`` with each of its log entries, in order, before the
        final snapshot arrives (after a reconnection, entries may repeat or be
        missed: the job is watched again from its current state).
        """
        tag = next(self._tags)
        request = pb.RunJobRequest(
            tag=tag, create=create, notify_accepted=on_accepted is not None, include_logs=on_log is not None
        )
        if on_accepted is not None:
            self._on_accepted[tag] = on_accepted
        if on_log is not None:
            self._on_log[tag] = on_log
        future: asyncio.Future[pb.Job] = asyncio.get_running_loop().create_future()
        self._pending[tag] = (request, future)
        self._outbox.append(request)
        self._wake.set()
        self._has_work.set()
        if self._task is None:
            self._task = asyncio.create_task(self._sessions(), name="asyncwf-run-jobs")
        try:
            return await future
        finally:
            self._pending.pop(tag, None)
            self._on_accepted.pop(tag, None)
            self._on_log.pop(tag, None)

    def cancel(self) -> None:
        """Stop the stream without waiting (open requests fail with Unavailable)."""
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sessions(self) -> None:
        attempt = 0
        refreshed = False
        try:
            while self._pending:
                try:
                    await self._session()
                    attempt = 0
                except Unauthenticated as exc:
                    if refreshed or not self._client.auth.can_refresh:
                        self._fail_all(exc)
                        return
                    refreshed = True
                    await self._client.auth.refresh()
                except RPCError as exc:
                    attempt += 1
                    if not self._client.retry.should_retry(exc, attempt):
                        self._fail_all(exc)
                        return
                    await asyncio.sleep(self._client.retry.backoff(attempt))
        except BaseException as exc:
            self._fail_all(exc if isinstance(exc, Exception) else Unavailable("the client was closed"))
            raise
        finally:
            self._task = None

    def _fail_all(self, exc: BaseException) -> None:
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
        self._outbox.clear()

    async def _session(self) -> None:
        # Everything still open goes (again) on the new stream.
        self._outbox = [request for request, _ in self._pending.values()]
        self._wake.set()
        with mapped_errors(self._client.address):
            async with (
                self._client._jobs() as stub,
                stub.RunJobs.open(
                    timeout=self._client.STREAM_TIMEOUT, metadata=await self._client._metadata()
                ) as stream,
            ):
                await stream.send_request()
                sender = asyncio.create_task(self._send(stream))
                try:
                    while True:
                        if not self._pending:
                            self._has_work.clear()
                            try:
                                async with asyncio.timeout(self.linger):
                                    await self._has_work.wait()
                            except TimeoutError:
                                break
                        response = await stream.recv_message()
                        if response is None:
                            raise Unavailable("the RunJobs stream ended with jobs still open")
                        self._deliver(response.results)
                finally:
                    sender.cancel()
                    await asyncio.gather(sender, return_exceptions=True)
                # Idle: close our side; requests that arrive meanwhile go on the next stream.
                await stream.end()
                async for response in stream:
                    self._deliver(response.results)

    async def _send(self, stream: Any) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outbox = self._outbox, []
            if batch:
                await stream.send_message(pb.RunJobsRequest(requests=batch))

    def _deliver(self, results: Any) -> None:
        for result in results:
            if result.logs:
                on_log = self._on_log.get(result.tag)
                if on_log is not None:
                    for entry in result.logs:
                        on_log(entry)
                continue
            if result.accepted:
                callback = self._on_accepted.pop(result.tag, None)
                if callback is not None:
                    callback(result.job)
                continue
            entry = self._pending.pop(result.tag, None)
            if entry is None or entry[1].done():
                continue
            if result.error_status:
                entry[1].set_exception(error_for_status(result.error_status, result.error_message))
            else:
                entry[1].set_result(result.job)
