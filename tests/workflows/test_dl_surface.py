"""The Descartes Labs surface that ported code uses, in both APIs, computed by a real backend.

Each program is written once over a module ``wf`` (``asyncwf.workflows`` or ``asyncwf.blocking.workflows``) and
computed through that API: awaited, or blocking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import asyncwf.blocking as bwf_root
import asyncwf.blocking.workflows as bwf
import asyncwf.workflows as awf
from asyncwf import Client
from asyncwf.workflows import ProxyTypeError

UTC = dt.UTC


def double_plus(x: awf.Int, y: awf.Int) -> awf.Int:
    return x * 2 + y


def blocking_double_plus(x: bwf.Int, y: bwf.Int) -> bwf.Int:
    return x * 2 + y


def _annotated(wf: Any) -> Any:
    """A function traced from its annotations (no argument types given)."""
    return wf.Function.from_callable(double_plus if wf is awf else blocking_double_plus)


#: name -> (program over ``wf``, Python's answer)
PROGRAMS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "cast Float to Int": (lambda wf: wf.Int(wf.Float(3.7)), 3),
    "cast Int to Float": (lambda wf: wf.Float(wf.Int(2)) / 4, 0.5),
    "cast Str to Int": (lambda wf: wf.Int(wf.Str("42")) + 1, 43),
    "Str.format": (lambda wf: wf.Str("{} is {x}").format(wf.Int(1), x="one"), "1 is one"),
    "Str.zfill": (lambda wf: wf.Str("7").zfill(3), "007"),
    "Str.split maxsplit": (lambda wf: wf.Str("a b c").split(" ", maxsplit=1), ["a", "b c"]),
    "Dict.from_pairs": (lambda wf: wf.Dict[wf.Str, wf.Int].from_pairs([("a", 1), ("b", 2)]), {"a": 1, "b": 2}),
    "Datetime.from_timestamp": (lambda wf: wf.Datetime.from_timestamp(86400).day, 2),
    "zip": (lambda wf: wf.zip(wf.List[wf.Int]([1, 2]), wf.List[wf.Str](["a", "b"])), [(1, "a"), (2, "b")]),
    "reversed": (lambda wf: reversed(wf.List[wf.Int]([1, 2, 3])), [3, 2, 1]),
    "divmod": (lambda wf: divmod(wf.Int(17), 5), (3, 2)),
    "Tuple + Tuple": (lambda wf: wf.Tuple[wf.Int, wf.Str]((1, "a")) + wf.Tuple[wf.Bool]((True,)), (1, "a", True)),
    "List == list": (lambda wf: wf.List[wf.Int]([1, 2]) == [1, 2], True),
    "List != list": (lambda wf: wf.List[wf.Int]([1, 2]) != [2, 1], True),
    "stable reverse sort": (lambda wf: wf.List[wf.Int]([4, 1, 7, 2]).sorted(key=lambda x: x % 3, reverse=True),
                            sorted([4, 1, 7, 2], key=lambda x: x % 3, reverse=True)),
    "annotated from_callable": (lambda wf: _annotated(wf)(wf.Int(3), wf.Int(1)), 7),
    "Any operators": (lambda wf: wf.Any(wf.Int(2)) * 3 + 1, 7),
    "Any comparison in a filter": (lambda wf: wf.List[wf.Dict[wf.Str, wf.Float]]([{"cloud": 0.1}, {"cloud": 0.5}])
                                   .filter(lambda d: wf.Any(d)["cloud"] < 0.3).length(), 1),
    "Any cast": (lambda wf: wf.Int(wf.Any(wf.Float(2.9))), 2),
    "positional geoctx-less compute": (lambda wf: wf.Int(1) + 1, 2),
}  # fmt: skip


@pytest.fixture(scope="module")
def blocking_client() -> Iterator[Any]:
    with bwf_root.LocalBackend() as backend, backend.client() as client:
        yield client


@pytest.mark.parametrize("name", sorted(PROGRAMS))
async def test_async(name: str, default_client: Client) -> None:
    program, want = PROGRAMS[name]
    obj = program(awf)
    assert isinstance(obj, awf.Proxytype) and not obj._blocking
    assert await obj.compute() == want


@pytest.mark.allow_blocking
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_blocking(name: str, blocking_client: Any) -> None:
    program, want = PROGRAMS[name]
    obj = program(bwf)
    assert obj._blocking, "what blocking code builds stays blocking"
    assert obj.compute(client=blocking_client) == want


def test_bad_uses_are_typed_errors() -> None:
    with pytest.raises(ProxyTypeError, match="annotate"):
        awf.Function.from_callable(lambda x: x)
    with pytest.raises(ProxyTypeError, match="Tuple"):
        awf.Tuple[awf.Int]((1,)) + awf.List[awf.Int]([1])
    with pytest.raises(ProxyTypeError):
        awf.Int(awf.List[awf.Int]([1]))
