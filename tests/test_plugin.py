"""The pytest plugin shipped through the ``pytest11`` entry point."""

from __future__ import annotations

from asyncwf import Client, JobState
from asyncwf.testing import LocalBackend


async def test_fixtures_give_a_running_backend_and_a_default_client(
    asyncwf_backend: LocalBackend, asyncwf_client: Client
) -> None:
    assert asyncwf_backend.port > 0
    assert Client.get_default_client() is asyncwf_client
    job = await asyncwf_client.run_job("asyncwf.echo", b"plugin")
    assert job.state is JobState.SUCCEEDED


async def test_local_backend_cleans_up_when_start_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from asyncwf.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError):
        async with LocalBackend(tls_cert=tmp_path / "missing.pem"):
            pass
    blocker = tmp_path / "taken"
    async with LocalBackend(data_dir=blocker) as first:
        with pytest.raises(ConfigurationError, match="address already in use"):  # start-up fails half-way
            async with LocalBackend(data_dir=tmp_path / "second", port=first.port):
                pass
    assert not list((tmp_path / "second").glob("*.sqlite3-wal"))
