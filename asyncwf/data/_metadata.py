"""Stored metadata in the Octue SDK's formats, so datasets it wrote open here and the other way round.

- In the cloud: object custom metadata ``octue__id``, ``octue__timestamp``,
  ``octue__tags``, ``octue__labels``, ``octue__sdk_version`` (each a JSON
  string; sets are ``{"_type": "set", "items": [...]}`` and datetimes
  ``{"_type": "datetime", "value": iso}``), plus ``octue__hash_value`` (BLAKE3)
  here. A cloud dataset's own metadata is ``<dataset>/.octue``.
- Locally: one ``.octue`` JSON file per directory,
  ``{"datafiles": {name: metadata}, "dataset": metadata}``.

Local files are read once per change (cached by size and mtime) and written
once per burst of updates to the same directory, atomically (temporary file,
then rename): a thousand datafiles updating their metadata at once cost one
write, not a thousand read-modify-writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import tempfile
import weakref
from collections.abc import Mapping
from typing import Any

import anyio

from asyncwf.exceptions import InvalidInputException

__all__ = ["METADATA_FILENAME", "NAMESPACE", "LocalMetadata", "decode", "encode", "from_cloud", "to_cloud"]

METADATA_FILENAME = ".octue"
NAMESPACE = "octue"


def encode(value: Any) -> Any:
    """A JSON-able form of a metadata value (sets and datetimes tagged as the Octue SDK does)."""
    if isinstance(value, set | frozenset):
        return {"_type": "set", "items": sorted(encode(v) for v in value)}
    if isinstance(value, dt.datetime):
        return {"_type": "datetime", "value": value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidInputException(f"a {type(value).__name__} cannot be stored as metadata (use JSON values)")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("_type")
        if kind == "set" and "items" in value:
            return {decode(v) for v in value["items"]}
        if kind == "datetime" and "value" in value:
            return dt.datetime.fromisoformat(value["value"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def to_cloud(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Object custom metadata: ``octue__<name>`` -> JSON string."""
    return {f"{NAMESPACE}__{k}": json.dumps(encode(v), sort_keys=True) for k, v in metadata.items()}


def from_cloud(custom: Mapping[str, str] | None) -> dict[str, Any]:
    """Metadata from object custom metadata; keys outside the namespace are ignored."""
    found: dict[str, Any] = {}
    prefix = f"{NAMESPACE}__"
    for key, text in (custom or {}).items():
        if not key.startswith(prefix):
            continue
        try:
            found[key[len(prefix) :]] = decode(json.loads(text))
        except (TypeError, ValueError):
            found[key[len(prefix) :]] = text  # written by something else: keep the raw string
    return found


def _strip_namespace(metadata: Mapping[str, Any]) -> dict[str, Any]:
    prefix = f"{NAMESPACE}__"
    return {k[len(prefix) :] if k.startswith(prefix) else k: decode(v) for k, v in metadata.items()}


class _Directory:
    __slots__ = ("cached", "lock", "pending_dataset", "pending_files", "stamp")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.pending_files: dict[str, dict[str, Any]] = {}
        self.pending_dataset: dict[str, Any] | None = None
        self.stamp: tuple[int, int] | None = None
        self.cached: dict[str, Any] = {}


def _read(path: str, stamp: tuple[int, int] | None) -> tuple[tuple[int, int] | None, dict[str, Any] | None]:
    """(size, mtime) of the file and its contents, or None for contents when the stamp is unchanged."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, {}
    now = (st.st_size, st.st_mtime_ns)
    if now == stamp:
        return now, None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return now, {}
    return now, data if isinstance(data, dict) else {}


def _write(path: str, files: dict[str, dict[str, Any]], dataset: dict[str, Any] | None) -> tuple[int, int]:
    _, current = _read(path, None)
    data = dict(current or {})
    if files:
        existing = data.get("datafiles")
        merged = dict(existing) if isinstance(existing, dict) else {}
        merged.update({name: encode(md) for name, md in files.items()})
        data["datafiles"] = merged
    if dataset is not None:
        data["dataset"] = encode(dataset)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".octue.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


class LocalMetadata:
    """The ``.octue`` files of one event loop's datafiles and datasets (see :func:`local_metadata`)."""

    def __init__(self) -> None:
        self._dirs: dict[str, _Directory] = {}

    def _dir(self, directory: str) -> _Directory:
        entry = self._dirs.get(directory)
        if entry is None:
            entry = self._dirs[directory] = _Directory()
        return entry

    async def _contents(self, directory: str) -> dict[str, Any]:
        entry = self._dir(directory)
        path = os.path.join(directory, METADATA_FILENAME)
        stamp, data = await anyio.to_thread.run_sync(_read, path, entry.stamp)
        if data is not None:
            entry.stamp, entry.cached = stamp, data
        return entry.cached

    async def datafile(self, directory: str, name: str) -> dict[str, Any] | None:
        """The stored metadata of file ``name`` in ``directory`` (namespace stripped), or None."""
        files = (await self._contents(directory)).get("datafiles")
        found = files.get(name) if isinstance(files, dict) else None
        return _strip_namespace(found) if isinstance(found, dict) else None

    async def datafiles(self, directory: str) -> dict[str, dict[str, Any]]:
        """Every datafile entry of ``directory``'s metadata file."""
        files = (await self._contents(directory)).get("datafiles")
        if not isinstance(files, dict):
            return {}
        return {name: _strip_namespace(md) for name, md in files.items() if isinstance(md, dict)}

    async def dataset(self, directory: str) -> dict[str, Any] | None:
        found = (await self._contents(directory)).get("dataset")
        return _strip_namespace(found) if isinstance(found, dict) else None

    async def update(
        self, directory: str, files: Mapping[str, Mapping[str, Any]] | None = None,
        dataset: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """Store metadata of files (by name) and/or of the dataset in ``directory``.

        Updates of the same directory made while a write is under way are
        written together by the next one.
        """
        entry = self._dir(directory)
        for name, md in (files or {}).items():
            entry.pending_files[name] = dict(md)
        if dataset is not None:
            entry.pending_dataset = dict(dataset)
        async with entry.lock:
            if not entry.pending_files and entry.pending_dataset is None:
                return  # written by the update that held the lock before us
            pending_files, entry.pending_files = entry.pending_files, {}
            pending_dataset, entry.pending_dataset = entry.pending_dataset, None
            path = os.path.join(directory, METADATA_FILENAME)
            await anyio.to_thread.run_sync(_write, path, pending_files, pending_dataset)
            entry.stamp = None  # read it again next time


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalMetadata] = weakref.WeakKeyDictionary()


def local_metadata() -> LocalMetadata:
    """The running event loop's LocalMetadata (its locks belong to that loop)."""
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is None:
        found = _per_loop[loop] = LocalMetadata()
    return found
