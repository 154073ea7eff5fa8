"""gather_bounded: order, the limit, failures and progress."""

from __future__ import annotations

import asyncio

import pytest

from asyncwf._concurrency import gather_bounded


async def test_results_come_in_order_with_at_most_limit_running() -> None:
    running, most = 0, 0

    async def work(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (n % 3))
        running -= 1
        return n * n

    assert await gather_bounded(range(50), work, 7) == [n * n for n in range(50)]
    assert most == 7
    assert await gather_bounded((n for n in range(3)), work, 100) == [0, 1, 4]  # any iterable, fewer than the limit
    assert await gather_bounded([], work, 4) == []
    assert await gather_bounded([2], work, 0) == [4]  # a limit below 1 means one at a time


async def test_the_first_failure_cancels_the_rest_and_is_raised_as_itself() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def work(n: int) -> int:
        started.append(n)
        try:
            if n == 3:
                raise KeyError(n)
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(n)
            raise
        return n

    with pytest.raises(KeyError):
        await gather_bounded(range(100), work, 5)
    assert sorted(started) == [0, 1, 2, 3, 4] and sorted(cancelled) == [0, 1, 2, 4]  # nothing else was started


async def test_progress_advances_once_per_item() -> None:
    class Bar:
        count = 0

        def update(self, n: int) -> None:
            self.count += n

    bar = Bar()

    async def work(n: int) -> int:
        return n

    await gather_bounded(range(10), work, 3, bar)
    assert bar.count == 10
