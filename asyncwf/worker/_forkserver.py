"""A fork server for task scripts: each script still runs in its own process, but forked from one that has
imported ``asyncwf.worker`` already, instead of a new interpreter that imports it again (most of a short
script's cost). The server is :mod:`asyncwf.worker._zygote`; this is the worker's side of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

__all__ = ["ForkServer", "ForkedProcess", "fork_server_available"]

log = logging.getLogger("asyncwf.worker")


def fork_server_available() -> bool:
    """Forking scripts needs Linux (the scripts die with the worker there) and ``SOCK_SEQPACKET``."""
    return sys.platform == "linux" and hasattr(socket, "SOCK_SEQPACKET") and hasattr(socket, "send_fds")


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_writer(sock.fileno())


class ForkedProcess:
    """A script forked by the server, shaped like an ``asyncio.subprocess.Process`` for the worker:
    ``stdout`` (its output and errors), ``wait()``, ``terminate()``, ``kill()``, ``returncode``."""

    def __init__(self, pid: int, stdout: asyncio.StreamReader, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.stdout = stdout
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        """Its exit status (negative: the signal that ended it); the server gone, its children died with it."""
        try:
            return await asyncio.shield(self._exited)
        except ConnectionError:
            return -signal.SIGKILL

    def send_signal(self, sig: int) -> None:
        if self._exited.done():
            raise ProcessLookupError(self.pid)  # (its pid may be another process's by now)
        os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """Starts the zygote on first use (and again if it dies) and asks it for a child per script."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._sock: socket.socket | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._started: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._early_exits: dict[int, int] = {}

    async def spawn(self, script: Path, cwd: Path, env: dict[str, str]) -> ForkedProcess:
        """Run ``script`` in a new child with ``cwd`` and exactly ``env``."""
        sock = await self._ready()
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        request_id = next(self._ids)
        started: asyncio.Future[int] = loop.create_future()
        self._started[request_id] = started
        try:
            message = json.dumps({"id": request_id, "script": str(script), "cwd": str(cwd), "env": env}).encode()
            await self._send(sock, message, write_fd)
        except BaseException:
            self._started.pop(request_id, None)
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            pid = await started
        except BaseException:
            os.close(read_fd)
            raise
        exited: asyncio.Future[int] = loop.create_future()
        if pid in self._early_exits:
            exited.set_result(self._early_exits.pop(pid))
        else:
            self._exits[pid] = exited
        reader = asyncio.StreamReader(limit=1 << 20)
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        return ForkedProcess(pid, reader, exited)

    async def close(self) -> None:
        """Stop the zygote (running scripts are killed with it)."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
            self._process = None
        self._fail_waiters(ConnectionError("the fork server stopped"))

    async def _ready(self) -> socket.socket:
        async with self._starting:
            if self._sock is not None and self._reader is not None and not self._reader.done():
                return self._sock
            await self.close()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                env = {**os.environ, "PYTHONUNBUFFERED": "1"}
                self._process = await asyncio.create_subprocess_exec(
                    self.python, "-m", "asyncwf.worker._zygote", str(theirs.fileno()), pass_fds=[theirs.fileno()],
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, env=env,
                )  # fmt: skip
            finally:
                theirs.close()
            ours.setblocking(False)
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(60):
                    hello = json.loads(await loop.sock_recv(ours, 65536) or b"{}")
            except (TimeoutError, ValueError) as exc:
                ours.close()
                raise ConnectionError(f"the fork server did not start: {exc}") from exc
            if "ready" not in hello:
                ours.close()
                raise ConnectionError("the fork server did not start")
            self._sock = ours
            self._reader = asyncio.create_task(self._read(ours), name="asyncwf-fork-server")
            return ours

    async def _send(self, sock: socket.socket, message: bytes, fd: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                socket.send_fds(sock, [message], [fd])
                return
            except BlockingIOError:
                await _writable(loop, sock)

    async def _read(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await loop.sock_recv(sock, 65536):
                message = json.loads(data)
                if "started" in message:
                    started = self._started.pop(message["started"], None)
                    if started is not None and not started.done():
                        started.set_result(message["pid"])
                elif "exited" in message:
                    exited = self._exits.pop(message["exited"], None)
                    if exited is None:
                        self._early_exits[message["exited"]] = message["status"]  # before spawn() saw its pid
                    elif not exited.done():
                        exited.set_result(message["status"])
                elif "failed" in message:
                    started = self._started.pop(message["failed"], None)
                    if started is not None and not started.done():
                        started.set_exception(ConnectionError(message.get("error", "the fork server refused")))
        except (OSError, ValueError) as exc:
            log.warning("the fork server's channel broke: %s", exc)
        finally:
            self._fail_waiters(ConnectionError("the fork server is gone"))

    def _fail_waiters(self, error: Exception) -> None:
        for waiters in (self._started, self._exits):
            for future in waiters.values():
                if not future.done():
                    future.set_exception(error)
            waiters.clear()
