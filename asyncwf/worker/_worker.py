"""``asyncwf worker``: leases XF jobs from the engine and runs task-type scripts as subprocesses."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from asyncwf._context import JobContext, JobFailureError, JobOutput
from asyncwf._xfpaths import engine_kind
from asyncwf.client import Client, RemoteExecutor
from asyncwf.exceptions import AsyncwfError, ConfigurationError, Conflict
from asyncwf.worker._arguments import XFWorkerArguments
from asyncwf.worker._connection import Connection
from asyncwf.worker._forkserver import ForkServer, fork_server_available
from asyncwf.worker._queries import get_xf_job_log_token
from asyncwf.worker._transfer import area_url, upload

__all__ = ["Worker", "find_scripts"]

log = logging.getLogger("asyncwf.worker")

FAILED_CODE = "XF_JOB_FAILED"
LOG_FILE = "script.log"
_TAIL_LINES = 40
_MAX_LINE = 64 * 1024
_MAX_LOG_LINES = 10_000
_KILL_GRACE = 5.0


def find_scripts(directory: Path) -> dict[str, Path]:
    """Task-type scripts in ``directory``: ``<name>.py`` or ``<name>/main.py`` (name = package name).

    Reads the directory: call it while setting up, not from a coroutine.
    """
    scripts: dict[str, Path] = {}
    if not directory.is_dir():
        raise ConfigurationError(f"no scripts directory {directory}")
    for entry in sorted(directory.iterdir()):
        if entry.suffix == ".py" and entry.is_file() and not entry.name.startswith("_"):
            scripts[entry.stem] = entry.resolve()
        elif (entry / "main.py").is_file():
            scripts[entry.name] = (entry / "main.py").resolve()
    return scripts


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the script gets SIGKILL when the worker dies, so no orphan keeps writing to a re-run job."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Worker:
    """Runs XF jobs of the task types it has scripts for, ``concurrency`` at a time.

    Args:
        client: The backend's client (its address and token are handed to scripts).
        scripts: Task type (package) name -> the script to run.
        concurrency: Scripts running at once (default: the number of CPUs).
        timeout: Seconds a script may run before it is killed and its job fails.
        work_dir: Where each run gets its directory (``TMPDIR`` of the script);
            a failed run's directory is kept ``keep_failed_seconds`` for debugging.
        name: The worker's name in the backend (default: host name and process id).
        python: The interpreter that runs the scripts.
        fork_server: Fork each script from a process that has imported ``asyncwf.worker`` already
            (default on Linux) instead of starting a new interpreter for it: each script still runs in a
            process of its own, with its own directory and environment, without paying the interpreter's
            start and the imports every time. False: a new interpreter per script.

    An async context manager; or ``await worker.run()``. Jobs are leased from the
    job engine: a worker that dies loses its leases and the jobs run again elsewhere.
    """

    def __init__(
        self, client: Client, scripts: Mapping[str, Path | str], *, concurrency: int | None = None,
        timeout: float = 3600.0, work_dir: Path | str | None = None, name: str | None = None,
        python: str = sys.executable, lease_seconds: float | None = None, keep_failed_seconds: float = 86400.0,
        fork_server: bool | None = None,
    ) -> None:  # fmt: skip
        if not scripts:
            raise ConfigurationError("a worker needs at least one task-type script")
        if not all(isinstance(name, str) and name and isinstance(path, str | Path) for name, path in scripts.items()):
            raise ConfigurationError("scripts map task-type names to script paths")
        if timeout <= 0 or (concurrency is not None and concurrency < 1):
            raise ConfigurationError("timeout must be positive and concurrency at least 1")
        self.client = client
        self.scripts = {name: Path(path) for name, path in scripts.items()}
        self.concurrency = concurrency or os.cpu_count() or 1
        self.timeout = timeout
        self.work_dir = Path(work_dir) if work_dir is not None else Path.home() / ".asyncwf" / "worker"
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.python = python
        self.keep_failed_seconds = keep_failed_seconds
        self.conn = Connection(client)
        kinds = {engine_kind(task_type): self._runner(task_type) for task_type in self.scripts}
        self.executor = RemoteExecutor(client, kinds, capacity=self.concurrency, lease_seconds=lease_seconds,
                                       executor_id=f"xf-worker:{self.name}")  # fmt: skip
        self._sweeper: asyncio.Task[None] | None = None
        use_fork_server = fork_server_available() if fork_server is None else fork_server
        if use_fork_server and not fork_server_available():
            raise ConfigurationError("the fork server needs Linux")
        self._forks = ForkServer(python) if use_fork_server else None

    # --- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Worker:
        for task_type, script in self.scripts.items():
            if not await anyio.Path(script).is_file():
                raise ConfigurationError(f"the script of task type {task_type!r} does not exist: {script}")
            # absolute: each script runs in its job's own directory
            self.scripts[task_type] = Path(await anyio.Path(script).absolute())
        await anyio.Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        await self._register()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="asyncwf-worker-sweeper")
        await self.executor.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.executor.stop()
        finally:
            if self._sweeper is not None:
                self._sweeper.cancel()
            if self._forks is not None:
                await self._forks.close()
            await self.conn.aclose()

    async def run(self) -> None:
        """Work until cancelled."""
        async with self:
            await asyncio.Event().wait()

    async def _register(self) -> None:
        fields = {"host": socket.gethostname(), "task_types": sorted(self.scripts), "last_seen": time.time()}
        existing = await self.conn.list("worker", name=self.name)
        if existing:
            await self.conn.update("worker", existing[-1], fields)
        else:
            await self.conn.create("worker", {"name": self.name, **fields})

    async def _sweep_forever(self) -> None:
        while True:
            await anyio.to_thread.run_sync(self._sweep)
            await asyncio.sleep(min(self.keep_failed_seconds, 3600.0))

    def _sweep(self) -> None:
        """Remove the directories of failed runs once they are older than ``keep_failed_seconds``."""
        cutoff = time.time() - self.keep_failed_seconds
        for entry in self.work_dir.glob("job-*"):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)

    # --- one job -----------------------------------------------------------

    def _runner(self, task_type: str) -> Any:
        async def run(ctx: JobContext) -> JobOutput:
            return await self._run_job(task_type, ctx)

        return run

    async def _update_job(
        self, job_serial: int, changes: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Apply ``changes(current job)`` (None: leave it), reloading and retrying on a conflict."""
        for _ in range(3):
            job = await self.conn.get("job", job_serial)
            wanted = changes(job)
            if wanted is None:
                return None
            try:
                return await self.conn.update("job", job, wanted)
            except Conflict:
                continue
        raise Conflict(f"job {job_serial} kept changing while the worker updated it")

    async def _start(self, job_serial: int, attempt: int) -> dict[str, Any] | None:
        """Mark the XF job Running here; None when it is settled already (cancelled, say)."""
        return await self._update_job(job_serial, lambda job: None if job["state"] not in ("Queued", "Running")
                                      else {"state": "Running", "worker": self.name, "started": time.time(),
                                            "attempt": attempt})  # fmt: skip

    async def _run_job(self, task_type: str, ctx: JobContext) -> JobOutput:
        try:
            job_serial = int(json.loads(ctx.payload)["job_serial"])
        except (ValueError, KeyError, TypeError) as exc:
            raise JobFailureError("INVALID", f"not an XF job payload: {ctx.payload[:200]!r}") from exc
        job = await self._start(job_serial, ctx.job.attempt)
        if job is None:
            log.info("job %d (%s): skipped, it was settled already", job_serial, task_type)
            return JobOutput(json.dumps({"skipped": "the XF job was already settled"}).encode(), "application/json")
        started = time.monotonic()
        run_dir = self.work_dir / f"job-{job_serial}-{ctx.job.attempt}"
        await anyio.Path(run_dir).mkdir(parents=True, exist_ok=True)
        rc, tail, timed_out = await self._run_script(self.scripts[task_type], job_serial, run_dir, ctx)
        await self._upload_log(job_serial, run_dir / LOG_FILE)
        job = await self.conn.get("job", job_serial)
        if rc == 0 and job["state"] in ("Done", "ReadyForInteractive"):
            if job["state"] == "Done":
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(run_dir, ignore_errors=True))
            result = {"state": job["state"], "outputs": job["outputs"]}
            log.info("job %d (%s, attempt %d): %s in %.2f s", job_serial, task_type, ctx.job.attempt, job["state"],
                     time.monotonic() - started)  # fmt: skip
            return JobOutput(json.dumps(result).encode(), "application/json")
        message = job["metadata"].get("error_message") or (
            f"the script ran longer than {self.timeout:g} s and was killed" if timed_out
            else "the script ended without calling finish()" if rc == 0
            else (tail[-1] if tail else f"the script exited with status {rc}")
        )  # fmt: skip
        await self._settle_failed(job_serial, message)
        log.info("job %d (%s, attempt %d): Failed in %.2f s: %s", job_serial, task_type, ctx.job.attempt,
                 time.monotonic() - started, message)  # fmt: skip
        raise JobFailureError(FAILED_CODE, message, "\n".join(tail))

    async def _settle_failed(self, job_serial: int, message: str) -> None:
        with contextlib.suppress(Conflict):  # the engine job fails with the message all the same
            await self._update_job(job_serial, lambda job: {
                "state": "Failed", "finished": time.time(),
                "metadata": {**job["metadata"], "error_message": message},
            })  # fmt: skip

    async def _run_script(
        self, script: Path, job_serial: int, run_dir: Path, ctx: JobContext
    ) -> tuple[int, list[str], bool]:
        arguments = XFWorkerArguments(job_serial, self.client.host, str(self.client.port),
                                      await self.client.auth.get_token() or "")  # fmt: skip
        env = {**os.environ, **arguments.environment(), "TMPDIR": str(run_dir), "PYTHONUNBUFFERED": "1"}
        proc = await self._start_script(script, run_dir, env)
        tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        timed_out = False
        try:
            async with asyncio.timeout(self.timeout):
                await self._pump(proc, run_dir / LOG_FILE, tail, ctx)
                rc = await proc.wait()
        except TimeoutError:
            timed_out = True
            rc = await _stop(proc)
        except BaseException:
            await asyncio.shield(_stop(proc))
            raise
        return rc, list(tail), timed_out

    async def _start_script(self, script: Path, run_dir: Path, env: dict[str, str]) -> Any:
        """The script's process: forked by the fork server, or (without one, or if it fails) a new interpreter."""
        if self._forks is not None:
            try:
                return await self._forks.spawn(script, run_dir, env)
            except ConnectionError as exc:
                log.warning("the fork server failed (%s): starting the script in a new interpreter", exc)
        return await asyncio.create_subprocess_exec(
            self.python, str(script), cwd=run_dir, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip

    async def _pump(self, proc: Any, log_path: Path, tail: collections.deque[str], ctx: JobContext) -> None:
        """Copy the script's output to its log file and, line by line (the first ``_MAX_LOG_LINES``), to the
        job's log."""
        assert proc.stdout is not None
        partial = b""
        forwarded = 0

        def emit(line: bytes) -> None:
            nonlocal forwarded
            text = line.decode(errors="replace").rstrip("\r")
            tail.append(text)
            forwarded += 1
            if forwarded <= _MAX_LOG_LINES:
                ctx.log(text, logging.INFO, "xf.script")
            elif forwarded == _MAX_LOG_LINES + 1:
                ctx.log(f"more than {_MAX_LOG_LINES} lines: the rest is in {LOG_FILE} only", logging.WARNING,
                        "xf.script")  # fmt: skip

        log_file = await anyio.open_file(log_path, "wb")
        try:
            while chunk := await proc.stdout.read(65536):
                await log_file.write(chunk)
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                if len(partial) > _MAX_LINE:  # a line without end: log it in pieces, hold no more
                    lines.append(partial)
                    partial = b""
                for line in lines:
                    emit(line)
        finally:
            await asyncio.shield(log_file.aclose())  # closed even when the job is cancelled meanwhile
        if partial:
            emit(partial)

    async def _upload_log(self, job_serial: int, path: Path) -> None:
        """The script's output becomes the job's log file ``script.log`` (when it wrote any); a failure here
        fails nothing."""
        try:
            if not (await anyio.Path(path).stat()).st_size:
                return
            token = await get_xf_job_log_token(self.conn, job_serial, LOG_FILE, write=True)
            await upload(self.conn, token, area_url(token, "job-log", job_serial, LOG_FILE), path)
        except (AsyncwfError, OSError) as exc:
            log.warning("could not store the log of job %s: %s", job_serial, exc)


async def _stop(proc: Any) -> int:
    """Terminate the script, then kill it if it lingers; its exit status."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            async with asyncio.timeout(_KILL_GRACE):
                return int(await proc.wait())
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    return int(await proc.wait())
