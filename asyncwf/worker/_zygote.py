"""The fork server's own process: ``python -m asyncwf.worker._zygote FD``.

It imports what task scripts import (``asyncwf.worker`` and what that pulls in) once, then waits on the
socket ``FD`` (a ``SOCK_SEQPACKET`` pair with the worker) for requests, one message each: JSON ``{"id",
"script", "cwd", "env"}`` with one file descriptor, the pipe the script's output goes to. For each it forks
a child that runs the script as ``python script.py`` would (``__main__``, ``sys.argv``, ``sys.path[0]``,
its own directory and environment) and answers ``{"started": id, "pid": pid}``; when a child ends it
answers ``{"exited": pid, "status": status}`` (negative: the signal that killed it). It runs no thread and
no event loop, so forking is safe; it dies with the worker (Linux), and its children die with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import sys
from typing import Any

#: Imported before any fork: what every task script would otherwise import at its start.
PRELOAD = ("asyncwf.worker", "asyncio", "json", "runpy", "tempfile", "random", "traceback")
MAX_REQUEST = 1 << 20


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):  # (only Linux has it; the worker forks scripts on Linux only)
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode())


def _run_child(request: dict[str, Any], out_fd: int, closing: list[int]) -> None:
    """In the forked child: become ``python script.py`` and never return."""
    code: Any = 1
    try:
        for fd in closing:
            os.close(fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent()  # the zygote is the parent now
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        import random
        import runpy
        import tempfile

        script = request["script"]
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # TMPDIR is read again: the run's own directory
        random.seed()  # a fork would otherwise share the zygote's state
        sys.argv = [script]
        sys.path[0] = os.path.dirname(script)
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: S110 - the pipe may be gone; the exit status still counts
                pass
        os._exit(code & 0xFF)


def main(fd: int) -> None:
    _die_with_parent()
    for name in PRELOAD:
        __import__(name)
    sock = socket.socket(fileno=fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _send(sock, {"ready": os.getpid()})
    while True:
        readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in readable:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                _send(sock, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})
        if sock.fileno() in readable:
            data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 1)
            if not data:
                return  # the worker is gone
            request = json.loads(data)
            if len(fds) != 1:
                for extra in fds:
                    os.close(extra)
                _send(sock, {"failed": request.get("id"), "error": "a request carries one file descriptor"})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _run_child(request, fds[0], [sock.fileno(), wake_r, wake_w])
            os.close(fds[0])
            _send(sock, {"started": request["id"], "pid": pid})


if __name__ == "__main__":
    main(int(sys.argv[1]))
