"""The benchmarks' task-type script: notes when its first line ran, then loads its job and finishes it."""

import time

FIRST_LINE = time.time()

import asyncio  # noqa: E402
import os  # noqa: E402


async def main() -> None:
    from asyncwf.worker import XFWorkerJob

    probe = os.environ.get("ASYNCWF_BENCH_FIRST_LINES")
    if probe:
        fd = os.open(probe, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{os.environ.get('XF_JOB_SERIAL', '0')} {FIRST_LINE!r}\n".encode())
        os.close(fd)
    if os.environ.get("XF_JOB_SERIAL"):
        async with XFWorkerJob() as job:
            await job.finish({})


if __name__ == "__main__":
    asyncio.run(main())
