"""Graft evaluation on a dask.distributed cluster (``asyncwf serve --dask tcp://scheduler:8786``).

The backend stays the only thing clients talk to; a ``wf.compute`` job that
is too big to finish inline is sent to the cluster with ``Client(asynchronous=
True)`` instead of a local worker thread, so heavy grafts run in parallel in
the cluster's processes (a thread here would share one GIL). The worker
processes need asyncwf installed. A cancelled job cancels its dask task.
Failures come back as the graft's error code (INVALID, TYPING, DEADLINE ...).
"""

from __future__ import annotations

import asyncio
from typing import Any

from asyncwf._context import JobFailureError, JobOutput
from asyncwf.exceptions import ConfigurationError, Unavailable

__all__ = ["DaskEvaluator", "evaluate_remotely"]


def evaluate_remotely(payload: bytes, timeout: float, rasters: Any = None) -> tuple[str, bytes | str, str]:
    """Runs in a dask worker: ``("ok", result bytes, content type)`` or ``("error", code, message)``."""
    import threading

    from asyncwf.server._compute import _evaluate, _request
    from asyncwf.workflows._interpreter import Limits

    class _Quiet:
        """The JobContext an evaluation in a dask worker sees: no progress, cancelled by dask."""

        cancelled = threading.Event()

        def progress(self, done: int, total: int) -> None:
            return None

    from asyncwf.workflows._raster_eval import RASTER_CONTEXT

    token = RASTER_CONTEXT.set(rasters) if rasters is not None else None
    try:
        output = _evaluate(_request(payload), Limits(timeout=timeout), _Quiet(), inline=True)  # type: ignore[arg-type]
    except JobFailureError as exc:
        return "error", exc.code, exc.message
    finally:
        if token is not None:
            RASTER_CONTEXT.reset(token)
    return "ok", output.data, output.content_type


class DaskEvaluator:
    """A connection to a dask scheduler for graft evaluation (an async context manager)."""

    def __init__(self, address: str) -> None:
        if not isinstance(address, str) or "://" not in address:
            raise ConfigurationError(f"a dask scheduler address is like tcp://host:8786, not {address!r}")
        self.address = address
        self.client: Any = None

    async def start(self) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ConfigurationError("evaluating on dask needs dask.distributed: pip install 'asyncwf[dask]'") from exc
        try:
            self.client = await Client(self.address, asynchronous=True, timeout="10s")  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise Unavailable(f"cannot reach the dask scheduler at {self.address}: {exc}") from exc

    async def evaluate(self, payload: bytes, timeout: float, rasters: Any = None) -> JobOutput:
        """Evaluate on the cluster; images are read there, so their paths must be readable by the workers."""
        if self.client is None:
            raise Unavailable("the dask evaluator is not started")
        future = self.client.submit(evaluate_remotely, payload, timeout, rasters, pure=False)
        try:
            status, first, second = await future
        except asyncio.CancelledError:
            await asyncio.shield(future.cancel())
            raise
        if status == "error":
            raise JobFailureError(str(first), second)
        assert isinstance(first, bytes)
        return JobOutput(first, second)

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.close()

    async def __aenter__(self) -> DaskEvaluator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
