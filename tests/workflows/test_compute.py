"""compute / Job end to end through the real backend (`asyncwf serve` in a subprocess, and in-process)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import textwrap

import pytest

import asyncwf.workflows as wf
from asyncwf import Client, JobState
from asyncwf.exceptions import InvalidArgument, JobCancelled
from asyncwf.exceptions import TimeoutError as AsyncwfTimeout
from asyncwf.testing import LocalBackend


async def test_compute_through_asyncwf_serve(server_process) -> None:  # type: ignore[no-untyped-def]
    server = server_process()
    async with server.client() as client:
        assert await wf.compute(wf.Int(1) + 2, client=client) == 3
        x = wf.parameter("x", wf.Int)
        assert await wf.compute(x * 2, x=21, client=client) == 42
        assert await wf.compute([wf.Int(1), wf.Str("a") + "b", wf.Float(1.5)], client=client) == (1, "ab", 1.5)
        nested = wf.Dict[wf.Str, wf.List[wf.Int]]({"a": [1, 2], "b": []})
        assert await wf.compute(nested.items().map(lambda kv: kv[1].length()), client=client) == [2, 0]
        when = await wf.compute(wf.Datetime(2021, 5, 1) - wf.Timedelta(hours=1), client=client)
        assert when == dt.datetime(2021, 4, 30, 23, tzinfo=dt.UTC)


async def test_compute_as_a_method_and_blocking_false(default_client: Client) -> None:
    assert await (wf.Int(1) + 2).compute() == 3
    job = await wf.Int(40).compute(block=False)
    assert isinstance(job, wf.Job) and job.id
    assert await job.result(timeout=10) == 40
    assert (job.stage, job.status, job.done) == ("SUCCEEDED", "SUCCESS", True)
    assert job.result_type == "Int" and job.type is wf.Int and job.channel == wf.__channel__
    assert job.runtime is not None and job.created_datetime is not None and job.updated_datetime is not None
    again = await wf.Job.get(job.id)
    assert isinstance(again.object, wf.Int)
    assert await again.result() == 40
    assert await wf.compute(again.object + 2) == 42
    await job.execute()  # idempotent
    assert job.id == again.id


async def test_failures_are_job_compute_errors_with_codes(default_client: Client) -> None:
    with pytest.raises(wf.JobInvalid, match="ZeroDivisionError") as info:
        await wf.compute(wf.Int(1) // 0)
    assert info.value.code == "ERROR_INVALID" and info.value.id  # the original's ErrorCode names
    assert str(info.value).startswith(f'Job("{info.value.id}") failed with: code=ERROR_INVALID, message=')
    with pytest.raises(wf.JobOOM) as oom:
        await wf.compute(wf.range(10**9).length())
    assert oom.value.code == "ERROR_OOM"
    assert wf.JobComputeError.for_code("OOM") is wf.JobComputeError.for_code("ERROR_OOM") is wf.JobOOM
    x = wf.parameter("x", wf.Str)
    job = await wf.compute(x + "!", x="ok", block=False)
    assert await job.result() == "ok!"
    assert job.error is None


async def test_parameters_are_checked_before_anything_is_sent(default_client: Client) -> None:
    x = wf.parameter("x", wf.Int)
    with pytest.raises(InvalidArgument, match="missing parameters: x"):
        await wf.compute(x + 1)
    with pytest.raises(InvalidArgument, match="unknown parameters: y"):
        await wf.compute(x + 1, x=1, y=2)
    with pytest.raises(wf.ProxyTypeError):
        await wf.compute(x + 1, x="not an int")
    with pytest.raises(wf.ProxyTypeError, match="not a computable type"):
        await wf.compute(wf.Function.from_callable(lambda a: a, wf.Int))
    with pytest.raises(InvalidArgument, match="channel"):
        await wf.compute(wf.Int(1), channel="v0-11")
    assert [j async for j in default_client.list_jobs(kind="wf.compute")] == []


async def test_malformed_requests_fail_typed_and_the_backend_keeps_serving(default_client: Client) -> None:
    bad = [
        b"not json",
        json.dumps({"graft": {"1": ["add", "1", "1"], "returns": "1"}}).encode(),
        json.dumps({"graft": {"1": ["nope"], "returns": "1"}}).encode(),
        json.dumps({"graft": {"returns": 5}}).encode(),
        json.dumps({"graft": {"1": 1, "returns": "1"}, "channel": "v9"}).encode(),
    ]
    jobs = await asyncio.gather(*(default_client.run_job("wf.compute", payload) for payload in bad))
    assert all(j.state is JobState.FAILED and j.error is not None and j.error.code == "INVALID" for j in jobs)
    assert await wf.compute(wf.Int(2) * 2) == 4


async def test_result_timeout_holds_even_when_the_stream_is_silent(default_client: Client) -> None:
    slow = wf.range(20000).map(lambda i: wf.range(i).reduce(lambda a, b: a + b, 0)).length()
    job = await wf.compute(slow, block=False)
    with pytest.raises(AsyncwfTimeout, match="timeout while waiting on result"):
        await job.result(timeout=0.2)
    with pytest.raises(TimeoutError):
        await job.result(timeout=0.1)
    await job.cancel()
    assert job.stage == "CANCELLED"


async def test_cancelling_the_waiting_task_cancels_the_job(default_client: Client) -> None:
    slow = wf.range(20000).map(lambda i: wf.range(i).reduce(lambda a, b: a + b, 0)).length()
    job = wf.Job.build(slow, {})
    await job.execute()
    waiter = asyncio.create_task(job.result())
    await asyncio.sleep(0.2)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert job.id is not None
    final = await default_client.wait_job(job.id, timeout=10)
    assert final.state is JobState.CANCELLED
    with pytest.raises(JobCancelled):
        await job.result()


async def test_ten_thousand_node_graft_round_trip(default_client: Client) -> None:
    value = wf.Int(0)
    for _ in range(10_000):
        value = value + 1
    assert await value.compute() == 10_000


def test_the_seed_examples_run_as_written_with_blocking(tmp_path) -> None:  # type: ignore[no-untyped-def]
    script = textwrap.dedent(
        """
        import asyncwf.blocking as wf
        with wf.LocalBackend() as backend:
            wf.Client.set_default_client(backend.client())
            assert wf.Int(1).compute() == 1
            job = wf.Int(1).compute(block=False)
            assert job.result(timeout=10) == 1
            assert wf.compute(wf.Int(1) + wf.parameter("x", wf.Int), x=2) == 3
            print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


async def test_compute_jobs_run_in_a_local_backend_without_a_default_client() -> None:
    async with LocalBackend() as backend, backend.client() as client:
        assert await wf.compute(wf.Str("x") * 3, client=client) == "xxx"


async def test_results_are_cached_by_content(default_client: Client) -> None:
    x = wf.parameter("x", wf.Int)
    big = wf.range(x).map(lambda i: i * 2)
    first = await wf.compute(big, x=30_000, block=False)
    assert len(await first.result()) == 30_000 and first.cached_from is None
    assert first.info is not None and first.info.result_stored  # large: a blob
    second = await wf.compute(big, x=30_000, block=False)
    assert second.id != first.id and second.cached_from == first.id
    assert await second.result() == await first.result()
    other = await wf.compute(big, x=3, block=False)
    assert other.cached_from is None
    fresh = await wf.compute(big, x=30_000, block=False, cache=False)
    assert fresh.cached_from is None
    await fresh.result()
    small = await wf.compute(wf.Int(2) + 2, block=False)
    await small.result()
    again = await wf.compute(wf.Int(2) + 2, block=False)
    assert again.cached_from == small.id and await again.result() == 4
    failing = await wf.compute(wf.Int(1) // 0, block=False)
    with pytest.raises(wf.JobInvalid):
        await failing.result()
    retry = await wf.compute(wf.Int(1) // 0, block=False)
    assert retry.cached_from is None  # failures are not cached


async def test_huge_literals_are_refused_and_the_backend_keeps_serving(default_client: Client) -> None:
    from asyncwf.exceptions import InvalidArgument as Invalid

    with pytest.raises(Invalid, match="payload"):
        await wf.compute(wf.Str("x" * (5 * 1024 * 1024)))
    big_list = {"1": [list(range(300_000))], "2": ["wf.length", "1"], "returns": "2"}
    job = await default_client.run_job("wf.compute", json.dumps({"graft": big_list}).encode())
    assert job.state is JobState.SUCCEEDED  # a big quoted list is evaluated in a thread, not inline
    assert await wf.compute(wf.Int(1) + 1) == 2


def test_blocking_compute_against_asyncwf_serve(server_process) -> None:  # type: ignore[no-untyped-def]
    import asyncwf.blocking as bwf

    server = server_process()
    client = bwf.Client("127.0.0.1", server.port)
    x = bwf.parameter("x", bwf.Int)
    assert bwf.compute(x + 1, x=1, client=client) == 2
    job = bwf.compute(bwf.Str("a") * 3, block=False, client=client)
    assert job.result(timeout=10) == "aaa" and job.stage == "SUCCEEDED"
    published = bwf.publish(x * 3, "triple", client=client)
    assert bwf.compute(bwf.use(published.id, client=client), x=2, client=client) == 6
    client.close()


async def test_progress_bar_shows_stage_and_steps(default_client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    slow = wf.range(700).map(lambda i: wf.range(i).reduce(lambda a, b: a + b, 0)).length()
    job = await wf.compute(slow, block=False, cache=False)
    assert await job.result(progress_bar=True) == 700
    err = capsys.readouterr().err
    assert "Job " in err and "Stage: SUCCEEDED" in err and "Status: SUCCESS" in err
    last = err.rsplit("\r", 1)[-1]
    assert "100%" in last, last  # done and total count the same steps, and the bar ends full
    assert job.progress is not None and job.progress.percent == 100.0
    assert job.progress.steps_done == job.progress.steps_total >= 1


async def test_huge_integer_results_round_trip(client: Client) -> None:
    # Past 4,300 decimal digits Python refuses str(int); such results travel in hex.
    assert await wf.compute(wf.Int(2) ** 20_000, client=client) == 2**20_000


def test_huge_integer_literals_are_rejected_while_building() -> None:
    with pytest.raises(InvalidArgument, match="4,000 decimal digits"):
        wf.Int(2**20_000)


async def test_big_integer_literals_and_floats_survive_the_wire(client: Client) -> None:
    big = 2**100 + 1
    assert await wf.compute(wf.Int(big) + 1, client=client) == big + 1
    assert await wf.compute(wf.Float(1e-7) * 2, client=client) == 2e-7


async def test_small_grafts_are_answered_as_their_job_is_created(default_client: Client) -> None:
    job = wf.Job.build(wf.Int(20) * 2 + 2, {}, cache=False)
    await job.execute()
    assert job.done and job.stage == "SUCCEEDED"  # created finished: no queue, no run
    assert await job.result() == 42
    big = wf.range(30_000).map(lambda i: i * 2).reduce(lambda a, b: a + b, 0)  # beyond the inline limits
    assert await wf.compute(big, cache=False) == 30_000 * 29_999


async def test_a_graft_too_big_to_answer_inline_goes_straight_to_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncwf import JobContext, JobInfo
    from asyncwf.server.engine import _compute

    kind = _compute.ComputeKind()
    big = wf.range(30_000).map(lambda i: i * 2).reduce(lambda a, b: a + b, 0)
    payload, _ = wf.Job.build(big, {}, cache=False)._create_options()
    assert kind.answer_inline("j1", payload) is None
    started = asyncio.get_running_loop().time()
    assert kind.answer_inline("j0", payload) is None  # known too big: declined without evaluating
    assert asyncio.get_running_loop().time() - started < 0.002 * 10 and "j0" in kind._too_big
    limits_seen = []
    evaluate = _compute._evaluate
    monkeypatch.setattr(
        _compute, "_evaluate", lambda request, limits, ctx: limits_seen.append(limits) or evaluate(request, limits, ctx)
    )

    class Quiet:
        def progress(self, *args: object) -> None: ...

        def log(self, *args: object) -> None: ...

    ctx = JobContext(JobInfo(id="j1", kind=_compute.COMPUTE_KIND, state=JobState.RUNNING, payload=payload), Quiet())
    output = await kind.run(ctx)
    assert json.loads(output.data) == 30_000 * 29_999
    assert limits_seen and _compute.INLINE_LIMITS not in limits_seen  # no second inline try
    assert kind.answer_inline("j2", b"not json") is None and "j2" not in kind._too_big  # (its run reports it)
