"""Grafts: the original's real grafts, determinism, closures, isolation, parametrize."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

import asyncwf.workflows as wf
from asyncwf.exceptions import InvalidArgument
from asyncwf.graft._syntax import isolate_keys, parametrize, validate_graft

from .conftest import evaluate, local_compute

FN = {"parameters": ["a", "b"], "4": ["mul", "a", "b"], "5": 1, "6": ["add", "4", "5"], "returns": "6"}

# Real grafts produced by descarteslabs 1.0.0 and 1.12.1 (see ../shared/reference/descartes-workflows.md).
REFERENCE = [
    ({"1": 1, "returns": "1"}, {}, 1),
    ({"2": 1, "3": 2, "4": ["add", "2", "3"], "returns": "4"}, {}, 3),
    ({"3": 1, "4": 2, "5": ["wf.numpy.add", "3", "4"], "returns": "5"}, {}, 3),
    ({"1": 1, "2": ["add", "1", "x"], "returns": "2"}, {"x": 5}, 6),
    ({"9": FN, "7": 3, "8": 4, "10": ["9", "7", "8"], "returns": "10"}, {}, 13),
    (
        {
            "11": 10, "12": 2, "13": ["mul", "11", "12"],
            "16": {"parameters": ["a"], "15": ["add", "a", "13"], "returns": "15"},
            "17": 1, "18": ["16", "17"], "returns": "18",
        },
        {},
        21,
    ),
    (
        {
            "17": 1, "18": 2, "19": 3, "20": ["list", "17", "18", "19"],
            "24": {"parameters": ["x"], "22": 1, "23": ["add", "x", "22"], "returns": "23"},
            "25": ["map", "20", "24"], "returns": "25",
        },
        {},
        [2, 3, 4],
    ),
    ({"27": 1, "28": ["dict.create", {"a": "27"}], "returns": "28"}, {}, {"a": 1}),
    ({"0": 1, "1": ["wf.numpy.add", "0", "x"], "parameters": ["x"], "returns": "1"}, {"x": 5}, 6),
    ({"1": [[1, 2, {"a": [3]}]], "returns": "1"}, {}, [1, 2, {"a": [3]}]),
    (
        {
            "1": 3, "2": ["wf.Int.cast", "1"], "3": ["fn", {"x": "2"}],
            "fn": {"parameters": ["x"], "r": ["mul", "x", "x"], "returns": "r"}, "returns": "3",
        },
        {},
        9,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("graft", "arguments", "expected"), REFERENCE)
def test_reference_grafts_evaluate_to_the_right_values(graft: dict, arguments: dict, expected: object) -> None:
    before = copy.deepcopy(graft)
    assert evaluate(graft, **arguments) == expected
    assert graft == before  # the interpreter never mutates its input


def test_parametrize_binds_values_and_grafts() -> None:
    graft = {"1": 1, "2": ["add", "1", "x"], "returns": "2"}
    assert evaluate(parametrize(graft, x=5)) == 6
    assert evaluate(parametrize(graft, x=(wf.Int(2) * 3).graft)) == 7
    with pytest.raises(InvalidArgument):
        parametrize(graft, **{"1": 5})


def test_isolate_keys_prevents_collisions() -> None:
    a = {"1": 10, "returns": "1"}
    b = {"1": 20, "2": ["add", "1", "1"], "returns": "2"}
    combined = {
        "a": isolate_keys(a),
        "b": isolate_keys(b),
        "ra": ["a"],
        "rb": ["b"],
        "s": ["add", "ra", "rb"],
        "returns": "s",
    }
    assert evaluate(combined) == 50


def test_same_program_same_graft_even_in_another_process() -> None:
    program = (
        "import asyncwf.workflows as wf, json; x = wf.parameter('x', wf.Int); "
        "print(json.dumps(((wf.Int(1) + x) * 2).graft, sort_keys=True))"
    )
    here = json.dumps(((wf.Int(1) + wf.parameter("x", wf.Int)) * 2).graft, sort_keys=True)
    there = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout.strip()
    assert here == there
    keys = [k for k in json.loads(here) if k != "returns"]
    assert all(k.isdigit() for k in keys)


def test_keys_are_small_integers_and_equal_expressions_share_one() -> None:
    x = wf.parameter("x", wf.Int)
    a = (x + 1) * 2
    b = (x + 1) * 2  # built separately, equal to a
    graft = (a + b).graft
    keys = sorted(int(k) for k in graft if k != "returns")
    assert keys == list(range(1, len(keys) + 1))
    # x, 1, x + 1, 2, (x + 1) * 2 and the sum: a and b were written once.
    assert len(keys) == 5
    assert local_compute(a + b, x=4) == 20


def test_content_keys_are_equal_for_equal_expressions_and_need_no_recursion() -> None:
    assert (wf.Int(1) + 2)._node.key == (wf.Int(1) + 2)._node.key
    assert (wf.Int(1) + 2)._node.key != (wf.Int(2) + 1)._node.key
    deep = wf.Int(0)
    for _ in range(5_000):
        deep = deep + 1
    assert deep._node.key.isdigit()
    assert hash(deep) == hash(deep)


def test_closures_hoist_what_does_not_depend_on_the_parameters() -> None:
    outer = wf.Int(10) * 2
    mapped = wf.List[wf.Int]([1, 2]).map(lambda a: a + outer)
    graft = mapped.graft
    [fn] = [v for v in graft.values() if isinstance(v, dict)]
    assert fn["parameters"] == ["a"]
    inner = {k for k in fn if k not in ("parameters", "returns")}
    assert len(inner) == 1  # only `a + outer` lives in the function; `outer` was hoisted
    assert local_compute(mapped) == [21, 22]


def test_composing_loaded_grafts_keeps_them_apart() -> None:
    loaded = wf.Int._from_graft({"1": 5, "returns": "1"})
    other = wf.Int._from_graft({"1": 7, "returns": "1"})
    assert local_compute(loaded + other) == 12
    assert local_compute(loaded * (wf.Int(1) + 1)) == 10


def test_large_graft_builds_and_evaluates_without_recursion_limits() -> None:
    value = wf.Int(0)
    for _ in range(10_000):
        value = value + 1
    assert local_compute(value) == 10_000


@pytest.mark.parametrize(
    "graft",
    [
        [],
        {"1": 1},
        {"returns": 5},
        {"1": [], "returns": "1"},
        {"1": [1, "2"], "returns": "1"},
        {"1": ["add", 3], "returns": "1"},
        {"1": ["add", {"x": 1}], "returns": "1"},
        {"1": {"x": 1}, "returns": "1"},
        {"parameters": ["1"], "returns": "1"},
        {"1": object(), "returns": "1"},
    ],
)
def test_malformed_grafts_are_rejected(graft: object) -> None:
    with pytest.raises(InvalidArgument):
        validate_graft(graft)


def test_the_wire_form_writes_the_same_json_and_the_public_graft_holds_lists() -> None:
    from asyncwf import _json
    from asyncwf.graft._syntax import wire_graft

    x = wf.parameter("x", wf.Int)
    program = wf.Int(0)
    for i in range(50):
        program = program + x * i
    program = wf.ifelse(program > 3, program, program - 1)
    public = program.graft
    assert _json.dumps(wire_graft(program._node)) == _json.dumps(public)
    assert public == json.loads(json.dumps(public))  # plain JSON types only: lists, not tuples
    assert all(type(v) is not tuple for v in public.values())
