"""Task type "failing": fails in the way its input asks for."""

import asyncio
import sys

from asyncwf.worker import XFWorkerJob


async def main() -> None:
    job = await XFWorkerJob()
    job.hook_exceptions()
    how = job.job["inputs"].get("how", "error")
    print("about to fail:", how)
    if how == "error":
        await job.error("the input table is empty")
    if how == "raise":
        await job.aclose()
        raise ValueError("cannot parse row 3")
    if how == "exit":
        print("fatal: out of cheese", file=sys.stderr)
        sys.exit(3)
    if how == "no-finish":
        await job.aclose()
        return
    if how == "chatty":
        await job.aclose()
        for i in range(10_050):
            print(f"line {i}")
        sys.stdout.write("x" * 100_000)  # a long last line without an end
        return
    if how == "sleep":
        await job.aclose()
        await asyncio.sleep(3600)


asyncio.run(main())
