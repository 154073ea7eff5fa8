"""Hostile inputs to a running backend: it keeps answering, and each job ends with a typed outcome.

The event loop's lag is measured while the work runs (a ticker that should wake every 10 ms): the
backend's loop is this test's loop, so lag here is lag for every other caller of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncwf import Client, JobState
from asyncwf.exceptions import ConfigurationError
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
             "f": {"parameters": ["i"], "returns": "s"}, "r": ["wf.map", "f", "l"], "returns": "r"}  # fmt: skip
    async with LoopLag().watching() as lag:
        info = await client.run_job(COMPUTE_KIND, _request(graft))
        result = await client.job_result(info)
    assert len(result) > 10_000_000 and json.loads(result)[0] == "x" * 1000
    assert lag.worst < MAX_LAG, f"the loop stalled {lag.worst:.3f} s"


async def test_a_short_signing_key_is_refused_and_a_new_one_is_whole(tmp_path: Path) -> None:
    (tmp_path / "files.key").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="0-byte signing key"):
        async with LocalBackend(data_dir=tmp_path):
            pass
    (tmp_path / "files.key").unlink()
    async with LocalBackend(data_dir=tmp_path):
        pass
    assert len((tmp_path / "files.key").read_bytes()) == 32
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert (tmp_path / "files.key").stat().st_mode & 0o777 == 0o600
