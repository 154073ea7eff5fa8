from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncwf import Client
from asyncwf.testing import LocalBackend


class ServerProcess:
    """``asyncwf serve`` in a subprocess on free ports, restartable on the same data dir."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.http_port = 0

    def start(self, port: int = 0) -> ServerProcess:
        ready = self.data_dir / "ready.json"
        ready.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "asyncwf._cli", "serve",
            "--port", str(port), "--http-port", "0",
            "--data-dir", str(self.data_dir), "--ready-file", str(ready),
            "--log-level", "WARNING", *self.extra,
        ]  # fmt: skip
        log = self.data_dir / "server.log"
        with log.open("ab") as stderr:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"asyncwf serve exited: {log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("asyncwf serve did not become ready")
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        self.port, self.http_port = info["port"], info["http_port"]
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, **kwargs: Any) -> Client:
        return Client("127.0.0.1", self.port, **kwargs)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Any]:
    """A factory of ``asyncwf serve`` subprocesses; all are stopped afterwards."""
    started: list[ServerProcess] = []

    def make(*extra: str) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server{len(started)}", *extra)
        server.data_dir.mkdir()
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
async def backend() -> AsyncIterator[LocalBackend]:
    async with LocalBackend() as running:
        yield running


@pytest.fixture
async def client(backend: LocalBackend) -> AsyncIterator[Client]:
    async with backend.client() as c:
        yield c


async def eventually(predicate: Any, timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` is true (test helper for background effects); it may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while not ((await result) if inspect.isawaitable(result := predicate()) else result):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


os.environ.pop("ASYNCWF_TOKEN", None)


@pytest.fixture(autouse=True)
def _no_blocking_calls_on_the_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test in which a coroutine makes a blocking call (file, socket, sleep) on the event loop."""
    from blockbuster import blockbuster_ctx

    if request.node.get_closest_marker("allow_blocking"):
        yield
        return
    with blockbuster_ctx("asyncwf") as bb:
        yield
    del bb
