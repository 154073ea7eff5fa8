"""Testing helpers: an in-process backend and a pytest plugin.

The plugin is registered through the ``pytest11`` entry point, so any
pytest-asyncio suite that installs asyncwf gets these fixtures:

- ``asyncwf_backend``: a running :class:`LocalBackend` (one per test);
- ``asyncwf_client``: a :class:`~asyncwf.Client` connected to it, also set
  as the default client of the test;
- ``gcs_emulator``: a :class:`GCSEmulator` for the whole session, with
  ``STORAGE_EMULATOR_HOST`` set; ``gcs_bucket``: a fresh bucket in it per test;
- ``postgres_server``: a :class:`PostgresServer` for the whole session;
  ``postgres_dsn``: a fresh database in it per test;
- ``asyncwf_clock``: a :class:`SkippingClock` on the test's event loop: ``await
  asyncwf_clock.skip(3600)`` lets an hour pass at once (leases, execution
  timeouts, result expiry, ``asyncio.sleep`` in job functions).

Inside a test, the implicit default client only reaches backends started in
the test's process: a test that forgets ``asyncwf_client`` gets a
:class:`~asyncwf.exceptions.ConfigurationError` instead of computing on the
developer's own backend. ``@pytest.mark.asyncwf_real_backend`` (or
``ASYNCWF_TEST_REAL_BACKEND=1``) lets a test use another backend on purpose.

The helpers are imported when first used, so the plugin adds almost nothing
to a suite that never requests its fixtures.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncwf.testing._clock import SkippingClock
    from asyncwf.testing._gcs import GCSEmulator
    from asyncwf.testing._local import LocalBackend
    from asyncwf.testing._postgres import PostgresServer

__all__ = ["GCSEmulator", "LocalBackend", "PostgresServer", "SkippingClock"]

_HOMES = {"GCSEmulator": "_gcs", "LocalBackend": "_local", "PostgresServer": "_postgres", "SkippingClock": "_clock"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'asyncwf.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"asyncwf.testing.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
