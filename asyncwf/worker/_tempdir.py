"""TemporaryWorkingDirectory: a task script's scratch space, with unique and related paths."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import anyio

from asyncwf.exceptions import InvalidArgument

__all__ = ["TemporaryWorkingDirectory"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TemporaryWorkingDirectory:
    """A fresh directory (``await TemporaryWorkingDirectory(prefix)`` makes it) and unique paths in it.

    Paths are unique without touching the disk: every name gets a number from
    a counter of this directory (which nobody else writes into).
    """

    def __init__(self, prefix: str = "asyncwf-") -> None:
        if not isinstance(prefix, str) or "/" in prefix or os.sep in prefix:
            raise InvalidArgument(f"a prefix is a plain name, not {prefix!r}")
        self.prefix = prefix
        self._root: Path | None = None
        self._current: Path | None = None
        self._counter = itertools.count(1)

    def __await__(self) -> Generator[Any, None, TemporaryWorkingDirectory]:
        return self._make().__await__()

    async def _make(self) -> TemporaryWorkingDirectory:
        if self._root is None:
            self._root = Path(await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix=self.prefix)))
            self._current = self._root
        return self

    @property
    def path(self) -> Path:
        """The directory (``await`` the object first)."""
        if self._root is None:
            raise InvalidArgument("the directory does not exist yet: `await TemporaryWorkingDirectory(...)` first")
        assert self._current is not None
        return self._current

    @property
    def root(self) -> Path:
        """The directory itself (made on first use of :attr:`path`)."""
        self.path  # noqa: B018 - raises if not made
        assert self._root is not None
        return self._root

    def create_temp_path(self, filename: str) -> Path:
        """A new unique path for ``filename`` in the (current sub)directory; nothing is created."""
        if not isinstance(filename, str) or not filename or filename in (".", ".."):
            raise InvalidArgument(f"a file name is needed, not {filename!r}")
        name = _SAFE.sub("_", os.path.basename(filename)) or "file"
        stem, ext = os.path.splitext(name)
        return self.path / f"{stem}_{next(self._counter)}{ext}"

    def create_related_path(self, path: Path | str, postfix: str) -> Path:
        """A new unique path next to ``path``'s name with ``postfix`` in place of its extension
        (``scan.aim`` + ``_SEG.AIM`` -> ``scan_SEG_3.AIM``)."""
        if not isinstance(postfix, str) or not postfix or "/" in postfix:
            raise InvalidArgument(f"a postfix is like '.txt' or '_SEG.AIM', not {postfix!r}")
        stem = Path(path).stem or "file"
        base, ext = os.path.splitext(postfix)
        return self.path / f"{_SAFE.sub('_', stem)}{base}_{next(self._counter)}{ext}"

    def is_under(self, p: Path | str) -> bool:
        """Whether ``p`` (absolute, or relative to the directory) is inside the working directory."""
        candidate = os.path.normpath(os.path.join(self.root, p))
        root = os.path.normpath(self.root)
        return candidate == root or candidate.startswith(root + os.sep)

    @contextlib.asynccontextmanager
    async def subdir(self, name: str, max_name_len: int = 8) -> AsyncIterator[Path]:
        """Make a subdirectory (its name cut to ``max_name_len`` and made unique) and put new paths there
        while the context lasts."""
        if not isinstance(name, str) or not name.strip() or max_name_len < 1:
            raise InvalidArgument("a subdirectory needs a name and a positive max_name_len")
        short = _SAFE.sub("_", name)[:max_name_len]
        directory = self.path / f"{short}_{next(self._counter)}"
        await anyio.Path(directory).mkdir()
        previous, self._current = self._current, directory
        try:
            yield directory
        finally:
            self._current = previous

    async def remove(self) -> None:
        """Delete the directory and everything in it."""
        root = self._root
        if root is not None:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(root, ignore_errors=True))
            self._root = self._current = None

    async def __aenter__(self) -> TemporaryWorkingDirectory:
        return await self._make()

    async def __aexit__(self, *exc: Any) -> None:
        await self.remove()
