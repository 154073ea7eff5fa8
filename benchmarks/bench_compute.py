"""compute(): asyncwf vs dask.distributed running the same arithmetic, and a 10,000-node graft.

- round trip: ``await compute(Int(i) + 2, cache=False)`` one at a time, beside
  ``await dask_client.submit(operator.add, i, 2)``;
- throughput with 512 in flight from one client process (distinct values, cache off);
- a cache hit (the same graft again);
- a graft of 10,000 nodes: built, shipped and evaluated, end to end, beside
  the same chain as ``dask.delayed`` computed on the cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import statistics
import time

from benchmarks._util import Row, asyncwf_server, latencies, throughput


async def _asyncwf(rows: list[Row], n: int) -> None:
    import asyncwf.workflows as wf
    from asyncwf import Client

    with asyncwf_server() as info:
        async with Client("127.0.0.1", info["port"]) as client:
            counter = itertools.count()

            async def call() -> object:
                return await wf.compute(wf.Int(next(counter)) + 2, client=client, cache=False)

            p50, p99 = await latencies(call, n)
            rows += [Row("compute round trip", "asyncwf", "p50", p50, "ms")]
            rows += [Row("compute round trip", "asyncwf", "p99", p99, "ms")]
            rate = await throughput(call, n * 5, 512)
            rows.append(Row("compute throughput", "asyncwf", "512 in flight", rate, "jobs/s"))
            same = wf.Int(1) + 2
            p50, _ = await latencies(lambda: wf.compute(same, client=client), n)
            rows.append(Row("compute round trip", "asyncwf (cache hit)", "p50", p50, "ms"))

            timings = []
            for _ in range(11):
                start = time.perf_counter()
                value = wf.Int(0)
                for _ in range(10_000):
                    value = value + 1
                result = await wf.compute(value, client=client, cache=False)
                timings.append((time.perf_counter() - start) * 1000)
                if result != 10_000:
                    raise RuntimeError("wrong result")
            rows.append(
                Row("10,000-node graft", "asyncwf", "build + ship + evaluate, median", statistics.median(timings), "ms")
            )


async def _dask(rows: list[Row], n: int) -> None:
    try:
        from distributed import Client as DaskClient
        from distributed import LocalCluster
    except ImportError:
        rows.append(
            Row("compute round trip", "dask.distributed", "skipped (pip install -e '.[bench]')", float("nan"), "")
        )
        return
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=True, asynchronous=True, dashboard_address=None)
    async with cluster, DaskClient(cluster, asynchronous=True) as dask:
        counter = itertools.count()

        async def call() -> object:
            return await dask.submit(operator.add, next(counter), 2, pure=False)

        p50, p99 = await latencies(call, max(n // 5, 50), warmup=10)
        rows += [Row("compute round trip", "dask.distributed", "p50", p50, "ms")]
        rows += [Row("compute round trip", "dask.distributed", "p99", p99, "ms")]
        rate = await throughput(call, n * 2, 512)
        rows.append(Row("compute throughput", "dask.distributed", "512 in flight", rate, "tasks/s"))

        from dask import delayed

        timings = []
        for _ in range(1):  # one run: dask takes over a minute for this
            start = time.perf_counter()
            value = delayed(0)
            for _ in range(10_000):
                value = delayed(operator.add)(value, 1, dask_key_name=None)
            result = await dask.compute(value)
            timings.append((time.perf_counter() - start) * 1000)
            if result != 10_000:
                raise RuntimeError("wrong result")
        rows.append(
            Row("10,000-node graft", "dask.distributed (dask.delayed, 1 run)", "build + ship + evaluate, median",
                statistics.median(timings), "ms")
        )  # fmt: skip


async def run(rows: list[Row], *, quick: bool = False) -> None:
    n = 200 if quick else 1000
    await _asyncwf(rows, n)
    await _dask(rows, n)


if __name__ == "__main__":
    out: list[Row] = []
    asyncio.run(run(out))
    for row in out:
        print(row)
