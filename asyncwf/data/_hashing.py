"""BLAKE3 content hashes: of files (cached per path, size and mtime), streams, datasets and manifests.

A file's hash is the BLAKE3 of its bytes, as 64 hex digits. A dataset's hash
is canonical: the BLAKE3 of its sorted ``(path in dataset, file hash)`` pairs,
so it does not depend on the order files were added in, and it changes when
two files swap contents. A manifest's is the same over ``(key, dataset hash)``.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import threading
from collections.abc import Iterable

import anyio
import blake3
import google_crc32c

__all__ = ["StreamHasher", "cached_file_hash", "combine", "crc32c_b64", "hash_file", "remember_file_hash"]

_CACHE_SIZE = 100_000
_cache: collections.OrderedDict[str, tuple[int, int, str]] = collections.OrderedDict()
_lock = threading.Lock()
#: Files at least this big are hashed with memory mapping and several threads.
_MMAP_BYTES = 8 * 1024 * 1024


class StreamHasher:
    """BLAKE3 and CRC32C of bytes seen one chunk at a time (a transfer's bytes, read once).

    ``crc32c=False`` leaves the CRC32C out (a download checked against a known BLAKE3 needs one checksum,
    not two); its :attr:`crc32c` is then empty.
    """

    __slots__ = ("_blake3", "_crc32c", "size")

    def __init__(self, *, crc32c: bool = True) -> None:
        self._blake3 = blake3.blake3()
        self._crc32c = google_crc32c.Checksum() if crc32c else None
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._blake3.update(chunk)
        if self._crc32c is not None:
            self._crc32c.update(chunk if type(chunk) is bytes else bytes(chunk))  # (it takes bytes only)
        self.size += len(chunk)

    def reset(self) -> None:
        self.__init__(crc32c=self._crc32c is not None)  # type: ignore[misc]

    @property
    def hash_value(self) -> str:
        return self._blake3.hexdigest()

    @property
    def crc32c(self) -> str:
        """Base64 of the big-endian CRC32C, as Google Cloud Storage reports it ("" when left out)."""
        return "" if self._crc32c is None else _b64(self._crc32c)


def _b64(checksum: google_crc32c.Checksum) -> str:
    return base64.b64encode(checksum.digest()).decode()


def crc32c_b64(data: bytes) -> str:
    """The CRC32C of ``data`` as Google Cloud Storage reports it."""
    return _b64(google_crc32c.Checksum(data))


def _stat_key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def cached_file_hash(path: str, size: int, mtime_ns: int) -> str | None:
    """The remembered hash of ``path`` (absolute) if it had this size and mtime when hashed."""
    with _lock:
        entry = _cache.get(os.path.normpath(path))
    if entry is not None and entry[0] == size and entry[1] == mtime_ns:
        return entry[2]
    return None


def remember_file_hash(path: str, hash_value: str, stat: os.stat_result | None = None) -> None:
    """Remember the hash of ``path`` as it is now (call right after writing or reading it whole; blocks).

    ``stat`` is the file's stat if the caller has it (an ``os.fstat`` of the written file).
    """
    path = os.path.abspath(path)
    size, mtime_ns = (stat.st_size, stat.st_mtime_ns) if stat is not None else _stat_key(path)
    with _lock:
        _cache[path] = (size, mtime_ns, hash_value)
        _cache.move_to_end(path)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def _hash_file_sync(path: str) -> str:
    path = os.path.abspath(path)
    size, mtime_ns = _stat_key(path)
    known = cached_file_hash(path, size, mtime_ns)
    if known is not None:
        return known
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if size >= _MMAP_BYTES:
        hasher.update_mmap(path)
    else:
        with open(path, "rb") as f:
            hasher.update(f.read())
    value = hasher.hexdigest()
    stat = os.stat(path)
    if (stat.st_size, stat.st_mtime_ns) == (size, mtime_ns):  # unchanged while we read it
        remember_file_hash(path, value, stat)
    return value


async def hash_file(path: str) -> str:
    """The BLAKE3 of a local file, from the cache when its size and mtime have not changed."""
    return await anyio.to_thread.run_sync(_hash_file_sync, path)


def combine(pairs: Iterable[tuple[str, str]]) -> str:
    """The canonical hash of ``(name, hash)`` pairs: order-independent, name-sensitive."""
    text = json.dumps(sorted(pairs), separators=(",", ":"))
    return blake3.blake3(text.encode()).hexdigest()
