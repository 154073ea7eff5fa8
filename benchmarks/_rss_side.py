"""Memory of downloading one large object with asyncwf (run in a fresh process by bench_data).

Usage: python -m benchmarks._rss_side gs://bucket/object TARGET_FILE -> prints JSON
{"baseline_mib", "peak_mib", "size"}: resident memory just before the download, and the most seen
while it ran (sampled every 5 ms from /proc/self/statm by a thread).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


async def main(source: str, target: str) -> None:
    from asyncwf.data import Datafile

    datafile = await Datafile(source)  # the session, the imports and one request: the baseline
    baseline = rss_mib()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        await datafile.download(target)
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], rss_mib())
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak[0], "size": datafile.size_bytes}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
