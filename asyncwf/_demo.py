"""``asyncwf demo``: the main job, end to end on an embedded backend.

It starts the backend in-process, then over real gRPC: pushes a batch of
echo jobs through with bounded concurrency, runs a CPU-bound job in a worker
thread while watching its progress live, shows a failing job's typed error,
cancels a long job, attaches a remote executor for a kind the backend does
not know, then computes a workflow with a parameter, publishes it and reuses it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tqdm.auto import tqdm

import asyncwf.workflows as wf
from asyncwf._context import JobContext
from asyncwf._model import JobInfo, ProgressUpdate
from asyncwf.client import RemoteExecutor, raise_for_job
from asyncwf.exceptions import JobFailed
from asyncwf.testing import LocalBackend

__all__ = ["run_demo"]


async def _shout(ctx: JobContext) -> str:
    ctx.log("shouting")
    return ctx.payload.decode().upper()


async def run_demo(*, jobs: int = 2000, data_dir: Path | None = None) -> None:
    async with LocalBackend(data_dir=data_dir) as backend, backend.client() as client:
        print(
            f"backend up: gRPC {backend.host}:{backend.port}, HTTP {backend.http_url}, health {await client.health()}"
        )

        started = time.perf_counter()
        limit = asyncio.Semaphore(256)

        async def echo(i: int) -> bytes:
            async with limit:
                return await client.job_result(await client.run_job("asyncwf.echo", str(i).encode()))

        results = await asyncio.gather(*(echo(i) for i in range(jobs)))
        elapsed = time.perf_counter() - started
        if results != [str(i).encode() for i in range(jobs)]:
            raise RuntimeError("echo jobs returned wrong results")
        print(f"{jobs} echo jobs round-tripped in {elapsed:.2f}s ({jobs / elapsed:,.0f} jobs/s), all results correct")

        bar = tqdm(total=100, desc="primes below 2e7", unit="%")
        final: JobInfo | None = None
        async for event in client.create_and_watch("asyncwf.primes", json.dumps({"below": 20_000_000}).encode()):
            if isinstance(event, ProgressUpdate) and round(event.progress.percent) > bar.n:
                bar.update(round(event.progress.percent) - bar.n)
            elif isinstance(event, JobInfo):
                final = event
        bar.update(100 - bar.n)
        bar.close()
        if final is None:
            raise RuntimeError("the primes job sent no final snapshot")
        print(f"primes below 2e7: {(await client.job_result(final)).decode()} (computed in a worker thread)")

        failing = await client.run_job("asyncwf.fail", b"deliberate failure")
        try:
            raise_for_job(failing)
        except JobFailed as exc:
            print(f"a failing job raised {type(exc).__name__}: code={exc.code} message={exc}")

        sleeper = await client.create_job("asyncwf.sleep", b'{"seconds": 60}')
        await asyncio.sleep(0.1)
        cancelled = await client.cancel_job(sleeper.id, "demo cancels it")
        print(f"a 60 s job was cancelled: state={cancelled.state.name}")

        async with RemoteExecutor(client, {"demo.shout": _shout}, capacity=4):
            shouted = await client.run_job("demo.shout", b"remote executors lease jobs over gRPC")
            print(f"remote executor answered: {(await client.job_result(shouted)).decode()}")

        n = wf.parameter("n", wf.Int)
        squares = wf.range(n).map(lambda i: i * i)
        total = await wf.compute(squares.reduce(lambda a, b: a + b, 0), n=1000, client=client)
        print(f"compute: sum of the first 1000 squares = {total} (a graft evaluated by the backend)")
        published = await wf.publish(squares, "squares", "the first n squares", client=client)
        if published.id is None:
            raise RuntimeError("the workflow was not saved")
        reused = await wf.use(published.id, client=client)
        count = await wf.compute(wf.List[wf.Int]._promote(reused).length(), n=12, client=client)
        print(f"published workflow {published.id}; reused: {count} items")
        print("demo finished")
