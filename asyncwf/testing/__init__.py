"""Testing helpers: an in-process backend and a pytest plugin.

The plugin is registered through the ``pytest11`` entry point, so any
pytest-asyncio suite that installs asyncwf gets these fixtures:

- ``asyncwf_backend``: a running :class:`LocalBackend` (one per test);
- ``asyncwf_client``: a :class:`~asyncwf.Client` connected to it, also set
  as the default client of the test;
- ``gcs_emulator``: a :class:`GCSEmulator` for the whole session, with
  ``STORAGE_EMULATOR_HOST`` set; ``gcs_bucket``: a fresh bucket in it per test;
- ``postgres_server``: a :class:`PostgresServer` for the whole session;
  ``postgres_dsn``: a fresh database in it per test.
"""

from asyncwf.testing._gcs import GCSEmulator
from asyncwf.testing._local import LocalBackend
from asyncwf.testing._postgres import PostgresServer

__all__ = ["GCSEmulator", "LocalBackend", "PostgresServer"]
