"""LocalBackend: the whole backend in-process, for tests and notebooks."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from asyncwf._context import InlineAnswer, JobFunction, KindRegistry
from asyncwf.client import Auth, Client
from asyncwf.server import Backend, BackendConfig, EngineConfig, builtin_kinds

__all__ = ["LocalBackend"]


class LocalBackend:
    """Start the backend in this process on free ports with a temporary data dir.

    Args:
        data_dir: Keep state here instead of a temporary folder (kept afterwards).
        kinds: Extra job kinds for the in-process executor (the built-in ones are always there).
        inline_answers: Inline answers for some of ``kinds`` (see ``KindRegistry.register``).
        tokens: Bearer token -> identity; enables authentication.
        **config: Other :class:`~asyncwf.server.BackendConfig` fields, and
            :class:`~asyncwf.server.EngineConfig` fields (e.g. ``lease_seconds``).

    ::

        async with LocalBackend() as backend, backend.client() as client:
            job = await client.run_job("asyncwf.echo", b"hi")

    Everything started is stopped again even when start-up fails half-way.
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        kinds: Mapping[str, JobFunction] | None = None,
        inline_answers: Mapping[str, InlineAnswer] | None = None,
        tokens: Mapping[str, str] | None = None,
        **config: Any,
    ) -> None:
        engine_fields = {f.name for f in dataclasses.fields(EngineConfig)}
        engine_args = {k: config.pop(k) for k in list(config) if k in engine_fields}
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._registry = builtin_kinds()
        inline_answers = inline_answers or {}
        for name, fn in (kinds or {}).items():
            self._registry.register(name, fn, inline=inline_answers.get(name))
        self._tokens = dict(tokens or {})
        self._engine = EngineConfig(**engine_args)
        self._config = config
        self._stack = contextlib.AsyncExitStack()
        self.backend: Backend | None = None

    @property
    def registry(self) -> KindRegistry:
        """The job kinds the in-process executor runs (built-in ones and ``kinds``)."""
        return self._registry

    @property
    def host(self) -> str:
        """The address the backend listens on."""
        return self._require().config.host

    @property
    def port(self) -> int:
        """The gRPC port (a free one, picked at start)."""
        return self._require().port

    @property
    def http_port(self) -> int | None:
        """The HTTP port, None when HTTP is off."""
        return self._require().http_port

    @property
    def http_url(self) -> str:
        """``http://host:port`` of the HTTP endpoint (results, signed files, tiles, the map page)."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def data_dir(self) -> Path:
        """The backend's data directory (temporary unless ``data_dir`` was given)."""
        return Path(self._require().config.data_dir)

    def _require(self) -> Backend:
        if self.backend is None:
            raise RuntimeError("the LocalBackend is not running; use 'async with LocalBackend() as backend'")
        return self.backend

    def client(self, *, token: str | None = None, **kwargs: Any) -> Client:
        """A new client connected to this backend (with the first token, if auth is on)."""
        if token is None and self._tokens:
            token = next(iter(self._tokens))
        return Client(self.host, self.port, auth=Auth(token), **kwargs)

    async def __aenter__(self) -> LocalBackend:
        try:
            data_dir = self._data_dir
            if data_dir is None:
                data_dir = Path(await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="asyncwf-")))
                self._stack.push_async_callback(
                    anyio.to_thread.run_sync, lambda: shutil.rmtree(data_dir, ignore_errors=True)
                )
            config = BackendConfig(
                data_dir=data_dir, kinds=self._registry, tokens=self._tokens, engine=self._engine, **self._config
            )
            backend = Backend(config)
            await backend.start()
            self._stack.push_async_callback(backend.stop)
            self.backend = backend
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.backend = None
        await self._stack.aclose()

    async def aclose(self) -> None:
        """Stop the backend and remove what it made; the same as leaving ``async with``."""
        await self.__aexit__(None, None, None)
