"""Hostile inputs to a running backend: it keeps answering, and each job ends with a typed outcome.

The event loop's lag is measured while the work runs (a ticker that should wake every 10 ms): the
backend's loop is this test's loop, so lag here is lag for every other caller of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncwf import Client, JobContext, JobState, RemoteExecutor
from asyncwf.exceptions import ConfigurationError, ResourceExhausted
from asyncwf.testing import LocalBackend
from asyncwf.workflows._channel import CHANNEL, COMPUTE_KIND

#: How late the loop may wake a sleeper while hostile work runs (the issue's bound on health checks).
MAX_LAG = 0.1


class LoopLag:
    """The largest delay in waking a 10 ms sleeper on the running loop, while the block runs."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - start - 0.01)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[LoopLag]:
        task = asyncio.get_running_loop().create_task(self._tick())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _request(graft: dict) -> bytes:
    return json.dumps({"graft": graft, "arguments": {}, "channel": CHANNEL}).encode()


def _shared_lists(depth: int) -> dict:
    """Under 1 KB: each list holds the previous one twice, so its encoding doubles per level."""
    graft: dict = {"x": "x", "l0": ["wf.list", "x"]}
    for i in range(1, depth + 1):
        graft[f"l{i}"] = ["wf.list", f"l{i - 1}", f"l{i - 1}"]
    graft["returns"] = f"l{depth}"
    return graft


async def test_a_small_graft_with_an_exponential_result_does_not_freeze_the_backend(client: Client) -> None:
    payload = _request(_shared_lists(26))
    assert len(payload) < 1100
    async with LoopLag().watching() as lag:
        health = [await client.health() for _ in range(3)]
        info = await asyncio.wait_for(client.run_job(COMPUTE_KIND, payload), 120)
        health.append(await client.health())
    assert info.state == JobState.FAILED and info.error is not None
    assert info.error.code == "OOM" and "too many items" in info.error.message
    assert set(health) == {"SERVING"}
    assert lag.worst < MAX_LAG, f"the loop stalled {lag.worst:.3f} s"


async def test_string_builtins_refuse_before_allocating(client: Client) -> None:
    graft = {"s": "a" * 20000, "e": "", "n": "b" * 20000, "r": ["wf.Str.replace", "s", "e", "n"], "returns": "r"}
    async with LoopLag().watching() as lag:
        outcomes = await asyncio.gather(*(client.run_job(COMPUTE_KIND, _request(graft)) for _ in range(4)))
    assert all(o.error is not None and o.error.code == "OOM" for o in outcomes), outcomes
    assert lag.worst < MAX_LAG, f"the loop stalled {lag.worst:.3f} s"


async def test_a_ten_megabyte_result_keeps_the_loop_responsive(client: Client) -> None:
    graft = {"s": "x" * 1000, "n": 10_000, "l": ["wf.range", "n"],
             "f": {"parameters": ["i"], "returns": "s"}, "r": ["wf.map", "l", "f"], "returns": "r"}  # fmt: skip
    async with LoopLag().watching() as lag:
        info = await client.run_job(COMPUTE_KIND, _request(graft))
        result = await client.job_result(info)
    assert len(result) > 10_000_000 and json.loads(result)[0] == "x" * 1000
    assert lag.worst < MAX_LAG, f"the loop stalled {lag.worst:.3f} s"


async def test_a_short_signing_key_is_refused_and_a_new_one_is_whole(tmp_path: Path) -> None:
    key = anyio.Path(tmp_path / "files.key")
    await key.write_bytes(b"")
    with pytest.raises(ConfigurationError, match="0-byte signing key"):
        async with LocalBackend(data_dir=tmp_path):
            pass
    await key.unlink()
    async with LocalBackend(data_dir=tmp_path):
        pass
    assert len(await key.read_bytes()) == 32 and (await key.stat()).st_mode & 0o777 == 0o600
    assert not [p async for p in anyio.Path(tmp_path).iterdir() if p.name.endswith(".tmp")]


class _FullDisk:
    """A blob store whose writes fail as on a full disk (for the first ``failures`` writes)."""

    def __init__(self, real: Any, failures: int) -> None:
        self.real, self.failures = real, failures

    async def put(self, key: str, data: Any) -> int:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return int(await self.real.put(key, data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize(("failures", "state"), [(2, "SUCCEEDED"), (100, "FAILED")])
async def test_an_in_process_job_whose_result_cannot_be_stored_never_stays_running(failures: int, state: str) -> None:
    big = b"x" * 200_000  # stored as a blob, not inline
    async with LocalBackend(kinds={"test.big": lambda ctx: big}) as backend, backend.client() as client:
        assert backend.backend is not None
        engine = backend.backend.engine
        engine.blobs = _FullDisk(engine.blobs, failures)
        info = await asyncio.wait_for(client.run_job("test.big", b""), 60)
        assert info.state.name == state
        if state == "SUCCEEDED":
            assert await client.job_result(info) == big
        else:
            assert info.error is not None and info.error.code == "RESULT_NOT_STORED"


class _Proxy:
    """A TCP proxy to the backend that can cut every connection and refuse new ones for a while."""

    def __init__(self, port: int) -> None:
        self.target, self.down = port, False
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.down = True
        for writer in self.writers:
            writer.close()
        self.writers.clear()


async def test_a_remote_result_survives_five_seconds_without_the_backend() -> None:
    started, finish = asyncio.Event(), asyncio.Event()

    async def work(ctx: JobContext) -> bytes:
        started.set()
        await finish.wait()
        return b"done once"

    async with LocalBackend() as backend, backend.client() as owner:
        proxy = _Proxy(backend.port)
        port = await proxy.start()
        async with Client("127.0.0.1", port) as through, RemoteExecutor(through, {"test.work": work},
                                                                        lease_seconds=20):  # fmt: skip
            job = await owner.create_job("test.work", b"")
            await asyncio.wait_for(started.wait(), 10)
            proxy.cut()
            finish.set()  # the function returns while the backend is out of reach
            await asyncio.sleep(5)
            proxy.down = False
            settled = await owner.wait_job(job.id, timeout=30)
        proxy.server.close()
        assert settled.state.name == "SUCCEEDED" and settled.attempt == 1, settled
        assert await owner.job_result(settled) == b"done once"


async def test_a_full_disk_is_a_typed_error_and_leaves_no_job_in_limbo(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def slow(ctx: JobContext) -> bytes:
        await release.wait()
        return ctx.payload * 300

    async with LocalBackend(data_dir=tmp_path, kinds={"test.slow": slow}) as backend, backend.client() as client:
        assert backend.backend is not None
        store: Any = backend.backend.store
        accepted = [await client.create_job("test.slow", bytes(100 + i)) for i in range(10)]
        pages = await store._write(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
        await store._write(lambda conn: conn.execute(f"PRAGMA max_page_count={pages}"))  # the file may not grow
        outcomes = await asyncio.gather(
            *(client.create_job("test.slow", bytes(200 + i)) for i in range(40)), return_exceptions=True
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert errors and all(isinstance(e, ResourceExhausted) and "disk is full" in e.message for e in errors)
        release.set()  # the accepted jobs finish while their results cannot be stored
        await asyncio.sleep(1.0)
        await store._write(lambda conn: conn.execute("PRAGMA max_page_count=1073741823"))  # space again
        created = [o for o in outcomes if not isinstance(o, BaseException)]
        for job in [*accepted, *created]:  # every job the backend accepted ends; none stays queued or running
            done = await client.wait_job(job.id, timeout=30)
            assert done.state.name in ("SUCCEEDED", "FAILED"), done
        assert await client.health() == "SERVING"


@pytest.mark.parametrize("case", ["not a database", "newer schema", "a file"])
async def test_a_data_dir_that_cannot_serve_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    data = anyio.Path(tmp_path / "data")
    if case == "a file":
        await data.write_text("x")
    else:
        await data.mkdir()
        if case == "not a database":
            await (data / "asyncwf.sqlite3").write_text("garbage " * 100)
        else:
            await anyio.to_thread.run_sync(_newer_schema, Path(data / "asyncwf.sqlite3"))
    with pytest.raises(ConfigurationError) as refused:
        async with LocalBackend(data_dir=Path(data)):
            pass
    assert "\n" not in str(refused.value)


def _newer_schema(path: Path) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version=99")
        conn.commit()


async def test_hostile_fields_get_typed_errors(client: Client) -> None:
    from asyncwf.exceptions import InvalidArgument

    for bad in ("text/plain\r\nX-Injected: 1", "a\x00b", "caf\u00e9"):
        with pytest.raises(InvalidArgument, match="content type"):
            await client.create_job("test.echo", b"x", content_type=bad)
    deep = b"[" * 5000 + b"]" * 5000
    info = await client.run_job(COMPUTE_KIND, b'{"graft": {"x": ' + deep + b', "returns": "x"}}')
    assert info.error is not None and info.error.code == "INVALID" and "nests deeper" in info.error.message


async def test_a_late_result_is_taken_until_the_job_is_leased_again(client: Client, backend: LocalBackend) -> None:
    from asyncwf.exceptions import Conflict

    assert backend.backend is not None
    engine = backend.backend.engine
    first = await client.create_job("test.nobody", b"")
    second = await client.create_job("test.nobody", b"")
    claimed = await engine.claim(["test.nobody"], 2, "ex1", 0.2)
    assert {j.id for j in claimed} == {first.id, second.id}
    await asyncio.wait_for(asyncio.gather(_requeued(client, first.id), _requeued(client, second.id)), 10)
    done = await engine.complete(first.id, "ex1", 1, b"late but welcome")
    assert done.state.name == "SUCCEEDED" and await client.job_result(done) == b"late but welcome"
    [again] = await engine.claim(["test.nobody"], 1, "ex2", 30)
    assert again.id == second.id and again.attempt == 2
    with pytest.raises(Conflict):  # leased again: the old holder's answer is moot
        await engine.complete(second.id, "ex1", 1, b"too late")
    assert (await client.get_job(second.id)).state.name == "RUNNING"


async def _requeued(client: Client, job_id: str) -> None:
    """Until the job's lease has lapsed and it is queued again (nobody holds it)."""
    async for event in client.watch_job(job_id):
        if getattr(event, "state", None) is JobState.QUEUED and event.attempt == 1:  # type: ignore[union-attr]
            return


def test_postgresql_running_out_of_disk_is_a_typed_error() -> None:
    import asyncpg

    from asyncwf.server.store._postgres_batch import store_error

    mapped = store_error(asyncpg.exceptions.DiskFullError("could not extend file: No space left on device"))
    assert isinstance(mapped, ResourceExhausted) and "No space left" in mapped.message


async def test_a_forgotten_await_is_named(client: Client) -> None:
    from asyncwf.exceptions import InvalidArgument

    pending = client.run_job("asyncwf.echo", b"x")  # not awaited
    with pytest.raises(InvalidArgument, match="forget `await`"):
        await client.job_result(pending)  # type: ignore[arg-type]
