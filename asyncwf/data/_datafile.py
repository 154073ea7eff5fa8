"""Datafile: one local or cloud file with its metadata (id, timestamp, tags, labels) and BLAKE3 hash."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from asyncwf._ids import new_uuid
from asyncwf.data import _metadata
from asyncwf.data._filters import Filterable
from asyncwf.data._gcs import ObjectInfo, cloud_storage, seconds_until
from asyncwf.data._hashing import StreamHasher, hash_file
from asyncwf.data._labels import LabelSet, TagDict
from asyncwf.data._paths import is_cloud_path, is_url, split_cloud_path, url_name
from asyncwf.data._serialise import Serialisable, parse
from asyncwf.exceptions import (
    CloudLocationNotSpecified,
    FileNotFound,
    InvalidInputException,
    NotLoadedError,
)

if TYPE_CHECKING:
    from asyncwf.client import Client

__all__ = ["Datafile", "sdk_version", "sign_local_file"]

_WRITE_MODES = set("wax+")


def sdk_version() -> str:
    from asyncwf import __version__

    return f"asyncwf {__version__}"


async def sign_local_file(path: str, expiration: dt.datetime | dt.timedelta, client: Client | None) -> str:
    """A URL of the asyncwf backend that serves the local file ``path`` until ``expiration``."""
    from asyncwf.client import Client

    seconds = seconds_until(expiration)
    return await (client or Client.get_default_client()).sign_file_url(path, seconds)


def _timestamp(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        try:
            return _timestamp(dt.datetime.fromisoformat(value))
        except ValueError:
            pass
    raise InvalidInputException(f"a timestamp is a datetime or posix seconds, not {value!r}")


def _identifier(value: object) -> str:
    if value is None:
        return new_uuid()
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInputException(f"{value!r} is not a valid UUID") from None


class Datafile(Serialisable, Filterable):
    """A local or cloud file and its metadata.

    Stored metadata (the object's custom metadata in the cloud, the
    directory's ``.octue`` file locally) takes precedence over the arguments
    given here, unless ``ignore_stored_metadata`` is true. Reading it is I/O,
    so a Datafile is loaded by awaiting it::

        datafile = await Datafile("gs://bucket/data/file.csv")
        datafile.tags["colour"]

    Reading ``id``, ``timestamp``, ``tags`` or ``labels`` before that raises
    :class:`~asyncwf.exceptions.NotLoadedError` (except with
    ``ignore_stored_metadata=True``, where there is nothing to load). Loading
    twice does nothing; :meth:`load` with ``refresh=True`` reads again.
    """

    def __init__(
        self, path: str | os.PathLike[str], local_path: str | os.PathLike[str] | None = None,
        cloud_path: str | None = None, timestamp: dt.datetime | float | None = None, mode: str = "r",
        update_metadata: bool = True, ignore_stored_metadata: bool = False, id: str | None = None,
        tags: Mapping[str, Any] | None = None, labels: Any = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path:
            raise InvalidInputException(f"a Datafile needs a path (str), not {path!r}")
        self._cloud_path: str | None = None
        self._local_path: str | None = None
        #: An http(s) URL (a signed URL) the content can be read from; such datafiles are read-only.
        self._url: str | None = None
        if is_url(path):
            self._url = path
            if local_path is not None:
                self._local_path = os.path.normpath(os.fspath(local_path))
        elif is_cloud_path(path):
            split_cloud_path(path)  # validates
            self._cloud_path = path
            if local_path is not None:
                self._local_path = os.path.normpath(os.fspath(local_path))
        else:
            self._local_path = os.path.normpath(path)  # made absolute when loaded (that needs the cwd: I/O)
            if cloud_path is not None:
                split_cloud_path(cloud_path)
                self._cloud_path = cloud_path
        self._id = _identifier(id)
        self._timestamp = _timestamp(timestamp)
        self._tags = TagDict(tags)
        self._labels = LabelSet(labels)
        self._mode = mode
        self._update_on_close = update_metadata
        self._open_kwargs = kwargs
        self._ignore_stored = ignore_stored_metadata
        self._loaded = ignore_stored_metadata
        self._cloud: ObjectInfo | None = None
        self._local_size: int | None = None
        self._exists_locally = False
        self._hash: str | None = None
        self._stored_hash: str | None = None
        self._opened: Any = None

    # --- loading ------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Datafile]:
        return self.load().__await__()

    async def load(self, *, refresh: bool = False) -> Datafile:
        """Read the stored metadata (and what the store knows of the file); returns self."""
        if self._loaded and not refresh and not self._ignore_stored:
            return self
        if self._local_path is not None and not os.path.isabs(self._local_path):
            self._local_path = str(await anyio.Path(self._local_path).absolute())
        stored: dict[str, Any] | None = None
        if self._cloud_path is not None:
            self._cloud = await (await cloud_storage()).info(self._cloud_path)
            if self._cloud is not None:
                stored = _metadata.from_cloud(self._cloud.custom)
        if self._local_path is not None:
            await self._stat_local()
            if self._cloud is None and self._exists_locally:
                directory, name = os.path.split(self._local_path)
                stored = await _metadata.local_metadata().datafile(directory, name)
        if stored and not self._ignore_stored:
            self._apply(stored)
        self._loaded = True
        return self

    def _apply(self, stored: Mapping[str, Any]) -> None:
        """Take stored metadata (it wins over constructor arguments)."""
        if stored.get("id"):
            self._id = _identifier(stored["id"])
        if stored.get("timestamp") is not None:
            self._timestamp = _timestamp(stored["timestamp"])
        if stored.get("tags") is not None:
            self._tags = TagDict(stored["tags"])
        if stored.get("labels") is not None:
            self._labels = LabelSet(stored["labels"])
        if isinstance(stored.get("hash_value"), str):
            self._stored_hash = stored["hash_value"]

    @classmethod
    def _from_listing(cls, cloud_path: str, info: ObjectInfo) -> Datafile:
        """A loaded cloud Datafile from a bucket listing (which carries the metadata): no request per file."""
        datafile = cls(cloud_path)
        datafile._cloud = info
        datafile._apply(_metadata.from_cloud(info.custom))
        datafile._loaded = True
        return datafile

    @classmethod
    def _from_local(cls, local_path: str, stored: Mapping[str, Any] | None, size: int) -> Datafile:
        """A loaded local Datafile whose directory's metadata was read already."""
        datafile = cls(local_path)
        if stored:
            datafile._apply(stored)
        datafile._local_size, datafile._exists_locally, datafile._loaded = size, True, True
        return datafile

    def _copy_at(self, path: str, local_path: str | None = None) -> Datafile:
        """A loaded Datafile at ``path`` with this one's metadata (for copies into a dataset)."""
        copy = Datafile(path, local_path=local_path, ignore_stored_metadata=True, id=self.id,
                        timestamp=self.timestamp, tags=self.tags, labels=self.labels)  # fmt: skip
        copy._ignore_stored = False
        return copy

    async def _stat_local(self) -> None:
        assert self._local_path is not None
        try:
            st = await anyio.Path(self._local_path).stat()
        except FileNotFoundError:
            self._exists_locally, self._local_size = False, None
        else:
            self._exists_locally, self._local_size = True, st.st_size

    def _require_loaded(self, what: str) -> None:
        if not self._loaded:
            raise NotLoadedError(
                f"{what} of {self.name!r} comes from stored metadata: `await` the Datafile first "
                "(or pass ignore_stored_metadata=True)"
            )

    # --- properties -----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The file name: the last part of the local path, cloud path or URL."""
        if self._url is not None:
            return url_name(self._url)
        return os.path.basename((self._cloud_path or self._local_path or "").rstrip("/"))

    @property
    def extension(self) -> str:
        """The file name's extension without its dot (``"csv"``), as the Octue SDK gives it."""
        return os.path.splitext(self.name)[1].lstrip(".")

    @property
    def cloud_path(self) -> str | None:
        """The ``gs://`` path of the cloud object, None for a local-only file."""
        return self._cloud_path

    @property
    def local_path(self) -> str:
        """The local file's path. A cloud file must be downloaded first (``await datafile.download()``)."""
        if self._local_path is None:
            where = self._cloud_path or (self._url or "").split("?")[0]
            raise NotLoadedError(f"{where} is not downloaded: `await datafile.download()` first", load=self.download)
        return self._local_path

    @property
    def path(self) -> str:
        """Alias of :attr:`local_path`."""
        return self.local_path

    @property
    def exists_locally(self) -> bool:
        """Whether the local file existed when last loaded, downloaded or written."""
        return self._local_path is not None and self._exists_locally

    @property
    def exists_in_cloud(self) -> bool:
        """Whether the cloud object existed when last loaded or uploaded."""
        return self._cloud is not None

    @property
    def cloud_hash_value(self) -> str | None:
        """The store's CRC32C of the object (base64), None when not in the cloud or not loaded."""
        return self._cloud.crc32c if self._cloud is not None else None

    @property
    def size_bytes(self) -> int | None:
        """The size in bytes: the local file's, else the cloud object's; None when neither is known."""
        if self._local_size is not None:
            return self._local_size
        return self._cloud.size if self._cloud is not None else None

    @property
    def id(self) -> str:
        """The datafile's UUID (from the stored metadata, else made when first created)."""
        self._require_loaded("the id")
        return self._id

    @property
    def timestamp(self) -> dt.datetime | None:
        """When the data was taken (a timezone-aware datetime), or None; settable (a datetime or POSIX seconds)."""
        self._require_loaded("the timestamp")
        return self._timestamp

    @timestamp.setter
    def timestamp(self, value: dt.datetime | float | None) -> None:
        self._timestamp = _timestamp(value)

    @property
    def posix_timestamp(self) -> float | None:
        """:attr:`timestamp` as POSIX seconds, or None."""
        stamp = self.timestamp
        return None if stamp is None else stamp.timestamp()

    @property
    def tags(self) -> TagDict:
        """The tags (name -> JSON value); settable with a mapping."""
        self._require_loaded("the tags")
        return self._tags

    @tags.setter
    def tags(self, value: Mapping[str, Any] | None) -> None:
        self._tags = TagDict(value)

    @property
    def labels(self) -> LabelSet:
        """The labels; settable with an iterable of labels or a space-separated string."""
        self._require_loaded("the labels")
        return self._labels

    @labels.setter
    def labels(self, value: Any) -> None:
        self._labels = LabelSet(value)

    def add_labels(self, *args: Any) -> None:
        """Add labels (validated as :class:`LabelSet` does)."""
        self.labels.update(*args)

    def add_tags(self, tags: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Add or replace tags, from a mapping and/or keywords (validated as :class:`TagDict` does)."""
        self.tags.update(tags or {}, **kwargs)

    # --- hashes ---------------------------------------------------------------------

    @property
    def hash_value(self) -> str:
        """The BLAKE3 of the content (64 hex digits), once known: see :meth:`calculate_hash`."""
        known = self._hash or self._stored_hash
        if known is None:
            raise NotLoadedError(f"the hash of {self.name!r} is not computed yet: `await datafile.calculate_hash()`",
                                 load=self.calculate_hash)  # fmt: skip
        return known

    @hash_value.setter
    def hash_value(self, value: str) -> None:
        self._hash = value

    def reset_hash(self) -> None:
        """Forget a set or computed hash; the next :meth:`calculate_hash` computes it from the content."""
        self._hash = None

    async def calculate_hash(self) -> str:
        """The BLAKE3 of the content: of the local file (cached by size and mtime), the hash stored
        with a cloud object, or else of the object's bytes as they stream by."""
        if self._hash is not None:
            return self._hash
        if self._local_path is not None and (self._exists_locally or self._cloud is None):
            try:
                self._hash = await hash_file(self._local_path)
            except FileNotFoundError as exc:
                raise FileNotFound(f"no file at {self._local_path}") from exc
            return self._hash
        if self._stored_hash is not None:
            return self._stored_hash
        storage = await cloud_storage()
        if self._cloud_path is not None:
            chunks = storage.stream(self._cloud_path)
        elif self._url is not None:
            chunks = storage.fetch_stream(self._url)
        else:
            raise CloudLocationNotSpecified(f"{self.name!r} has neither a local file nor a cloud path")
        hasher = StreamHasher()
        async for chunk in chunks:
            hasher.update(chunk)
        self._hash = hasher.hash_value
        return self._hash

    # --- metadata -------------------------------------------------------------------

    def metadata(
        self, include_id: bool = True, include_sdk_version: bool = True, use_octue_namespace: bool = True
    ) -> dict[str, Any]:
        """The metadata in primitive form: id, timestamp, tags, labels, sdk_version (``octue__``-prefixed)."""
        self._require_loaded("the metadata")
        data: dict[str, Any] = {}
        if include_id:
            data["id"] = self._id
        data["timestamp"] = self._timestamp
        data["tags"] = dict(self._tags)
        data["labels"] = set(self._labels)
        if include_sdk_version:
            data["sdk_version"] = sdk_version()
        if use_octue_namespace:
            return {f"{_metadata.NAMESPACE}__{k}": v for k, v in data.items()}
        return data

    def _stored_form(self) -> dict[str, Any]:
        data = self.metadata(use_octue_namespace=False)
        known = self._hash or self._stored_hash
        if known is not None:
            data["hash_value"] = known
        return data

    async def update_metadata(self) -> None:
        """Store the in-memory metadata: on the object if the file is in the cloud, else locally."""
        if self._cloud_path is not None and self._cloud is not None:
            await self.update_cloud_metadata()
        else:
            await self.update_local_metadata()

    async def update_cloud_metadata(self) -> None:
        """Write this datafile's metadata (id, timestamp, tags, labels, hash) onto its cloud object."""
        if self._cloud_path is None:
            raise CloudLocationNotSpecified(f"{self.name!r} has no cloud path")
        self._cloud = await (await cloud_storage()).patch_metadata(
            self._cloud_path, _metadata.to_cloud(self._stored_form())
        )

    async def update_local_metadata(self) -> None:
        """Write this datafile's metadata into its directory's local metadata file."""
        if self._local_path is None:
            raise InvalidInputException(f"{self.name!r} has no local file (download it first)")
        directory, name = os.path.split(self._local_path)
        await _metadata.local_metadata().update(directory, {name: self._stored_form()})

    # --- transfers ------------------------------------------------------------------

    async def upload(self, cloud_path: str | None = None, update_cloud_metadata: bool = True) -> str:
        """Upload the local file (with its metadata unless told not to); returns the gs:// path."""
        return await self._upload(cloud_path, update_cloud_metadata, None)

    async def _upload(self, cloud_path: str | None, update_cloud_metadata: bool,
                      progress: Callable[[int], None] | None) -> str:  # fmt: skip
        target = cloud_path or self._cloud_path
        if target is None:
            raise CloudLocationNotSpecified(f"give a cloud path to upload {self.name!r} to")
        split_cloud_path(target)
        self._require_loaded("the metadata")
        local = self.local_path

        def metadata_for(hash_value: str | None) -> dict[str, str] | None:
            if hash_value is not None:
                self._hash = hash_value
            return _metadata.to_cloud(self._stored_form()) if update_cloud_metadata else None

        storage = await cloud_storage()
        info, hasher, hash_sent = await storage.upload_file(local, target, metadata_for, progress=progress)
        self._hash, self._cloud_path, self._cloud = hasher.hash_value, target, info
        self._exists_locally, self._local_size = True, hasher.size
        if update_cloud_metadata and not hash_sent:
            # A large file whose hash was not known before it streamed by: store it now.
            await self.update_cloud_metadata()
        return target

    async def download(self, local_path: str | None = None) -> str:
        """Download the cloud object (streamed, checked, renamed into place); returns the local path."""
        return await self._download(local_path, None)

    async def _download(self, local_path: str | None, progress: Callable[[int], None] | None) -> str:
        if self._cloud_path is None and self._url is None:
            raise CloudLocationNotSpecified(f"{self.name!r} has no cloud path to download from")
        if local_path is not None:
            target = os.fspath(local_path)
        elif self._local_path is not None:
            target = self._local_path
        else:
            directory = await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="asyncwf-"))
            target = os.path.join(directory, self.name)
        storage = await cloud_storage()
        # Checked against its stored BLAKE3 when it has one (else the store's CRC32C) before it is in place.
        if self._cloud_path is not None:
            size = self._cloud.size if self._cloud is not None else None
            hasher = await storage.download_file(self._cloud_path, target, progress, blake3=self._stored_hash,
                                                 size=size)  # fmt: skip
        else:
            assert self._url is not None
            hasher = await storage.fetch_file(self._url, target, progress, blake3=self._stored_hash)
        self._local_path = target if os.path.isabs(target) else str(await anyio.Path(target).absolute())
        self._hash, self._exists_locally, self._local_size = hasher.hash_value, True, hasher.size
        return self._local_path

    def open(self, mode: str = "r", **kwargs: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        """Open the content like the builtin ``open``, as an async context manager::

            async with datafile.open("w") as f:
                await f.write("some data")

        A cloud file is downloaded first when the mode reads or appends, and
        uploaded when a writing mode closes; the stored metadata is updated on
        closing unless ``update_metadata=False`` was given to the constructor.
        """
        return self._open(mode, kwargs)

    @contextlib.asynccontextmanager
    async def _open(self, mode: str, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        self._require_loaded("the metadata")
        writes = bool(_WRITE_MODES & set(mode))
        if writes and self._url is not None:
            raise InvalidInputException(f"{self.name!r} comes from a URL: it is read-only")
        if (self._cloud_path is not None or self._url is not None) and self._local_path is None:
            if "r" in mode or "a" in mode or ("+" in mode and "w" not in mode):
                await self.download()
            else:
                directory = await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="asyncwf-"))
                self._local_path = os.path.join(directory, self.name)
        local = self.local_path
        if writes:
            await anyio.Path(os.path.dirname(local)).mkdir(parents=True, exist_ok=True)
        try:
            handle = await anyio.open_file(local, mode, **kwargs)  # type: ignore[call-overload]
        except FileNotFoundError as exc:
            raise FileNotFound(f"no file at {local}") from exc
        except (ValueError, TypeError) as exc:
            raise InvalidInputException(f"cannot open {self.name!r} with mode {mode!r}: {exc}") from exc
        try:
            yield handle
        finally:
            await handle.aclose()
        if writes:
            self._hash = None
            await self._stat_local()
            if self._cloud_path is not None:
                await self.upload(update_cloud_metadata=self._update_on_close)
            elif self._update_on_close:
                await self.update_local_metadata()

    async def __aenter__(self) -> tuple[Datafile, Any]:
        """``async with Datafile(path, mode="w") as (datafile, f):`` (the constructor's mode)."""
        await self.load()
        self._opened = self.open(self._mode, **self._open_kwargs)
        return self, await self._opened.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        opened, self._opened = self._opened, None
        return await opened.__aexit__(*exc)  # type: ignore[no-any-return]

    async def generate_signed_url(
        self, expiration: dt.datetime | dt.timedelta = dt.timedelta(days=7), *, client: Client | None = None
    ) -> str:
        """A URL anyone can GET the content with until ``expiration`` (at most 7 days).

        A cloud object gets a V4 signed URL; a local file gets a URL of the
        asyncwf backend (``client``, else the default client), which must
        share the file's directory (``asyncwf serve --share-dir``).
        """
        if self._cloud_path is not None:
            return await (await cloud_storage()).signed_url(self._cloud_path, expiration)
        if self._local_path is None:
            raise CloudLocationNotSpecified(f"{self.name!r} has neither a cloud path nor a local file")
        return await sign_local_file(self.local_path, expiration, client)

    # --- serialisation ----------------------------------------------------------------

    def to_primitive(self) -> dict[str, Any]:
        """The datafile as JSON-able primitives (id, name, paths, timestamp, tags, labels, hash), as serialised."""
        self._require_loaded("the metadata")
        return {
            "id": self._id,
            "name": self.name,
            "path": self._url or self._cloud_path or self._local_path,
            "local_path": self._local_path,
            "cloud_path": self._cloud_path,
            "timestamp": _metadata.encode(self._timestamp),
            "tags": _metadata.encode(dict(self._tags)),
            "labels": sorted(self._labels),
            "hash_value": self._hash or self._stored_hash,
        }

    @classmethod
    def deserialise(cls, serialised_datafile: Mapping[str, Any] | str, from_string: bool = False) -> Datafile:
        """A Datafile with exactly the metadata that was serialised (loaded; nothing is read)."""
        data = parse(serialised_datafile, from_string)
        path = data.get("path") if is_url(data.get("path")) else None
        path = path or data.get("cloud_path") or data.get("local_path") or data.get("path")
        if not isinstance(path, str):
            raise InvalidInputException("a serialised Datafile needs a path, local_path or cloud_path")
        datafile = cls(path, local_path=data.get("local_path") if is_cloud_path(path) else None,
                       id=data.get("id"), ignore_stored_metadata=True)  # fmt: skip
        datafile._apply({k: _metadata.decode(data.get(k)) for k in ("timestamp", "tags", "labels", "hash_value")})
        datafile._ignore_stored = False
        return datafile

    def __repr__(self) -> str:
        where = self._cloud_path or self._local_path or (self._url or "").split("?")[0]
        return f"<Datafile {where!r}>"
