"""Executors run leased jobs. This module holds the interface and the in-process one.

The in-process :class:`LocalExecutor` claims jobs of the kinds in its
:class:`KindRegistry` straight from the engine (no RPC, no lease expiry: its
leases die with the process and are recovered at the next start). Async job
functions run on the event loop; sync ones run in worker threads so that
CPU-bound work never blocks the loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol

import anyio

from asyncwf._clock import now as clock_now
from asyncwf._context import (
    JobContext,
    JobOutput,
    KindRegistry,
    as_output,
    call_on_loop,
    failure_from_exception,
    run_job_function,
)
from asyncwf._model import JobInfo
from asyncwf.server.engine._engine import LOCAL_OWNER_PREFIX, JobEngine
from asyncwf.server.engine._types import InProcessExecutor

__all__ = ["Executor", "KindRegistry", "LocalExecutor"]


log = logging.getLogger(__name__)


class Executor(Protocol):
    """Anything that leases jobs from the engine and settles them."""

    async def start(self) -> None:
        """Start claiming jobs of its kinds."""

    async def stop(self, grace: float = 0.0) -> None:
        """Stop claiming; give running jobs ``grace`` seconds, then cancel them."""


class _EngineReporter:
    """Routes JobContext reports to the engine from the loop or from threads."""

    def __init__(self, engine: JobEngine, loop: asyncio.AbstractEventLoop) -> None:
        self._engine = engine
        self._loop = loop

    def progress(self, job_id: str, steps_done: int, steps_total: int, message: str) -> None:
        call_on_loop(self._loop, self._engine.report_progress, job_id, steps_done, steps_total, message)

    def log(self, job_id: str, level: str, message: str, logger: str) -> None:
        entry = (level, message, logger, clock_now())
        call_on_loop(self._loop, self._log, job_id, entry)

    def _log(self, job_id: str, entry: tuple[str, str, str, dt.datetime]) -> None:
        self._engine.append_logs_soon(job_id, [entry])


#: How often an in-process job's outcome is tried before its lease is given back.
SETTLE_TRIES = 5


class LocalExecutor(Executor, InProcessExecutor):
    """Runs registered job kinds inside the backend process.

    Args:
        engine: The engine to claim jobs from.
        registry: The kinds this executor runs.
        concurrency: The most jobs running at once.
        thread_limit: The most sync job functions running at once in threads.
    """

    #: Its leases never expire: it lives and dies with the engine.
    lease_seconds: float | None = None

    def __init__(
        self, engine: JobEngine, registry: KindRegistry, *, concurrency: int = 1024, thread_limit: int = 32
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.executor_id = f"{LOCAL_OWNER_PREFIX}{uuid.uuid4().hex[:12]}"
        self.concurrency = concurrency
        self._limiter = anyio.CapacityLimiter(thread_limit)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._reserved = 0
        self._stopping = False
        self._slot_free = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._reporter: _EngineReporter | None = None

    async def start(self) -> None:
        if not self.registry:
            return
        self._reporter = _EngineReporter(self.engine, asyncio.get_running_loop())
        self.engine.register_executor(self.executor_id, self._on_cancel)
        self.engine.set_direct_executor(self)
        self._loop_task = asyncio.create_task(self._claim_loop(), name="asyncwf-local-executor")

    async def stop(self, grace: float = 0.0) -> None:
        self._stopping = True
        if self.engine._direct is self:
            self.engine.set_direct_executor(None)
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        running = list(self._running.values())
        if running and grace > 0:
            await asyncio.wait(running, timeout=grace)
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self.engine.unregister_executor(self.executor_id)

    def served_kinds(self) -> Collection[str]:
        return () if self._stopping else self.registry

    def try_reserve(self, kind: str) -> bool:
        if self._stopping or kind not in self.registry:
            return False
        if len(self._running) + self._reserved >= self.concurrency:
            return False
        self._reserved += 1
        return True

    def release(self) -> None:
        self._reserved -= 1
        self._slot_free.set()

    def accept(self, job: JobInfo) -> None:
        self._reserved -= 1
        self._running[job.id] = asyncio.create_task(self._run(job), name=f"asyncwf-job-{job.id}")

    def answer_inline(self, kind: str, job_id: str, payload: bytes) -> JobOutput | None:
        """Ask the kind's inline answer (if it has one) for a job being created; None to run it."""
        if self._stopping or kind not in self.registry:
            return None
        inline = self.registry.get(kind).inline
        if inline is None:
            return None
        try:
            value = inline(job_id, payload)
            return None if value is None else as_output(value)
        except Exception:  # the usual run reports it, as the job's error
            log.debug("inline answer of a %s job failed; running it", kind, exc_info=True)
            return None

    def _on_cancel(self, job_id: str) -> None:
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()

    async def _claim_loop(self) -> None:
        kinds = list(self.registry)
        while True:
            work = self.engine.work_event
            free = self.concurrency - len(self._running) - self._reserved
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            jobs = await self.engine.claim(kinds, free, self.executor_id, None)
            for job in jobs:
                self._running[job.id] = asyncio.create_task(self._run(job), name=f"asyncwf-job-{job.id}")
            if len(jobs) < free:
                await work.wait()

    async def _run(self, job: JobInfo) -> None:
        if self._reporter is None:  # pragma: no cover - start() sets it before any job runs
            raise RuntimeError("the executor was not started")
        ctx = JobContext(job, self._reporter)
        try:
            output = await run_job_function(self.registry.get(job.kind), ctx, self._limiter)
        except asyncio.CancelledError:
            # Cancelled by the engine (already settled) or by shutdown (recovered at next start);
            # a sync function still running in its thread sees ctx.cancelled.
            ctx.cancelled.set()
            raise
        except Exception as exc:
            failure = failure_from_exception(exc)
            await self._settle(job, lambda: self.engine.fail(job.id, self.executor_id, job.attempt, failure))
        else:
            await self._settle(job, lambda: self.engine.complete(job.id, self.executor_id, job.attempt,
                                                                 output.data, output.content_type))  # fmt: skip
        finally:
            self._running.pop(job.id, None)
            self._slot_free.set()

    async def _settle(self, job: JobInfo, settle: Callable[[], Awaitable[JobInfo]]) -> None:
        """Store a job's outcome, trying again while the store or blob store fails; at last give the
        lease back (the job runs again, or fails ``RESULT_NOT_STORED`` on its last attempt): a job never
        stays RUNNING because its outcome could not be written."""
        for attempt in range(1, SETTLE_TRIES + 1):
            try:
                await settle()
                return
            except Exception as exc:
                log.warning("job %s: storing its outcome failed (try %d of %d): %s", job.id, attempt,
                            SETTLE_TRIES, exc)  # fmt: skip
                if attempt < SETTLE_TRIES:
                    await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        try:
            await self.engine.give_up_lease(job.id, self.executor_id, job.attempt, "RESULT_NOT_STORED")
        except Exception:
            log.exception("job %s: its lease could not be given back; it is recovered at the next start", job.id)
