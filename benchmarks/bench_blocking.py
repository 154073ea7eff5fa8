"""What a blocking call costs over its async twin: one job round trip (``run_job``) through the same backend.

The async side runs its calls on its own event loop; the blocking side calls
``asyncwf.blocking`` from a plain thread (each call hops to the portal's loop
and back). Target: the blocking call costs at most 0.2 ms more at the median.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks._util import Row, asyncwf_server, latencies, percentile


def _blocking_p50(port: int, n: int) -> float:
    import asyncwf.blocking as bwf

    client = bwf.Client("127.0.0.1", port)
    for _ in range(50):
        client.run_job("asyncwf.echo", b"x")
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        client.run_job("asyncwf.echo", b"x")
        samples.append(time.perf_counter() - start)
    client.close()
    return percentile(samples, 0.5) * 1000


async def run(rows: list[Row], *, quick: bool = False) -> None:
    from asyncwf import Client

    n = 300 if quick else 2000
    with asyncwf_server() as info:
        async with Client("127.0.0.1", info["port"]) as client:
            p50, _ = await latencies(lambda: client.run_job("asyncwf.echo", b"x"), n)
        blocking = await asyncio.to_thread(_blocking_p50, info["port"], n)
    rows.append(Row("blocking run_job", "asyncwf", "p50 async", p50, "ms"))
    rows.append(Row("blocking run_job", "asyncwf", "p50 blocking", blocking, "ms"))
    rows.append(Row("blocking run_job", "asyncwf", "blocking cost over async (target <= 0.2)", blocking - p50, "ms"))


if __name__ == "__main__":
    out: list[Row] = []
    asyncio.run(run(out))
    for row in out:
        print(row)
