"""Scale-out: two replicas on PostgreSQL, and graft evaluation on a dask LocalCluster.

- replicas: trivial ``asyncwf.echo`` jobs (each replica's in-process executor runs them)
  through two ``asyncwf serve --store postgresql://...`` processes, 512 in flight from one
  client process split over both. Peers, same run: a bare asyncpg queue on the same PostgreSQL server
  (``_pg_claim_peer``: two claim-loop processes, ``FOR UPDATE SKIP LOCKED``, same durability), and one
  ``asyncwf serve`` on SQLite.
- dask: eight compute-heavy grafts at once through a backend whose large grafts go to a
  LocalCluster of 1 worker process, then of 2 (one thread each).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from benchmarks import _pg_claim_peer
from benchmarks._util import Row, asyncwf_server, subprocess_server


@contextlib.contextmanager
def _replica(dsn: str) -> Iterator[dict[str, int]]:
    with tempfile.TemporaryDirectory() as data_dir:
        args = ["-m", "asyncwf._cli", "serve", "--port", "0", "--http-port", "-1", "--data-dir", data_dir,
                "--store", dsn, "--log-level", "WARNING"]  # fmt: skip
        with subprocess_server(*args) as info:
            yield info


async def _rate(ports: list[int], n: int, in_flight: int) -> float:
    from asyncwf import Client

    clients = [Client("127.0.0.1", port) for port in ports]
    counter = itertools.count()
    for client in clients:
        await asyncio.gather(*(client.run_job("asyncwf.echo", b"w") for _ in range(200)))  # warm-up
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await clients[next(counter) % len(clients)].run_job("asyncwf.echo", b"x")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - start
    for client in clients:
        await client.aclose()
    return n / elapsed


async def _replicas(rows: list[Row], quick: bool) -> None:
    from asyncwf.testing import PostgresServer

    n = 5000 if quick else 20000
    with PostgresServer() as server:
        dsn = await server.new_database()
        with _replica(dsn) as a, _replica(dsn) as b:
            rate = await _rate([a["port"], b["port"]], n, 512)
        rows.append(Row("scale-out: replicas", "asyncwf: 2 replicas on PostgreSQL", "jobs/s, 512 in flight", rate,
                        "jobs/s"))  # fmt: skip
        peer_dsn = await server.new_database()
        await _pg_claim_peer.create_schema(peer_dsn)
        worker = ["-m", "benchmarks._pg_claim_peer", "worker", peer_dsn]
        with subprocess_server(*worker), subprocess_server(*worker):
            rate = await _pg_claim_peer.run_jobs(peer_dsn, n, 512)
        rows.append(Row("scale-out: replicas", "peer: asyncpg SKIP LOCKED claim loop, 2 workers",
                        "jobs/s, 512 in flight", rate, "jobs/s"))  # fmt: skip
    with asyncwf_server() as single:
        rate = await _rate([single["port"]], n, 512)
    rows.append(Row("scale-out: replicas", "asyncwf: 1 backend on SQLite", "jobs/s, 512 in flight", rate, "jobs/s"))


def _heavy(n: int) -> Any:
    import asyncwf.workflows as wf

    return wf.range(n).map(lambda i: wf.range(i).reduce(lambda a, b: a + b, 0)).reduce(lambda a, b: a + b, 0)


async def _on_cluster(workers: int, grafts: int, size: int) -> float:
    from distributed import LocalCluster

    import asyncwf.workflows as wf
    from asyncwf.testing import LocalBackend

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, asynchronous=True,
                           dashboard_address=None)  # fmt: skip
    async with cluster, LocalBackend(dask=cluster.scheduler_address) as backend, backend.client() as client:
        await wf.compute(_heavy(50), client=client, cache=False)  # warm the workers' imports
        start = time.perf_counter()
        await asyncio.gather(*(wf.compute(_heavy(size + i), client=client, cache=False) for i in range(grafts)))
        return time.perf_counter() - start


async def _dask(rows: list[Row], quick: bool) -> None:
    grafts, size = 8, (700 if quick else 1200)
    one = await _on_cluster(1, grafts, size)
    two = await _on_cluster(2, grafts, size)
    rows.append(Row("scale-out: dask", "asyncwf: 2 dask workers", f"{grafts} heavy grafts at once", two, "s"))
    rows.append(Row("scale-out: dask", "asyncwf: 1 dask worker", f"{grafts} heavy grafts at once", one, "s"))


async def run(rows: list[Row], quick: bool = False) -> None:
    await _replicas(rows, quick)
    await _dask(rows, quick)
