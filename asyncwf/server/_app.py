"""The whole backend in one process: gRPC + HTTP over one engine, store, blobs and executor."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import anyio
from aiohttp import web
from grpclib.const import Status
from grpclib.events import RecvRequest, listen
from grpclib.exceptions import GRPCError
from grpclib.health.check import ServiceStatus
from grpclib.health.service import Health
from grpclib.server import Server

from asyncwf import _testguard
from asyncwf.exceptions import ConfigurationError
from asyncwf.server.api._authz import TokenAuth
from asyncwf.server.api._files import SIGNER, FileService, FileSigner, serve_file
from asyncwf.server.api._http import build_http_app
from asyncwf.server.api._jobs import JobService, LimitedProtoCodec
from asyncwf.server.api._workflows import WorkflowService
from asyncwf.server.api._xf import XFService
from asyncwf.server.api._xf_files import FileTokens, add_routes
from asyncwf.server.api._xyz import XYZService, add_tile_routes
from asyncwf.server.engine._compute import COMPUTE_KIND, register_compute
from asyncwf.server.engine._dask import DaskEvaluator
from asyncwf.server.engine._engine import EngineConfig, JobEngine
from asyncwf.server.engine._executor import KindRegistry, LocalExecutor
from asyncwf.server.engine._kinds import builtin_kinds
from asyncwf.server.raster._catalog import RasterCatalog, RasterService, RasterSources
from asyncwf.server.raster._tiles import TileErrors
from asyncwf.server.store._blobs import BlobStore, GCSBlobStore, LocalBlobStore
from asyncwf.server.store._postgres import PostgresStore
from asyncwf.server.store._sqlite import SQLiteStore
from asyncwf.server.store._store import Store

__all__ = ["Backend", "BackendConfig"]

log = logging.getLogger("asyncwf.server")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackendConfig:
    """Settings of one backend process."""

    #: Folder for the SQLite database, the blob directory and the file-signing key.
    data_dir: Path
    #: ``postgresql://...`` keeps the store in PostgreSQL (several replicas may share it); ``None``: SQLite.
    store: str | None = None
    #: ``gs://bucket/prefix`` keeps result blobs in Google Cloud Storage (shared by replicas); ``None``: data_dir.
    blobs: str | None = None
    #: ``tcp://host:8786``: evaluate large grafts on this dask.distributed scheduler's cluster.
    dask: str | None = None
    host: str = "127.0.0.1"
    #: gRPC port; 0 picks a free one (see :attr:`Backend.port`).
    port: int = 0
    #: HTTP port; 0 picks a free one, ``None`` disables HTTP.
    http_port: int | None = 0
    #: Bearer token -> identity. Empty means no authentication (see :mod:`asyncwf.server.api._authz`).
    tokens: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Identity -> the job kinds (shell-style patterns) it may serve as a remote executor.
    executors: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    #: Identities that may register rasters.
    admins: tuple[str, ...] = ()
    #: Directories rasters may be registered from; with auth on and none given, none may be.
    raster_roots: tuple[Path, ...] = ()
    #: Hosts rasters may be read from over HTTP(S) (GDAL's /vsicurl/); none by default.
    raster_hosts: tuple[str, ...] = ()
    #: PEM certificate chain and key files; both or neither.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    engine: EngineConfig = dataclasses.field(default_factory=EngineConfig)
    #: Job kinds the in-process executor runs; ``None`` means the built-in kinds.
    kinds: KindRegistry | None = None
    #: Run the in-process executor at all.
    local_executor: bool = True
    executor_concurrency: int = 1024
    #: Largest gRPC message or HTTP body accepted.
    max_message_bytes: int = 8 * 1024 * 1024
    #: Largest XF file a worker may upload.
    max_upload_bytes: int = 4 << 30
    #: Seconds in-flight calls and jobs get to finish on shutdown.
    shutdown_grace: float = 10.0
    sqlite_synchronous: str = "NORMAL"
    #: Directories whose files may be shared by signed URL (``FileService``, ``GET /v1/files``).
    shared_dirs: tuple[Path, ...] = ()
    #: The HTTP address clients on other machines reach; default ``http(s)://host:http_port``.
    public_http_url: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("tls_cert and tls_key go together")
        if not 0 <= self.port <= 65535 or (self.http_port is not None and not 0 <= self.http_port <= 65535):
            raise ConfigurationError("ports must be between 0 and 65535")
        if self.store is not None and not self.store.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(f"store is a postgresql:// DSN (or None for SQLite), not {self.store!r}")
        if self.max_message_bytes < 1024:
            raise ConfigurationError("max_message_bytes must be at least 1024")


class _Server(Server):
    """A grpclib Server that also closes the connections still open when it shuts down.

    asyncio's ``Server.close()`` on Python 3.11 only stops listening; without
    this, idle client connections would outlive the backend.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._protocols: weakref.WeakSet[Any] = weakref.WeakSet()

    def _protocol_factory(self) -> Any:
        protocol = super()._protocol_factory()
        self._protocols.add(protocol)
        return protocol

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when started on port 0)."""
        server = cast(asyncio.Server, self._server)
        return int(server.sockets[0].getsockname()[1])

    def close_connections(self) -> None:
        for protocol in list(self._protocols):
            connection = getattr(protocol, "connection", None)
            transport = getattr(connection, "_transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()


class Backend:
    """The embedded backend. An async context manager::

        async with Backend(BackendConfig(data_dir=path)) as backend:
            print(backend.port)

    Shutdown is graceful: new calls are refused with UNAVAILABLE, in-flight
    ones and running jobs get ``shutdown_grace`` seconds, every job stays durable.
    """

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        data_dir = Path(config.data_dir)
        self.store: Store = (
            SQLiteStore(data_dir / "asyncwf.sqlite3", synchronous=config.sqlite_synchronous)
            if config.store is None
            else PostgresStore(config.store)
        )
        self.blobs: BlobStore = (
            LocalBlobStore(data_dir / "blobs") if config.blobs is None else GCSBlobStore(config.blobs)
        )
        self.engine = JobEngine(self.store, self.blobs, config.engine)
        self.auth = TokenAuth(config.tokens, config.executors, config.admins)
        self.service = JobService(self.engine, self.auth)
        self.workflows = WorkflowService(self.store, self.auth)
        self.files = FileService(None, self.auth)
        self.xf = XFService(self.store, self.engine, self.auth)
        self.serving_status = ServiceStatus()
        self.health = Health({self.service: [self.serving_status]})
        self.dask = DaskEvaluator(config.dask) if config.dask is not None else None
        sources = RasterSources(config.raster_roots, config.raster_hosts, confined=bool(config.tokens))
        self.rasters = RasterCatalog(self.store, sources)
        self.raster_service = RasterService(self.rasters, self.auth)
        self.tile_errors = TileErrors()
        self.xyz = XYZService(self.store, self.auth, self.tile_errors)
        kinds = config.kinds if config.kinds is not None else builtin_kinds()
        if COMPUTE_KIND in kinds:  # this backend's catalogue (and dask cluster) for graft evaluation
            register_compute(kinds, self.dask, self.rasters)
        self.executor = LocalExecutor(self.engine, kinds, concurrency=config.executor_concurrency)
        self._grpc: _Server | None = None
        self._http: web.AppRunner | None = None
        #: The HTTP application (its routes), once serving.
        self.http_app: web.Application | None = None
        self._stack = contextlib.AsyncExitStack()
        self._draining = False
        self.port = 0
        self.http_port: int | None = None

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.tls_cert is None or self.config.tls_key is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        ctx.set_alpn_protocols(["h2"])
        return ctx

    async def start(self) -> None:
        """Open the store, recover jobs, start executor, gRPC and HTTP. Cleans up if any step fails."""
        try:
            try:
                await anyio.Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError(f"cannot use {self.config.data_dir} as the data dir: {exc}") from exc
            await self.store.open()
            self._stack.push_async_callback(self.store.close)
            await self.engine.start()
            self._stack.push_async_callback(self.engine.stop)
            if self.dask is not None:
                await self.dask.start()
                self._stack.push_async_callback(self.dask.close)
            ssl_ctx = self._ssl_context()
            await self.xf.recover()
            handlers = [self.service, self.workflows, self.files, self.xf, self.raster_service, self.xyz, self.health]
            self._grpc = _Server(handlers, codec=LimitedProtoCodec(self.config.max_message_bytes))
            listen(self._grpc, RecvRequest, self._on_request)
            try:
                await self._grpc.start(self.config.host, self.config.port, ssl=ssl_ctx)
            except OSError as exc:
                raise ConfigurationError(f"cannot serve gRPC on {self.config.host}:{self.config.port}: "
                                         f"{exc.strerror or exc} (--port)") from exc  # fmt: skip
            self._stack.push_async_callback(self._close_grpc)
            self.port = self._grpc.port
            _testguard.serving(self.config.host, self.port, up=True)
            self._stack.callback(_testguard.serving, self.config.host, self.port, up=False)
            if self.config.local_executor:
                await self.executor.start()
                self._stack.push_async_callback(self.executor.stop, self.config.shutdown_grace)
            if self.config.http_port is not None:
                signer = await FileSigner.open(Path(self.config.data_dir), self.config.shared_dirs, "")
                app = build_http_app(self.engine, self.auth, max_body_bytes=self.config.max_message_bytes)
                app[SIGNER] = signer
                app.router.add_get("/v1/files", serve_file)
                tokens = FileTokens(signer.key, Path(self.config.data_dir) / "xf-files",
                                    max_upload_bytes=self.config.max_upload_bytes)  # fmt: skip
                add_routes(app, tokens)
                add_tile_routes(app, self.xyz, self.rasters)
                self.http_app = app
                runner = web.AppRunner(app, access_log=None, handle_signals=False)
                await runner.setup()
                self._stack.push_async_callback(runner.cleanup)
                site = web.TCPSite(runner, self.config.host, self.config.http_port, ssl_context=ssl_ctx)
                try:
                    await site.start()
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot serve HTTP on {self.config.host}:{self.config.http_port}: "
                        f"{exc.strerror or exc} (--http-port; -1 turns HTTP off)"
                    ) from exc
                self.http_port = runner.addresses[0][1]
                scheme = "https" if ssl_ctx is not None else "http"
                signer.base_url = self.config.public_http_url or f"{scheme}://{self.config.host}:{self.http_port}"
                self.files.signer = signer
                tokens.base_url = self.xyz.base_url = signer.base_url
                self.xf.tokens = tokens
            self.serving_status.set(True)
        except BaseException:
            await self._stack.aclose()
            raise
        log.info("asyncwf backend serving gRPC on %s:%d, HTTP on %s", self.config.host, self.port, self.http_port)

    async def _on_request(self, event: RecvRequest) -> None:
        if self._draining and not event.method_name.startswith("/grpc.health.v1.Health/"):
            raise GRPCError(Status.UNAVAILABLE, "the backend is shutting down")
        await self.auth.on_request(event)

    async def _close_grpc(self) -> None:
        if self._grpc is not None:
            self._grpc.close()
            await self._grpc.wait_closed()
            self._grpc.close_connections()

    async def stop(self) -> None:
        """Graceful shutdown; idempotent.

        New calls are refused (UNAVAILABLE) at once; running jobs get the grace
        period and are otherwise left for recovery at the next start; then
        watch streams end (clients resume elsewhere), in-flight calls finish,
        and the servers and the store close.
        """
        if self._grpc is not None and not self._draining:
            self._draining = True
            self.serving_status.set(False)
            await self.executor.stop(self.config.shutdown_grace)
            self.tile_errors.close()
            await self.engine.stop()
            await self.service.drain(self.config.shutdown_grace)
            await self.workflows.calls.wait_idle(self.config.shutdown_grace)
            await self.xf.calls.wait_idle(self.config.shutdown_grace)
            await self.raster_service.calls.wait_idle(self.config.shutdown_grace)
            await self.xyz.calls.wait_idle(self.config.shutdown_grace)
        await self._stack.aclose()

    @property
    def serving(self) -> bool:
        """Whether it is started and not shutting down."""
        return self._grpc is not None and not self._draining

    async def __aenter__(self) -> Backend:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
