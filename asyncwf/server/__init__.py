"""The asyncwf backend: job engine, stores, executors, gRPC and HTTP services."""

from asyncwf.server._app import Backend, BackendConfig
from asyncwf.server.engine._engine import CreateSpec, EngineConfig, JobEngine
from asyncwf.server.engine._executor import Executor, KindRegistry, LocalExecutor
from asyncwf.server.engine._kinds import builtin_kinds
from asyncwf.server.store._blobs import BlobStore, GCSBlobStore, LocalBlobStore
from asyncwf.server.store._postgres import PostgresStore
from asyncwf.server.store._sqlite import SQLiteStore
from asyncwf.server.store._store import JobFilter, Store

__all__ = [
    "Backend",
    "BackendConfig",
    "BlobStore",
    "CreateSpec",
    "EngineConfig",
    "Executor",
    "GCSBlobStore",
    "JobEngine",
    "JobFilter",
    "KindRegistry",
    "LocalBlobStore",
    "LocalExecutor",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "builtin_kinds",
]
