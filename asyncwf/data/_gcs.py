"""Google Cloud Storage through gcloud-aio-storage: one shared session per event loop.

Uploads send metadata with the object (multipart for small files, resumable
for large ones) and are checked against the store's CRC32C; a mismatch
deletes the object. Downloads go into a temporary file beside the target,
are checked against the object's stored BLAKE3 (else the ``x-goog-hash``
CRC32C), and are renamed into place only when whole and correct; all but
small ones are moved by a worker thread (:mod:`asyncwf.data._download`).
Hashes are computed from the bytes as they pass, so no file is read twice.

Configuration comes from the environment, as with Google's own clients:
``STORAGE_EMULATOR_HOST`` (``http://host:port``) to use an emulator, and
``GOOGLE_APPLICATION_CREDENTIALS`` for a service-account key (also what signs
URLs).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import anyio
from gcloud.aio.auth import Token
from gcloud.aio.storage import Bucket, Storage
from gcloud.aio.storage import blob as _blob_module

from asyncwf.data._download import ConnectionPool, Expected, PartFile, crc32c_header, download_to_file
from asyncwf.data._hashing import StreamHasher, cached_file_hash, remember_file_hash
from asyncwf.data._paths import split_cloud_path
from asyncwf.exceptions import (
    ConfigurationError,
    FileNotFound,
    IntegrityError,
    InvalidInputException,
    StorageError,
)

__all__ = ["CloudStorage", "ObjectInfo", "close_cloud_storage", "cloud_storage"]

#: Files up to this size go up in one multipart request (read into memory once); larger ones are streamed.
MULTIPART_MAX_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600


#: Metadata as a function of the file's BLAKE3 (None when it is not known before the upload).
MetadataFor = Callable[[str | None], dict[str, str] | None]


def _metadata_for(metadata: dict[str, str] | MetadataFor | None, hash_value: str | None) -> dict[str, str] | None:
    return metadata(hash_value) if callable(metadata) else metadata


def _read_small(path: str, limit: int) -> tuple[int, bytes | None, StreamHasher | None, str | None]:
    """In a worker thread: the file's size, and its bytes and hashes if it is small (else a remembered hash)."""
    path = os.path.abspath(path)
    st = os.stat(path)
    if st.st_size > limit:
        return st.st_size, None, None, cached_file_hash(path, st.st_size, st.st_mtime_ns)
    with open(path, "rb") as f:
        data = f.read()
    hasher = StreamHasher()
    hasher.update(data)
    if os.stat(path).st_mtime_ns == st.st_mtime_ns:  # unchanged while we read it
        remember_file_hash(path, hasher.hash_value, st)
    return len(data), data, hasher, hasher.hash_value


class ObjectInfo:
    """What the store knows of an object: size, checksums, update time and custom metadata."""

    __slots__ = ("crc32c", "custom", "generation", "md5", "size", "updated")

    def __init__(self, resource: dict[str, Any]) -> None:
        self.size = int(resource.get("size", 0))
        self.crc32c: str = resource.get("crc32c", "")
        self.md5: str = resource.get("md5Hash", "")
        self.generation: str = str(resource.get("generation", ""))
        updated = resource.get("updated")
        self.updated = dt.datetime.fromisoformat(updated.replace("Z", "+00:00")) if updated else None
        self.custom: dict[str, str] = dict(resource.get("metadata") or {})


def _storage_error(exc: BaseException, what: str) -> Exception:
    if isinstance(exc, aiohttp.ClientResponseError):
        if exc.status == 404:
            return FileNotFound(f"{what}: no such object or bucket")
        return StorageError(f"{what}: {exc.status} {exc.message}", exc.status)
    return StorageError(f"{what}: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _mapped(what: str) -> Any:
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise _storage_error(exc, what) from exc


class _NoCredentials:
    """Stands in for a Token when there are none (an emulator needs none)."""

    service_data: dict[str, Any] = {}

    async def get(self) -> str:
        raise ConfigurationError("no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key")

    async def close(self) -> None:
        return None


def _service_data() -> dict[str, Any]:
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read GOOGLE_APPLICATION_CREDENTIALS ({path}): {exc}") from exc
    return data if isinstance(data, dict) else {}


class _HashingReader(io.RawIOBase):
    """A file read by aiohttp (in its worker threads) that hashes what passes; seeking to 0 starts over."""

    def __init__(self, path: str, hasher: StreamHasher, progress: Callable[[int], None] | None = None) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._hasher = hasher
        self._progress = progress

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._file.readinto(buffer)
        if n:
            self._hasher.update(memoryview(buffer)[:n])
            if self._progress is not None:
                self._progress(n)
        return n or 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._file.seek(offset, whence)
        if position == 0:
            self._hasher.reset()  # a retry sends everything again
        return position

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()


class CloudStorage:
    """GCS operations on ``gs://`` paths for one event loop; get it with :func:`cloud_storage`."""

    def __init__(self, session: aiohttp.ClientSession, token: Any, api_root: str | None) -> None:
        self.session = session
        self._token = token
        self._emulator = api_root
        root = (api_root or "https://storage.googleapis.com").rstrip("/")
        self._upload_root = f"{root}/upload/storage/v1/b"
        self._read_root = f"{root}/storage/v1/b"
        #: Kept-alive connections of the download threads.
        self.connections = ConnectionPool()
        self.storage = Storage(session=session, token=cast(Token, token), api_root=api_root)

    async def close(self) -> None:
        self.connections.close()
        await self.session.close()

    # --- objects ------------------------------------------------------------------

    async def info(self, cloud_path: str) -> ObjectInfo | None:
        """The object's size, checksums and metadata; None when there is no object."""
        bucket, name = split_cloud_path(cloud_path)
        try:
            with _mapped(cloud_path):
                resource = await self.storage.download_metadata(bucket, name)
        except FileNotFound:
            return None
        return ObjectInfo(resource)

    async def list(self, cloud_path: str, *, recursive: bool = False) -> list[tuple[str, ObjectInfo]]:
        """``(gs:// path, info)`` of the objects under a directory-like prefix, all pages."""
        bucket, name = split_cloud_path(cloud_path)
        prefix = name.rstrip("/") + "/" if name else ""
        params: dict[str, str] = {"prefix": prefix}
        if not recursive:
            params["delimiter"] = "/"
        found: list[tuple[str, ObjectInfo]] = []
        while True:
            with _mapped(cloud_path):
                page = await self.storage.list_objects(bucket, params=params)
            for item in page.get("items", []):
                if not item["name"].endswith("/"):
                    found.append((f"gs://{bucket}/{item['name']}", ObjectInfo(item)))
            token = page.get("nextPageToken")
            if not token:
                return found
            params["pageToken"] = token

    async def upload_bytes(self, data: bytes, cloud_path: str, metadata: dict[str, str] | None = None,
                           content_type: str | None = None) -> ObjectInfo:  # fmt: skip
        hasher = StreamHasher()
        hasher.update(data)
        return await self._upload_hashed(data, hasher, cloud_path, metadata, content_type)

    async def _upload_hashed(self, data: bytes, hasher: StreamHasher, cloud_path: str,
                             metadata: dict[str, str] | None, content_type: str | None) -> ObjectInfo:  # fmt: skip
        bucket, name = split_cloud_path(cloud_path)
        with _mapped(cloud_path):
            resource = await self.storage.upload(
                bucket, name, data, content_type=content_type or "application/octet-stream",
                # Always multipart (metadata in the same request), never a bare media upload.
                metadata={"metadata": metadata or {}}, force_resumable_upload=False, timeout=300,
            )  # fmt: skip
        return await self._verified(cloud_path, resource, hasher)

    async def upload_file(
        self, local_path: str, cloud_path: str, metadata: dict[str, str] | MetadataFor | None = None,
        content_type: str | None = None, progress: Callable[[int], None] | None = None,
    ) -> tuple[ObjectInfo, StreamHasher, bool]:  # fmt: skip
        """Upload a local file with its metadata; returns the object's info, the file's hashes, and
        whether its BLAKE3 went up with the metadata.

        ``metadata`` may be a function of the file's BLAKE3: files up to
        MULTIPART_MAX_BYTES are read (and hashed) before sending, larger ones
        stream and get the hash remembered from an earlier read, if any.
        ``progress`` is called on the event loop with the bytes read each time a chunk goes out.
        """
        split_cloud_path(cloud_path)
        try:
            size, data, hasher, known = await anyio.to_thread.run_sync(_read_small, local_path, MULTIPART_MAX_BYTES)
        except FileNotFoundError as exc:
            raise FileNotFound(f"no local file {local_path!r} to upload") from exc
        if data is not None:
            assert hasher is not None
            info = await self._upload_hashed(data, hasher, cloud_path, _metadata_for(metadata, hasher.hash_value),
                                             content_type)  # fmt: skip
            if progress is not None:
                progress(size)
            return info, hasher, True
        hasher = StreamHasher()
        loop = asyncio.get_running_loop()
        report: Callable[[int], None] | None = None
        if progress is not None:

            def report(n: int) -> None:  # called in aiohttp's reading thread
                loop.call_soon_threadsafe(progress, n)

        bucket, name = split_cloud_path(cloud_path)
        reader = await anyio.to_thread.run_sync(_HashingReader, local_path, hasher, report)
        try:
            with _mapped(cloud_path):
                resource = await self._resumable(
                    reader, size, bucket, name, content_type, _metadata_for(metadata, known)
                )
        finally:
            await anyio.to_thread.run_sync(reader.close)
        info = await self._verified(cloud_path, resource, hasher)
        await anyio.to_thread.run_sync(remember_file_hash, local_path, hasher.hash_value)
        return info, hasher, known is not None

    async def _auth(self) -> dict[str, str]:
        if self._emulator:
            return {}
        return {"Authorization": f"Bearer {await self._token.get()}"}

    async def _resumable(self, reader: _HashingReader, size: int, bucket: str, name: str,
                         content_type: str | None, metadata: dict[str, str] | None) -> dict[str, Any]:  # fmt: skip
        """A resumable upload in one PUT that states its byte range, so a cut-off body never makes an object.

        If the upload is cancelled or fails, its session is cancelled too.
        """
        kind = content_type or "application/octet-stream"
        auth = await self._auth()
        body = json.dumps({"name": name, "contentType": kind, "metadata": metadata or {}})
        async with self.session.post(
            f"{self._upload_root}/{bucket}/o", params={"uploadType": "resumable", "name": name}, data=body,
            headers={**auth, "Content-Type": "application/json; charset=UTF-8", "X-Upload-Content-Type": kind,
                     "X-Upload-Content-Length": str(size)},
            raise_for_status=True,
        ) as started:  # fmt: skip
            session_uri = started.headers["Location"]
        try:
            async with self.session.put(
                session_uri, data=reader, raise_for_status=True,
                headers={**auth, "Content-Type": kind, "Content-Length": str(size),
                         "Content-Range": f"bytes 0-{size - 1}/{size}"},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=600),
            ) as finished:  # fmt: skip
                if finished.status == 308:
                    raise StorageError(f"gs://{bucket}/{name}: the store did not receive every byte", 308)
                return cast(dict[str, Any], await finished.json(content_type=None))
        except BaseException:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await asyncio.shield(self._cancel_upload(session_uri, auth))
            raise

    async def _cancel_upload(self, session_uri: str, auth: dict[str, str]) -> None:
        async with self.session.delete(session_uri, headers=auth):
            pass

    async def _verified(self, cloud_path: str, resource: dict[str, Any], hasher: StreamHasher) -> ObjectInfo:
        info = ObjectInfo(resource)
        if info.crc32c and info.crc32c != hasher.crc32c:
            with contextlib.suppress(Exception):
                await self.delete(cloud_path)
            raise IntegrityError(f"{cloud_path}: the store's CRC32C {info.crc32c} is not the sent {hasher.crc32c}")
        return info

    async def download_file(self, cloud_path: str, local_path: str, progress: Callable[[int], None] | None = None,
                            *, blake3: str | None = None, size: int | None = None) -> StreamHasher:  # fmt: skip
        """Download an object into ``local_path``, atomically (a temporary file, checked, then renamed): checked
        against ``blake3`` when the caller knows the content's hash, else against the store's CRC32C.

        An object known (``size``) to be small comes in one read over the shared session; any other is
        moved by a worker thread (:mod:`asyncwf.data._download`), so the loop does no work per block.
        """
        bucket, name = split_cloud_path(cloud_path)
        if size is not None and size <= MULTIPART_MAX_BYTES:
            with _mapped(cloud_path):
                stream = await self.storage.download_stream(bucket, name, timeout=300)
                async with stream as response:
                    small = await _read_small_body(response)
            if small is not None:
                body, crc32c = small
                if progress is not None:
                    progress(len(body))
                expected = Expected(blake3, crc32c)
                return await anyio.to_thread.run_sync(_write_whole, local_path, body, expected, cloud_path)
        url = f"{self._read_root}/{bucket}/o/{quote(name, safe='')}?alt=media"
        return await download_to_file(url, await self._auth(), local_path, cloud_path, pool=self.connections,
                                      progress=progress, blake3=blake3)  # fmt: skip

    async def fetch_file(self, url: str, local_path: str, progress: Callable[[int], None] | None = None,
                         *, blake3: str | None = None) -> StreamHasher:  # fmt: skip
        """Download a URL (a signed URL, say) into ``local_path``, atomically, like :meth:`download_file`."""
        return await download_to_file(url, {}, local_path, _redacted(url), pool=self.connections,
                                      progress=progress, blake3=blake3)  # fmt: skip

    async def fetch_stream(self, url: str) -> AsyncIterator[bytes]:
        with _mapped(_redacted(url)):
            async with self.session.get(url, raise_for_status=True) as response:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    yield chunk

    async def fetch_json(self, url: str) -> Any:
        with _mapped(_redacted(url)):
            async with self.session.get(url, raise_for_status=True) as response:
                return await response.json(content_type=None)

    async def download_bytes(self, cloud_path: str) -> bytes:
        bucket, name = split_cloud_path(cloud_path)
        with _mapped(cloud_path):
            return await self.storage.download(bucket, name, timeout=300)

    async def stream(self, cloud_path: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, without a local file."""
        bucket, name = split_cloud_path(cloud_path)
        with _mapped(cloud_path):
            stream = await self.storage.download_stream(bucket, name, timeout=3600)
            async with stream as response:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    yield chunk

    async def patch_metadata(self, cloud_path: str, metadata: dict[str, str]) -> ObjectInfo:
        bucket, name = split_cloud_path(cloud_path)
        with _mapped(cloud_path):
            resource = await self.storage.patch_metadata(bucket, name, {"metadata": metadata})
        return ObjectInfo(resource)

    async def copy(self, source: str, destination: str, metadata: dict[str, str] | None = None) -> ObjectInfo:
        """Copy an object inside the store (no bytes pass through here)."""
        bucket, name = split_cloud_path(source)
        target_bucket, target_name = split_cloud_path(destination)
        with _mapped(source):
            result = await self.storage.copy(
                bucket, name, target_bucket, new_name=target_name,
                metadata={"metadata": metadata} if metadata else None, timeout=300,
            )  # fmt: skip
        return ObjectInfo(result.get("resource", result))

    async def delete(self, cloud_path: str) -> None:
        bucket, name = split_cloud_path(cloud_path)
        with _mapped(cloud_path):
            await self.storage.delete(bucket, name)

    async def signed_url(self, cloud_path: str, expiration: dt.datetime | dt.timedelta) -> str:
        """A V4 signed GET URL, signed locally with the service-account key."""
        seconds = seconds_until(expiration)
        if not self._token.service_data.get("private_key"):
            raise ConfigurationError("signing URLs needs a service-account key in GOOGLE_APPLICATION_CREDENTIALS")
        bucket, name = split_cloud_path(cloud_path)
        blob = Bucket(self.storage, bucket).new_blob(name)
        # Signing with RSA takes a millisecond or two: off the loop.
        url = await anyio.to_thread.run_sync(_sign_sync, blob, seconds, self._token)
        if self._emulator:
            # The emulator serves signed URLs at its own address (its XML-API path is the same).
            url = url.replace("https://storage.googleapis.com", self._emulator.rstrip("/"), 1)
        return url


def _sign_sync(blob: Any, seconds: int, token: Any) -> str:
    return cast(str, asyncio.run(blob.get_signed_url(seconds, token=token)))


# gcloud-aio-storage reads $STORAGE_EMULATOR_HOST once, when it is imported, into the host it signs URLs for
# (``https://{HOST}/...``): set before the import (as the data guide says), that made ``https://http://...``.
# URLs are signed for Cloud Storage's own host here, and :meth:`GCS.signed_url` points them at the emulator.
_blob_module.HOST = "storage.googleapis.com"


def _redacted(url: str) -> str:
    """A URL without its query (signatures stay out of error messages)."""
    return url.split("?", 1)[0]


async def _read_small_body(response: aiohttp.ClientResponse) -> tuple[bytes, str] | None:
    """A body announced as small, read whole, with the store's CRC32C; None when it is not (the object was
    replaced by a bigger one), so the caller streams it instead."""
    length = response.content_length
    if length is None or length > MULTIPART_MAX_BYTES:
        return None
    return await response.read(), crc32c_header(response.headers.get("x-goog-hash", ""))


def _write_whole(local_path: str, data: bytes, expected: Expected, what: str) -> StreamHasher:
    """In a worker thread: check a small download and put it in place atomically (one hop for all of it)."""
    hasher = expected.hasher()
    hasher.update(data)
    with PartFile(local_path) as part:
        part.write(data)
        part.commit(hasher, expected, what)
    return hasher


def seconds_until(expiration: dt.datetime | dt.timedelta) -> int:
    if isinstance(expiration, dt.timedelta):
        seconds = expiration.total_seconds()
    elif isinstance(expiration, dt.datetime):
        if expiration.tzinfo is None:
            raise InvalidInputException("expiration datetimes must be timezone-aware")
        seconds = (expiration - dt.datetime.now(dt.UTC)).total_seconds()
    else:
        raise InvalidInputException(f"expiration must be a datetime or timedelta, not {type(expiration).__name__}")
    if not 1 <= seconds <= MAX_SIGNED_URL_SECONDS:
        raise InvalidInputException(f"signed URLs expire between 1 second and 7 days from now, not {seconds:.0f} s")
    return int(seconds)


# --- one per event loop -------------------------------------------------------------

_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CloudStorage] = weakref.WeakKeyDictionary()
_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
_creating: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _close_at_shutdown(client: CloudStorage) -> AsyncIterator[None]:
    # An async generator the loop finalises in shutdown_asyncgens() (asyncio.run does):
    # the session closes with the loop that made it.
    try:
        yield
        await asyncio.Event().wait()
    finally:
        await client.close()


async def cloud_storage() -> CloudStorage:
    """The running loop's CloudStorage (created on first use; closed when the loop shuts down)."""
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is not None:
        return found
    lock = _creating.setdefault(loop, asyncio.Lock())
    async with lock:
        found = _per_loop.get(loop)
        if found is not None:
            return found
        data = await anyio.to_thread.run_sync(_service_data)
        token: Any = _NoCredentials()
        if data:
            token = Token(service_file=io.StringIO(json.dumps(data)), scopes=[
                "https://www.googleapis.com/auth/devstorage.read_write"])  # fmt: skip
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        found = CloudStorage(session, token, emulator)
        _per_loop[loop] = found
        keeper = _close_at_shutdown(found)
        await keeper.__anext__()
        _keepers[loop] = keeper
        return found


async def close_cloud_storage() -> None:
    """Close the running loop's session now (it is also closed when the loop shuts down)."""
    loop = asyncio.get_running_loop()
    found = _per_loop.pop(loop, None)
    keeper = _keepers.pop(loop, None)
    if keeper is not None:
        await keeper.aclose()
    elif found is not None:
        await found.close()
