"""A user's script that type checkers read (not run): both APIs, and lines that must fail (``# error``)."""

from __future__ import annotations

from typing import Any, assert_type

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


async def async_proxies(geoctx: wf.GeoContext) -> None:
    assert_type(wf.Int(1) + 1, wf.Int)
    assert_type(1 + wf.Int(1), wf.Int)
    assert_type(wf.Int(1) + 1.5, wf.Float)
    assert_type(wf.Int(1) + wf.Float(2.0), wf.Float)
    assert_type(2 * wf.Float(1.0), wf.Float)
    assert_type(wf.Int(1) / 2, wf.Float)
    assert_type(wf.Int(1) < 2, wf.Bool)
    assert_type(-wf.Int(1), wf.Int)
    assert_type(await (wf.Int(1) + 1).compute(), int)
    assert_type(await wf.compute(wf.Float(1.0)), float)
    assert_type(await wf.compute(wf.Str("a") + "b"), str)
    assert_type(await wf.compute(wf.Int(1), block=False), wf.Job)
    assert_type(await wf.Int(1).compute(block=False), wf.Job)
    assert_type(await wf.Image.from_id("x").compute(geoctx), wf.ImageResult)
    assert_type(wf.List[wf.Int]([1]).map(lambda x: x + 1), wf.List[wf.Int])
    assert_type(wf.List[wf.Int]([1])[0], wf.Int)
    assert_type(wf.range(3), wf.List[wf.Int])
    assert_type(wf.Dict[wf.Str, wf.Int]({"a": 1})["a"], wf.Int)
    assert_type(wf.parameter("x", wf.Float), wf.Float)
    assert_type(await wf.publish(wf.Int(1), "one"), wf.Workflow)
    wf.Int(1) + "a"  # error
    wf.Str("a") * wf.Str("b")  # error
    wf.Int(1).compute().bit_length()  # error
    wf.List[wf.Int]([1]).filter(lambda x: x + 1)  # error


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
    assert_type(bwfw.Int(1) + 1, bwfw.Int)
    assert_type(bwfw.Int(1) * 2.5, bwfw.Float)
    assert_type((bwfw.Int(1) + 1).compute(), int)
    assert_type(bwfw.compute(bwfw.Str("a")), str)
    assert_type(bwfw.Int(1).compute(block=False), bwfw.Job)
    assert_type(bwfw.List[bwfw.Int]([1]).map(lambda x: x * 2), bwfw.List[bwfw.Int])
    assert_type(bwfw.List[bwfw.Int]([1]).map(lambda x: x * 2).compute(), list[Any])
    assert_type(bwfw.Str("a").length(), bwfw.Int)
    assert_type(bwfw.range(3)[0].compute(), int)
    assert_type(bwfw.Int(1).publish("one"), bwfw.Workflow)
    assert_type(bwf.Int(1) + 1, bwfw.Int)
    bwfw.Int(1) + "a"  # error
    bwfw.Int(1).compute() + "a"  # error
    return status + payload.decode() + str(events) + str(count) + digest + str(workers) + str(app) + str(result)
