"""Run the benchmarks and print every number beside its floor or peer, as ratios.

python -m benchmarks            # all
python -m benchmarks --quick    # fewer samples
python -m benchmarks --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict

from benchmarks import (
    bench_blocking,
    bench_compute,
    bench_data,
    bench_jobs,
    bench_scaleout,
    bench_services,
    bench_testkit,
    bench_tiles,
    bench_worker,
)
from benchmarks._util import Row

BENCHMARKS = {
    "jobs": bench_jobs.run,
    "compute": bench_compute.run,
    "data": bench_data.run,
    "services": bench_services.run,
    "worker": bench_worker.run,
    "scaleout": bench_scaleout.run,
    "tiles": bench_tiles.run,
    "blocking": bench_blocking.run,
    "testkit": bench_testkit.run,
}


def _table(rows: list[Row]) -> str:
    lines = ["| benchmark | system | metric | value | ratio to asyncwf |", "|---|---|---|---|---|"]
    ours = {(r.benchmark, r.metric): r.value for r in rows if r.system in ("asyncwf", "asyncwf job")}
    for r in rows:
        base = ours.get((r.benchmark, r.metric))
        ratio = ""
        if base and not math.isnan(r.value) and not r.system.startswith("asyncwf"):
            ratio = f"{base / r.value:.2f}x"
        value = "n/a" if math.isnan(r.value) else f"{r.value:,.2f} {r.unit}".strip()
        lines.append(f"| {r.benchmark} | {r.system} | {r.metric} | {value} | {ratio} |")
    return "\n".join(lines)


def _in_subprocess(name: str, quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "rows.json")
        command = [sys.executable, "-m", "benchmarks", name, "--json", out, *(["--quick"] if quick else [])]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return [Row(**row) for row in json.load(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], default=[])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows: list[Row] = []
    names = args.names or list(BENCHMARKS)
    if len(names) == 1:
        asyncio.run(BENCHMARKS[names[0]](rows, quick=args.quick))
    else:
        # Each benchmark in a fresh process: what one leaves behind (imported peers, a big heap the
        # garbage collector walks, threads) must not slow the next.
        for name in names:
            rows += _in_subprocess(name, args.quick)
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    print(_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in rows], f, indent=2)


if __name__ == "__main__":
    main()
