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
        assert failed.value.code in ("ERROR_OOM", "ERROR_INVALID")
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


async def test_a_large_image_is_computed_in_pieces_on_the_cluster(cluster: Any, tmp_path: Any) -> None:
    """Bands of rows on the dask workers, stitched: the same pixels as one evaluation in the backend."""
    import datetime as dt

    import numpy as np
    import rasterio

    bounds = (10.0, 45.0, 11.0, 46.0)
    data = np.random.default_rng(3).uniform(1, 100, size=(2, 300, 300))
    data[:, 100:120, :] = -1.0  # rows without data across a piece boundary
    transform = rasterio.Affine(1 / 300, 0.0, 10.0, 0.0, -1 / 300, 46.0)
    with rasterio.open(tmp_path / "big.tif", "w", driver="GTiff", width=300, height=300, count=2,
                       dtype="float64", crs="EPSG:4326", transform=transform, nodata=-1.0) as dst:  # fmt: skip
        dst.write(data)
    geoctx = wf.GeoContext(bounds, "EPSG:4326", shape=(250, 260))
    img = wf.Image.from_id("big")
    ratio = (img.pick_bands("b1") / img.pick_bands("b2")).log().mask(img.pick_bands("b1") > 90)
    results = []
    for dask in (None, cluster.scheduler_address):
        async with LocalBackend(dask=dask) as backend, backend.client() as client:
            if backend.backend is not None and backend.backend.dask is not None:
                backend.backend.dask.chunk_pixels = 20_000  # ~77 rows a piece: four pieces
            await wf.add_image(str(tmp_path / "big.tif"), "big", "p", dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                               client=client)  # fmt: skip
            results.append(await wf.compute(ratio, geoctx=geoctx, client=client))
            if dask is not None:
                assert backend.backend is not None and backend.backend.dask is not None
                assert backend.backend.dask.last_chunks == 4
                means = await wf.compute(img.mean(axis="pixels"), geoctx=geoctx, client=client)  # one piece
                assert backend.backend.dask.last_chunks == 1 and means["b1"] > 0
    local, pieces = results
    assert pieces.geocontext == geoctx and pieces.ndarray.shape == (1, 250, 260)
    assert (pieces.ndarray.mask == local.ndarray.mask).all()
    assert np.allclose(pieces.ndarray.compressed(), local.ndarray.compressed())
