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
import dataclasses
import json
from typing import Any

from asyncwf._context import JobFailureError, JobOutput
from asyncwf.exceptions import ConfigurationError, Unavailable

__all__ = ["DaskEvaluator", "evaluate_remotely"]


def evaluate_remotely(payload: bytes, timeout: float, rasters: Any = None) -> tuple[str, bytes | str, str]:
    """Runs in a dask worker: ``("ok", result bytes, content type)`` or ``("error", code, message)``."""
    from asyncwf.graft._interpreter import Limits
    from asyncwf.graft._raster import RASTER_CONTEXT
    from asyncwf.server.engine._compute import _evaluate, _request

    token = RASTER_CONTEXT.set(rasters) if rasters is not None else None
    try:
        output = _evaluate(_request(payload), Limits(timeout=timeout), None)  # no progress; dask cancels
    except JobFailureError as exc:
        return "error", exc.code, exc.message
    finally:
        if token is not None:
            RASTER_CONTEXT.reset(token)
    return "ok", output.data, output.content_type


def _chunks(payload: bytes, rasters: Any, limit: int) -> list[Any]:
    """The raster contexts to evaluate: the whole GeoContext, or bands of rows of it for a large Image."""
    geoctx = getattr(rasters, "geoctx", None)
    if not geoctx or geoctx["shape"][0] * geoctx["shape"][1] <= limit:
        return [rasters]
    if json.loads(payload).get("typespec") != "Image":
        return [rasters]  # reductions and the like need the whole grid at once
    height, width = geoctx["shape"]
    xmin, ymin, xmax, ymax = geoctx["bounds"]
    step = (ymax - ymin) / height
    rows = max(1, limit // width)
    parts = []
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        bounds = [xmin, ymax - bottom * step, xmax, ymax - top * step]
        parts.append(dataclasses.replace(rasters, geoctx={**geoctx, "bounds": bounds, "shape": [bottom - top, width]}))
    return parts


def _stitch(parts: list[Any], rasters: Any) -> bytes:
    """One ``$image`` result from the row bands' results, top to bottom."""
    import numpy as np

    from asyncwf.graft._raster import RASTER_CONTEXT, ImageValue
    from asyncwf.workflows._image_result import ImageResult

    images = [ImageResult.from_wire(json.loads(part)["$image"]) for part in parts]
    array = np.ma.concatenate([image.ndarray for image in images], axis=1)  # type: ignore[no-untyped-call]
    token = RASTER_CONTEXT.set(rasters)
    try:
        encoded = ImageValue(array, list(images[0].bandinfo), images[0].properties).__wf_encode__()
    finally:
        RASTER_CONTEXT.reset(token)
    return json.dumps(encoded).encode()


class DaskEvaluator:
    """A connection to a dask scheduler for graft evaluation (an async context manager)."""

    def __init__(self, address: str) -> None:
        if not isinstance(address, str) or "://" not in address:
            raise ConfigurationError(f"a dask scheduler address is like tcp://host:8786, not {address!r}")
        self.address = address
        self.client: Any = None
        #: Image results with more pixels are computed in pieces, in parallel.
        self.chunk_pixels = 1024 * 1024
        self.last_chunks = 0

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
        """Evaluate on the cluster; images are read there, so their paths must be readable by the workers.

        An Image result larger than :attr:`chunk_pixels` is computed in bands of rows, one dask task
        each, and stitched (every Image operation is pixel by pixel, so the pieces are exact).
        """
        if self.client is None:
            raise Unavailable("the dask evaluator is not started")
        chunks = _chunks(payload, rasters, self.chunk_pixels)
        self.last_chunks = len(chunks)
        futures = [self.client.submit(evaluate_remotely, payload, timeout, part, pure=False) for part in chunks]
        try:
            results = await asyncio.gather(*futures)
        except asyncio.CancelledError:
            await asyncio.shield(self.client.cancel(futures))
            raise
        for status, first, second in results:
            if status == "error":
                raise JobFailureError(str(first), str(second))
        if len(results) == 1:
            _, data, content_type = results[0]
            assert isinstance(data, bytes)
            return JobOutput(data, content_type)
        return JobOutput(_stitch([r[1] for r in results], rasters), "application/json")

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.close()

    async def __aenter__(self) -> DaskEvaluator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
