"""The job engine end to end: a real backend over real sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from asyncwf import Client, JobContext, JobInfo, JobState, LogRecord, ProgressUpdate, RemoteExecutor, RetryPolicy
from asyncwf.client import raise_for_job
from asyncwf.exceptions import Conflict, InvalidArgument, JobCancelled, JobFailed, NotFound
from asyncwf.server.engine._engine import CreateSpec
from asyncwf.testing import LocalBackend
from asyncwf.v1 import jobs_pb2 as pb

from .conftest import eventually


async def test_round_trip_returns_the_result(client: Client) -> None:
    job = await client.run_job("asyncwf.echo", b"hello", content_type="text/plain")
    assert job.state is JobState.SUCCEEDED
    assert job.result_inline == b"hello"
    assert job.result_content_type == "text/plain"
    assert job.attempt == 1
    assert job.started_at is not None and job.finished_at is not None and job.expires_at is not None
    assert await client.job_result(job) == b"hello"
    assert await client.job_result(job.id) == b"hello"


async def test_watch_pushes_every_state_change_with_progress_and_logs(client: Client) -> None:
    events = [
        e async for e in client.create_and_watch("asyncwf.sleep", b'{"seconds": 0.2, "steps": 4}', include_logs=True)
    ]
    states = [e.state for e in events if isinstance(e, JobInfo)]
    assert states[0] in (JobState.QUEUED, JobState.RUNNING)
    assert states[-1] is JobState.SUCCEEDED
    progress = [e.progress for e in events if isinstance(e, ProgressUpdate)]
    assert [p.steps_done for p in progress] == [1, 2, 3, 4]
    assert progress[-1].percent == 100.0
    assert progress[0].eta_seconds is not None and progress[0].eta_seconds > 0
    logs = [e for e in events if isinstance(e, LogRecord)]
    assert [r.message for r in logs] == [f"step {i} of 4 done" for i in range(1, 5)]
    assert [r.seq for r in logs] == sorted(r.seq for r in logs)
    # The final snapshot carries the persisted progress.
    final = await client.get_job(events[-1].id)
    assert final.progress.steps_done == 4


async def test_a_late_watcher_first_gets_the_current_state(client: Client) -> None:
    done = await client.run_job("asyncwf.echo", b"x")
    events = [e async for e in client.watch_job(done.id, include_logs=True)]
    assert len(events) == 1 and isinstance(events[0], JobInfo) and events[0].state is JobState.SUCCEEDED

    running = await client.create_job("asyncwf.sleep", b'{"seconds": 0.3, "steps": 1}')
    await asyncio.sleep(0.05)
    first = await anext(aiter(client.watch_job(running.id)))
    assert isinstance(first, JobInfo) and first.state is JobState.RUNNING


async def test_large_results_are_stored_as_blobs_and_streamed(client: Client) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    job = await client.run_job("asyncwf.echo", payload)
    assert job.result_stored and job.result_inline is None and job.result_size == len(payload)
    assert await client.job_result(job) == payload


async def test_idempotency_key_makes_creates_safe_to_retry(client: Client) -> None:
    first = await client.create_job("asyncwf.echo", b"a", idempotency_key="key-1")
    again = await client.create_job("asyncwf.echo", b"a", idempotency_key="key-1")
    assert again.id == first.id
    with pytest.raises(Conflict, match="different request"):
        await client.create_job("asyncwf.echo", b"b", idempotency_key="key-1")
    ids = {j.id async for j in client.list_jobs(kind="asyncwf.echo")}
    assert ids == {first.id}


async def test_list_filters_by_state_kind_and_labels(client: Client) -> None:
    a = await client.run_job("asyncwf.echo", b"", labels={"team": "a"})
    b = await client.run_job("asyncwf.fail", b"no", labels={"team": "b"})
    assert [j.id async for j in client.list_jobs(labels={"team": "a"})] == [a.id]
    assert [j.id async for j in client.list_jobs(states=[JobState.FAILED])] == [b.id]
    assert [j.id async for j in client.list_jobs(kind="asyncwf.fail")] == [b.id]
    assert len([j async for j in client.list_jobs(limit=1)]) == 1


async def test_failures_are_typed(client: Client) -> None:
    job = await client.run_job("asyncwf.fail", b"boom")
    assert job.state is JobState.FAILED
    assert job.error is not None and job.error.code == "EXECUTOR_ERROR" and "boom" in job.error.message
    assert "RuntimeError" in job.error.details
    with pytest.raises(JobFailed, match="boom") as info:
        raise_for_job(job)
    assert info.value.code == "EXECUTOR_ERROR" and info.value.id == job.id
    with pytest.raises(JobFailed):
        await client.job_result(job.id)


async def test_execution_timeout_fails_the_job() -> None:
    async def slow(ctx: JobContext) -> bytes:
        await asyncio.sleep(10)
        return b""

    async with LocalBackend(kinds={"test.slow": slow}) as backend, backend.client() as client:
        job = await client.run_job("test.slow", execution_timeout=0.1)
        assert job.state is JobState.FAILED and job.error is not None and job.error.code == "TIMEOUT"


async def test_cancel_a_queued_and_a_running_job(client: Client) -> None:
    running = await client.create_job("asyncwf.sleep", b'{"seconds": 30}')
    await eventually(lambda: True)
    watch = client.watch_job(running.id)
    first = await anext(watch)
    assert isinstance(first, JobInfo)
    cancelled = await client.cancel_job(running.id, "not needed")
    assert cancelled.state is JobState.CANCELLED and cancelled.error is not None
    assert cancelled.error.message == "not needed"
    rest = [e async for e in watch]
    assert rest[-1].state is JobState.CANCELLED  # type: ignore[union-attr]
    # Cancelling again changes nothing.
    again = await client.cancel_job(running.id)
    assert again.version == cancelled.version
    # The snapshots a cancel returns leave the payload out; get_job has it.
    assert cancelled.payload == again.payload == b""
    assert (await client.get_job(running.id)).payload == b'{"seconds": 30}'
    with pytest.raises(JobCancelled):
        await client.job_result(running.id)


async def test_cpu_bound_sync_jobs_run_off_the_loop(client: Client) -> None:
    job = await client.run_job("asyncwf.primes", json.dumps({"below": 100_000}).encode())
    assert (await client.job_result(job)) == b"9592"


async def test_remote_executor_runs_jobs_and_streams_progress(backend: LocalBackend) -> None:
    def square(ctx: JobContext) -> str:  # sync: runs in a worker thread of the executor
        n = int(ctx.payload)
        ctx.progress(1, 2)
        ctx.log("squaring")
        return str(n * n)

    async with backend.client() as client, RemoteExecutor(client, {"test.square": square}, capacity=4):
        results = await asyncio.gather(*(client.run_job("test.square", str(i).encode()) for i in range(20)))
        assert [await client.job_result(j) for j in results] == [str(i * i).encode() for i in range(20)]
        events = [e async for e in client.create_and_watch("test.square", b"3", include_logs=True)]
        assert any(isinstance(e, ProgressUpdate) and e.progress.steps_done == 1 for e in events)
        assert any(isinstance(e, LogRecord) and e.message == "squaring" for e in events)
        assert events[-1].lease_owner.startswith("remote:")  # type: ignore[union-attr]


class _Claims:
    """Counts the claims remote executors make (each is a write to the store)."""

    def __init__(self, backend: LocalBackend) -> None:
        assert backend.backend is not None
        engine = backend.backend.engine
        self.count = 0
        claim = engine.claim

        async def counted(*args: Any, **kwargs: Any) -> list[JobInfo]:
            self.count += str(args[2]).startswith("remote:")
            return await claim(*args, **kwargs)

        engine.claim = counted  # type: ignore[method-assign]


async def test_a_remote_executor_claims_only_when_work_was_queued(backend: LocalBackend) -> None:
    # Jobs reach a remote executor's free slots as they are created; its lease stream asks the store
    # for queued jobs only after the engine signalled new work (not after every answer).
    claims = _Claims(backend)
    async with backend.client() as client, RemoteExecutor(client, {"test.echo": lambda ctx: ctx.payload}, capacity=16):
        await client.run_job("test.echo", b"warm-up")  # the executor's lease stream is open
        claims.count = 0
        for _ in range(5):  # within the executor's capacity: every job is handed over as it is created
            jobs = await asyncio.gather(*(client.run_job("test.echo", b"%d" % i) for i in range(10)))
            assert [j.result_inline for j in jobs] == [b"%d" % i for i in range(10)]
        assert claims.count == 0  # not one per answer
        # Beyond its capacity, jobs wait queued and are claimed as slots come free.
        async with asyncio.timeout(10):
            assert len(await asyncio.gather(*(client.run_job("test.echo", b"x") for _ in range(60)))) == 60
        assert claims.count > 0


async def test_a_slot_comes_back_with_its_jobs_result(backend: LocalBackend) -> None:
    # A job's small result and its slot travel together: one job after another through a single slot,
    # each is handed over as it is created, never left queued for a claim.
    claims = _Claims(backend)
    async with backend.client() as client, RemoteExecutor(client, {"test.echo": lambda ctx: ctx.payload}, capacity=1):
        await client.run_job("test.echo", b"warm-up")
        claims.count = 0
        for i in range(30):
            assert (await client.run_job("test.echo", b"%d" % i)).result_inline == b"%d" % i
        assert claims.count == 0


async def test_remote_logs_written_while_a_heartbeat_is_in_flight_still_arrive(backend: LocalBackend) -> None:
    # The progress goes out in one heartbeat; the log comes while that heartbeat is under way and the job
    # returns at once: the log must still be sent, before the result. Each job waits a different number of
    # loop turns, so some log lands inside the heartbeat's round trip whatever its exact length.
    async def report(ctx: JobContext) -> str:
        ctx.progress(1, 2)
        for _ in range(int(ctx.payload)):
            await asyncio.sleep(0)
        ctx.log("late line")
        return "done"

    async with backend.client() as client, RemoteExecutor(client, {"test.report": report}, capacity=2):
        for turns in range(30):
            events = [e async for e in client.create_and_watch("test.report", str(turns).encode(), include_logs=True)]
            assert any(isinstance(e, ProgressUpdate) for e in events)
            assert [e.message for e in events if isinstance(e, LogRecord)] == ["late line"]


async def test_remote_results_small_and_large_settle_either_way(backend: LocalBackend) -> None:
    # Small results settle over the lease stream, in batches; large ones by a CompleteJob call each.
    async def make(ctx: JobContext) -> bytes:
        return b"x" * int(ctx.payload)

    async with backend.client() as client, RemoteExecutor(client, {"test.make": make}, capacity=16):
        sizes = [10, 1000, 300 * 1024, 2 * 1024 * 1024] * 4
        jobs = await asyncio.gather(*(client.run_job("test.make", str(n).encode()) for n in sizes))
        assert all(j.state is JobState.SUCCEEDED for j in jobs)
        assert [len(await client.job_result(j)) for j in jobs] == sizes


async def test_remote_executor_failure_and_cancel(backend: LocalBackend) -> None:
    started = asyncio.Event()

    async def hang(ctx: JobContext) -> bytes:
        started.set()
        await asyncio.sleep(60)
        return b""

    async def broken(ctx: JobContext) -> bytes:
        raise ValueError("bad input")

    async with backend.client() as client, RemoteExecutor(client, {"test.hang": hang, "test.broken": broken}) as ex:
        failed = await client.run_job("test.broken")
        assert failed.state is JobState.FAILED and failed.error is not None and "bad input" in failed.error.message
        job = await client.create_job("test.hang")
        await started.wait()
        await client.cancel_job(job.id)
        await eventually(lambda: ex.running_jobs == 0)


async def test_an_executor_that_stops_heartbeating_loses_its_lease() -> None:
    async with LocalBackend(lease_seconds=0.3) as backend, backend.client() as client:
        job = await client.create_job("test.remote", max_attempts=2)
        # A bare executor that leases and then goes silent.
        for attempt in (1, 2):
            async with client._jobs() as stub, stub.Acquire.open() as stream:
                await stream.send_message(
                    pb.AcquireRequest(executor_id=f"silent-{attempt}", kinds=["test.remote"], credits=1)
                )
                lease = await stream.recv_message()
                assert lease is not None and lease.lease.job.id == job.id and lease.lease.job.attempt == attempt
                await stream.cancel()
            expected = JobState.QUEUED if attempt == 1 else JobState.FAILED
            final = None
            async for event in client.watch_job(job.id):
                if isinstance(event, JobInfo) and event.state is expected:
                    final = event
                    break
            assert final is not None
        assert final.error is not None and final.error.code == "LEASE_EXPIRED"
        assert "attempt 2 of 2" in final.error.message
        # A late complete from the silent executor is refused without changing anything.
        with pytest.raises(Conflict):
            await client._unary(
                "Heartbeat",
                pb.HeartbeatRequest(job_id=job.id, executor_id="silent-2", attempt=2),
                timeout=None,
                idempotent=False,
            )


async def test_heartbeats_keep_a_long_remote_job_leased_and_carry_its_logs_and_progress() -> None:
    async def quiet(ctx: JobContext) -> bytes:
        await asyncio.sleep(1.0)  # more than three lease periods, nothing to report
        return b"quiet"

    async def chatty(ctx: JobContext) -> bytes:
        await asyncio.sleep(0.4)  # past the first lease period before saying anything
        ctx.log("halfway")
        ctx.progress(1, 2, "halfway")
        await asyncio.sleep(0.4)
        return b"chatty"

    async with LocalBackend(lease_seconds=0.3) as backend, backend.client() as client, RemoteExecutor(
        client, {"test.quiet": quiet, "test.chatty": chatty}, lease_seconds=0.3
    ):  # fmt: skip
        logs: list[LogRecord] = []
        quiet_job, chatty_job = await asyncio.gather(
            client.run_job("test.quiet", max_attempts=1),
            client.run_job("test.chatty", max_attempts=1, on_log=logs.append),
        )
        assert quiet_job.state is JobState.SUCCEEDED and quiet_job.attempt == 1
        assert await client.job_result(quiet_job.id) == b"quiet"
        assert chatty_job.state is JobState.SUCCEEDED and chatty_job.attempt == 1
        assert [record.message for record in logs] == ["halfway"]
        assert chatty_job.progress.steps_done == 1 and chatty_job.progress.message == "halfway"


async def test_an_executor_that_takes_batches_gets_leases_and_answers_together() -> None:
    async with LocalBackend() as backend, backend.client() as client:
        jobs = [await client.create_job("test.remote", payload=str(n).encode()) for n in range(3)]
        async with client._jobs() as stub, stub.Acquire.open() as stream:
            await stream.send_message(
                pb.AcquireRequest(executor_id="batched", kinds=["test.remote"], credits=3, batches=True)
            )
            leases: list[pb.Lease] = []
            while len(leases) < 3:
                message = await stream.recv_message()
                assert message is not None and message.WhichOneof("event") == "batch"
                leases += message.batch.leases
            assert sorted(lease.job.id for lease in leases) == sorted(job.id for job in jobs)
            assert all(lease.job.payload and lease.HasField("expires_at") for lease in leases)
            completions = [
                pb.CompleteJobRequest(job_id=lease.job.id, executor_id="batched", attempt=lease.job.attempt,
                                      data=lease.job.payload + b"!")
                for lease in leases
            ]  # fmt: skip
            await stream.send_message(pb.AcquireRequest(completions=completions))
            settled: list[pb.Settled] = []
            while len(settled) < 3:
                message = await stream.recv_message()
                assert message is not None and message.WhichOneof("event") == "batch"
                settled += message.batch.settled
            assert sorted(s.job_id for s in settled) == sorted(job.id for job in jobs)
            assert not any(s.error_status for s in settled)
            await stream.cancel()
        for n, job in enumerate(jobs):
            assert await client.job_result(job.id) == f"{n}!".encode()


async def test_completing_twice_is_harmless(backend: LocalBackend) -> None:
    engine = backend.backend.engine  # type: ignore[union-attr]
    async with backend.client() as client:
        job = await client.create_job("test.manual")
        [leased] = await engine.claim(["test.manual"], 1, "manual", 30)
        first = await engine.complete(leased.id, "manual", leased.attempt, b"done")
        second = await engine.complete(leased.id, "manual", leased.attempt, b"other")
        assert first.version == second.version and second.result_inline == b"done"
        assert await client.job_result(job.id) == b"done"


async def test_bad_requests_get_typed_errors_and_the_server_keeps_serving(client: Client) -> None:
    with pytest.raises(NotFound):
        await client.get_job("does-not-exist")
    with pytest.raises(InvalidArgument):
        await client.get_job("")
    with pytest.raises(InvalidArgument, match="invalid job kind"):
        await client.create_job("bad kind with spaces")
    with pytest.raises(InvalidArgument):
        await client.create_job("asyncwf.echo", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        await client.create_job("asyncwf.echo", execution_timeout=-1)
    with pytest.raises(InvalidArgument, match="labels"):
        await client.create_job("asyncwf.echo", labels={"k" * 200: "v"})
    # Bad requests travelling with good ones on the RunJobs stream fail alone.
    runs = await asyncio.gather(
        *(client.run_job("asyncwf.echo", b"%d" % i) for i in range(20)), client.run_job("bad kind"),
        client.run_job("asyncwf.echo", labels={"k" * 200: "v"}), return_exceptions=True,
    )  # fmt: skip
    assert [r.result_inline for r in runs[:20]] == [b"%d" % i for i in range(20)]  # type: ignore[union-attr]
    assert isinstance(runs[20], InvalidArgument) and isinstance(runs[21], InvalidArgument)
    with pytest.raises(NotFound):
        async for _ in client.watch_job("missing"):
            pass
    job = await client.create_job("asyncwf.sleep", b'{"seconds": 5}')
    with pytest.raises(InvalidArgument, match="no result"):
        async for _ in client._stream("GetResult", pb.GetResultRequest(id=job.id), timeout=None):
            pass
    assert (await client.run_job("asyncwf.echo", b"still serving")).result_inline == b"still serving"


async def test_oversized_messages_are_refused() -> None:
    async with LocalBackend(max_message_bytes=64 * 1024) as backend, backend.client() as client:
        from asyncwf.exceptions import ResourceExhausted

        with pytest.raises(ResourceExhausted, match="exceeds the limit"):
            await client.create_job("asyncwf.echo", b"x" * 100_000)
        assert (await client.run_job("asyncwf.echo", b"ok")).result_inline == b"ok"


async def test_payload_limit_is_enforced_by_the_engine(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="payload"):
        await client.create_job("asyncwf.echo", b"x" * (5 * 1024 * 1024))


async def test_results_expire_and_records_are_purged() -> None:
    async with LocalBackend(purge_after_seconds=1.0) as backend, backend.client() as client:
        big = await client.run_job("asyncwf.echo", b"x" * 100_000, result_ttl=0.2)
        small = await client.run_job("asyncwf.echo", b"y", result_ttl=0.2)
        blob = backend.data_dir / "blobs" / "results" / big.id
        assert blob.exists()
        await eventually(lambda: not blob.exists())
        for _ in range(20):
            if (await client.get_job(small.id)).state is JobState.EXPIRED:
                break
            await asyncio.sleep(0.02)
        assert (await client.get_job(small.id)).state is JobState.EXPIRED
        from asyncwf.exceptions import JobExpired

        with pytest.raises(JobExpired):
            await client.job_result(small.id)

        async def purged() -> bool:
            try:
                await client.get_job(small.id)
            except NotFound:
                return True
            return False

        for _ in range(20):
            if await purged():
                break
            await asyncio.sleep(0.05)
        assert await purged()


async def test_watch_resumes_after_a_restart_of_the_server(server_process) -> None:  # type: ignore[no-untyped-def]
    server = server_process()
    async with server.client(retry=RetryPolicy(max_attempts=100, max_backoff=0.2)) as client:
        job = await client.create_job("asyncwf.sleep", b'{"seconds": 1.5, "steps": 3}')
        seen: list[JobInfo] = []

        async def watch() -> None:
            async for event in client.watch_job(job.id):
                if isinstance(event, JobInfo):
                    seen.append(event)

        watcher = asyncio.create_task(watch())
        await eventually(lambda: any(e.state is JobState.RUNNING for e in seen))
        server.kill(15)
        server.start(server.port)
        await asyncio.wait_for(watcher, 30)
        assert seen[-1].state is JobState.SUCCEEDED
        assert [e.state for e in seen].count(JobState.SUCCEEDED) == 1


async def test_concurrent_run_jobs_share_one_stream_and_fail_alone(client: Client) -> None:
    calls = [client.run_job("asyncwf.echo", b"%d" % i) for i in range(300)]
    calls.append(client.run_job("not a valid kind"))
    calls.append(client.run_job("asyncwf.fail", b"x"))
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r.result_inline for r in results[:300]] == [b"%d" % i for i in range(300)]  # type: ignore[union-attr]
    assert isinstance(results[300], InvalidArgument)
    assert isinstance(results[301], JobInfo) and results[301].state is JobState.FAILED
    await client.run_job("asyncwf.echo", b"a", idempotency_key="mux-key")
    with pytest.raises(Conflict):
        await client.run_job("asyncwf.echo", b"b", idempotency_key="mux-key")


async def test_run_job_with_a_used_idempotency_key_follows_the_existing_job() -> None:
    release = asyncio.Event()

    async def slow(ctx: JobContext) -> bytes:
        ctx.log("started")
        await release.wait()
        return b"once"

    async with LocalBackend() as backend, backend.client() as client, RemoteExecutor(client, {"test.slow": slow}):
        first_created: list[JobInfo] = []
        first = asyncio.create_task(client.run_job("test.slow", b"p", idempotency_key="same",
                                                   on_created=first_created.append))  # fmt: skip
        await eventually(lambda: bool(first_created))
        second_created: list[JobInfo] = []
        second_logs: list[LogRecord] = []
        second = asyncio.create_task(
            client.run_job(
                "test.slow", b"p", idempotency_key="same", on_created=second_created.append, on_log=second_logs.append
            )
        )
        await eventually(lambda: bool(second_created) and bool(second_logs))
        assert second_created[0].id == first_created[0].id
        assert [record.message for record in second_logs] == ["started"]
        release.set()
        one, two = await asyncio.gather(first, second)
        assert one.id == two.id and one.state is two.state is JobState.SUCCEEDED and one.version == two.version
        assert one.result_inline == two.result_inline == b"once"
        done = await client.run_job("test.slow", b"p", idempotency_key="same")  # after the end: the same job
        assert done.id == one.id and done.result_inline == b"once"
        assert backend.backend.engine.stats()["watched_jobs"] == 0  # type: ignore[union-attr]


async def test_create_does_not_echo_the_payload_but_get_returns_it(client: Client) -> None:
    payload = b"p" * 100_000
    created = await client.create_job("asyncwf.echo", payload)
    assert created.payload == payload  # filled in from the request
    assert (await client.get_job(created.id)).payload == payload


async def test_a_kind_can_answer_small_jobs_as_they_are_created() -> None:
    from asyncwf import JobOutput

    runs: list[str] = []

    async def double(ctx: JobContext) -> bytes:
        runs.append(ctx.job.id)
        return str(2 * int(ctx.payload)).encode()

    def quick(job_id: str, payload: bytes) -> object:
        if payload == b"bad":
            raise ValueError("not a number")
        if payload == b"huge":
            return JobOutput(b"x" * (1 << 20))  # too big to keep inline: the job is run instead
        if payload == b"odd":
            return 42  # not an output: the job is run instead
        if payload == b"7":
            return "14"  # str and bytes are outputs, as from a job function
        return JobOutput(str(2 * int(payload)).encode(), "text/plain") if len(payload) <= 3 else None

    async with LocalBackend(kinds={"test.double": double}, inline_answers={"test.double": quick}) as backend, \
            backend.client() as client:  # fmt: skip
        created = await client.create_job("test.double", b"21")
        # Stored finished, in one write: no run, no lease.
        assert created.state is JobState.SUCCEEDED and created.attempt == 1 and created.lease_owner == ""
        assert created.result_inline == b"42" and created.result_content_type == "text/plain"
        assert created.started_at == created.finished_at == created.created_at and created.expires_at is not None
        assert await client.job_result(created.id) == b"42"
        events = [e async for e in client.watch_job(created.id)]
        assert [e.state for e in events if isinstance(e, JobInfo)] == [JobState.SUCCEEDED]
        assert runs == []
        # Declined (None), a raising answer and an answer too big to keep inline: each runs as usual.
        big = await client.run_job("test.double", b"1000")
        assert big.result_inline == b"2000" and runs == [big.id]
        bad = await client.run_job("test.double", b"bad")
        assert bad.state is JobState.FAILED and runs[-1] == bad.id
        huge = await client.run_job("test.double", b"huge")
        assert huge.state is JobState.FAILED and runs[-1] == huge.id  # (run, it fails: not a number)
        odd = await client.run_job("test.double", b"odd")
        assert odd.state is JobState.FAILED and runs[-1] == odd.id
        assert len(runs) == 4
        seven = await client.run_job("test.double", b"7")
        assert seven.result_inline == b"14" and seven.result_content_type.startswith("text/plain") and len(runs) == 4


async def test_jobs_created_and_completed_together_fail_alone(backend: LocalBackend) -> None:
    assert backend.backend is not None
    engine = backend.backend.engine
    first, _ = await engine.create(CreateSpec(kind="test.manual", idempotency_key="once"))
    seen: list[list[Any]] = [[], [], []]
    watchers = [_Seen(events) for events in seen]
    outcomes = await engine.create_many_subscribed([
        (CreateSpec(kind="test.manual", payload=b"a"), watchers[0], "jobs-together-a"),
        (CreateSpec(kind="not a kind!"), watchers[1], "jobs-together-b"),
        (CreateSpec(kind="test.manual", idempotency_key="once"), watchers[2], "jobs-together-c"),
    ])  # fmt: skip
    created = outcomes[0]
    assert isinstance(created, tuple) and created[1] and created[0].id == "jobs-together-a"
    assert isinstance(outcomes[1], InvalidArgument)
    assert outcomes[2] == (first, False)
    # The first snapshot, published and handed over (a watcher skips versions it has seen).
    assert {(e.id, e.version) for e in seen[0]} == {("jobs-together-a", 1)} and seen[1] == seen[2] == []
    engine.unsubscribe("jobs-together-a", watchers[0])
    assert engine.stats()["watched_jobs"] == 0

    leased = await engine.claim(["test.manual"], 2, "executor-1", 30)
    assert len(leased) == 2
    big = b"x" * (engine.config.inline_result_bytes + 1)
    settled = await engine.complete_many([
        (leased[0].id, "executor-1", leased[0].attempt, b"small", "text/plain"),
        (leased[1].id, "executor-1", leased[1].attempt + 1, b"wrong attempt", ""),
        (leased[1].id, "executor-1", leased[1].attempt, big, ""),
        ("no-such-job", "executor-1", 1, b"", ""),
    ])  # fmt: skip
    assert isinstance(settled[0], JobInfo) and settled[0].state is JobState.SUCCEEDED
    assert settled[0].result_inline == b"small" and settled[0].result_content_type == "text/plain"
    assert isinstance(settled[1], Conflict)  # its lease is another attempt's
    assert isinstance(settled[2], JobInfo) and settled[2].result_stored and settled[2].result_size == len(big)
    assert isinstance(settled[3], NotFound)
    # Completing again is harmless: the settled snapshot comes back.
    again = await engine.complete_many([(leased[0].id, "executor-1", leased[0].attempt, b"small", "")])
    assert isinstance(again[0], JobInfo) and again[0].version == settled[0].version


class _Seen:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def put_nowait(self, event: Any) -> None:
        self.events.append(event)


async def test_a_finished_snapshot_built_from_the_known_one_matches_the_stored_row(backend: LocalBackend) -> None:
    # One backend owns the store: completing reads back only the version and the progress and builds the
    # rest from the running snapshot it published. Whatever the way, the snapshot is the stored job.
    assert backend.backend is not None
    engine = backend.backend.engine
    job, _ = await engine.create(CreateSpec(kind="test.manual", payload=b"in", labels={"a": "b"}))
    [leased] = await engine.claim(["test.manual"], 1, "executor-1", 30)
    engine.report_progress(job.id, 1, 2, "half")
    await engine.create(CreateSpec(kind="test.other"))  # a write: the progress is stored with it
    assert engine._known(job.id) is not None  # the snapshot it builds from
    done = await engine.complete(job.id, "executor-1", leased.attempt, b"out", "text/plain")
    stored = await engine.get(job.id)
    assert done.progress.steps_done == 1 and done.progress.message == "half"
    assert done == stored.replace(payload=b"") and stored.payload == b"in"
    assert done.version == leased.version + 1 and done.result_inline == b"out"


async def test_a_remote_executor_keeps_its_slots_across_a_restart(server_process) -> None:  # type: ignore[no-untyped-def]
    server = server_process()
    running = 0
    peak = 0
    arrived = 0
    all_arrived = asyncio.Event()

    async def job(ctx: JobContext) -> bytes:
        nonlocal running, peak, arrived
        running += 1
        peak = max(peak, running)
        try:
            if ctx.payload == b"together":  # wait until three have started: all three slots are there
                arrived += 1
                if arrived == 3:
                    all_arrived.set()
                async with asyncio.timeout(10):
                    await all_arrived.wait()
            return ctx.payload
        finally:
            running -= 1

    retry = RetryPolicy(max_attempts=100, max_backoff=0.2)
    async with server.client(retry=retry) as client, RemoteExecutor(client, {"test.slots": job}, capacity=3):
        for restart in (True, False):
            jobs = await asyncio.gather(*(client.run_job("test.slots", b"%d" % i) for i in range(30)))
            assert [j.result_inline for j in jobs] == [b"%d" % i for i in range(30)]
            if restart:
                server.kill(15)
                server.start(server.port)
        together = await asyncio.gather(*(client.run_job("test.slots", b"together") for _ in range(3)))
        assert [j.state for j in together] == [JobState.SUCCEEDED] * 3, [j.error for j in together]
        assert peak <= 3
