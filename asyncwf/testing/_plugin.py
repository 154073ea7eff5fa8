"""pytest plugin (entry point ``pytest11``): fixtures for an in-process backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from asyncwf import _testguard

if TYPE_CHECKING:
    from asyncwf.client import Client
    from asyncwf.testing import GCSEmulator, LocalBackend, PostgresServer, SkippingClock


F = TypeVar("F", bound=Callable[..., Any])

REAL_BACKEND = "asyncwf_real_backend"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{REAL_BACKEND}: let the implicit default client reach a backend the test did not start"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Guard each test (set-up, call, tear-down) against the implicit default client's real backend."""
    opted_in = item.get_closest_marker(REAL_BACKEND) is not None or os.environ.get("ASYNCWF_TEST_REAL_BACKEND") == "1"
    _testguard.guard(None if opted_in else item.nodeid)
    try:
        return (yield)
    finally:
        _testguard.guard(None)


def _async_fixture(fn: F) -> F:
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - the plugin needs pytest-asyncio to be useful
        return cast(F, pytest.fixture(fn))
    return cast(F, pytest_asyncio.fixture(fn))


@_async_fixture
async def asyncwf_backend() -> AsyncIterator[LocalBackend]:
    """A running in-process backend with a temporary data dir."""
    from asyncwf.testing import LocalBackend

    async with LocalBackend() as backend:
        yield backend


@_async_fixture
async def asyncwf_client(asyncwf_backend: LocalBackend) -> AsyncIterator[Client]:
    """A client of ``asyncwf_backend``, also the default client for the test."""
    from asyncwf.client import Client

    async with asyncwf_backend.client() as client:
        Client.set_default_client(client)
        yield client


@_async_fixture
async def asyncwf_clock() -> AsyncIterator[SkippingClock]:
    """A :class:`~asyncwf.testing.SkippingClock` on the test's event loop: ``await asyncwf_clock.skip(3600)``."""
    from asyncwf.testing import SkippingClock

    clock = SkippingClock()
    try:
        yield clock
    finally:
        clock.close()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GCSEmulator]:
    """A GCS emulator for the session; ``STORAGE_EMULATOR_HOST`` points at it meanwhile."""
    from asyncwf.testing import GCSEmulator

    with GCSEmulator() as emulator:
        yield emulator


@pytest.fixture
def gcs_bucket(gcs_emulator: GCSEmulator) -> str:
    """A new, empty bucket in the session's emulator."""
    return gcs_emulator.create_bucket()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of its own for the session (or ``$ASYNCWF_TEST_POSTGRES_DSN``'s)."""
    from asyncwf.testing import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a new, empty database in the session's PostgreSQL server."""
    return postgres_server.create_database()
