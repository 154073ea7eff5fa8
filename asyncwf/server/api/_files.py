"""Sharing local files by signed URL: ``FileService.SignFileURL`` and ``GET /v1/files``.

The embedded backend's stand-in for Google Cloud Storage signed URLs. Only
regular files inside the directories the backend was told to share
(``--share-dir``) can be signed or served. A URL carries the path, its expiry
and an HMAC-SHA256 of both under a key kept in the data directory
(``files.key``, created on first start), so it survives restarts, cannot be
altered, and stops working when it expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

import anyio
from aiohttp import web
from grpclib.server import Stream

from asyncwf._model import ts_to_pb
from asyncwf.exceptions import ConfigurationError, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from asyncwf.server.api._authz import TokenAuth
from asyncwf.server.api._jobs import CallTracker, _grpc_errors, _request
from asyncwf.v1 import files_grpc
from asyncwf.v1 import files_pb2 as pb

__all__ = ["FileService", "FileSigner", "serve_file"]

MAX_SECONDS = 7 * 24 * 3600
KEY_FILE = "files.key"


#: The shortest signing key accepted (HMAC-SHA256 wants 32 bytes).
MIN_KEY_BYTES = 32


def _load_key(data_dir: Path) -> bytes:
    """The backend's signing key, made on first start: written whole or not at all (temp file, fsync,
    rename), so an interrupted start never leaves an empty key behind. A short key is refused."""
    path = data_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(MIN_KEY_BYTES)
        tmp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)  # never replaces a key another replica made meanwhile
        except FileExistsError:
            key = path.read_bytes()
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(data_dir)
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"{path} holds a {len(key)}-byte signing key; it needs at least {MIN_KEY_BYTES} random bytes "
            "(delete it to have a new one made, which invalidates the signed URLs issued so far)"
        )
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _inside(path: str, roots: Sequence[str]) -> str | None:
    """The real path of ``path`` if it is a regular file inside one of ``roots`` (blocking: run in a thread)."""
    real = os.path.realpath(path)
    if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        return None
    return real if os.path.isfile(real) else ""


class FileSigner:
    """Signs and checks file URLs for one backend."""

    def __init__(self, key: bytes, roots: Sequence[str], base_url: str) -> None:
        self.key = key
        #: Real paths (symbolic links resolved) of the shared directories.
        self.roots = list(roots)
        self.base_url = base_url.rstrip("/")

    @classmethod
    async def open(cls, data_dir: Path, roots: Sequence[Path], base_url: str) -> FileSigner:
        def prepare() -> tuple[bytes, list[str]]:
            return _load_key(data_dir), [os.path.realpath(root) for root in roots]

        key, real_roots = await anyio.to_thread.run_sync(prepare)
        return cls(key, real_roots, base_url)

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self.key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    async def sign(self, path: str, seconds: float) -> tuple[str, dt.datetime]:
        if not self.roots:
            raise FailedPrecondition("this backend shares no directories (start it with --share-dir DIR)")
        if not os.path.isabs(path):
            raise InvalidArgument(f"give an absolute path, not {path!r}")
        if not 1 <= seconds <= MAX_SECONDS:
            raise InvalidArgument(f"signed URLs expire between 1 second and 7 days from now, not {seconds:.0f} s")
        real = await anyio.to_thread.run_sync(_inside, path, self.roots)
        if real is None:
            raise PermissionDenied(f"{path} is not inside a directory this backend shares")
        if not real:
            raise NotFound(f"no file at {path}")
        expires = math.ceil(time.time() + seconds)
        query = urlencode({"path": real, "expires": expires, "signature": self._signature(real, expires)})
        return f"{self.base_url}/v1/files?{query}", dt.datetime.fromtimestamp(expires, dt.UTC)

    def check(self, path: str, expires: str, signature: str) -> None:
        """Raise PermissionDenied unless the signature is right and the URL has not expired."""
        try:
            when = int(expires)
        except ValueError:
            raise PermissionDenied("malformed expiry") from None
        if not hmac.compare_digest(self._signature(path, when), signature):
            raise PermissionDenied("bad signature")
        if when < time.time():
            raise PermissionDenied("this URL has expired")


class FileService(files_grpc.FileServiceBase):
    """``asyncwf.v1.FileService``: any authenticated caller may sign URLs of shared files."""

    def __init__(self, signer: FileSigner | None, auth: TokenAuth) -> None:
        self.signer = signer
        self.auth = auth
        self.calls = CallTracker()

    @_grpc_errors
    async def SignFileURL(self, stream: Stream[pb.SignFileURLRequest, pb.SignFileURLResponse]) -> None:
        self.auth.identify(stream.metadata or {})
        request = await _request(stream)
        if self.signer is None:
            raise FailedPrecondition("this backend has no HTTP endpoint to serve files from")
        url, expires_at = await self.signer.sign(request.path, request.expires_in_seconds)
        await stream.send_message(pb.SignFileURLResponse(url=url, expires_at=ts_to_pb(expires_at)))


SIGNER: web.AppKey[FileSigner] = web.AppKey("file_signer", FileSigner)


async def serve_file(request: web.Request) -> web.StreamResponse:
    """``GET /v1/files?path=...&expires=...&signature=...``: the file, streamed."""
    signer = request.app[SIGNER]
    path = request.query.get("path", "")
    try:
        signer.check(path, request.query.get("expires", ""), request.query.get("signature", ""))
    except PermissionDenied as exc:
        raise web.HTTPForbidden(text=exc.message) from exc
    real = await anyio.to_thread.run_sync(_inside, path, signer.roots)
    if real is None:
        raise web.HTTPForbidden(text="not a shared file")
    if not real:
        raise web.HTTPNotFound(text="no such file")
    return web.FileResponse(real, headers={"Cache-Control": "private, no-store"})
