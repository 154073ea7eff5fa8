"""The Client: seed attributes, auth, TLS, deadlines, retries, default client."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from grpclib.client import Channel

from asyncwf import Auth, Client, JobState, RetryPolicy
from asyncwf.exceptions import (
    ConfigurationError,
    DeadlineExceeded,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from asyncwf.exceptions import (
    TimeoutError as AsyncwfTimeout,
)
from asyncwf.testing import LocalBackend
from asyncwf.v1 import jobs_pb2 as pb


def test_seed_attributes() -> None:
    assert Client.DEFAULT_TIMEOUT == 5
    assert Client.STREAM_TIMEOUT == 86400
    client = Client("example.invalid", 1234, auth=Auth("tok"))
    assert client.token == "tok"
    assert client.certificate is None
    assert set(client.api) >= {"health", "create_job", "get_job", "list_jobs", "cancel_job", "watch_job"}
    assert all(callable(f) for f in client.api.values())


def test_environment_configures_host_port_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCWF_HOST", "backend.test")
    monkeypatch.setenv("ASYNCWF_PORT", "4242")
    monkeypatch.setenv("ASYNCWF_TOKEN", "secret")
    client = Client()
    assert (client.host, client.port, client.token) == ("backend.test", 4242, "secret")
    monkeypatch.setenv("ASYNCWF_PORT", "nope")
    with pytest.raises(ConfigurationError):
        Client()


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ConfigurationError):
        Client(port=70000)
    with pytest.raises(ConfigurationError):
        Client(auth="token")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Client(certificate="pem")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        Client.INSECURE_CHANNEL_FACTORY("no-port")
    with pytest.raises(ConfigurationError):
        Client.set_default_client("client")  # type: ignore[arg-type]


async def test_channel_factories_make_grpclib_channels() -> None:
    channel = Client.INSECURE_CHANNEL_FACTORY("127.0.0.1:1")
    assert isinstance(channel, Channel)
    channel.close()
    secure = Client.SECURE_CHANNEL_FACTORY("127.0.0.1:1", None)
    assert isinstance(secure, Channel)
    secure.close()


async def test_health_and_close(backend: LocalBackend) -> None:
    async with backend.client() as client:
        assert await client.health(timeout=2) == "SERVING"
        assert isinstance(client.channel, Channel)
    client.close()  # closing twice is fine


async def test_unreachable_backend_is_unavailable_after_retries() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    async with Client("127.0.0.1", 1, retry=policy) as client:
        with pytest.raises(Unavailable):
            await client.get_job("x")
        with pytest.raises(Unavailable):
            await client.health(timeout=1)


async def test_a_client_of_the_http_port_is_told_to_use_the_grpc_port(
    backend: LocalBackend, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client("127.0.0.1", backend.http_port, retry=RetryPolicy(max_attempts=1)) as client:
        for call in (client.health, lambda: client.run_job("asyncwf.echo", b"x"), lambda: client.get_job("j")):
            with pytest.raises(Unavailable, match=r"is 127\.0\.0\.1:\d+ the backend's gRPC port\?.*--port \(50051"):
                await call()
    server_side = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert server_side and all(r.exc_info is None and "gRPC is served on the --port" in r.message for r in server_side)


async def test_deadlines_are_enforced_and_mapped(client: Client) -> None:
    # A watch on a long job with a tiny deadline: the server is silent, the deadline still fires.
    job = await client.create_job("asyncwf.sleep", b'{"seconds": 5}')
    with pytest.raises(DeadlineExceeded):
        async for _ in client._stream("WatchJob", pb.WatchJobRequest(id=job.id), timeout=0.2):
            pass
    with pytest.raises(AsyncwfTimeout):
        await client.wait_job(job.id, timeout=0.2)
    with pytest.raises(TimeoutError):  # also the builtin
        await client.wait_job(job.id, timeout=0.1)


async def test_retry_backoff_has_full_jitter() -> None:
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=1.0)
    samples = [policy.backoff(4) for _ in range(200)]
    assert all(0 <= s <= 0.8 for s in samples)
    assert max(samples) > 0.4 and min(samples) < 0.2
    assert all(policy.backoff(20) <= 1.0 for _ in range(50))


async def test_tokens_are_required_and_identities_are_enforced() -> None:
    tokens = {"alice-secret": "alice", "bob-secret": "bob"}
    async with LocalBackend(tokens=tokens) as backend:
        async with backend.client(token="alice-secret") as alice, backend.client(token="bob-secret") as bob:
            job = await alice.run_job("asyncwf.echo", b"mine")
            assert job.owner == "alice"
            with pytest.raises(PermissionDenied):
                await bob.get_job(job.id)
            assert [j async for j in bob.list_jobs()] == []
            assert await alice.health() == "SERVING"
        async with Client(backend.host, backend.port, auth=Auth(None)) as anonymous:
            assert await anonymous.health() == "SERVING"  # health needs no token
            with pytest.raises(Unauthenticated, match="missing"):
                await anonymous.get_job(job.id)
        async with backend.client(token="wrong") as wrong:
            with pytest.raises(Unauthenticated, match="invalid"):
                await wrong.create_job("asyncwf.echo")
            with pytest.raises(Unauthenticated):
                async for _ in wrong.watch_job(job.id):
                    pass


async def test_auth_refreshes_its_token_once_on_unauthenticated() -> None:
    calls: list[int] = []

    async def provider() -> str:
        calls.append(1)
        return "stale" if len(calls) == 1 else "fresh"

    async with (
        LocalBackend(tokens={"fresh": "me"}) as backend,
        Client(backend.host, backend.port, auth=Auth(token_provider=provider)) as client,
    ):
        job = await client.create_job("asyncwf.echo")
        assert job.owner == "me"
        assert len(calls) == 2
    with pytest.raises(ConfigurationError):
        Auth(ttl=0)


async def test_default_client_is_scoped_per_task(backend: LocalBackend) -> None:
    a, b = backend.client(), backend.client()

    async def use(client: Client) -> Client:
        Client.set_default_client(client)
        await asyncio.sleep(0.01)
        return Client.get_default_client()

    assert await asyncio.gather(use(a), use(b)) == [a, b]
    a.close()
    b.close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_a_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    async with LocalBackend(tls_cert=cert, tls_key=key) as backend:
        async with Client(backend.host, backend.port, certificate=cert.read_bytes()) as client:
            assert await client.health() == "SERVING"
            assert (await client.run_job("asyncwf.echo", b"over tls")).result_inline == b"over tls"
        async with Client(backend.host, backend.port, retry=RetryPolicy(max_attempts=1)) as plaintext:
            with pytest.raises(Unavailable):
                await plaintext.get_job("x")


async def test_invalid_list_arguments(client: Client) -> None:
    import datetime as dt

    with pytest.raises(InvalidArgument, match="timezone"):
        async for _ in client.list_jobs(created_after=dt.datetime(2020, 1, 1)):
            pass


async def test_health_honours_its_timeout_against_a_silent_server() -> None:
    import time

    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # accept, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, Client("127.0.0.1", port) as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await client.health(timeout=0.3)
        assert time.monotonic() - start < 2
    for writer in writers:
        writer.close()
        await writer.wait_closed()


async def test_unknown_job_options_are_rejected(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="unknown job options: colour"):
        await client.create_job("asyncwf.echo", colour="red")  # type: ignore[call-arg]


async def test_a_job_nobody_serves_gets_a_word_instead_of_silence(
    backend: LocalBackend, caplog: pytest.LogCaptureFixture
) -> None:
    async with backend.client() as client:
        client.QUEUED_NOTICE_SECONDS = 0.2  # type: ignore[misc]
        with caplog.at_level("WARNING", logger="asyncwf.client"):
            assert (await client.run_job("asyncwf.sleep", b'{"seconds": 0.5}')).state is JobState.SUCCEEDED
            assert not caplog.records  # running, not waiting: no word
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.5):
                    await client.run_job("no.such.kind", b"", wait_for_executor=True)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await client.run_job("no.such.kind", b"", wait_for_executor=True)
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1, notices  # once per kind
    assert "of kind 'no.such.kind' has waited in QUEUED for over 0.2 s" in notices[0]
    assert "asyncwf worker" in notices[0]
