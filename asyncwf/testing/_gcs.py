"""A Google Cloud Storage emulator (gcp-storage-emulator) in a subprocess, for tests.

::

    with GCSEmulator() as emulator:          # sets STORAGE_EMULATOR_HOST while open
        bucket = emulator.create_bucket()    # a fresh bucket name
        ...

It needs the ``gcp-storage-emulator`` package: ``pip install 'asyncwf[testing-gcs]'``.
The emulator's listen backlog of 5 resets connections under concurrency, so
the launcher raises it before serving.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any

from asyncwf.exceptions import ConfigurationError

__all__ = ["GCSEmulator"]

_LAUNCHER = """
import http.server, sys, time
http.server.HTTPServer.request_queue_size = 1024
from gcp_storage_emulator.server import create_server
server = create_server("127.0.0.1", int(sys.argv[1]), in_memory=True, default_bucket="asyncwf-default")
server.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    server.stop()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GCSEmulator:
    """Runs the emulator; ``url`` is its address, ``create_bucket()`` makes a bucket."""

    def __init__(self, *, set_environment: bool = True) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._set_environment = set_environment
        self._proc: subprocess.Popen[str] | None = None
        self._previous: str | None = None
        self._names = itertools.count()

    def start(self) -> GCSEmulator:
        """Start the emulator (and point ``STORAGE_EMULATOR_HOST`` at it); returns self. ``with GCSEmulator()`` does
        this."""
        if importlib.util.find_spec("gcp_storage_emulator") is None:
            raise ConfigurationError("the GCS emulator needs gcp-storage-emulator: pip install 'asyncwf[testing-gcs]'")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(self.port)], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if "ready" not in line:
            self.stop()
            raise ConfigurationError("the GCS emulator did not start")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):  # noqa: S310 - our own http URL
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if self._set_environment:
            self._previous = os.environ.get("STORAGE_EMULATOR_HOST")
            os.environ["STORAGE_EMULATOR_HOST"] = self.url
        return self

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name if none is given) and return its name."""
        name = name or f"test-{next(self._names)}-{uuid.uuid4().hex[:8]}"
        body = json.dumps({"name": name}).encode()
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            f"{self.url}/storage/v1/b?project=test", data=body, method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            return name

    def wipe(self) -> None:
        """Delete every object (buckets stay)."""
        with urllib.request.urlopen(f"{self.url}/wipe?keep-buckets=true", timeout=30):  # noqa: S310
            pass

    def stop(self) -> None:
        """Stop the emulator and restore ``STORAGE_EMULATOR_HOST``; idempotent."""
        if self._set_environment and self._proc is not None:
            if self._previous is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = self._previous
        if self._proc is not None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    def __enter__(self) -> GCSEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
