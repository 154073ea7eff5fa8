"""Event loops: a default client per loop (and per blocking thread), loop-bound clients, blocking calls in loops."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncwf.blocking as bwf
import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.exceptions import BlockingCallWarning, EventLoopError


@pytest.fixture(scope="module")
def shared_backend() -> Iterator[bwf.LocalBackend]:
    """A backend on the blocking portal's loop: it outlives every test's own loop."""
    with bwf.LocalBackend() as backend:
        yield backend


@pytest.fixture
def default_points_at(shared_backend: bwf.LocalBackend, monkeypatch: pytest.MonkeyPatch) -> bwf.LocalBackend:
    monkeypatch.setenv("ASYNCWF_HOST", shared_backend.host)
    monkeypatch.setenv("ASYNCWF_PORT", str(shared_backend.port))
    return shared_backend


def _run_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


_PRELUDE = """
    import asyncio, os
    import asyncwf.blocking as bwf
    import asyncwf.blocking.workflows as bwfw
    import asyncwf.workflows as wf

    backend = bwf.LocalBackend()
    backend.__enter__()
    os.environ["ASYNCWF_HOST"], os.environ["ASYNCWF_PORT"] = backend.host, str(backend.port)

    async def main(i):
        return await asyncio.wait_for(wf.compute(wf.Int(i) + 1), 10)
"""


@pytest.mark.allow_blocking
def test_ten_sequential_asyncio_runs_with_the_default_client(tmp_path: Path) -> None:
    out = _run_script(tmp_path, _PRELUDE + "    print([asyncio.run(main(i)) for i in range(10)])\n")
    assert out.strip() == str(list(range(1, 11)))


@pytest.mark.allow_blocking
def test_blocking_then_async_then_blocking(tmp_path: Path) -> None:
    body = (
        _PRELUDE
        + """
    a = bwfw.compute(bwfw.Int(1) + 1)
    b = asyncio.run(main(2))
    c = bwfw.compute(bwfw.Int(3) + 1)
    d = asyncio.run(main(4))
    print(a, b, c, d)
    """
    )
    assert _run_script(tmp_path, textwrap.dedent(body)).split() == ["2", "3", "4", "5"]


@pytest.mark.parametrize("n", range(3))
async def test_each_pytest_asyncio_loop_gets_its_own_default(default_points_at: bwf.LocalBackend, n: int) -> None:
    # pytest-asyncio gives every test a new loop: the default client is made for it, and works.
    assert await asyncio.wait_for(wf.compute(wf.Int(n) * 2), 10) == n * 2
    client = Client.get_default_client()
    assert client is Client.get_default_client()
    assert client._loop is asyncio.get_running_loop()


@pytest.mark.allow_blocking
def test_a_loop_closes_the_default_it_made(default_points_at: bwf.LocalBackend) -> None:
    async def use() -> Client:
        client = Client.get_default_client()
        assert await client.health() == "SERVING"
        await client.run_job("asyncwf.echo", b"x")
        return client

    first = asyncio.run(use())
    second = asyncio.run(use())
    assert first is not second
    for client in (first, second):  # closed at the loop's shutdown: no connection and no run stream left
        assert client._pool._slots == [] and (client._mux is None or client._mux._task is None)


@pytest.mark.allow_blocking
def test_an_explicit_client_refuses_another_live_loop(shared_backend: bwf.LocalBackend) -> None:
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        client = Client(shared_backend.host, shared_backend.port)
        assert asyncio.run_coroutine_threadsafe(client.health(), other).result(10) == "SERVING"

        async def from_here() -> None:
            with pytest.raises(EventLoopError, match="another event loop"):
                await client.health()
            with pytest.raises(EventLoopError):
                await client.run_job("asyncwf.echo", b"x")
            with pytest.raises(EventLoopError):
                await client.get_job("nothing")

        asyncio.run(asyncio.wait_for(from_here(), 10))
        asyncio.run_coroutine_threadsafe(client.aclose(), other).result(10)
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(10)
        other.close()


@pytest.mark.allow_blocking
def test_an_explicit_client_moves_on_once_its_loop_closed(shared_backend: bwf.LocalBackend) -> None:
    client = Client(shared_backend.host, shared_backend.port)

    async def use() -> bytes:
        job = await client.run_job("asyncwf.echo", b"again")
        return await client.job_result(job)

    assert asyncio.run(asyncio.wait_for(use(), 10)) == b"again"
    assert asyncio.run(asyncio.wait_for(use(), 10)) == b"again"
    asyncio.run(client.aclose())


@pytest.mark.allow_blocking
def test_each_blocking_thread_has_its_own_default(default_points_at: bwf.LocalBackend) -> None:
    seen: list[object] = []

    def work() -> None:
        client = bwf.Client.get_default_client()
        assert client.health() == "SERVING"
        assert client == bwf.Client.get_default_client()
        seen.append(client)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 2 and seen[0] != seen[1]


@pytest.mark.allow_blocking
async def test_a_blocking_call_inside_a_running_loop_blocks_and_warns_once(
    default_points_at: bwf.LocalBackend,
) -> None:
    import asyncwf.blocking.workflows as bwfw

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BlockingCallWarning)
        # An explicit client: this thread's blocking default may have been made by an earlier test.
        with default_points_at.client() as client:
            assert bwfw.compute(bwfw.Int(20) + 1, client=client) == 21
            assert bwfw.compute(bwfw.Int(1) + 1, client=client) == 2
    said = [str(w.message) for w in caught if issubclass(w.category, BlockingCallWarning)]
    assert len(said) == 1, said  # once per loop
    assert re.search(r"blocked this thread's running event loop for \d+\.\d+ s", said[0])


@pytest.mark.allow_blocking
def test_a_blocking_call_on_the_portal_thread_is_refused() -> None:
    from asyncwf.blocking._portal import _portal

    def from_the_portal() -> None:
        bwf.Client.get_default_client()

    with pytest.raises(EventLoopError, match="portal's own thread"):
        _portal().call(from_the_portal)
