"""asyncwf worker: job creation to the script's first line, and a queue of short jobs on two workers.

- latency: one warm ``asyncwf worker`` (a subprocess) and ``asyncwf serve`` (another); jobs created
  one at a time; the script notes the time its first line ran. Floor: the same script started
  directly with ``asyncio.create_subprocess_exec`` (no backend, no worker).
- throughput: two workers (2 scripts at once each) on 1,000 short jobs (200 with ``--quick``; each script
  imports ``asyncwf.worker``, loads its job and finishes it), with the fork server and without it
  (``--no-fork-server``: a new interpreter per script); CPU use of the machine while they run.
  Floor: the same number of bare ``python -c "import asyncwf.worker"`` processes, two at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._util import ROOT, Row, asyncwf_server, percentile, subprocess_server

SCRIPT = ROOT / "benchmarks" / "_xf_script.py"


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _first_lines(path: Path) -> dict[int, float]:
    if not path.exists():
        return {}
    return {int(a): float(b) for a, b in (line.split() for line in path.read_text().splitlines() if line)}


async def _floor_latency(probe: Path, n: int) -> float:
    samples = []
    env = {**os.environ, "ASYNCWF_BENCH_FIRST_LINES": str(probe)}
    env.pop("XF_JOB_SERIAL", None)
    for i in range(n):
        probe.unlink(missing_ok=True)  # noqa: ASYNC240 - between measurements, nothing else runs
        start = time.time()
        proc = await asyncio.create_subprocess_exec(sys.executable, str(SCRIPT), env=env)
        await proc.wait()
        if i:
            samples.append(_first_lines(probe)[0] - start)
    return percentile(samples, 0.5) * 1000


async def _floor_throughput(n: int) -> float:
    semaphore = asyncio.Semaphore(2)

    async def one() -> None:
        async with semaphore:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import asyncwf.worker")
            await proc.wait()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - start)


async def _setup(conn: Any) -> dict[str, Any]:
    project = await conn.create("project", {"name": "bench"})
    workflow = await conn.create("workflow", {"project_serial": project["serial"], "name": "bench"})
    task_type = await conn.create("task_type", {"name": "bench", "version": "1.0"})
    return await conn.create("task", {"workflow_serial": workflow["serial"], "task_type_serial": task_type["serial"]})


async def run(rows: list[Row], quick: bool = False) -> None:
    from asyncwf import Client
    from asyncwf._concurrency import gather_bounded
    from asyncwf.worker import Connection, create_xf_job

    folder = Path(tempfile.mkdtemp(prefix="asyncwf-bench-worker-"))
    probe = folder / "first-lines.txt"
    os.environ["ASYNCWF_BENCH_FIRST_LINES"] = str(probe)
    samples = 20 if quick else 50
    count = 200 if quick else 1000
    worker_args = ["-m", "asyncwf._cli", "worker", "--task-type", f"bench={SCRIPT}", "--log-level", "WARNING"]
    with asyncwf_server("--http-port", "0") as server:
        port = str(server["port"])
        async with Client("127.0.0.1", server["port"]) as client, Connection(client) as conn:
            task = await _setup(conn)

            async def one_job(_: object = None) -> tuple[int, str]:
                job = await create_xf_job(conn, {"task_serial": task["serial"]})
                return job["serial"], job["engine_job_id"]

            with subprocess_server(*worker_args, "--port", port, "--concurrency", "2", "--work-dir",
                                   str(folder / "w1")):  # fmt: skip
                latencies = []
                for i in range(samples + 3):
                    start = time.time()
                    serial, engine_id = await one_job()
                    await client.wait_job(engine_id, timeout=60)
                    if i >= 3:  # warm-up
                        latencies.append(_first_lines(probe)[serial] - start)

            async def throughput(*extra: str) -> tuple[float, float]:
                """Jobs/s and the machine's CPU use for ``count`` jobs on two workers of two scripts each."""
                with contextlib.ExitStack() as workers:
                    for name in ("a", "b"):
                        workers.enter_context(subprocess_server(
                            *worker_args, *extra, "--port", port, "--concurrency", "2", "--work-dir",
                            str(folder / f"{name}{len(extra)}"),
                        ))  # fmt: skip
                    busy0, total0 = _cpu_times()
                    start = time.perf_counter()
                    jobs = await gather_bounded(range(count), one_job, 64)
                    await gather_bounded([engine_id for _, engine_id in jobs],
                                         lambda engine_id: client.wait_job(engine_id, timeout=600), 256)  # fmt: skip
                    elapsed = time.perf_counter() - start
                    busy1, total1 = _cpu_times()
                return count / elapsed, 100.0 * (busy1 - busy0) / max(total1 - total0, 1)

            forked, forked_cpu = await throughput()
            fresh, _ = await throughput("--no-fork-server")
            done = [j for j in await conn.list("job", parent=task["serial"]) if j["state"] == "Done"]
            assert len(done) == 2 * count + samples + 3, f"{len(done)} jobs done"
    p50 = percentile(latencies, 0.5) * 1000
    rows.append(Row("worker: first line", "asyncwf", "created -> script's first line, p50", p50, "ms"))
    rows.append(Row("worker: first line", "asyncwf", "p90", percentile(latencies, 0.9) * 1000, "ms"))
    floor = await _floor_latency(probe, 11 if quick else 21)
    rows.append(Row("worker: first line", "floor: bare subprocess start", "created -> script's first line, p50",
                    floor, "ms"))  # fmt: skip
    label = f"worker: {count} short jobs"
    rows.append(Row(label, "asyncwf", "jobs/s (2 workers x 2)", forked, "jobs/s"))
    rows.append(Row(label, "asyncwf", "CPU busy (2 cores)", forked_cpu, "%"))
    rows.append(Row(label, "asyncwf --no-fork-server", "jobs/s (2 workers x 2)", fresh, "jobs/s"))
    rate = await _floor_throughput(100 if quick else 200)
    rows.append(Row(label, "floor: bare `import asyncwf.worker` x2", "jobs/s (2 workers x 2)", rate, "jobs/s"))
