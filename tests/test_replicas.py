"""Two backend replicas on one PostgreSQL store, with executors and watchers in other processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncwf import Client, JobInfo, JobState, LogRecord, ProgressUpdate
from asyncwf.exceptions import NoExecutor

pytestmark = pytest.mark.allow_blocking  # subprocesses are started and stopped from the tests


@pytest.fixture
def executors(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "RUNS": str(tmp_path / "runs.txt")}
        proc = subprocess.Popen([sys.executable, "-m", "tests.replica_executor", str(port)], stdout=subprocess.PIPE,
                                env=env)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def _final(client: Client, job_id: str) -> list[JobInfo]:
    """Every final snapshot a watcher sees (exactly one, if all is well)."""
    finals = []
    async with asyncio.timeout(90):
        async for event in client.watch_job(job_id):
            if isinstance(event, JobInfo) and event.done:
                finals.append(event)
    return finals


async def test_a_client_on_one_replica_sees_live_what_happens_through_the_other(
    server_process: Any, postgres_dsn: str, executors: Any
) -> None:
    a = server_process("--store", postgres_dsn, "--no-executor")
    b = server_process("--store", postgres_dsn, "--no-executor")
    executors(b.port)  # the only executor talks to replica B
    async with a.client() as on_a:
        job = await on_a.create_job("asyncwf.sleep", json.dumps({"seconds": 0.6, "steps": 3}).encode())
        events = [event async for event in on_a.watch_job(job.id, include_logs=True)]
    states = [event.state for event in events if isinstance(event, JobInfo)]
    # the watch began on A before the job ended on B, and followed it there: states, logs and progress
    assert states[-1] is JobState.SUCCEEDED and JobState.RUNNING in states[:-1]
    logs = [event.message for event in events if isinstance(event, LogRecord)]
    assert logs == ["step 1 of 3 done", "step 2 of 3 done", "step 3 of 3 done"]
    assert any(isinstance(event, ProgressUpdate) and event.progress.steps_done > 0 for event in events)
    async with a.client() as on_a:
        assert await on_a.job_result(job.id) == b"slept 0.6s"


async def test_killing_a_replica_under_load_loses_no_job(
    server_process: Any, postgres_dsn: str, executors: Any, tmp_path: Path
) -> None:
    a = server_process("--store", postgres_dsn, "--no-executor", "--lease-seconds", "2")
    b = server_process("--store", postgres_dsn, "--no-executor", "--lease-seconds", "2")
    executors(a.port)
    executors(b.port)
    payload = json.dumps({"seconds": 0.3, "steps": 1}).encode()
    async with a.client() as on_a, b.client() as on_b:
        accepted = [await (on_a if i % 2 else on_b).create_job("asyncwf.sleep", payload) for i in range(40)]
        watchers = [asyncio.create_task(_final(on_b, job.id)) for job in accepted]
        await asyncio.sleep(0.5)  # jobs are running on both sides
        a.kill(signal.SIGKILL)
        finals = await asyncio.gather(*watchers)
    assert all(len(f) == 1 for f in finals), "every watcher sees exactly one final snapshot"
    assert all(f[0].state is JobState.SUCCEEDED for f in finals), [f[0].error for f in finals if f[0].error]
    runs = (tmp_path / "runs.txt").read_text().split()
    assert {job.id for job in accepted} <= set(runs[0::2])
    # a job whose function returned is never failed for its lease (its executor settles it, or it runs again)
    assert not [f[0] for f in finals if f[0].error is not None and f[0].error.code == "LEASE_EXPIRED"]
    retried = [f[0] for f in finals if f[0].attempt > 1]
    assert retried, "some jobs were running through the killed replica and were taken over"


async def test_the_embedded_backend_on_postgresql(postgres_dsn: str, tmp_path: Path) -> None:
    """Everything that runs on SQLite runs on PostgreSQL: jobs with the in-process executor, XF entities."""
    from asyncwf.testing import LocalBackend
    from asyncwf.worker import Connection

    async with LocalBackend(store=postgres_dsn, data_dir=tmp_path) as backend, backend.client() as client:
        jobs = await asyncio.gather(*(client.run_job("asyncwf.echo", f"{i}".encode()) for i in range(200)))
        assert [await client.job_result(job) for job in jobs[:3]] == [b"0", b"1", b"2"]
        failed = await client.wait_job((await client.create_job("asyncwf.fail", b"boom")).id)
        assert failed.state is JobState.FAILED and failed.error is not None and "boom" in failed.error.message
        async with Connection(client) as conn:
            project = await conn.create("project", {"name": "p"})
            await conn.update("project", project, {"name": "q"})
    async with LocalBackend(store=postgres_dsn, data_dir=tmp_path) as backend, backend.client() as client:
        assert (await client.get_job(jobs[0].id)).state is JobState.SUCCEEDED
        async with Connection(client) as conn:
            assert (await conn.get("project", 1))["name"] == "q"


async def test_replicas_share_results_through_cloud_storage(postgres_dsn: str, gcs_bucket: str, tmp_path: Path) -> None:
    """A result too big to keep inline is a GCS object: the replica that did not store it serves it."""
    from asyncwf.testing import LocalBackend

    blobs = f"gs://{gcs_bucket}/asyncwf"
    payload = bytes(range(256)) * 1024  # 256 KiB: stored as a blob
    async with (
        LocalBackend(store=postgres_dsn, blobs=blobs, data_dir=tmp_path / "a") as a,
        LocalBackend(store=postgres_dsn, blobs=blobs, data_dir=tmp_path / "b", local_executor=False) as b,
        a.client() as on_a,
        b.client() as on_b,
    ):
        job = await on_b.create_job("asyncwf.echo", payload)  # only A's executor runs it
        done = await on_b.wait_job(job.id, timeout=30)
        assert done.state is JobState.SUCCEEDED and done.result_stored
        assert await on_b.job_result(job.id) == payload == await on_a.job_result(job.id)
    from asyncwf.server import GCSBlobStore

    store = GCSBlobStore(blobs)
    assert await store.size(f"results/{job.id}") == len(payload)
    await store.delete(f"results/{job.id}")
    await store.delete(f"results/{job.id}")  # deleting twice is fine
    from asyncwf.exceptions import ConfigurationError, NotFound

    with pytest.raises(NotFound):
        await store.size(f"results/{job.id}")
    with pytest.raises(NotFound):
        _ = [chunk async for chunk in store.get(f"results/{job.id}")]
    with pytest.raises(ConfigurationError):
        GCSBlobStore("s3://bucket/x")


async def test_run_job_on_one_replica_finds_the_executor_connected_to_the_other(
    server_process: Any, postgres_dsn: str, executors: Any
) -> None:
    a = server_process("--store", postgres_dsn, "--no-executor")
    b = server_process("--store", postgres_dsn, "--no-executor")
    async with a.client() as on_a:
        with pytest.raises(NoExecutor, match=r"'asyncwf\.sleep'"):  # nobody serves it yet, on either replica
            await on_a.run_job("asyncwf.sleep", b'{"seconds": 0}')
        executors(b.port)  # B announces the kind through the store; A reads it within its grace
        job = await on_a.run_job("asyncwf.sleep", b'{"seconds": 0.1}')
        assert job.state is JobState.SUCCEEDED
        with pytest.raises(NoExecutor, match=r"'no\.such\.kind'"):
            await on_a.run_job("no.such.kind", b"")
