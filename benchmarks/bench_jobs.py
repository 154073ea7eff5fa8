"""Job round trip: asyncwf vs a bare grpclib unary call (floor) vs dask.distributed.

- latency: p50/p99 of create -> executor -> watch -> result, one job in flight;
- throughput: trivial jobs per second with 64 and 512 in flight from one client process;
- watch delay: from a job's final commit (its ``updated_at``) to a watcher in another process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._util import Row, asyncwf_server, latencies, percentile, subprocess_server, throughput


def _inc(x: int) -> int:
    return x + 1


def _latency_rows(system: str, p50: float, p99: float) -> list[Row]:
    return [Row("round trip", system, "p50", p50, "ms"), Row("round trip", system, "p99", p99, "ms")]


def _round_robin(stubs: list[Any], request: Any) -> Callable[[], Awaitable[object]]:
    counter = itertools.count()

    async def call() -> object:
        return await stubs[next(counter) % len(stubs)].Check(request)

    return call


async def _floor(rows: list[Row], n: int, quick: bool) -> None:
    from grpclib.client import Channel
    from grpclib.health.v1 import health_grpc, health_pb2

    with subprocess_server("benchmarks/_floor.py") as info:
        channel = Channel("127.0.0.1", info["port"])
        stub = health_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        p50, p99 = await latencies(lambda: stub.Check(request), n)
        rows += _latency_rows("grpclib unary (floor)", p50, p99)
        for in_flight in (64, 512):
            # One connection carries ~100 streams; the floor uses as many as asyncwf's pool.
            channels = [Channel("127.0.0.1", info["port"]) for _ in range(max(1, in_flight // 90 + 1))]
            call = _round_robin([health_grpc.HealthStub(c) for c in channels], request)
            rate = await throughput(call, n * 5, in_flight)
            rows.append(Row("throughput", "grpclib unary (floor)", f"{in_flight} in flight", rate, "calls/s"))
            for c in channels:
                c.close()
        channel.close()


async def _asyncwf(rows: list[Row], n: int, quick: bool) -> None:
    from asyncwf import Client, JobInfo

    with asyncwf_server() as info:
        async with Client("127.0.0.1", info["port"]) as client:
            p50, p99 = await latencies(lambda: client.run_job("asyncwf.echo", b"x"), n)
            rows += [
                Row("round trip", "asyncwf job", "p50", p50, "ms"),
                Row("round trip", "asyncwf job", "p99", p99, "ms"),
            ]
            for in_flight in (64, 512):
                rate = await throughput(lambda: client.run_job("asyncwf.echo", b"x"), n * 5, in_flight)
                rows.append(Row("throughput", "asyncwf job", f"{in_flight} in flight", rate, "jobs/s"))

            delays: list[float] = []
            for _ in range(n // 5):
                job = await client.create_job("asyncwf.sleep", b'{"seconds": 0.002}')
                async for event in client.watch_job(job.id):
                    if isinstance(event, JobInfo) and event.done and event.updated_at is not None:
                        delays.append((dt.datetime.now(dt.UTC) - event.updated_at).total_seconds() * 1000)
            rows.append(Row("watch delay", "asyncwf job", "p50", percentile(delays, 0.5), "ms"))
            rows.append(Row("watch delay", "asyncwf job", "p99", percentile(delays, 0.99), "ms"))


async def _dask(rows: list[Row], n: int, quick: bool) -> None:
    try:
        from distributed import Client as DaskClient
        from distributed import LocalCluster
    except ImportError:
        rows.append(Row("round trip", "dask.distributed", "skipped (pip install -e '.[bench]')", float("nan"), ""))
        return
    async with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, asynchronous=True, dashboard_address=None
        ) as cluster,
        DaskClient(cluster, asynchronous=True) as dask,
    ):
        counter = iter(range(10**9))

        async def call() -> object:
            return await dask.submit(_inc, next(counter), pure=False)

        p50, p99 = await latencies(call, max(n // 5, 50), warmup=10)
        rows += [
            Row("round trip", "dask.distributed", "p50", p50, "ms"),
            Row("round trip", "dask.distributed", "p99", p99, "ms"),
        ]
        for in_flight in (64, 512):
            rate = await throughput(call, n * 2, in_flight)
            rows.append(Row("throughput", "dask.distributed", f"{in_flight} in flight", rate, "tasks/s"))


async def run(rows: list[Row], *, quick: bool = False) -> None:
    n = 200 if quick else 1000
    await _floor(rows, n, quick)
    await _asyncwf(rows, n, quick)
    await _dask(rows, n, quick)


if __name__ == "__main__":
    out: list[Row] = []
    asyncio.run(run(out))
    for row in out:
        print(row)
