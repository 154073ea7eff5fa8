"""Dataset: a local directory or ``gs://`` prefix of datafiles, with its own metadata."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from asyncwf._concurrency import gather_bounded
from asyncwf._tqdm import new_progress_bar
from asyncwf.data import _metadata
from asyncwf.data._datafile import Datafile, _identifier, sdk_version, sign_local_file
from asyncwf.data._filters import Filterable, FilterSet
from asyncwf.data._gcs import cloud_storage
from asyncwf.data._hashing import combine
from asyncwf.data._labels import LabelSet, TagDict
from asyncwf.data._paths import cloud_join, is_cloud_path, is_url, relative_in_dataset, split_cloud_path, url_name
from asyncwf.data._serialise import Serialisable, parse
from asyncwf.exceptions import (
    CloudLocationNotSpecified,
    FileNotFound,
    InvalidInputException,
    NotLoadedError,
    UnsafePathError,
)

if TYPE_CHECKING:
    from asyncwf.client import Client

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CONCURRENCY", "Dataset"]

#: How many files a Dataset uploads, downloads or loads at once.
DEFAULT_CONCURRENCY = 16
_SKIP_SUFFIXES = (".part", ".tmp")
#: Documents written by generate_signed_url (not files of the dataset).
SIGNED_SUFFIX = ".signed_urls.json"


def _skipped(name: str) -> bool:
    return name == _metadata.METADATA_FILENAME or name.endswith((*_SKIP_SUFFIXES, SIGNED_SUFFIX))


def _walk(root: str, recursive: bool) -> dict[str, list[tuple[str, int]]]:
    """Files under ``root`` by directory: ``{directory: [(name, size)]}`` (metadata and partial files skipped)."""
    found: dict[str, list[tuple[str, int]]] = {}
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    pending.append(entry.path)
            elif entry.is_file() and not _skipped(entry.name):
                found.setdefault(directory, []).append((entry.name, entry.stat().st_size))
    return found


class Dataset(Serialisable, Filterable):
    """A set of datafiles in one local directory or ``gs://`` prefix, plus metadata.

    As with :class:`~asyncwf.data.Datafile`, stored metadata wins over the
    arguments (unless ``ignore_stored_metadata``), and the files and metadata
    are read by awaiting: ``dataset = await Dataset("gs://bucket/data", recursive=True)``.
    Local directories are scanned in one pass and each directory's
    metadata file is read once; a cloud prefix is listed (metadata comes with
    the listing), so opening costs no request per file.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, files: Iterable[Any] | None = None, recursive: bool = False,
        ignore_stored_metadata: bool = False, id: str | None = None, name: str | None = None,
        tags: Mapping[str, Any] | None = None, labels: Any = None,
    ) -> None:  # fmt: skip
        if path is not None and not isinstance(path, str | os.PathLike):
            raise InvalidInputException(f"a dataset path is a string, not {type(path).__name__}")
        raw = os.fspath(path) if path is not None else "."
        self._relative: dict[Datafile, str] = {}  # where a URL dataset's files sit in it
        if is_url(raw):
            self._path = raw
        elif is_cloud_path(raw):
            split_cloud_path(raw)
            self._path = raw.rstrip("/")
        else:
            self._path = os.path.normpath(raw)  # made absolute when loaded (that needs the cwd: I/O)
        self._files_given = list(files) if files is not None else None
        if self._files_given is not None and any(
            not isinstance(f, str | os.PathLike | Mapping | Datafile) for f in self._files_given
        ):
            raise InvalidInputException("files are paths, serialised datafiles (dicts) or Datafile instances")
        self._recursive = recursive
        self._ignore_stored = ignore_stored_metadata
        self._id = _identifier(id)
        self._name = name
        self._tags = TagDict(tags)
        self._labels = LabelSet(labels)
        self._files: FilterSet = FilterSet(f for f in self._files_given or () if isinstance(f, Datafile))
        self._loaded = False

    # --- loading ---------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Dataset]:
        return self.load().__await__()

    async def load(self, *, refresh: bool = False) -> Dataset:
        """Find the files and read the stored metadata; returns self."""
        if self._loaded and not refresh:
            return self
        if not self.is_in_cloud and not is_url(self._path) and not os.path.isabs(self._path):
            self._path = str(await anyio.Path(self._path).absolute())
        if is_url(self._path):
            return await self._load_signed()
        if self._files_given is not None:
            files = await gather_bounded(self._files_given, _datafile_from, DEFAULT_CONCURRENCY)
        elif self.is_in_cloud:
            files = await self._cloud_files()
        else:
            files = await self._local_files()
        stored = await self._stored_metadata()
        if stored and not self._ignore_stored:
            self._apply(stored)
        self._files = FilterSet(files)
        self._loaded = True
        return self

    async def _load_signed(self) -> Dataset:
        """A dataset shared by a signed URL: a JSON document of its metadata and its files' signed URLs."""
        document = await (await cloud_storage()).fetch_json(self._path)
        if not isinstance(document, dict) or not isinstance(document.get("files"), list):
            raise InvalidInputException("the URL does not lead to a signed dataset document")
        self._apply(document)
        files = []
        for entry in document["files"]:
            datafile = Datafile.deserialise(entry)
            self._relative[datafile] = relative_in_dataset(entry.get("relative_path") or datafile.name)
            files.append(datafile)
        self._files = FilterSet(files)
        self._loaded = True
        return self

    async def _local_files(self) -> list[Datafile]:
        layout = await anyio.to_thread.run_sync(_walk, self._path, self._recursive)
        if not layout and not await anyio.Path(self._path).is_dir():
            log.warning(
                "the dataset's directory %s does not exist, so the dataset has no files (check the path if "
                "you meant to read files)", self._path,
            )  # fmt: skip
        store = _metadata.local_metadata()
        files: list[Datafile] = []
        for directory, entries in layout.items():
            stored = {} if self._ignore_stored else await store.datafiles(directory)
            for name, size in entries:
                files.append(Datafile._from_local(os.path.join(directory, name), stored.get(name), size))
        return files

    async def _cloud_files(self) -> list[Datafile]:
        listing = await (await cloud_storage()).list(self._path, recursive=self._recursive)
        return [
            Datafile._from_listing(path, info)
            for path, info in listing
            if os.path.basename(path) != _metadata.METADATA_FILENAME and not path.endswith(SIGNED_SUFFIX)
        ]

    async def _stored_metadata(self) -> dict[str, Any] | None:
        if self._ignore_stored:
            return None
        if self.is_in_cloud:
            storage = await cloud_storage()
            try:
                raw = await storage.download_bytes(cloud_join(self._path, _metadata.METADATA_FILENAME))
            except FileNotFound:
                return None
            try:
                found = json.loads(raw).get("dataset")
            except (ValueError, AttributeError):
                return None
            return _metadata._strip_namespace(found) if isinstance(found, dict) else None
        return await _metadata.local_metadata().dataset(self._path)

    def _apply(self, stored: Mapping[str, Any]) -> None:
        if stored.get("id"):
            self._id = _identifier(stored["id"])
        if stored.get("name"):
            self._name = str(stored["name"])
        if stored.get("tags") is not None:
            self._tags = TagDict(stored["tags"])
        if stored.get("labels") is not None:
            self._labels = LabelSet(stored["labels"])

    def _require_loaded(self, what: str) -> None:
        if not self._loaded:
            raise NotLoadedError(f"{what} of dataset {self.name!r} needs loading: `await` the Dataset first")

    # --- properties ---------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The dataset's directory or ``gs://`` prefix (absolute once loaded), or the URL it was shared by."""
        return self._path

    @property
    def is_in_cloud(self) -> bool:
        """Whether :attr:`path` is a ``gs://`` path."""
        return is_cloud_path(self._path)

    @property
    def exists_in_cloud(self) -> bool:
        """Whether the dataset lives in Cloud Storage (``gs://``), as the Octue SDK's property says."""
        return is_cloud_path(self._path)

    @property
    def name(self) -> str:
        """The name given or stored, else the last part of :attr:`path`."""
        if self._name:
            return self._name
        return url_name(self._path) if is_url(self._path) else os.path.basename(self._path.rstrip("/"))

    @property
    def id(self) -> str:
        """The dataset's UUID (stored, or made when first created)."""
        self._require_loaded("the id")
        return self._id

    @property
    def tags(self) -> TagDict:
        """The dataset's tags (name -> JSON value)."""
        self._require_loaded("the tags")
        return self._tags

    @property
    def labels(self) -> LabelSet:
        """The dataset's labels."""
        self._require_loaded("the labels")
        return self._labels

    @property
    def files(self) -> FilterSet:
        """The datafiles, as a filterable set (``dataset.files.filter(name__ends_with=".csv")``)."""
        self._require_loaded("the files")
        return self._files

    @property
    def exists_locally(self) -> bool:
        """Whether every file exists locally."""
        return all(f.exists_locally for f in self.files)

    @property
    def all_files_are_in_cloud(self) -> bool:
        """Whether every file exists in the cloud."""
        return all(f.exists_in_cloud for f in self.files)

    def __iter__(self) -> Iterator[Datafile]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, item: object) -> bool:
        return item in self.files

    def get_file_by_label(self, label: str) -> Datafile:
        """The one file with ``label`` (UnexpectedNumberOfResultsException if none or several)."""
        return self.files.one(labels__contains=label)  # type: ignore[no-any-return]

    def relative_path(self, datafile: Datafile) -> str:
        """Where ``datafile`` is inside the dataset (its name when it lives elsewhere)."""
        if datafile in self._relative:
            return self._relative[datafile]
        if self.is_in_cloud and datafile.cloud_path and datafile.cloud_path.startswith(self._path + "/"):
            return datafile.cloud_path[len(self._path) + 1 :]
        local = datafile._local_path
        root = self._path.rstrip(os.sep) + os.sep
        if not self.is_in_cloud and local is not None and local.startswith(root):
            return local[len(root) :].replace(os.sep, "/")
        return datafile.name

    # --- changing ------------------------------------------------------------------------

    async def add(self, datafile: Datafile, path_in_dataset: str | None = None) -> None:
        """Add a datafile; one that lives elsewhere is copied into the dataset (at ``path_in_dataset``)."""
        if not isinstance(datafile, Datafile):
            raise InvalidInputException(f"only Datafiles can be added to a dataset, not {type(datafile).__name__}")
        self._require_loaded("the files")
        await datafile.load()
        relative = relative_in_dataset(path_in_dataset or datafile.name)
        if self.is_in_cloud:
            target = cloud_join(self._path, relative)
            if datafile.cloud_path != target:
                copy = datafile._copy_at(target, local_path=datafile._local_path)
                if datafile._local_path is not None and datafile.exists_locally:
                    await copy.upload()
                else:
                    assert datafile.cloud_path is not None
                    storage = await cloud_storage()
                    copy._cloud = await storage.copy(
                        datafile.cloud_path, target, _metadata.to_cloud(datafile._stored_form())
                    )
                    copy._stored_hash = datafile._hash or datafile._stored_hash
                datafile = copy
        else:
            target = os.path.join(self._path, *relative.split("/"))
            if datafile._local_path != target:
                if datafile._local_path is None or not datafile.exists_locally:
                    await datafile.download(target)
                else:
                    await anyio.Path(os.path.dirname(target)).mkdir(parents=True, exist_ok=True)
                    await anyio.to_thread.run_sync(shutil.copy2, datafile._local_path, target)
                    copy = datafile._copy_at(target)
                    copy._exists_locally, copy._local_size = True, datafile.size_bytes
                    await copy.update_local_metadata()
                    datafile = copy
        self._files.add(datafile)

    # --- transfers ------------------------------------------------------------------------

    async def upload(self, cloud_path: str | None = None, update_cloud_metadata: bool = True, *,
                     concurrency: int = DEFAULT_CONCURRENCY, progress_bar: bool | None = None) -> str:  # fmt: skip
        """Upload every file (``concurrency`` at once) and the dataset's metadata; returns the gs:// path."""
        target = (cloud_path or (self._path if self.is_in_cloud else "")).rstrip("/")
        if not target:
            raise CloudLocationNotSpecified(f"give a cloud path to upload dataset {self.name!r} to")
        split_cloud_path(target)
        files = list(self.files)
        bar = new_progress_bar(progress_bar, sum(f.size_bytes or 0 for f in files), f"Uploading {self.name}", "B")
        sent = None if bar is None else bar.update

        async def one(datafile: Datafile) -> None:
            relative = relative_in_dataset(self.relative_path(datafile))
            await datafile._upload(cloud_join(target, relative), update_cloud_metadata, sent)

        try:
            await gather_bounded(files, one, concurrency)
        finally:
            if bar is not None:
                bar.close()
        self._path = target
        if update_cloud_metadata:
            await self.update_cloud_metadata()
        return target

    async def download(self, local_directory: str | None = None, *, concurrency: int = DEFAULT_CONCURRENCY,
                       progress_bar: bool | None = None) -> str:  # fmt: skip
        """Download every file into ``local_directory`` (a new temporary one if None), keeping the
        layout; files are streamed, checked and renamed into place. Returns the directory."""
        if local_directory is None:
            local_directory = await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="asyncwf-dataset-"))
        root = str(await anyio.Path(local_directory).absolute())
        files = [f for f in self.files if f.cloud_path is not None or f._url is not None]
        bar = new_progress_bar(progress_bar, sum(f.size_bytes or 0 for f in files), f"Downloading {self.name}", "B")
        received = None if bar is None else bar.update

        async def one(datafile: Datafile) -> None:
            relative = self.relative_path(datafile)
            try:
                relative = relative_in_dataset(relative)
            except UnsafePathError as exc:
                raise UnsafePathError(f"{datafile.cloud_path} would land outside {root}") from exc
            await datafile._download(os.path.join(root, *relative.split("/")), received)

        try:
            await gather_bounded(files, one, concurrency)
        finally:
            if bar is not None:
                bar.close()
        return root

    # --- metadata ------------------------------------------------------------------------

    def metadata(self, include_id: bool = True, include_sdk_version: bool = True) -> dict[str, Any]:
        """The dataset's own metadata: name, tags, labels, and optionally its id and the SDK version."""
        self._require_loaded("the metadata")
        data: dict[str, Any] = {"name": self.name, "tags": dict(self._tags), "labels": set(self._labels)}
        if include_id:
            data["id"] = self._id
        if include_sdk_version:
            data["sdk_version"] = sdk_version()
        return data

    async def update_metadata(self) -> None:
        """Store the metadata where the dataset lives: the cloud prefix or the local directory."""
        if self.is_in_cloud:
            await self.update_cloud_metadata()
        else:
            await self.update_local_metadata()

    async def update_cloud_metadata(self) -> None:
        """Store the metadata in the cloud prefix's metadata object."""
        if not self.is_in_cloud:
            raise CloudLocationNotSpecified(f"dataset {self.name!r} is not in the cloud")
        body = json.dumps({"dataset": _metadata.encode(self.metadata())}, sort_keys=True).encode()
        await (await cloud_storage()).upload_bytes(
            body, cloud_join(self._path, _metadata.METADATA_FILENAME), content_type="application/json"
        )

    async def update_local_metadata(self) -> None:
        """Store the dataset's metadata and every file's, one write per directory."""
        if self.is_in_cloud:
            raise InvalidInputException(f"dataset {self.name!r} is in the cloud, not local")
        by_directory: dict[str, dict[str, Any]] = {}
        for datafile in self.files:
            if datafile._local_path is not None:
                directory, name = os.path.split(datafile._local_path)
                by_directory.setdefault(directory, {})[name] = datafile._stored_form()
        store = _metadata.local_metadata()
        await store.update(self._path, by_directory.pop(self._path, {}), self.metadata())
        for directory, files in by_directory.items():
            await store.update(directory, files)

    # --- hashes ----------------------------------------------------------------------------

    async def calculate_hash(self) -> str:
        """The canonical BLAKE3 of the dataset: its files' paths and content hashes, in any order."""
        files = list(self.files)
        hashes = await gather_bounded(files, lambda f: f.calculate_hash(), DEFAULT_CONCURRENCY)
        return combine((self.relative_path(f), h) for f, h in zip(files, hashes, strict=True))

    def reset_hash(self) -> None:
        """Forget the files' set or computed hashes (the next :meth:`calculate_hash` reads them again)."""
        for datafile in self.files:
            datafile.reset_hash()

    @property
    def hash_value(self) -> str:
        """The dataset's hash once every file's is known (see :meth:`calculate_hash`)."""
        try:
            return combine((self.relative_path(f), f.hash_value) for f in self.files)
        except NotLoadedError as exc:
            raise NotLoadedError(f"{exc} (or `await dataset.calculate_hash()`)", load=self.calculate_hash) from exc

    # --- signed URLs --------------------------------------------------------------------------

    async def generate_signed_url(
        self, expiration: dt.datetime | dt.timedelta = dt.timedelta(days=7), *, client: Client | None = None
    ) -> str:
        """A signed URL of a JSON document listing signed URLs of every file, with the metadata.

        ``Dataset(url)`` opens it (read-only). A local dataset is shared through
        the asyncwf backend (see :meth:`Datafile.generate_signed_url`).
        """
        if is_url(self._path):
            raise InvalidInputException("this dataset is already a signed URL")
        files = list(self.files)
        urls = await gather_bounded(
            files, lambda f: f.generate_signed_url(expiration, client=client), DEFAULT_CONCURRENCY
        )
        document = {
            **self.to_primitive(include_files=False),
            "files": [{**f.to_primitive(), "path": url, "local_path": None, "cloud_path": None,
                       "relative_path": self.relative_path(f)} for f, url in zip(files, urls, strict=True)],
        }  # fmt: skip
        body = json.dumps(document).encode()
        name = f".{self._id}{SIGNED_SUFFIX}"
        if not self.is_in_cloud:
            location = os.path.join(self._path, name)
            await anyio.Path(location).write_bytes(body)
            return await sign_local_file(location, expiration, client)
        storage = await cloud_storage()
        await storage.upload_bytes(body, cloud_join(self._path, name), content_type="application/json")
        return await storage.signed_url(cloud_join(self._path, name), expiration)

    # --- serialisation --------------------------------------------------------------------------

    def to_primitive(self, include_files: bool = True) -> dict[str, Any]:
        """The dataset as JSON-able primitives (id, name, path, tags, labels and, unless told not to, its files)."""
        self._require_loaded("the metadata")
        data: dict[str, Any] = {
            "id": self._id, "name": self.name, "path": self._path,
            "tags": _metadata.encode(dict(self._tags)), "labels": sorted(self._labels),
        }  # fmt: skip
        if include_files:
            data["files"] = sorted(f.cloud_path or f._local_path or f.name for f in self.files)
        return data

    @classmethod
    def deserialise(cls, serialised_dataset: Mapping[str, Any] | str, from_string: bool = False) -> Dataset:
        """A Dataset from its primitive form; await it to load the files listed."""
        data = parse(serialised_dataset, from_string)
        return cls(
            path=data.get("path"), files=data.get("files"), id=data.get("id"), name=data.get("name"),
            tags=_metadata.decode(data.get("tags")), labels=data.get("labels"),
        )  # fmt: skip

    def __repr__(self) -> str:
        count = len(self._files) if self._loaded else "?"
        return f"<Dataset {self.name!r} ({count} files) at {self._path!r}>"


async def _datafile_from(item: Any) -> Datafile:
    if isinstance(item, Datafile):
        return await item.load()
    if isinstance(item, Mapping):
        return Datafile.deserialise(item)
    return await Datafile(item).load()
