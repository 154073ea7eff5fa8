"""``asyncwf worker`` running real task-type scripts for ``asyncwf serve``, both in subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncwf import Client
from asyncwf._model import JobInfo, LogRecord, ProgressUpdate
from asyncwf.worker import Connection, Worker, create_xf_job, get_xf_job, get_xf_job_log_token
from asyncwf.worker._transfer import area_url, download
from tests.worker.conftest import SCRIPTS, XF, make_xf


class WorkerProcess:
    """``asyncwf worker`` in a subprocess."""

    def __init__(self, port: int, work_dir: Path, *extra: str) -> None:
        cmd = [sys.executable, "-m", "asyncwf._cli", "worker", "--port", str(port), "--scripts", str(SCRIPTS),
               "--work-dir", str(work_dir), "--log-level", "WARNING", *extra]  # fmt: skip
        work_dir.mkdir(parents=True)
        self.log = work_dir.parent / f"{work_dir.name}.log"
        with self.log.open("wb") as stderr:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"asyncwf worker exited: {self.log.read_text()}")
        self.info = json.loads(line)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    started: list[WorkerProcess] = []

    def make(port: int, *extra: str) -> WorkerProcess:
        worker = WorkerProcess(port, tmp_path / f"worker{len(started)}", *extra)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


@pytest.fixture
async def served(server_process: Any) -> AsyncIterator[tuple[Any, XF]]:
    server = server_process()
    async with server.client() as client, Connection(client) as conn:
        yield server, await make_xf(server, conn)


async def _queue(xf: XF, task: str, **inputs: Any) -> dict[str, Any]:
    return await create_xf_job(xf.conn, {"task_serial": xf.tasks[task]["serial"], "inputs": inputs})


async def _watch(client: Client, engine_job_id: str) -> tuple[JobInfo, list[ProgressUpdate], list[LogRecord]]:
    progress: list[ProgressUpdate] = []
    logs: list[LogRecord] = []
    last: JobInfo | None = None
    async with asyncio.timeout(60):
        async for event in client.watch_job(engine_job_id, include_logs=True):
            if isinstance(event, ProgressUpdate):
                progress.append(event)
            elif isinstance(event, LogRecord):
                logs.append(event)
            else:
                last = event
    assert last is not None
    return last, progress, logs


async def _first(client: Client, engine_job_id: str, predicate: Any) -> None:
    """Wait for the first event of the job's watch stream that matches."""
    async with asyncio.timeout(30):
        async for event in client.watch_job(engine_job_id, include_logs=True):
            if predicate(event):
                return
    raise AssertionError("the job ended first")


@pytest.mark.allow_blocking  # subprocess start-up and pipes, outside asyncwf
async def test_a_script_runs_end_to_end(served: tuple[Any, XF], workers: Any, tmp_path: Path) -> None:
    server, xf = served
    workers(server.port, "--lease-seconds", "5")
    table = await xf.input_file("numbers.csv", "1\n2\n3.5\n")
    job = await _queue(xf, "summarize", table=table)
    assert job["state"] == "Queued" and job["engine_job_id"]
    final, progress, logs = await _watch(xf.conn.client, job["engine_job_id"])
    assert final.state.name == "SUCCEEDED", final.error
    assert any(p.progress.percent == 50.0 for p in progress)
    messages = [log.message for log in logs]
    assert "summing the table" in messages and "done summing" in messages
    assert any(m.startswith("summed 3 numbers") for m in messages)  # the script's own output
    assert any(log.level == "WARNING" and log.message == "done summing" for log in logs)

    done = await get_xf_job(xf.conn, job["serial"])
    assert done["state"] == "Done" and done["attempt"] == 1 and done["worker"]
    total = done["outputs"]["total"]
    assert total["type"] == "CSV" and total["job_serial"] == job["serial"]
    assert json.loads(await xf.conn.client.job_result(final)) == {"state": "Done", "outputs": done["outputs"]}
    reader = await get_xf_job_log_token(xf.conn, job["serial"])
    log_file = await download(xf.conn, reader, area_url(reader, "job-log", job["serial"], "script.log"),
                              tmp_path / "script.log")  # fmt: skip
    assert "summed 3 numbers" in await anyio.Path(log_file).read_text()
    from asyncwf.worker import get_parameter_file_token

    token = await get_parameter_file_token(xf.conn, total)
    out = await download(xf.conn, token, area_url(token, "job-result", job["serial"], total["filename"]),
                         tmp_path / "total.csv")  # fmt: skip
    assert await anyio.Path(out).read_text() == "6.5\n"
    # what the script spawned
    tasks = await xf.conn.list("task", parent=xf.workflow["serial"])
    follow_up = next(t for t in tasks if t["spawn_key"] == "follow-up")
    spawned = await xf.conn.list("job", parent=follow_up["serial"])
    assert [(j["state"], j["source_job_serial"]) for j in spawned] == [("Done", job["serial"])]
    assert [w["name"] for w in await xf.conn.list("worker")]


@pytest.mark.allow_blocking
@pytest.mark.parametrize(
    ("how", "message"),
    [("error", "the input table is empty"), ("raise", "ValueError: cannot parse row 3"),
     ("exit", "fatal: out of cheese"), ("no-finish", "the script ended without calling finish()")],
)  # fmt: skip
async def test_failing_scripts_fail_their_jobs(served: tuple[Any, XF], workers: Any, how: str, message: str) -> None:
    server, xf = served
    workers(server.port)
    job = await _queue(xf, "failing", how=how)
    final, _, logs = await _watch(xf.conn.client, job["engine_job_id"])
    assert final.state.name == "FAILED" and final.error is not None
    assert final.error.code == "XF_JOB_FAILED" and final.error.message == message
    assert any(log.message == f"about to fail: {how}" for log in logs)
    failed = await get_xf_job(xf.conn, job["serial"])
    assert failed["state"] == "Failed" and failed["metadata"]["error_message"] == message


async def test_timeout_kills_the_script(xf: XF, tmp_path: Path) -> None:
    async with Worker(xf.conn.client, {"failing": SCRIPTS / "failing.py"}, timeout=3, work_dir=tmp_path):
        job = await _queue(xf, "failing", how="sleep")
        final, _, _ = await _watch(xf.conn.client, job["engine_job_id"])
    assert final.state.name == "FAILED" and "ran longer than 3 s" in final.error.message  # type: ignore[union-attr]
    assert (await get_xf_job(xf.conn, job["serial"]))["state"] == "Failed"
    kept = [p.name async for p in anyio.Path(tmp_path).iterdir()]
    assert kept == [f"job-{job['serial']}-1"]  # a failed run's directory stays for debugging


async def test_cancelling_the_xf_job_stops_the_script(xf: XF, tmp_path: Path) -> None:
    async with Worker(xf.conn.client, {"failing": SCRIPTS / "failing.py"}, work_dir=tmp_path):
        job = await _queue(xf, "failing", how="sleep")
        await _first(xf.conn.client, job["engine_job_id"], lambda e: isinstance(e, LogRecord))  # the script runs
        running = await get_xf_job(xf.conn, job["serial"])
        await xf.conn.update("job", running, {"state": "Cancelled"})
        final, _, _ = await _watch(xf.conn.client, job["engine_job_id"])
    assert final.state.name == "CANCELLED"


@pytest.mark.allow_blocking
async def test_a_dead_worker_loses_its_job_to_another(served: tuple[Any, XF], workers: Any) -> None:
    server, xf = served
    first = workers(server.port, "--lease-seconds", "2", "--name", "first")
    table = await xf.input_file("numbers.csv", "4\n")
    job = await _queue(xf, "summarize", table=table, pause=2)
    await _first(xf.conn.client, job["engine_job_id"], lambda e: isinstance(e, ProgressUpdate))
    first.kill()  # its script dies with it
    workers(server.port, "--lease-seconds", "2", "--name", "second")
    final, _, _ = await _watch(xf.conn.client, job["engine_job_id"])
    # attempt 2 (or later, if a heavily loaded machine delayed a heartbeat past the lease)
    assert final.state.name == "SUCCEEDED" and final.attempt >= 2
    done = await get_xf_job(xf.conn, job["serial"])
    assert done["state"] == "Done" and done["attempt"] == final.attempt and done["worker"] == "second"
    assert os.environ.get("XF_JOB_SERIAL") is None


@pytest.mark.parametrize(
    ("how", "state", "message"),
    [("finish", "Done", None), ("error", "Failed", "blocking scripts fail too"),
     ("raise", "Failed", "KeyError: 'missing column'")],
)  # fmt: skip
async def test_blocking_scripts(
    xf: XF, tmp_path: Path, how: str, state: str, message: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="asyncwf.worker"):
        async with Worker(xf.conn.client, {"blocking": SCRIPTS / "blocking.py"}, work_dir=tmp_path):
            job = await _queue(xf, "blocking", how=how)
            final, progress, logs = await _watch(xf.conn.client, job["engine_job_id"])
    # One line per job at INFO: its serial, task type, attempt and outcome.
    outcome = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"job {job['serial']} (")]
    assert len(outcome) == 1 and outcome[0].startswith(f"job {job['serial']} (blocking, attempt 1): {state} in ")
    if message is not None:
        assert outcome[0].endswith(message)
    assert final.state.name == ("SUCCEEDED" if state == "Done" else "FAILED")
    record = await get_xf_job(xf.conn, job["serial"])
    assert record["state"] == state and record["metadata"].get("error_message") == message
    assert progress[0].progress.percent == 40.0
    assert "working synchronously" in [log.message for log in logs]
    if state == "Done":
        assert record["outputs"] == {"answer": {"type": "Int", "value": 42}}


async def test_a_chatty_script_is_logged_in_bounds(xf: XF, tmp_path: Path) -> None:
    async with Worker(xf.conn.client, {"failing": SCRIPTS / "failing.py"}, work_dir=tmp_path):
        job = await _queue(xf, "failing", how="chatty")
        final, _, logs = await _watch(xf.conn.client, job["engine_job_id"])
    script_lines = [log for log in logs if log.logger == "xf.script"]
    assert len(script_lines) == 10_001 and script_lines[-1].level == "WARNING"
    assert "the rest is in script.log" in script_lines[-1].message
    reader = await get_xf_job_log_token(xf.conn, job["serial"])
    log_file = await download(xf.conn, reader, area_url(reader, "job-log", job["serial"], "script.log"),
                              tmp_path / "copy.log")  # fmt: skip
    text = await anyio.Path(log_file).read_text()
    assert "line 10049" in text and text.endswith("x" * 100_000)
    assert final.state.name == "FAILED"  # it never called finish()
