"""A user's script that type checkers read (not run): both APIs, and lines that must fail (``# error``)."""

from __future__ import annotations

import asyncwf
import asyncwf.blocking as bwf
import asyncwf.blocking.data as bdata
import asyncwf.blocking.services as bservices
import asyncwf.blocking.workflows as bwfw
import asyncwf.workflows as wf
from asyncwf import JobInfo


async def async_side(client: asyncwf.Client) -> str:
    job: JobInfo = await client.run_job("asyncwf.echo", b"x")
    result: bytes = await client.job_result(job)
    value = await wf.compute(wf.Int(1) + 1)
    client.health().upper()  # error
    return result.decode() + str(value) + job.id


def blocking_side() -> str:
    with bwf.LocalBackend() as backend:
        client: bwf.Client = backend.client()
        status: str = client.health()
        job = client.run_job("asyncwf.echo", b"x")
        payload: bytes = client.job_result(job)
        events = [type(event).__name__ for event in client.watch_job(job.id)]
        count: int = client.health()  # error
        client.run_job(123)  # error
    datafile = bdata.Datafile("a.txt")
    digest: str = datafile.calculate_hash()
    datafile.calculate_hash() + 1  # error
    service, app = bservices.load_service_and_app_configuration("octue.yaml")
    workers: int = service.concurrency
    result = bwfw.compute(bwfw.Int(1) + 1)
    bwf.compute()  # error
    return status + payload.decode() + str(events) + str(count) + digest + str(workers) + str(app) + str(result)
