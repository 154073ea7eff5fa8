"""Bounded concurrency without threads, shared by the data and services APIs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

__all__ = ["gather_bounded"]

T = TypeVar("T")


async def gather_bounded(items: Iterable[T], fn: Callable[[T], Awaitable[Any]], limit: int,
                         progress: Any = None) -> list[Any]:  # fmt: skip
    """``fn`` over ``items``, at most ``limit`` at once, results in the items' order.

    The first failure cancels the calls still waiting or running and is raised
    as itself (not in an ExceptionGroup). ``progress`` (a tqdm bar) advances as
    each call finishes.
    """
    pending = list(enumerate(items))
    results: list[Any] = [None] * len(pending)
    queue = iter(pending)

    async def worker() -> None:
        # ``limit`` workers share one iterator: no task or semaphore wait per item.
        for index, item in queue:
            results[index] = await fn(item)
            if progress is not None:
                progress.update(1)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(max(1, limit), len(pending))):
                group.create_task(worker())
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
    return results
