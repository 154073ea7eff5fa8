"""Downloads into local files: checked before they appear, atomic, and moved by a worker thread.

A download is written to a temporary file beside its target and renamed into
place only when whole and matching what it is checked against (the BLAKE3 the
caller knows, else the store's CRC32C); on any failure or cancellation the
temporary file is removed and the target is untouched.

Bodies of unknown or large size are not received on the event loop. A worker
thread sends the GET over a blocking HTTP connection of its own (kept alive
and reused), reads the body into one reused buffer, hashes each block while
it is still in the CPU's cache and writes it with ``os.write``; hashing and
writing release the GIL, so the loop does no work per block and never waits
for the disk. Cancelling the awaiting task shuts the connection, which wakes
the thread at once; the task returns only when the thread is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import os
import secrets
import socket
import ssl
import threading
import urllib.parse
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from asyncwf.data._hashing import StreamHasher, remember_file_hash
from asyncwf.exceptions import FileNotFound, IntegrityError, InvalidInputException, StorageError

__all__ = ["ConnectionPool", "Expected", "PartFile", "crc32c_header", "download_to_file"]

#: The socket is read into a buffer of this size, hashed and written from it (small enough to stay in cache).
BUFFER_BYTES = 512 * 1024
#: Progress is reported to the loop after at least this many bytes.
PROGRESS_BYTES = 4 * 1024 * 1024
#: A connection that sends nothing for this long is given up on.
READ_TIMEOUT_SECONDS = 120.0
CONNECT_TIMEOUT_SECONDS = 30.0
MAX_REDIRECTS = 5
#: Downloads moving at once (more wait for a thread; bandwidth, not threads, is the limit).
MAX_TRANSFERS = 32

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_tls: ssl.SSLContext | None = None
_tls_lock = threading.Lock()
_pools: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _threads() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=MAX_TRANSFERS, thread_name_prefix="asyncwf-download")
        return _executor


def _after_fork_in_child() -> None:
    # A forked child has none of the parent's threads (an inherited executor would queue work nobody runs)
    # and must not share its kept-alive connections.
    # Locks held by the parent's threads at the fork are never released here: the child makes its own.
    global _executor, _executor_lock, _tls_lock
    _executor, _executor_lock, _tls_lock = None, threading.Lock(), threading.Lock()
    for pool in list(_pools):
        pool._lock = threading.Lock()
        pool.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)


def crc32c_header(value: str) -> str:
    """The CRC32C in an ``x-goog-hash`` header's value ("" when it has none)."""
    for part in value.split(","):
        key, _, checksum = part.strip().partition("=")
        if key == "crc32c":
            return checksum
    return ""


@dataclasses.dataclass(frozen=True, slots=True)
class Expected:
    """What a download is checked against before it is put in place: the BLAKE3 the caller knows (the
    object's stored hash: one checksum computes, end to end), else the store's CRC32C of the bytes."""

    blake3: str | None
    crc32c: str

    def hasher(self) -> StreamHasher:
        return StreamHasher(crc32c=self.blake3 is None)

    def check(self, hasher: StreamHasher, what: str) -> None:
        if self.blake3 is not None:
            if hasher.hash_value != self.blake3:
                raise IntegrityError(f"{what}: downloaded content does not match its stored BLAKE3")
        elif self.crc32c and self.crc32c != hasher.crc32c:
            raise IntegrityError(f"{what}: downloaded CRC32C {hasher.crc32c} is not the store's {self.crc32c}")


def _open_part(target: str) -> tuple[int, str]:
    """A new temporary file beside ``target`` (blocking): ``(fd, path)``; the directory is made if needed.

    Opened with the usual permissions (0666 less the umask), unlike mkstemp's 0600,
    since it becomes the downloaded file.
    """
    directory, name = os.path.split(target)
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(tmp, flags, 0o666), tmp
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return os.open(tmp, flags, 0o666), tmp


class PartFile:
    """The file a download becomes (blocking; in a worker thread): written to a temporary file beside
    ``target``, which :meth:`commit` renames into place; leaving the ``with`` block uncommitted removes it."""

    def __init__(self, target: str) -> None:
        self.target = os.path.abspath(target)
        if os.path.isdir(self.target):
            raise InvalidInputException(f"cannot download to {self.target}: it is a directory")
        self.fd, self.path = _open_part(self.target)
        self._open = True

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def commit(self, hasher: StreamHasher, expected: Expected, what: str) -> None:
        """Check the bytes written, then put them in place and remember their hash."""
        expected.check(hasher, what)
        stat = os.fstat(self.fd)
        self._close()
        os.replace(self.path, self.target)
        remember_file_hash(self.target, hasher.hash_value, stat)

    def _close(self) -> None:
        if self._open:
            self._open = False
            os.close(self.fd)

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._open:
            self._close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _tls_context() -> ssl.SSLContext:
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = ssl.create_default_context()
        return _tls


_Key = tuple[str, str, int]


class ConnectionPool:
    """Idle keep-alive HTTP connections by (scheme, host, port), shared by the download threads."""

    def __init__(self, per_host: int = 8) -> None:
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._per_host = per_host
        self._lock = threading.Lock()
        self._closed = False
        _pools.add(self)

    def get(self, key: _Key) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``key`` and whether it was used before (a reused one may have been closed by the
        server meanwhile)."""
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        scheme, host, port = key
        timeout = CONNECT_TIMEOUT_SECONDS  # (reads get READ_TIMEOUT_SECONDS once connected)
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context()), False
        return http.client.HTTPConnection(host, port, timeout=timeout), False

    def put(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and len(idle) < self._per_host:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.forget()

    def forget(self) -> None:
        """Close the idle connections (in a forked child, its copies of them: the parent's stay open)."""
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


class _Aborted(Exception):
    """The download was cancelled by the task awaiting it."""


class _Transfer:
    """One download, run by a worker thread: GET (following redirects), then socket -> hash -> file."""

    def __init__(self, url: str, headers: dict[str, str], target: str, what: str, blake3: str | None,
                 pool: ConnectionPool, report: Callable[[int], None] | None) -> None:  # fmt: skip
        self.url, self.headers, self.target, self.what = url, headers, target, what
        self.blake3, self.pool, self.report = blake3, pool, report
        self._aborted = False
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def abort(self) -> None:
        """From the loop: stop the transfer; a blocked read returns at once."""
        with self._lock:
            self._aborted = True
            sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _check_aborted(self) -> None:
        if self._aborted:
            raise _Aborted

    def run(self) -> StreamHasher:
        url, headers = self.url, dict(self.headers)
        for _ in range(MAX_REDIRECTS + 1):
            key, path = _split(url, self.what)
            connection, response = self._request(key, path, headers)
            try:
                if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                    response.read()
                    following = urllib.parse.urljoin(url, response.getheader("Location", ""))
                    if _split(following, self.what)[0] != key:
                        headers.pop("Authorization", None)  # credentials stay with the host they are for
                    url = following
                    self._release(key, connection, response)
                    continue
                if response.status != 200:
                    raise _status_error(response, self.what)
                hasher = self._save(response)
                self._release(key, connection, response)
                return hasher
            except BaseException:
                connection.close()
                raise
            finally:
                with self._lock:
                    self._connection = None
        raise StorageError(f"{self.what}: more than {MAX_REDIRECTS} redirects")

    def _request(self, key: _Key, path: str, headers: dict[str, str]) -> tuple[http.client.HTTPConnection,
                                                                              http.client.HTTPResponse]:  # fmt: skip
        """Send the GET; a kept-alive connection the server has closed meanwhile is replaced."""
        while True:
            self._check_aborted()
            connection, reused = self.pool.get(key)
            try:
                if connection.sock is None:
                    connection.connect()  # (bounded by CONNECT_TIMEOUT_SECONDS; an abort cannot interrupt it)
                    cast(socket.socket, connection.sock).settimeout(READ_TIMEOUT_SECONDS)
                with self._lock:  # from here on, an abort shuts this connection
                    self._connection = connection
                    aborted = self._aborted
                if aborted:
                    connection.close()
                    raise _Aborted
                connection.request("GET", path, headers=headers)
                return connection, connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._check_aborted()
                if reused and isinstance(exc, ConnectionError | http.client.RemoteDisconnected):
                    continue
                raise StorageError(f"{self.what}: {type(exc).__name__}: {exc}") from exc

    def _release(self, key: _Key, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        if response.isclosed() and not response.will_close and not self._aborted:
            with self._lock:
                self._connection = None
            self.pool.put(key, connection)
        else:
            connection.close()

    def _save(self, response: http.client.HTTPResponse) -> StreamHasher:
        expected = Expected(self.blake3, crc32c_header(response.getheader("x-goog-hash", "")))
        length = response.length  # (None when chunked; http.client raises for a chunked body cut short)
        hasher = expected.hasher()
        buffer = memoryview(bytearray(BUFFER_BYTES))
        unreported = 0
        with PartFile(self.target) as part:
            while True:
                try:
                    n = response.readinto(buffer)
                except (OSError, http.client.HTTPException) as exc:
                    self._check_aborted()
                    raise StorageError(f"{self.what}: {type(exc).__name__}: {exc}") from exc
                self._check_aborted()
                if not n:
                    break
                block = buffer[:n]
                hasher.update(block)
                part.write(block)
                unreported += n
                if self.report is not None and unreported >= PROGRESS_BYTES:
                    self.report(unreported)
                    unreported = 0
            if length is not None and hasher.size != length:  # (http.client ends a cut-off body quietly)
                raise StorageError(f"{self.what}: the connection closed after {hasher.size} of {length} bytes")
            part.commit(hasher, expected, self.what)
        if self.report is not None and unreported:
            self.report(unreported)
        return hasher


def _split(url: str, what: str) -> tuple[_Key, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StorageError(f"{what}: cannot download from a {parts.scheme or 'relative'} URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), path


def _status_error(response: http.client.HTTPResponse, what: str) -> Exception:
    with contextlib.suppress(OSError, http.client.HTTPException):
        response.read(64 * 1024)
    if response.status == 404:
        return FileNotFound(f"{what}: no such object or bucket")
    return StorageError(f"{what}: {response.status} {response.reason}", response.status)


async def download_to_file(url: str, headers: dict[str, str], local_path: str, what: str, *,
                           pool: ConnectionPool, progress: Callable[[int], None] | None = None,
                           blake3: str | None = None) -> StreamHasher:  # fmt: skip
    """GET ``url`` into ``local_path`` in a worker thread, checked and atomic (see the module's docstring).

    ``progress`` is called on the loop with the bytes received since its last call. HTTP errors are
    :class:`~asyncwf.exceptions.FileNotFound` (404) or :class:`~asyncwf.exceptions.StorageError`.
    """
    loop = asyncio.get_running_loop()
    report = None if progress is None else _reporter(loop, progress)
    transfer = _Transfer(url, headers, local_path, what, blake3, pool, report)
    future = loop.run_in_executor(_threads(), transfer.run)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        transfer.abort()
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller sees
        raise


def _reporter(loop: asyncio.AbstractEventLoop, progress: Callable[[int], None]) -> Callable[[int], None]:
    def report(n: int) -> None:
        loop.call_soon_threadsafe(progress, n)

    return report
