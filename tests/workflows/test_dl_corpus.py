"""Programs built by the real Descartes Labs client (1.12.1), run through ``asyncwf serve``.

``dl_corpus.json`` is written by ``scripts/gen_dl_corpus.sh`` with the real client: for each program the graft,
typespec (the client's protobuf, as JSON) and arguments of its ``CreateJob``, and Python's answer. Every case
must compute to that answer with ``compute_graft``, and asyncwf's own proxies, given the same programs
(``dl_programs.py``, shared with the generator), write the same builtin names and argument shapes.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.workflows._typespec import decode_value
from tests.workflows.dl_programs import programs

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


def _ours() -> dict[str, Any]:
    """The corpus's programs built with asyncwf's proxies: name → graft."""
    grafts: dict[str, Any] = {}

    def case(name: str, obj: Any, expected: Any, **arguments: Any) -> None:
        grafts[name] = obj.graft

    programs(wf, case)
    return grafts


def test_our_proxies_write_the_real_clients_vocabulary_for_every_program() -> None:
    ours = _ours()
    assert ours.keys() == {case["name"] for case in CORPUS}
    differ = [
        f"{case['name']}: ours {sorted(_builtins(ours[case['name']]) - _builtins(case['graft']))}, "
        f"theirs {sorted(_builtins(case['graft']) - _builtins(ours[case['name']]))}"
        for case in CORPUS
        if _builtins(ours[case["name"]]) != _builtins(case["graft"])
    ]
    assert not differ, f"{len(differ)} of {len(CORPUS)} programs differ:\n" + "\n".join(differ[:40])
