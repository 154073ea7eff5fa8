"""A remote executor in its own process that answers ``bench.echo`` jobs with their payload.

Run as ``python -m benchmarks._echo_executor PORT CAPACITY``; prints ``ready`` once connected.
The services benchmark's floor: the job engine's remote path without the services layer.
"""

from __future__ import annotations

import asyncio
import sys

from asyncwf import Client, JobContext, RemoteExecutor


async def echo(ctx: JobContext) -> bytes:
    return ctx.payload


async def main(port: int, capacity: int) -> None:
    async with Client("127.0.0.1", port) as client, RemoteExecutor(client, {"bench.echo": echo}, capacity=capacity):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
