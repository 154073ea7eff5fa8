"""Job kinds built into the backend (used by the demo, tests and benchmarks).

- ``asyncwf.echo``: returns its payload.
- ``asyncwf.sleep``: JSON ``{"seconds": s, "steps": n}``; sleeps in ``n``
  steps, reporting progress and a log entry per step.
- ``asyncwf.fail``: raises ``RuntimeError`` with the payload as its message.
- ``asyncwf.primes``: JSON ``{"below": n}``; counts primes below ``n`` in a
  worker thread (CPU-bound), reporting progress; returns the count as text.
- ``wf.compute``: evaluates a graft (see :mod:`asyncwf.server.engine._compute`).
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from asyncwf._context import JobContext, JobOutput
from asyncwf.server.engine._compute import Evaluator, register_compute
from asyncwf.server.engine._executor import KindRegistry

__all__ = ["builtin_kinds"]


def _json_payload(ctx: JobContext) -> dict[str, Any]:
    try:
        value = json.loads(ctx.payload or b"{}")
    except ValueError as exc:
        raise ValueError(f"{ctx.job.kind} expects a JSON object payload: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{ctx.job.kind} expects a JSON object payload")
    return value


async def echo(ctx: JobContext) -> JobOutput:
    return JobOutput(ctx.payload, ctx.job.content_type or "application/octet-stream")


async def sleep(ctx: JobContext) -> str:
    args = _json_payload(ctx)
    seconds = float(args.get("seconds", 1.0))
    steps = max(int(args.get("steps", 1)), 1)
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        ctx.progress(step + 1, steps)
        ctx.log(f"step {step + 1} of {steps} done")
    return f"slept {seconds:g}s"


async def fail(ctx: JobContext) -> bytes:
    raise RuntimeError(ctx.payload.decode(errors="replace") or "asyncwf.fail was asked to fail")


def primes(ctx: JobContext) -> str:
    below = int(_json_payload(ctx).get("below", 100_000))
    if not 0 <= below <= 10**9:
        raise ValueError("below must be between 0 and 1e9")
    sieve = bytearray([1]) * below
    sieve[:2] = b"\x00\x00"[:below]
    limit = math.isqrt(max(below - 1, 0))
    for n in range(2, limit + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, below, n)))
            ctx.progress(n, limit)
    ctx.progress(limit, limit)
    return str(sum(sieve))


def builtin_kinds(evaluator: Evaluator | None = None) -> KindRegistry:
    """A registry holding the built-in kinds (large grafts evaluated by ``evaluator`` when given)."""
    registry = KindRegistry()
    registry.register("asyncwf.echo", echo)
    registry.register("asyncwf.sleep", sleep)
    registry.register("asyncwf.fail", fail)
    registry.register("asyncwf.primes", primes)
    register_compute(registry, evaluator)
    return registry
