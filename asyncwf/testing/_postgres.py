"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

::

    with PostgresServer() as server:
        dsn = server.create_database()     # a fresh, empty database
        async with LocalBackend(store=dsn) as backend: ...

It needs PostgreSQL's server programs (Debian: ``apt-get install postgresql``);
they are looked up with ``pg_config --bindir``, in ``/usr/lib/postgresql/*/bin``
and on ``PATH``. Run as root, the server runs as the ``postgres`` user (PostgreSQL
refuses root). ``$ASYNCWF_TEST_POSTGRES_DSN`` points the helper at a running
server instead (databases are then created there).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from asyncwf.exceptions import ConfigurationError

__all__ = ["PostgresServer"]

_counter = itertools.count(1)


def _bindir() -> Path:
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(out)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(os.path.realpath(initdb)))
    for folder in candidates:
        if folder and os.path.exists(os.path.join(folder, "initdb")) and os.path.exists(os.path.join(folder, "pg_ctl")):
            return Path(folder)
    raise ConfigurationError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server of its own on a free port, trusting local connections, removed on exit."""

    def __init__(self) -> None:
        self.external = os.environ.get("ASYNCWF_TEST_POSTGRES_DSN", "")
        self.port = 0
        self.folder: Path | None = None
        self._as_postgres = hasattr(os, "geteuid") and os.geteuid() == 0

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, check=False)
        if result.returncode:
            raise ConfigurationError(f"{os.path.basename(cmd[0])} failed: {result.stderr.strip() or result.stdout}")

    def start(self) -> PostgresServer:
        """Make a data directory and start the server in it (nothing for an external DSN's server); returns self."""
        if self.external:
            return self
        bindir = _bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="asyncwf-pg-"))
        data = self.folder / "data"
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        self.port = _free_port()
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.folder / "log"), "-w",
                  "start")  # fmt: skip
        self._bindir = bindir
        return self

    @property
    def dsn(self) -> str:
        """The DSN of the ``postgres`` database."""
        return self.external or f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def new_database(self, name: str | None = None) -> str:
        """Create an empty database; returns its DSN."""
        import asyncpg

        name = name or f"asyncwf_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
        if not name.replace("_", "").isalnum():
            raise ConfigurationError(f"a database name is letters, digits and '_', not {name!r}")
        conn = await asyncpg.connect(self.dsn, password=os.environ.get("PGPASSWORD", ""), ssl=False)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return f"{self.dsn.rsplit('/', 1)[0]}/{name}"

    def create_database(self, name: str | None = None) -> str:
        """:meth:`new_database` for synchronous code (not from inside a running event loop)."""
        import asyncio

        return asyncio.run(self.new_database(name))

    def stop(self) -> None:
        """Stop the server and remove its data directory; idempotent."""
        if self.folder is None:
            return
        data = self.folder / "data"
        self._run(str(self._bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
