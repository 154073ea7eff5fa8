"""A remote executor in its own process, for the replica tests: ``python -m tests.replica_executor PORT``.

Runs ``asyncwf.sleep`` jobs (the built-in kind) leased from the backend at 127.0.0.1:PORT, and
appends "job id attempt" to the file named by $RUNS for every run it finishes.
"""

from __future__ import annotations

import asyncio
import os
import sys

from asyncwf import Client, JobContext, RemoteExecutor
from asyncwf.server.engine._kinds import sleep


async def _sleep(ctx: JobContext) -> str:
    result = await sleep(ctx)
    fd = os.open(os.environ["RUNS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{ctx.job.id} {ctx.job.attempt}\n".encode())
    os.close(fd)
    return result


async def main(port: int) -> None:
    async with Client("127.0.0.1", port) as client, RemoteExecutor(
        client, {"asyncwf.sleep": _sleep}, capacity=8, lease_seconds=2.0
    ):  # fmt: skip
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
