"""10,000 finished jobs leave no tasks, threads or per-job state behind."""

from __future__ import annotations

import asyncio
import gc
import threading

from asyncwf import JobState
from asyncwf.testing import LocalBackend


async def test_ten_thousand_jobs_leave_nothing_behind() -> None:
    async with LocalBackend() as backend, backend.client() as client:
        assert backend.backend is not None
        engine, executor = backend.backend.engine, backend.backend.executor
        await client.run_job("asyncwf.echo", b"warm-up")
        gc.collect()
        tasks_before = len(asyncio.all_tasks())
        threads_before = threading.active_count()
        limit = asyncio.Semaphore(256)

        async def one(i: int) -> JobState:
            async with limit:
                return (await client.run_job("asyncwf.echo", b"%d" % i)).state

        states = await asyncio.gather(*(one(i) for i in range(10_000)))
        assert set(states) == {JobState.SUCCEEDED}
        await asyncio.sleep(0.05)
        gc.collect()
        assert engine.stats() == {"watched_jobs": 0, "leases": 0, "tasks": 0, "active_jobs": 0, "log_writes": 0}
        assert executor._running == {} and executor._reserved == 0
        assert client._mux is not None and client._mux._pending == {}
        assert len(asyncio.all_tasks()) <= tasks_before
        assert threading.active_count() <= threads_before
