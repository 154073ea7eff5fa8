"""Graft evaluation on a dask.distributed LocalCluster (processes), through the backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import asyncwf.workflows as wf
from asyncwf import JobState
from asyncwf.exceptions import ConfigurationError, JobComputeError
from asyncwf.testing import LocalBackend

pytestmark = pytest.mark.allow_blocking  # dask's own start-up reads its config files on the loop


@pytest.fixture
async def cluster() -> AsyncIterator[Any]:
    from distributed import LocalCluster

    async with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, asynchronous=True,
                            dashboard_address=None) as running:  # fmt: skip
        yield running


def _heavy(n: int) -> Any:
    return wf.range(n).map(lambda i: wf.range(i).reduce(lambda a, b: a + b, 0)).reduce(lambda a, b: a + b, 0)


async def test_large_grafts_run_on_the_cluster(cluster: Any) -> None:
    from distributed import Client

    async with LocalBackend(dask=cluster.scheduler_address) as backend, backend.client() as client:
        assert await wf.compute(wf.Int(2) * 21, client=client) == 42  # small: inline, not on dask
        expected = sum(i * (i - 1) // 2 for i in range(300))
        assert await wf.compute(_heavy(300), client=client) == expected
        with pytest.raises(JobComputeError) as failed:
            await wf.compute(wf.range(10**9).length(), client=client)
        assert failed.value.code in ("OOM", "INVALID")
        # a cancelled job cancels its dask task
        job = await wf.compute(_heavy(20000), block=False, client=client)
        await asyncio.sleep(0.5)
        await job.cancel()
        assert (await client.wait_job(job.id, timeout=10)).state is JobState.CANCELLED  # type: ignore[arg-type]
    async with Client(cluster.scheduler_address, asynchronous=True) as dask_client:
        async with asyncio.timeout(10):  # the cancelled task is released: nothing left running or held
            while await dask_client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):  # noqa: ASYNC110
                await asyncio.sleep(0.1)


async def test_bad_dask_addresses() -> None:
    with pytest.raises(ConfigurationError, match="tcp://host:8786"):
        async with LocalBackend(dask="localhost"):
            pass
