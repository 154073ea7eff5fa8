"""Shared helpers: subprocess servers, latency statistics, the results table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peer_python(name: str, *requirements: str) -> Path | None:
    """The Python of a peer's own virtualenv (``benchmarks/.venvs/<name>``), made on first use with
    ``pip install <requirements>``; None if it cannot be installed."""
    venv = ROOT / "benchmarks" / ".venvs" / name
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=False)
        if done.returncode != 0:
            return None
    return python


@dataclass
class Row:
    """One measured line: a metric of one system."""

    benchmark: str
    system: str
    metric: str
    value: float
    unit: str


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latencies(call: Callable[[], Awaitable[object]], n: int, warmup: int = 50) -> tuple[float, float]:
    """p50 and p99 in milliseconds of ``n`` sequential calls."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return percentile(samples, 0.5) * 1000, percentile(samples, 0.99) * 1000


async def throughput(call: Callable[[], Awaitable[object]], n: int, in_flight: int) -> float:
    """Calls per second with ``in_flight`` concurrent callers doing ``n`` calls in all."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return n / (time.perf_counter() - start)


@contextlib.contextmanager
def subprocess_server(*cmd: str) -> Iterator[dict[str, int]]:
    """Start a server that prints one JSON line with its port; stop it afterwards."""
    proc = subprocess.Popen([sys.executable, *cmd], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def asyncwf_server(*extra: str) -> Iterator[dict[str, int]]:
    with tempfile.TemporaryDirectory() as data_dir:
        args = ["-m", "asyncwf._cli", "serve", "--port", "0", "--http-port", "-1", "--data-dir", data_dir]
        with subprocess_server(*args, "--log-level", "WARNING", *extra) as info:
            yield info


def median_of(values: list[float]) -> float:
    return statistics.median(values)
