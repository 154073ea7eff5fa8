"""Proxy types: behaviour against plain Python (property-based), promotion and typing errors."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asyncwf.workflows as wf
from asyncwf.workflows import ProxyTypeError
from asyncwf.workflows._typespec import from_typespec, to_typespec

from .conftest import local_compute

ints = st.integers(min_value=-(10**6), max_value=10**6)
floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
texts = st.text(max_size=20)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(ints, ints)
def test_int_arithmetic_matches_python(a: int, b: int) -> None:
    x, y = wf.Int(a), wf.Int(b)
    assert local_compute(x + y) == a + b
    assert local_compute(x - y) == a - b
    assert local_compute(x * y) == a * b
    assert local_compute(-x) == -a
    assert local_compute(abs(x)) == abs(a)
    assert local_compute((x < y) & (x <= y)) == (a < b and a <= b)
    assert local_compute(x == y) == (a == b)
    assert local_compute(x ^ y) == a ^ b
    if b:
        assert local_compute(x // y) == a // b
        assert local_compute(x % y) == a % b
        assert local_compute(x / y) == pytest.approx(a / b)


@SETTINGS
@given(floats, ints)
def test_float_and_mixed_arithmetic(a: float, b: int) -> None:
    x, y = wf.Float(a), wf.Int(b)
    assert isinstance(x + y, wf.Float) and isinstance(y + y, wf.Int)
    assert local_compute(x + y) == pytest.approx(a + b)
    assert local_compute(x * 2) == pytest.approx(a * 2)
    assert local_compute(x > y) == (a > b)
    if a > 0:
        assert local_compute(wf.sqrt(x)) == pytest.approx(math.sqrt(a))


@SETTINGS
@given(st.booleans(), st.booleans())
def test_bool_logic(a: bool, b: bool) -> None:
    x, y = wf.Bool(a), wf.Bool(b)
    assert local_compute(x & y) == (a and b)
    assert local_compute(x | y) == (a or b)
    assert local_compute(x ^ y) == (a != b)
    assert local_compute(~x) == (not a)
    assert local_compute(wf.ifelse(x, 1, 2)) == (1 if a else 2)


@SETTINGS
@given(texts, texts)
def test_str_operations(a: str, b: str) -> None:
    s = wf.Str(a)
    assert local_compute(s + b) == a + b
    assert local_compute(s.upper()) == a.upper()
    assert local_compute(s.length()) == len(a)
    assert local_compute(s.contains(b)) == (b in a)
    assert local_compute(s * 2) == a * 2
    assert local_compute(s.startswith(b)) == a.startswith(b)
    if b:
        assert local_compute(s.split(b)) == a.split(b)
    assert local_compute(s < b) == (a < b)


@SETTINGS
@given(st.lists(ints, max_size=15))
def test_list_operations(items: list[int]) -> None:
    lst = wf.List[wf.Int](items)
    assert local_compute(lst) == items
    assert local_compute(lst.map(lambda v: v * 2)) == [v * 2 for v in items]
    assert local_compute(lst.filter(lambda v: v > 0)) == [v for v in items if v > 0]
    assert local_compute(lst.length()) == len(items)
    assert local_compute(lst.sorted()) == sorted(items)
    assert local_compute(lst.sorted(key=lambda v: -v)) == sorted(items, key=lambda v: -v)
    assert local_compute(lst.reduce(lambda a, b: a + b, 0)) == sum(items)
    assert local_compute(lst + lst) == items + items
    assert local_compute(lst[1:3]) == items[1:3]
    if items:
        assert local_compute(lst[0]) == items[0]
        assert local_compute(lst.contains(items[-1]))


@SETTINGS
@given(st.dictionaries(st.text(min_size=1, max_size=5), ints, min_size=1, max_size=8))
def test_dict_operations(d: dict[str, int]) -> None:
    proxy = wf.Dict[wf.Str, wf.Int](d)
    key = next(iter(d))
    assert local_compute(proxy) == d
    assert local_compute(proxy[key]) == d[key]
    assert local_compute(proxy.keys()) == list(d.keys())
    assert local_compute(proxy.values()) == list(d.values())
    assert local_compute(proxy.items()) == list(d.items())
    assert local_compute(proxy.get("\x00missing", -1)) == -1
    assert local_compute(proxy.contains(key))
    int_keys = wf.Dict[wf.Int, wf.Str]({i: str(v) for i, v in enumerate(d.values())})
    assert local_compute(int_keys) == {i: str(v) for i, v in enumerate(d.values())}


def test_tuples_functions_datetimes_and_parameters() -> None:
    t = wf.Tuple[wf.Int, wf.Str]((1, "a"))
    assert local_compute(t) == (1, "a")
    assert isinstance(t[1], wf.Str)
    f = wf.Function.from_callable(lambda a, b: a * b + 1, wf.Int, wf.Int)
    assert isinstance(f, wf.Function[wf.Int, wf.Int, {}, wf.Int])
    assert local_compute(f(3, 4)) == 13
    day = wf.Datetime(2020, 1, 31) + wf.Timedelta(days=1)
    assert local_compute(day) == dt.datetime(2020, 2, 1, tzinfo=dt.UTC)
    assert local_compute(day.month) == 2
    assert local_compute((day - wf.Datetime(2020, 1, 1)).total_seconds()) == 31 * 86400
    x = wf.parameter("x", wf.Float)
    assert local_compute(x * 2, x=1.5) == 3.0
    assert local_compute(wf.range(1, 10, 3)) == [1, 4, 7]


def test_proxify_and_generics() -> None:
    assert isinstance(wf.proxify(True), wf.Bool)  # not Int, unlike the original
    assert isinstance(wf.proxify(1), wf.Int) and isinstance(wf.proxify(1.0), wf.Float)
    assert isinstance(wf.proxify([1, 2]), wf.List[wf.Int])
    assert isinstance(wf.proxify((1, "a")), wf.Tuple[wf.Int, wf.Str])
    assert isinstance(wf.proxify({"a": 1.0}), wf.Dict[wf.Str, wf.Float])
    assert wf.List[wf.Int] is wf.List[wf.Int]
    assert issubclass(wf.List[wf.Int], wf.List[wf.Number])
    assert not issubclass(wf.List[wf.Number], wf.List[wf.Int])
    for cls in (
        wf.Int,
        wf.List[wf.Dict[wf.Str, wf.Float]],
        wf.Tuple[wf.Int, wf.Str],
        wf.Function[wf.Int, {"x": wf.Float}, wf.Bool],
    ):
        assert from_typespec(to_typespec(cls)) is cls


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: wf.Int(1) + "a", r"unsupported operand types for \+: Int and str"),
        (lambda: wf.Str("a") + 1, "cannot promote int"),
        (lambda: wf.Int(1) & 1.5, "Int and Float"),
        (lambda: wf.Bool(1), "cannot promote int"),
        (lambda: wf.Int(True), "cannot promote bool"),
        (lambda: wf.List[wf.Int]([1, "a"]), "cannot promote str"),
        (lambda: wf.List[wf.Int]([1]).filter(lambda v: v + 1), "returning Bool"),
        (lambda: wf.Tuple[wf.Int]((1, 2)), "needs 1 items"),
        (lambda: wf.List[1], "proxy types"),
        (lambda: wf.parameter("1", wf.Int), "invalid parameter name"),
        (lambda: wf.parameter("x", wf.List), "concrete"),
        (lambda: wf.ifelse(True, 1, "a"), "different types"),
        (lambda: bool(wf.Int(1)), "truth value"),
        (lambda: wf.Datetime._promote("not a date"), "ISO 8601"),
    ],
)
def test_type_errors_are_raised_while_building(build: object, message: str) -> None:
    with pytest.raises(ProxyTypeError, match=message):
        build()  # type: ignore[operator]
