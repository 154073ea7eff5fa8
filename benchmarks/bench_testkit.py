"""What the pytest plugin costs a suite that never uses it: a one-test pytest run, with and without it.

Both runs are fresh ``python -m pytest`` processes on the same one-test module
(a plain sync test), alternated, median of the wall times. The floor is the
same run with ``-p no:asyncwf``. Target: the plugin adds under 50 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._util import Row


def _pytest_seconds(folder: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "test_one.py"],
        cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def _measure(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
        (folder / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        with_plugin, without = [], []
        for _ in range(n):
            with_plugin.append(_pytest_seconds(folder))
            without.append(_pytest_seconds(folder, "-p", "no:asyncwf"))
    return statistics.median(with_plugin) * 1000, statistics.median(without) * 1000


async def run(rows: list[Row], *, quick: bool = False) -> None:
    with_plugin, without = await asyncio.to_thread(_measure, 7 if quick else 25)
    rows.append(Row("pytest plugin, unused", "asyncwf", "one-test run", with_plugin, "ms"))
    rows.append(Row("pytest plugin, unused", "-p no:asyncwf (floor)", "one-test run", without, "ms"))
    rows.append(Row("pytest plugin, unused", "asyncwf", "added by the plugin", with_plugin - without, "ms"))
