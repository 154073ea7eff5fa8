"""The BlobStore interface and the local-directory implementation.

Blobs are immutable byte strings addressed by a key (``results/<job id>``).
Writes go to a temporary file that is renamed into place only when complete,
so a crash or a cancelled write never leaves a partial blob behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio

from asyncwf.exceptions import ConfigurationError, InvalidArgument, NotFound

__all__ = ["BlobStore", "GCSBlobStore", "LocalBlobStore", "check_key"]

_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
CHUNK_SIZE = 1 << 20


class BlobStore(Protocol):
    """Where job results (and later tiles and files) live."""

    async def put(self, key: str, data: bytes | AsyncIterable[bytes]) -> int:
        """Store ``data`` under ``key`` atomically; return its size."""

    def get(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the blob; raise :class:`~asyncwf.exceptions.NotFound` if missing."""

    async def size(self, key: str) -> int:
        """The blob's size in bytes; :class:`~asyncwf.exceptions.NotFound` if missing."""

    async def delete(self, key: str) -> None:
        """Remove the blob; missing blobs are ignored."""

    async def close(self) -> None:
        """Release connections and sessions (the blobs stay)."""


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise InvalidArgument(f"invalid blob key {key!r}")
    return key


class LocalBlobStore(BlobStore):
    """Blobs as files under one directory; every file operation runs in a worker thread."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes | AsyncIterable[bytes]) -> int:
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        size = 0
        try:
            async with await anyio.open_file(tmp, "wb") as f:
                if isinstance(data, bytes | bytearray | memoryview):
                    await f.write(data)
                    size = len(data)
                else:
                    async for chunk in data:
                        await f.write(chunk)
                        size += len(chunk)
                await anyio.to_thread.run_sync(os.fsync, f.wrapped.fileno())
            await anyio.to_thread.run_sync(os.replace, tmp, path)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: tmp.unlink(missing_ok=True))
            raise
        return size

    async def get(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            f = await anyio.open_file(path, "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key!r} does not exist") from exc
        async with f:
            while chunk := await f.read(chunk_size):
                yield chunk

    async def size(self, key: str) -> int:
        path = self._path(key)
        try:
            return (await anyio.Path(path).stat()).st_size
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key!r} does not exist") from exc

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def close(self) -> None:
        return None


class GCSBlobStore(BlobStore):
    """Blobs as objects under ``gs://bucket/prefix/`` (gcloud-aio-storage), shared by every replica.

    An object appears only when its upload completed (GCS writes are atomic)
    and its CRC32C was checked; ``$STORAGE_EMULATOR_HOST`` points it at an
    emulator. Credentials: ``$GOOGLE_APPLICATION_CREDENTIALS`` (as asyncwf.data).
    """

    def __init__(self, url: str) -> None:
        from asyncwf.data._paths import split_cloud_path

        try:
            bucket, prefix = split_cloud_path(url)
        except ValueError as exc:
            raise ConfigurationError(f"a blob store URL is gs://bucket/prefix, not {url!r}") from exc
        self.url = f"gs://{bucket}/{prefix.strip('/')}".rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.url}/{check_key(key)}"

    async def put(self, key: str, data: bytes | AsyncIterable[bytes]) -> int:
        from asyncwf.data._gcs import cloud_storage

        if not isinstance(data, bytes | bytearray | memoryview):
            data = b"".join([chunk async for chunk in data])  # results are bounded by the message size
        await (await cloud_storage()).upload_bytes(bytes(data), self._path(key))
        return len(data)

    async def get(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        from asyncwf.data._gcs import cloud_storage
        from asyncwf.exceptions import FileNotFound

        try:
            async for chunk in (await cloud_storage()).stream(self._path(key)):
                yield chunk
        except FileNotFound as exc:
            raise NotFound(f"blob {key!r} does not exist") from exc

    async def size(self, key: str) -> int:
        from asyncwf.data._gcs import cloud_storage

        info = await (await cloud_storage()).info(self._path(key))
        if info is None:
            raise NotFound(f"blob {key!r} does not exist")
        return info.size

    async def delete(self, key: str) -> None:
        from asyncwf.data._gcs import cloud_storage
        from asyncwf.exceptions import FileNotFound

        with contextlib.suppress(FileNotFound):
            await (await cloud_storage()).delete(self._path(key))

    async def close(self) -> None:
        return None  # the loop's storage session closes with the loop
