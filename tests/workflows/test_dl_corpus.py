"""Programs built by the real Descartes Labs client (1.12.1), run through ``asyncwf serve``.

``dl_corpus.json`` is written by ``scripts/gen_dl_corpus.sh`` with the real client: for each program the graft,
typespec (the client's protobuf, as JSON) and arguments of its ``CreateJob``, and Python's answer. Every case
must compute to that answer with ``compute_graft``, and asyncwf's own proxies, given the same programs, write
the same builtin names and argument shapes.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.workflows._typespec import decode_value

CORPUS = json.loads((Path(__file__).with_name("dl_corpus.json")).read_text())


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-12) or (math.isnan(got) and math.isnan(want))
    if isinstance(want, list | tuple) and type(got) is type(want):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    return bool(got == want) and type(got) is type(want)


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 300
    names = {case["name"].split()[0] for case in CORPUS}
    assert {"int", "float", "str", "list", "dict", "function", "closure", "parameter", "datetime",
            "composition", "math"} <= names  # fmt: skip


async def test_every_program_of_the_real_client_computes_to_pythons_answer(server_process: Any) -> None:
    server = server_process()
    async with Client("127.0.0.1", server.port) as client:
        limit = asyncio.Semaphore(32)

        async def run(case: dict[str, Any]) -> str | None:
            async with limit:
                try:
                    got = await wf.compute_graft(case["graft"], case["typespec"], case["arguments"], client=client)
                except Exception as exc:  # reported with the case's name below
                    return f"{case['name']}: {type(exc).__name__}: {exc}"
            want = decode_value(case["expected"])
            return None if _same(got, want) else f"{case['name']}: got {got!r}, want {want!r}"

        failures = [f for f in await asyncio.gather(*(run(case) for case in CORPUS)) if f]
    assert not failures, f"{len(failures)} of {len(CORPUS)} failed:\n" + "\n".join(failures[:40])


def _builtins(graft: Any) -> set[tuple[str, int, tuple[str, ...]]]:
    """The (builtin name, positional count, keyword names) of every application in a graft."""
    found: set[tuple[str, int, tuple[str, ...]]] = set()
    for key, expr in graft.items():
        if isinstance(expr, dict) and key != "returns":
            found |= _builtins(expr)
        elif isinstance(expr, list) and expr and isinstance(expr[0], str) and expr[0].startswith("wf."):
            named = expr[-1] if isinstance(expr[-1], dict) else {}
            found.add((expr[0], len(expr) - 1 - bool(named), tuple(sorted(named))))
    return found


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("list map", lambda: wf.List[wf.Int]([3, 1, 2]).map(lambda x: x * 2 + 1)),
        ("list reduce initial", lambda: wf.List[wf.Int]([3, 1, 2]).reduce(lambda a, b: a * b, initial=2)),
        ("list sorted key reverse", lambda: wf.List[wf.Int]([3, 1, 2]).sorted(key=lambda x: x % 3, reverse=True)),
        ("list slice", lambda: wf.List[wf.Int]([3, 1, 2])[1:]),
        ("str split maxsplit", lambda: wf.Str("a b c d").split(" ", 2)),
        ("str replace", lambda: wf.Str("hello world").replace("a", "xy")),
        ("dict get default", lambda: wf.Dict[wf.Str, wf.Int]({"a": 1, "b": 2}).get("missing", 99)),
        ("dict keys", lambda: wf.Dict[wf.Str, wf.Int]({"a": 1, "b": 2}).keys()),
        ("dict int keys", lambda: wf.Dict[wf.Int, wf.Str]({1: "a", 2: "b"})),
        ("datetime", lambda: wf.Datetime(2020, 1, 2, 3, 4, 5)),
        ("timedelta", lambda: wf.Timedelta(days=1, seconds=30)),
        ("ifelse", lambda: wf.ifelse(wf.Int(5) > 3, wf.Str("big"), wf.Str("small"))),
        ("int bitwise", lambda: (wf.Int(7) & 3) | (wf.Int(7) ^ 3)),
        ("math log", lambda: wf.log(wf.Float(0.5)) + wf.log10(wf.Float(0.5))),
        ("math trig", lambda: wf.sin(wf.Float(0.5)) * wf.cos(wf.Float(0.5)) + wf.tan(wf.Float(0.5))),
        ("str format", lambda: wf.Str("{} and {}").format(wf.Int(1), wf.Str("two"))),
        ("datetime plus", lambda: wf.Datetime(2020, 1, 2, 3, 4, 5) + wf.Timedelta(days=1, hours=2)),
        ("function call", lambda: wf.Function.from_callable(lambda a, b: a * b + 1, wf.Int, wf.Int)(0, 3)),
        ("list filter", lambda: wf.List[wf.Int]([3, 1, 2]).filter(lambda x: x > 2)),
        ("dict items", lambda: wf.Dict[wf.Str, wf.Int]({"a": 1, "b": 2}).items()),
    ],
)
def test_our_proxies_write_the_real_clients_vocabulary(name: str, ours: Any) -> None:
    theirs = next(case for case in CORPUS if case["name"].startswith(name))
    assert _builtins(ours().graft) == _builtins(theirs["graft"])
