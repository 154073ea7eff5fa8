"""asyncwf.services beside the Octue SDK 0.69.1 (its own virtualenv), same run.

- ``ChildEmulator.ask_multiple`` of 1,000 questions (Octue's emulator answers through a thread pool);
- ``Runner.run`` of a trivial function app, per run;
- ``Child.ask_multiple`` through the backend to a served app (in-process backend, the app served by a
  ServedApp over gRPC: 1,000 questions, 200 with ``--quick``; then backend, app and asker in three
  processes: 200 and 1,000 questions), beside its floor: as many bare ``run_job`` calls through a remote
  executor in three processes;
  256 questions in flight to a served app that takes 256 at once (:data:`CONCURRENCY`); each the
  median of :data:`ROUNDS` rounds after one warm-up question.
  Octue's own message path needs Pub/Sub; ``../shared/reference/octue.md`` measured 1.17 s for
  it with validation off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from benchmarks._util import ROOT, Row, asyncwf_server
from benchmarks.bench_data import _octue_python

EVENTS = [{"kind": "result", "output_values": 1, "output_manifest": None}]
#: Questions in flight (ask_multiple's limit) and questions the served app answers at once: the
#: same, so that every question is handed to the app as it is created (more in flight than the
#: app takes would queue them in the backend). 64 instead: see docs/benchmarks.md.
CONCURRENCY = 256
#: Rounds of each through-the-backend measurement (and of its floor); the median is reported.
ROUNDS = 7
TWINE = {"input_values_schema": {"type": "object"}, "output_values_schema": {"type": "object"}}


async def _app(analysis: Any) -> None:
    analysis.output_values = {"x": analysis.input_values["x"] + 1}


async def _ours(rows: list[Row], quick: bool) -> None:
    from asyncwf.services import Child, ChildEmulator, Runner, ServedApp
    from asyncwf.testing import LocalBackend

    child = ChildEmulator(events=EVENTS)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        await child.ask_multiple(*({"input_values": {"x": i}} for i in range(1000)))
        best = min(best, time.perf_counter() - start)
    rows.append(Row("services: emulator", "asyncwf", "ask_multiple(1000)", best * 1000, "ms"))

    runner = Runner(_app, twine=TWINE)
    await runner.run(input_values={"x": 0})
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(1000):
            await runner.run(input_values={"x": i})
        best = min(best, (time.perf_counter() - start) / 1000)
    rows.append(Row("services: Runner.run", "asyncwf", "trivial function app, each", best * 1000, "ms"))

    logging.getLogger("asyncwf").setLevel(logging.WARNING)
    count = 200 if quick else 1000
    async with LocalBackend() as backend, backend.client() as client, ServedApp(
        runner, "bench/app:1.0", client, concurrency=CONCURRENCY
    ):  # fmt: skip
        asker = Child("bench/app:1.0", client=client)
        await asker.ask(input_values={"x": 0})
        elapsed = await _median_of_rounds(asker, count)
    rows.append(Row("services: through the backend", "asyncwf, one process", f"ask_multiple({count})",
                    elapsed * 1000, "ms"))  # fmt: skip
    for questions in (200, 1000):
        label = f"services: {questions} questions through the backend"
        rows.append(Row(label, "asyncwf, three processes", f"ask_multiple({questions})",
                        await _three_processes(questions) * 1000, "ms"))  # fmt: skip
        rows.append(Row(label, "floor: bare run_job via a remote executor, three processes", f"{questions} jobs",
                        await _engine_floor(questions) * 1000, "ms"))  # fmt: skip


APP = "async def run(analysis):\n    analysis.output_values = {'x': analysis.input_values['x'] + 1}\n"


@contextlib.asynccontextmanager
async def _started(command: list[str]) -> AsyncIterator[None]:
    """A helper process that prints a line when it is ready; stopped on the way out."""
    process = await asyncio.to_thread(
        lambda: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    )
    try:
        assert process.stdout is not None
        await asyncio.to_thread(process.stdout.readline)
        yield
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 60)
        if process.stdout is not None:
            process.stdout.close()


async def _median_of_rounds(asker: Any, count: int) -> float:
    """The median time of :data:`ROUNDS` rounds of ``ask_multiple(count)``."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        await asker.ask_multiple(*({"input_values": {"x": i}} for i in range(count)), concurrency=CONCURRENCY)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _three_processes(count: int) -> float:
    """The backend (`asyncwf serve`), the app (`asyncwf serve-app`) and the asker each in its own process."""
    from asyncwf import Client
    from asyncwf.services import Child

    with tempfile.TemporaryDirectory() as folder, asyncwf_server() as info:
        await asyncio.to_thread(Path(folder, "app.py").write_text, APP)
        command = [sys.executable, "-m", "asyncwf._cli", "serve-app", "--service-id", "bench/app:1.0", "--app",
                   folder, "--twine", json.dumps(TWINE), "--port", str(info["port"]), "--concurrency", str(CONCURRENCY),
                   "--log-level", "WARNING"]  # fmt: skip
        async with _started(command), Client("127.0.0.1", info["port"]) as client:
            asker = Child("bench/app:1.0", client=client)
            await asker.ask(input_values={"x": 0})
            return await _median_of_rounds(asker, count)


async def _engine_floor(count: int) -> float:
    """The same path without the services layer: ``run_job`` of an echo kind through a remote executor in
    its own process, with what Child.ask asks for (the job's logs, one attempt) and the same concurrency."""
    from asyncwf import Client

    with asyncwf_server() as info:
        command = [sys.executable, "-m", "benchmarks._echo_executor", str(info["port"]), str(CONCURRENCY)]
        async with _started(command), Client("127.0.0.1", info["port"]) as client:
            await client.run_job("bench.echo", b"{}")
            limit = asyncio.Semaphore(CONCURRENCY)

            async def one(i: int) -> None:
                async with limit:
                    await client.run_job("bench.echo", b'{"x": %d}' % i, max_attempts=1, on_log=lambda record: None)

            times = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(count)))
                times.append(time.perf_counter() - start)
            return statistics.median(times)


def _octue(rows: list[Row]) -> None:
    python = _octue_python()
    if python is None:
        rows.append(Row("services", "octue 0.69.1", "skipped (could not install it)", float("nan"), ""))
        return
    done = subprocess.run([str(python), str(ROOT / "benchmarks" / "_octue_services_side.py")],
                          capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows.append(Row("services: emulator", "octue 0.69.1", "ask_multiple(1000)",
                    result["emulator_ask_multiple_1000"] * 1000, "ms"))  # fmt: skip
    rows.append(Row("services: Runner.run", "octue 0.69.1", "trivial function app, each",
                    result["runner_run"] * 1000, "ms"))  # fmt: skip


async def run(rows: list[Row], *, quick: bool = False) -> None:
    await _ours(rows, quick)
    await asyncio.to_thread(_octue, rows)


if __name__ == "__main__":
    out: list[Row] = []
    asyncio.run(run(out, quick="--quick" in sys.argv))
    for row in out:
        print(row)
