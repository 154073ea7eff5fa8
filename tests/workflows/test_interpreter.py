"""Malformed and hostile grafts: a typed error code for each, nothing run that is not a builtin."""

from __future__ import annotations

import json
import re
import threading

import pytest

import asyncwf.workflows as wf
from asyncwf.graft._interpreter import GraftError, Limits

from .conftest import evaluate, local_compute


@pytest.mark.parametrize(
    ("graft", "code", "message"),
    [
        ({"1": ["add", "2", "3"], "2": ["add", "1", "1"], "3": 1, "returns": "1"}, "INVALID", "cycle"),
        ({"1": ["add", "1", "1"], "returns": "1"}, "INVALID", "cycle"),
        ({"1": ["add", "2", "nope"], "2": 1, "returns": "1"}, "INVALID", "unknown name 'nope'"),
        ({"1": ["os.system", "2"], "2": "rm -rf /", "returns": "1"}, "INVALID", "unknown name 'os.system'"),
        ({"1": ["__import__", "2"], "2": "os", "returns": "1"}, "INVALID", "unknown name"),
        ({"returns": "x"}, "INVALID", "unknown name 'x'"),
        ({"1": 1, "2": "a", "3": ["add", "1", "2"], "returns": "3"}, "TYPING", "add needs numbers"),
        ({"1": 1, "2": ["1", "1"], "returns": "2"}, "TYPING", "not callable"),
        ({"f": {"parameters": ["a"], "returns": "a"}, "1": ["f"], "returns": "1"}, "INVALID", "missing arguments"),
        ({"f": {"parameters": [], "returns": "f"}, "1": 1, "2": ["f", "1"], "returns": "2"}, "INVALID", "takes 0"),
        ({"1": 0, "2": 1, "3": ["div", "2", "1"], "returns": "3"}, "INVALID", "ZeroDivisionError"),
        ({"1": 1000000000, "2": ["range", "1"], "returns": "2"}, "OOM", "exceeds the limit"),
        ({"1": "x", "2": 100000000, "3": ["mul", "1", "2"], "returns": "3"}, "OOM", "repetition"),
        ({"1": 10, "2": 10000000, "3": ["pow", "1", "2"], "returns": "3"}, "OOM", "too large"),
        ({"1": 1, "2": ["getattr", "1", "3"], "3": "__class__", "returns": "2"}, "TYPING", "no attribute"),
        # string builtins refuse before they allocate (each would make 400 MB)
        (
            {"s": "a" * 20000, "e": "", "n": "b" * 20000, "r": ["wf.Str.replace", "s", "e", "n"], "returns": "r"},
            "OOM",
            "Str.replace would make 400040000",
        ),
        ({"s": "a", "w": 10**9, "r": ["wf.Str.zfill", "s", "w"], "returns": "r"}, "OOM", "Str.zfill would make"),
        ({"s": "a", "w": 10**9, "r": ["wf.Str.center", "s", "w"], "returns": "r"}, "OOM", "Str.center"),
        (
            {
                "s": "ab",
                "l": ["wf.list", *["s"] * 5],
                "x": "x" * 5_000_000,
                "r": ["wf.Str.join", "x", "l"],
                "returns": "r",
            },
            "OOM",
            "Str.join would make",
        ),
        ({"s": "ab", "e": "", "r": ["wf.Str.split", "s", "e"], "returns": "r"}, "INVALID", "empty separator"),
        ({"s": "ab", "w": "x", "r": ["wf.Str.zfill", "s", "w"], "returns": "r"}, "INVALID", "Str.zfill"),
    ],
)
def test_bad_grafts_fail_with_a_code(graft: dict, code: str, message: str) -> None:
    with pytest.raises(GraftError, match=message) as info:
        evaluate(graft)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("graft", "expected"),
    [
        # keys referring forwards, backwards and to outer scopes, in any order
        ({"3": ["add", "1", "2"], "1": 1, "2": 2, "returns": "3"}, 3),
        ({"f": {"parameters": ["a"], "2": ["mul", "a", "k"], "returns": "2"}, "k": 10, "4": 3,
          "5": ["f", "4"], "returns": "5"}, 30),
        # named arguments, and a key that shadows a builtin's name
        ({"f": {"parameters": ["a", "b"], "1": ["sub", "a", "b"], "returns": "1"}, "x": 5, "y": 2,
          "r": ["f", {"b": "x", "a": "y"}], "returns": "r"}, -3),
        ({"add": ["sub", "1", "2"], "1": 5, "2": 3, "returns": "add"}, 2),
        # quoted JSON is copied, never shared with the graft
        ({"1": [[1, 2]], "returns": "1"}, [1, 2]),
    ],
)  # fmt: skip
def test_scoping_and_evaluation_order(graft: dict, expected: object) -> None:
    before = json.dumps(graft, sort_keys=True)
    assert evaluate(graft) == expected
    assert json.dumps(graft, sort_keys=True) == before


def test_only_what_the_result_needs_is_evaluated() -> None:
    # A key nothing uses is never evaluated (in the one-pass path and the search alike) ...
    dead_first = {"1": 0, "2": 1, "x": ["div", "2", "1"], "3": ["add", "2", "2"], "returns": "3"}
    dead_forward = {"3": ["add", "2", "2"], "x": ["div", "2", "1"], "1": 0, "2": 1, "returns": "3"}
    assert evaluate(dead_first) == 2 and evaluate(dead_forward) == 2
    # ... and only the chosen branch of an ifelse runs (the other is hoisted out of its function).
    assert local_compute(wf.ifelse(True, wf.Int(1), wf.Int(1) // 0)) == 1
    assert local_compute(wf.ifelse(wf.Int(0) > 1, wf.Int(1) // 0, wf.Int(2))) == 2


def test_unbounded_recursion_is_stopped() -> None:
    # f calls itself through the enclosing scope, forever.
    graft = {"f": {"parameters": ["n"], "r": ["f", "n"], "returns": "r"}, "1": 1, "2": ["f", "1"], "returns": "2"}
    with pytest.raises(GraftError, match="nested deeper") as info:
        evaluate(graft)
    assert info.value.code == "INVALID"


def test_nesting_and_size_limits() -> None:
    graft: dict = {"returns": "1", "1": 1}
    for _ in range(300):
        graft = {"g": graft, "r": ["g"], "returns": "r"}
    with pytest.raises(GraftError) as info:
        evaluate(graft)
    assert info.value.code == "INVALID"
    wide = {str(i): i for i in range(2000)} | {"returns": "0"}
    with pytest.raises(GraftError) as info:
        evaluate(wide, Limits(max_nodes=1000))
    assert info.value.code == "OOM"


def test_deadline_and_cancellation() -> None:
    slow = wf.range(3000).map(lambda i: wf.range(i).reduce(lambda a, b: a + b, 0)).graft
    with pytest.raises(GraftError) as info:
        evaluate(slow, Limits(timeout=0.05))
    assert info.value.code == "DEADLINE"
    cancel = threading.Event()
    cancel.set()
    from asyncwf.graft._interpreter import Interpreter
    from asyncwf.graft._vocabulary import BUILTINS

    with pytest.raises(GraftError) as info:
        Interpreter(BUILTINS, cancel=cancel).run(slow)
    assert info.value.code == "TERMINATED"


def test_wrong_argument_types_for_parameters_are_typing_errors() -> None:
    x = wf.parameter("x", wf.Int)
    with pytest.raises(GraftError) as info:
        evaluate((x + 1).graft, x="not a number")
    assert info.value.code == "TYPING"


@pytest.mark.parametrize(
    ("graft", "code", "message"),
    [
        ({"1": 1, "2": ["wf.nope", "1"], "returns": "2"}, "INVALID", "unknown name 'wf.nope'"),
        (
            {"1": 1, "2": ["wf.range", "1", "1", "1", "1"], "returns": "2"},
            "TYPING",
            "wf.range (at key '2'): takes 1 to 3 positional arguments, got 4: "
            "wf.range(start, [stop, step], {start, step, stop})",
        ),
        (
            {"1": 1, "2": ["wf.range", "1", {"stride": "1"}], "returns": "2"},
            "TYPING",
            "wf.range (at key '2'): takes no argument 'stride'",
        ),
        (
            {"1": "a", "2": ["wf.Str.split", "1", {"separator": "1"}], "returns": "2"},
            "TYPING",
            "wf.Str.split (at key '2'): takes no argument 'separator': "
            "wf.Str.split(s, [sep, maxsplit], {maxsplit, sep})",
        ),
        (
            {"1": 1, "2": ["wf.numpy.add", "1"], "returns": "2"},
            "TYPING",
            "wf.numpy.add (at key '2'): missing argument 'b': wf.numpy.add(a, b)",
        ),
        (  # the 1.0 name is named as the graft calls it
            {"1": 1, "2": ["add", "1", "1", "1"], "returns": "2"},
            "TYPING",
            "add (at key '2'): takes 2 positional arguments, got 3",
        ),
        (
            {"1": 1, "2": ["wf.get", "1", "1", {"key": "1"}], "returns": "2"},
            "TYPING",
            "wf.get (at key '2'): argument 'key' given twice",
        ),
        (
            {"1": 1, "2": ["wf.datetime.from_components", {"month": "1"}], "returns": "2"},
            "TYPING",
            "wf.datetime.from_components (at key '2'): missing argument 'year'",
        ),
        (  # in a function called by a higher-order builtin too
            {"1": 1, "3": ["wf.list", "1"], "4": ["wf.map", "3", "wf.numpy.negative", "1"], "returns": "4"},
            "TYPING",
            "wf.map (at key '4'): takes 2 positional arguments, got 3",
        ),
        (
            {"1": 1, "3": ["wf.list", "1"], "4": ["wf.map", "3", "wf.numpy.add"], "returns": "4"},
            "TYPING",
            "wf.map (at key '4'): wf.numpy.add: missing argument 'b'",
        ),
    ],
)
def test_bad_applications_name_the_builtin_and_where(graft: dict, code: str, message: str) -> None:
    with pytest.raises(GraftError, match=re.escape(message)) as info:
        evaluate(graft)
    assert info.value.code == code


def test_the_vocabulary_is_one_table_by_domain_with_every_entrys_arguments() -> None:
    from asyncwf.graft._vocabulary import BUILTINS, DOMAINS, TABLE

    assert tuple(TABLE) == DOMAINS
    entries = [entry for domain in TABLE.values() for entry in domain]
    assert len({entry.name for entry in entries}) == len(entries)
    for domain, table in TABLE.items():
        for entry in table:
            assert entry.domain == domain
            assert BUILTINS[entry.name] is entry
            for alias in entry.aliases:  # the same function, named as called
                assert BUILTINS[alias].fn is entry.fn and BUILTINS[alias].name == alias
            assert entry.required <= len(entry.params) <= entry.high
            assert entry.variadic or entry.high == len(entry.params)
    # every name the real client wrote in the corpus is in the table, with arguments it accepts
    from tests.workflows.test_dl_corpus import CORPUS, _builtins

    for case in CORPUS:
        for name, positional, named in _builtins(case["graft"]):
            BUILTINS[name].check(positional, dict.fromkeys(named))


def test_a_bad_typespec_is_a_typed_error() -> None:
    from asyncwf.exceptions import InvalidArgument

    for spec in ({"type": "Nope"}, {"composite": {"type": "List", "params": [{"type": "Int"}, 5]}}, [1], "Lisst"):
        with pytest.raises(InvalidArgument):
            wf.graft_object({"returns": "1", "1": 1}, spec)
