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
    semaphore = asyncio.Semaphore(max(1, limit))

    async def one(item: T) -> Any:
        async with semaphore:
            result = await fn(item)
        if progress is not None:
            progress.update(1)
        return result

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(item)) for item in items]
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
    return [task.result() for task in tasks]
