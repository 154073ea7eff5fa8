"""Jobs of a kind no executor serves: ``run_job`` fails fast with NoExecutor unless asked to wait."""

from __future__ import annotations

import asyncio

import pytest

import asyncwf.blocking as blocking
from asyncwf import Client, JobContext, JobState, RemoteExecutor
from asyncwf.exceptions import (
    FailedPrecondition,
    InvalidArgument,
    NoExecutor,
    RPCStatus,
    error_for_status,
    wire_message,
)
from asyncwf.testing import LocalBackend


def _double(ctx: JobContext) -> bytes:
    return ctx.payload * 2


async def test_run_job_of_a_kind_nobody_serves_fails_fast_naming_it(client: Client) -> None:
    async with asyncio.timeout(10):  # a safety net: it must not wait for ever
        with pytest.raises(NoExecutor, match=r"no executor serves job kind 'no\.such\.kind'") as info:
            await client.run_job("no.such.kind", b"x")
    assert isinstance(info.value, FailedPrecondition)
    assert "asyncwf worker" in str(info.value) and "wait_for_executor=True" in str(info.value)
    with pytest.raises(NoExecutor, match=r"'no\.such\.kind'"):
        await anext(aiter(client.create_and_watch("no.such.kind", b"x")))
    # nothing was queued by the refused calls; create_job queues (it is how work is handed to executors later)
    assert [job async for job in client.list_jobs(kind="no.such.kind")] == []
    queued = await client.create_job("no.such.kind", b"x")
    assert queued.state is JobState.QUEUED
    with pytest.raises(NoExecutor):
        await client.create_job("no.such.kind", b"x", wait_for_executor=False)
    # the built-in kinds are served by the backend itself
    assert (await client.run_job("asyncwf.echo", b"hi")).state is JobState.SUCCEEDED


async def test_bad_input_is_still_invalid_rather_than_unserved(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="invalid job kind"):
        await client.run_job("bad kind", b"")


async def test_waiting_for_an_executor_runs_the_job_once_one_connects(client: Client) -> None:
    waiting = asyncio.create_task(client.run_job("late.double", b"ab", wait_for_executor=True))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    async with RemoteExecutor(client, {"late.double": _double}):
        job = await asyncio.wait_for(waiting, 10)
    assert job.state is JobState.SUCCEEDED and job.result_inline == b"abab"


async def test_an_executor_started_along_with_the_call_is_waited_for(client: Client) -> None:
    """``async with RemoteExecutor(...)`` then ``run_job`` at once: the lease stream may reach the backend after
    the job does; the backend's grace covers that."""
    for _ in range(5):
        async with RemoteExecutor(client, {"fresh.double": _double}):
            job = await client.run_job("fresh.double", b"x")
        assert job.result_inline == b"xx"


async def test_a_kind_is_unserved_again_once_its_executor_leaves(backend: LocalBackend) -> None:
    async with backend.client() as client:
        async with RemoteExecutor(client, {"brief.double": _double}):
            assert (await client.run_job("brief.double", b"1")).result_inline == b"11"
        with pytest.raises(NoExecutor, match=r"'brief\.double'"):
            await client.run_job("brief.double", b"1")


async def test_other_requests_of_the_same_stream_do_not_wait_for_the_refused_one(client: Client) -> None:
    refused = asyncio.create_task(client.run_job("no.such.kind", b""))
    served = [asyncio.create_task(client.run_job("asyncwf.echo", str(i).encode())) for i in range(20)]
    done = await asyncio.gather(*served)  # answered while the refused one is still in its grace
    assert not refused.done()
    assert [job.result_inline for job in done] == [str(i).encode() for i in range(20)]
    with pytest.raises(NoExecutor):
        await refused


async def test_the_blocking_api_fails_fast_too(backend: LocalBackend) -> None:
    def run() -> None:
        with blocking.Client(backend.host, backend.port) as client:
            with pytest.raises(NoExecutor, match=r"'no\.such\.kind'"):
                client.run_job("no.such.kind", b"")
            assert client.create_job("no.such.kind", b"").state is JobState.QUEUED

    await asyncio.wait_for(asyncio.to_thread(run), 30)


def test_no_executor_travels_as_itself() -> None:
    error = error_for_status(RPCStatus.FAILED_PRECONDITION, wire_message(NoExecutor("no executor serves 'k'")))
    assert type(error) is NoExecutor and error.message == "no executor serves 'k'"
    plain = error_for_status(RPCStatus.FAILED_PRECONDITION, "something else")
    assert type(plain) is FailedPrecondition
