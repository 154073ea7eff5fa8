"""SkippingClock: jobs with hour-long timeouts, leases and result lifetimes, tested without waiting."""

from __future__ import annotations

import asyncio

import pytest

from asyncwf import Client, JobContext, JobInfo, JobState, RemoteExecutor
from asyncwf.exceptions import ConfigurationError
from asyncwf.testing import LocalBackend, SkippingClock

HOUR = 3600.0


async def _hang(ctx: JobContext) -> bytes:
    await asyncio.sleep(2 * HOUR)
    return b"woke"


async def test_an_hour_long_execution_timeout(asyncwf_clock: SkippingClock) -> None:
    async with LocalBackend(kinds={"hang": _hang}) as backend, backend.client() as client:
        running = asyncio.create_task(client.run_job("hang", execution_timeout=HOUR))
        await asyncwf_clock.skip(HOUR - 60)
        assert not running.done()  # a minute to go
        await asyncwf_clock.skip(120)
        job = await asyncio.wait_for(running, 30)
    assert job.state is JobState.FAILED and job.error is not None and job.error.code == "TIMEOUT"
    assert asyncwf_clock.offset >= HOUR


async def test_a_lease_of_an_hour_lapses_when_its_executor_is_gone(asyncwf_clock: SkippingClock) -> None:
    async with LocalBackend(lease_seconds=HOUR) as backend, backend.client() as client:
        executor = RemoteExecutor(client, {"hang": _hang}, lease_seconds=HOUR)
        await executor.__aenter__()
        job = await client.create_job("hang", max_attempts=1)
        await _until(client, job.id, JobState.RUNNING)
        await executor.stop()  # gone: its job is cancelled where it ran, nobody completes or renews the lease
        await asyncwf_clock.skip(HOUR / 2)
        assert (await client.get_job(job.id)).state is JobState.RUNNING  # the lease holds for an hour
        await asyncwf_clock.skip(HOUR)
        failed = await _until(client, job.id, JobState.FAILED)
        assert failed.error is not None and failed.error.code == "LEASE_EXPIRED"


async def test_heartbeats_keep_a_long_job_alive_across_a_skip(asyncwf_clock: SkippingClock) -> None:
    async def long(ctx: JobContext) -> bytes:
        await asyncio.sleep(HOUR)
        return b"done after an hour"

    async with (
        LocalBackend(lease_seconds=120) as backend,
        backend.client() as client,
        RemoteExecutor(client, {"long": long}, lease_seconds=120),
    ):
        running = asyncio.create_task(client.run_job("long"))
        await asyncwf_clock.skip(HOUR + 1)
        job = await asyncio.wait_for(running, 30)
    assert job.state is JobState.SUCCEEDED and job.attempt == 1  # renewed every 40 s of skipped time
    assert job.result_inline == b"done after an hour"


async def test_a_result_kept_for_a_day_expires_after_a_day(asyncwf_clock: SkippingClock) -> None:
    async with LocalBackend() as backend, backend.client() as client:
        job = await client.run_job("asyncwf.echo", b"x", result_ttl=24 * HOUR)
        assert job.expires_at is not None
        await asyncwf_clock.skip(23 * HOUR)
        assert (await client.get_job(job.id)).state is JobState.SUCCEEDED
        await asyncwf_clock.skip(2 * HOUR)
        await _until(client, job.id, JobState.EXPIRED)


async def test_bad_skips_and_a_second_clock_are_refused(asyncwf_clock: SkippingClock) -> None:
    with pytest.raises(ConfigurationError):
        await asyncwf_clock.skip(-1)
    with pytest.raises(ConfigurationError):
        SkippingClock()


async def test_the_clock_is_given_back() -> None:
    loop = asyncio.get_running_loop()
    before = loop.time()
    clock = SkippingClock()
    await clock.skip(HOUR)
    assert loop.time() - before >= HOUR and clock.time() == pytest.approx(loop.time(), abs=1)
    clock.close()
    assert loop.time() - before < HOUR  # the loop's own clock again
    SkippingClock().close()  # and a new one may be installed


async def _until(client: Client, job_id: str, state: JobState) -> JobInfo:
    """The job once it is in ``state`` (watched: no polling)."""
    async with asyncio.timeout(30):
        async for event in client.watch_job(job_id):
            if isinstance(event, JobInfo) and event.state is state:
                return event
    raise AssertionError(f"job {job_id} ended without reaching {state.name}")
