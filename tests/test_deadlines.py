"""Deadlines: one timer per tick of time for many keys; moved and dropped keys do not fire."""

from __future__ import annotations

import asyncio

import pytest

from asyncwf._deadlines import Deadlines, callbacks


async def test_keys_fire_once_their_deadline_passes_and_not_before() -> None:
    fired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(fired.append, tick=0.01)
    deadlines.set("soon", 0.02)
    deadlines.set("later", 0.15)
    assert len(deadlines) == 2 and "soon" in deadlines
    await asyncio.sleep(0.08)
    assert fired == ["soon"] and "soon" not in deadlines
    await asyncio.sleep(0.15)
    assert fired == ["soon", "later"] and len(deadlines) == 0


async def test_moved_and_dropped_keys() -> None:
    fired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(fired.append, tick=0.01)
    deadlines.set("moved", 0.02)
    deadlines.set("moved", 0.2)  # renewed: the first deadline no longer counts
    deadlines.set("dropped", 0.02)
    deadlines.discard("dropped")
    deadlines.discard("never set")
    await asyncio.sleep(0.08)
    assert fired == []
    deadlines.set("moved", 0.01)  # brought forward
    await asyncio.sleep(0.05)
    assert fired == ["moved"]


async def test_an_expiry_may_move_or_drop_keys_of_the_same_tick() -> None:
    fired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(
        lambda key: (fired.append(key), deadlines.discard("b" if key == "a" else "a"))
    )
    deadlines.set("a", 0.01)
    deadlines.set("b", 0.01)  # the same tick: whichever fires first drops the other
    await asyncio.sleep(0.1)
    assert len(fired) == 1 and len(deadlines) == 0


async def test_clear_stops_every_timer_and_a_bad_tick_is_refused() -> None:
    fired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(fired.append, tick=0.01)
    for key in "abc":
        deadlines.set(key, 0.02)
    deadlines.clear()
    await asyncio.sleep(0.06)
    assert fired == [] and len(deadlines) == 0
    with pytest.raises(ValueError):
        Deadlines(fired.append, tick=0)


def test_each_loop_has_its_own_callback_deadlines() -> None:
    # Timers belong to one loop: a loop that ends with deadlines pending leaves nothing to the next.
    fired: list[str] = []

    async def one(name: str, wait: float) -> None:
        callbacks().set(lambda: fired.append(name), 0.02)
        await asyncio.sleep(wait)

    asyncio.run(one("first loop, ended early", 0.0))
    asyncio.run(one("second loop", 0.1))
    assert fired == ["second loop"]


async def test_callback_deadlines_can_be_dropped() -> None:
    fired: list[str] = []

    def kept() -> None:
        fired.append("kept")

    def dropped() -> None:
        fired.append("dropped")

    callbacks().set(kept, 0.02)
    callbacks().set(dropped, 0.02)
    callbacks().discard(dropped)
    await asyncio.sleep(0.1)
    assert fired == ["kept"]
