"""The ``wf.compute`` job kind: evaluate a graft in a worker thread and return its value as JSON."""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any, Protocol

import anyio

from asyncwf import _json as fast_json
from asyncwf._context import JobContext, JobFailureError, JobOutput, KindRegistry
from asyncwf.exceptions import InvalidArgument
from asyncwf.graft._interpreter import GraftError, Interpreter, Limits
from asyncwf.graft._raster import RASTER_CONTEXT, RasterContext
from asyncwf.graft._vocabulary import BUILTINS
from asyncwf.workflows._channel import CHANNEL, COMPUTE_KIND
from asyncwf.workflows._geocontext import GeoContext
from asyncwf.workflows._typespec import DECIMAL_INT_BITS, ResultTooLarge, encode_value

__all__ = ["CHANNEL", "COMPUTE_KIND", "ComputeKind", "Evaluator", "compute_job", "register_compute"]

DEFAULT_TIMEOUT = 300.0


def _request(payload: bytes) -> dict[str, Any]:
    try:
        request = fast_json.loads(payload, "the compute request")
    except InvalidArgument as exc:
        raise JobFailureError("INVALID", exc.message) from exc
    if not isinstance(request, dict) or not isinstance(request.get("graft"), dict):
        raise JobFailureError("INVALID", "the compute request needs a 'graft' object")
    channel = request.get("channel", CHANNEL)
    if channel != CHANNEL:
        raise JobFailureError("INVALID", f"this backend runs channel {CHANNEL!r}, not {channel!r}")
    arguments = request.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise JobFailureError("INVALID", "'arguments' must be an object")
    return request


#: A first try on the event loop: small enough that it cannot block it noticeably.
INLINE_LIMITS = Limits(max_items=10_000, max_int_bits=10_000, timeout=0.002, check_every=32, max_call_depth=50)
INLINE_PAYLOAD_BYTES = 32 * 1024
#: Codes that mean "too big to finish inline", so the graft is evaluated again in a worker thread.
_RETRY_IN_THREAD = {"OOM", "DEADLINE"}


def _evaluate(request: dict[str, Any], limits: Limits, ctx: JobContext | None) -> JobOutput:
    """Evaluate under ``limits``; with ``ctx`` (in a worker thread) progress is reported and
    cancellation seen, without it (on the loop, under the inline limits) neither is needed."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 0.1 and ctx is not None:
            last[0] = now
            ctx.progress(done, total)

    interpreter = Interpreter(BUILTINS, limits, cancel=None if ctx is None else ctx.cancelled,
                              progress=None if ctx is None else progress)  # fmt: skip
    value = interpreter.run(request["graft"], request.get("arguments") or {})
    if type(value) is int and value.bit_length() <= DECIMAL_INT_BITS:
        return JobOutput(str(value).encode(), "application/json")  # the common case, without the JSON encoder
    try:
        encoded = encode_value(value, limits.max_items, limits.max_depth)
    except ResultTooLarge as exc:  # inline: evaluated again in a worker thread, with the full limits
        raise GraftError("OOM", f"{exc} (more than {limits.max_items} items, or {limits.max_depth} levels)") from exc
    except TypeError as exc:
        raise JobFailureError("TYPING", str(exc)) from exc
    return JobOutput(fast_json.dumps(encoded), "application/json")


class Evaluator(Protocol):
    """Where grafts too big for the event loop are evaluated instead of a worker thread (e.g. dask)."""

    async def evaluate(self, payload: bytes, timeout: float, rasters: RasterContext | None = None) -> JobOutput: ...


class Catalog(Protocol):
    """The raster catalogue an evaluation reads images from."""

    async def snapshot(self) -> dict[str, dict[str, Any]]: ...


class ComputeKind:
    """The ``wf.compute`` job kind: :meth:`run` evaluates a job's graft, :meth:`answer_inline` answers
    small grafts as their job is created (register both: :func:`register_compute`).

    Args:
        evaluator: Where large grafts are evaluated instead of a worker thread (e.g. dask).
        catalog: The raster catalogue images are read from.
    """

    #: How many jobs too big to answer inline are remembered (so their run skips the inline try).
    REMEMBERED = 4096

    def __init__(self, evaluator: Evaluator | None = None, catalog: Catalog | None = None) -> None:
        self.evaluator = evaluator
        self.catalog = catalog
        #: Jobs (by id) whose graft ran out of the inline limits, and those grafts (by payload digest).
        self._too_big: dict[str, None] = {}
        self._too_big_payloads: dict[bytes, None] = {}

    def answer_inline(self, job_id: str, payload: bytes) -> JobOutput | None:
        """The value of a small graft, evaluated on the loop under :data:`INLINE_LIMITS`; None when it
        is large, reads images or fails (its run then evaluates it, or reports the error). A graft that
        ran out of the limits once is not tried inline again (a cached one is asked for again and again)."""
        if len(payload) > INLINE_PAYLOAD_BYTES or _reads_images(payload):
            return None
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        if digest in self._too_big_payloads:
            _remember(self._too_big, job_id, self.REMEMBERED)
            return None
        try:
            return _evaluate(_request(payload), INLINE_LIMITS, None)
        except GraftError as exc:
            if exc.code in _RETRY_IN_THREAD:
                _remember(self._too_big, job_id, self.REMEMBERED)
                _remember(self._too_big_payloads, digest, self.REMEMBERED)
            return None
        except JobFailureError:
            return None

    async def run(self, ctx: JobContext) -> JobOutput:
        """The job function (see :func:`compute_job`)."""
        too_big = ctx.job.id in self._too_big
        self._too_big.pop(ctx.job.id, None)
        return await compute_job(ctx, self.evaluator, self.catalog, try_inline=not too_big)


def _remember(seen: dict[Any, None], key: Any, limit: int) -> None:
    """Add ``key`` to an insertion-ordered set of at most ``limit`` keys (the oldest goes)."""
    if len(seen) >= limit:
        del seen[next(iter(seen))]
    seen[key] = None


def register_compute(
    registry: KindRegistry, evaluator: Evaluator | None = None, catalog: Catalog | None = None
) -> None:
    """Register the ``wf.compute`` kind in ``registry``, with its inline answer."""
    kind = ComputeKind(evaluator, catalog)
    registry.register(COMPUTE_KIND, kind.run, inline=kind.answer_inline)


_RASTER_MARKERS = (b'"wf.Image.', b'"wf.ImageCollection.')


def _reads_images(payload: bytes) -> bool:
    """Whether a compute request names an image builtin (its evaluation reads files)."""
    return any(marker in payload for marker in _RASTER_MARKERS)


def raster_context(request: dict[str, Any], images: dict[str, dict[str, Any]]) -> RasterContext:
    geoctx = request.get("geoctx")
    if geoctx is not None:
        try:
            geoctx = GeoContext.from_dict(geoctx).to_dict()
        except InvalidArgument as exc:
            raise JobFailureError("INVALID", f"bad geoctx: {exc}") from exc
    return RasterContext(images, geoctx)


async def compute_job(
    ctx: JobContext, evaluator: Evaluator | None = None, catalog: Catalog | None = None, *, try_inline: bool = True
) -> JobOutput:
    """Evaluate ``{"graft", "arguments", "typespec", "channel"}``.

    Small grafts are tried on the event loop under tight limits (a few
    milliseconds, ten thousand items) unless ``try_inline`` is False (their
    inline answer ran out of those limits already); anything larger is
    evaluated again, from scratch, in a worker thread (or by ``evaluator``)
    with the full limits. Builtins are pure, so the second run sees exactly
    what the first would have.
    """
    rasters = None
    if _reads_images(ctx.payload):
        # Images are read from files: never on the event loop.
        images = await catalog.snapshot() if catalog is not None else {}
        rasters = raster_context(_request(ctx.payload), images)
    elif try_inline and len(ctx.payload) <= INLINE_PAYLOAD_BYTES:
        request = _request(ctx.payload)
        try:
            return _evaluate(request, INLINE_LIMITS, None)
        except GraftError as exc:
            if exc.code not in _RETRY_IN_THREAD:
                raise
    timeout = ctx.job.timeout_seconds or DEFAULT_TIMEOUT
    if evaluator is not None:
        return await evaluator.evaluate(ctx.payload, timeout, rasters)
    limits = Limits(timeout=timeout)
    return await anyio.to_thread.run_sync(functools.partial(_parse_and_evaluate, ctx, limits, rasters),
                                          abandon_on_cancel=True)  # fmt: skip


def _parse_and_evaluate(ctx: JobContext, limits: Limits, rasters: RasterContext | None = None) -> JobOutput:
    """Parse (large payloads are parsed here, off the loop) and evaluate with the full limits."""
    token = RASTER_CONTEXT.set(rasters) if rasters is not None else None
    try:
        return _evaluate(_request(ctx.payload), limits, ctx)
    finally:
        if token is not None:
            RASTER_CONTEXT.reset(token)
