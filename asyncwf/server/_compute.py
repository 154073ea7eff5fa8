"""The ``wf.compute`` job kind: evaluate a graft in a worker thread and return its value as JSON."""

from __future__ import annotations

import json
import time
from typing import Any

from asyncwf._context import JobContext, JobFailureError, JobOutput
from asyncwf.workflows._builtins import BUILTINS
from asyncwf.workflows._channel import CHANNEL, COMPUTE_KIND
from asyncwf.workflows._interpreter import Interpreter, Limits
from asyncwf.workflows._typespec import encode_value

__all__ = ["CHANNEL", "COMPUTE_KIND", "compute_job"]

DEFAULT_TIMEOUT = 300.0


def _request(payload: bytes) -> dict[str, Any]:
    try:
        request = json.loads(payload)
    except ValueError as exc:
        raise JobFailureError("INVALID", f"the compute request is not JSON: {exc}") from exc
    if not isinstance(request, dict) or not isinstance(request.get("graft"), dict):
        raise JobFailureError("INVALID", "the compute request needs a 'graft' object")
    channel = request.get("channel", CHANNEL)
    if channel != CHANNEL:
        raise JobFailureError("INVALID", f"this backend runs channel {CHANNEL!r}, not {channel!r}")
    arguments = request.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise JobFailureError("INVALID", "'arguments' must be an object")
    return request


def compute_job(ctx: JobContext) -> JobOutput:
    """Evaluate ``{"graft", "arguments", "typespec", "channel"}`` (runs in a worker thread)."""
    request = _request(ctx.payload)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 0.1:
            last[0] = now
            ctx.progress(done, total)

    limits = Limits(timeout=ctx.job.timeout_seconds or DEFAULT_TIMEOUT)
    interpreter = Interpreter(BUILTINS, limits, cancel=ctx.cancelled, progress=progress)
    value = interpreter.run(request["graft"], request.get("arguments") or {})
    try:
        encoded = encode_value(value)
    except TypeError as exc:
        raise JobFailureError("TYPING", str(exc)) from exc
    return JobOutput(json.dumps(encoded, separators=(",", ":")).encode(), "application/json")
