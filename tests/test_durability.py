"""Crashes and shutdowns of ``asyncwf serve`` in a subprocess lose no accepted job."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import pytest

from asyncwf import Client, JobInfo, JobState, RetryPolicy
from asyncwf.exceptions import Unavailable

from .conftest import eventually

PATIENT = RetryPolicy(max_attempts=200, initial_backoff=0.02, max_backoff=0.1)


async def _watch_all(client: Client, ids: list[str], terminal: Counter[str], seen: dict[str, list[JobState]]) -> None:
    async def one(job_id: str) -> None:
        async for event in client.watch_job(job_id):
            if isinstance(event, JobInfo):
                seen.setdefault(job_id, []).append(event.state)
                if event.done:
                    terminal[job_id] += 1

    await asyncio.gather(*(one(i) for i in ids))


async def test_sigkill_with_queued_and_running_jobs_loses_nothing(server_process) -> None:  # type: ignore[no-untyped-def]
    server = server_process("--executor-concurrency", "4")
    async with server.client(retry=PATIENT) as client:
        jobs = [await client.create_job("asyncwf.sleep", b'{"seconds": 0.6, "steps": 2}') for _ in range(12)]
        ids = [j.id for j in jobs]
        terminal: Counter[str] = Counter()
        seen: dict[str, list[JobState]] = {}
        watchers = asyncio.create_task(_watch_all(client, ids, terminal, seen))
        await eventually(lambda: sum(JobState.RUNNING in s for s in seen.values()) >= 4)
        assert server.kill(signal.SIGKILL) == -signal.SIGKILL
        server.start(server.port)  # same port, same data dir
        await asyncio.wait_for(watchers, 60)
        assert set(terminal) == set(ids)
        assert all(count == 1 for count in terminal.values()), terminal
        finals = {i: await client.get_job(i) for i in ids}
        assert all(j.state is JobState.SUCCEEDED for j in finals.values())
        # Jobs that were running when the server died ran again (attempt 2).
        assert any(j.attempt == 2 for j in finals.values())
        assert all(j.attempt <= 2 for j in finals.values())


async def test_sigterm_drains_in_flight_calls_and_keeps_jobs(server_process) -> None:  # type: ignore[no-untyped-def]
    server = server_process("--shutdown-grace", "5")
    async with server.client(retry=RetryPolicy(max_attempts=1)) as client:
        queued = await client.create_job("asyncwf.sleep", b'{"seconds": 30}')
        short = await client.create_job("asyncwf.sleep", b'{"seconds": 0.5}')
        waiter = asyncio.create_task(client.wait_job(short.id))
        await asyncio.sleep(0.1)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        final = await asyncio.wait_for(waiter, 20)
        assert final.state is JobState.SUCCEEDED  # the running job finished within the grace period
        assert await asyncio.to_thread(server.proc.wait, 30) == 0
    server.start()
    async with server.client() as client:
        again = await client.get_job(queued.id)
        assert again.state in (JobState.QUEUED, JobState.RUNNING)  # durable, picked up again
        assert (await client.get_job(short.id)).state is JobState.SUCCEEDED


async def test_calls_during_shutdown_are_unavailable(server_process) -> None:  # type: ignore[no-untyped-def]
    server = server_process("--shutdown-grace", "3")
    async with server.client(retry=RetryPolicy(max_attempts=1)) as client:
        job = await client.create_job("asyncwf.sleep", b'{"seconds": 1}')
        await asyncio.sleep(0.1)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        # Refused while draining (the 1 s job is still running), and the running job still finishes.
        with pytest.raises(Unavailable, match="shutting down"):
            await client.get_job(job.id)
        assert await asyncio.to_thread(server.proc.wait, 30) == 0
    server.start()
    async with server.client() as client:
        assert (await client.get_job(job.id)).state is JobState.SUCCEEDED


async def test_run_jobs_in_flight_survive_a_crash_without_duplicates(server_process) -> None:  # type: ignore[no-untyped-def]
    server = server_process("--executor-concurrency", "8")
    async with server.client(retry=PATIENT) as client:
        calls = [
            asyncio.create_task(client.run_job("asyncwf.sleep", b'{"seconds": 0.3}', labels={"batch": "crash"}))
            for _ in range(40)
        ]
        await asyncio.sleep(0.5)
        server.kill(signal.SIGKILL)
        server.start(server.port)
        finals = await asyncio.wait_for(asyncio.gather(*calls), 60)
        assert all(j.state is JobState.SUCCEEDED for j in finals)
        stored = [j async for j in client.list_jobs(labels={"batch": "crash"})]
        assert len(stored) == 40  # every resend reused its idempotency key
        assert {j.id for j in stored} == {j.id for j in finals}
