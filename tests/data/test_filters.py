"""Filter containers: every action per type, negations, shortcuts, chains, ordering and one()."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from asyncwf.data import Filterable, FilterDict, FilterList, FilterSet, LabelSet, TagDict
from asyncwf.exceptions import BrokenSequenceException, InvalidInputException, UnexpectedNumberOfResultsException


@dataclass(eq=False)
class Thing(Filterable):
    name: str = "Alpha.csv"
    size: float = 10.0
    flag: bool = True
    nothing: None = None
    when: dt.datetime = dt.datetime(2024, 3, 15, 12, 30, 45, tzinfo=dt.UTC)
    labels: LabelSet = field(default_factory=lambda: LabelSet("raw north-site"))
    tags: TagDict = field(default_factory=lambda: TagDict(site="n1", depth=5, colours=["Red", "blue"]))
    items: tuple[int, ...] = (1, 2, 3)


T = Thing()
CASES: list[tuple[str, Any, bool]] = [
    # str
    ("name__equals", "Alpha.csv", True), ("name__not_equals", "Alpha.csv", False),
    ("name__iequals", "alpha.CSV", True), ("name__not_iequals", "alpha.csv", False),
    ("name__starts_with", "Alp", True), ("name__not_starts_with", "Alp", False),
    ("name__ends_with", ".csv", True), ("name__not_ends_with", ".csv", False),
    ("name__contains", "pha", True), ("name__not_contains", "pha", False),
    ("name__icontains", "PHA", True), ("name__not_icontains", "PHA", False),
    ("name__lt", "B", True), ("name__lte", "Alpha.csv", True), ("name__gt", "B", False), ("name__gte", "A", True),
    ("name__in_range", ("A", "B"), True), ("name__not_in_range", ("A", "B"), False),
    ("name__is", T.name, True), ("name__is_not", T.name, False),
    # numbers
    ("size__equals", 10, True), ("size__lt", 11, True), ("size__gte", 10.5, False),
    ("size__in_range", (5, 10), True), ("size__not_in_range", (5, 10), False), ("size__is_not", None, True),
    # bool and None
    ("flag__equals", True, True), ("flag__is", True, True), ("flag__is_not", True, False),
    ("nothing__is", None, True), ("nothing__equals", None, True), ("nothing__not_equals", None, False),
    # datetimes
    ("when__year_equals", 2024, True), ("when__year_in", {2023, 2025}, False), ("when__month_equals", 3, True),
    ("when__day_in", {15}, True), ("when__weekday_equals", 4, True), ("when__iso_weekday_equals", 5, True),
    ("when__hour_equals", 12, True), ("when__minute_in", {30}, True), ("when__second_equals", 45, True),
    ("when__time_equals", dt.time(12, 30, 45), True),
    ("when__in_date_range", (dt.date(2024, 1, 1), dt.date(2024, 12, 31)), True),
    ("when__in_time_range", (dt.time(13), dt.time(14)), False),
    ("when__lt", dt.datetime(2025, 1, 1, tzinfo=dt.UTC), True),
    # label sets
    ("labels__contains", "raw", True), ("labels__not_contains", "raw", False),
    ("labels__any_label_contains", "site", True), ("labels__any_label_starts_with", "nor", True),
    ("labels__any_label_ends_with", "aw", True), ("labels__not_any_label_ends_with", "aw", False),
    ("labels__equals", {"raw", "north-site"}, True),
    # tags (a dict: the iterable actions) and nested tag values
    ("tags__contains", "site", True), ("tags__site__equals", "n1", True), ("tags__depth__gt", 4, True),
    ("tags__colours__contains", "blue", True), ("tags__colours__icontains", "RED", True),
    # other iterables
    ("items__contains", 2, True), ("items__not_contains", 2, False),
    # the equals shortcut
    ("name", "Alpha.csv", True), ("tags__site", "n1", True), ("tags__depth", 6, False),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "expected"), CASES)
def test_each_action(name: str, value: Any, expected: bool) -> None:
    assert T.satisfies(**{name: value}) is expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name__frobnicate": 1}, "no filter action 'frobnicate' for a str"),
        ({"size__starts_with": "1"}, "no filter action 'starts_with' for a float"),
        ({"__equals": 1}, "invalid filter"),
        ({"missing__equals": 1}, "no attribute 'missing'"),
        ({"name__lt": 3}, "filter name__lt=3"),
    ],
)
def test_bad_filters_raise_typed_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputException, match=message):
        T.satisfies(**kwargs)


def test_missing_attributes_are_ignored_or_raise_for_the_whole_chain() -> None:
    things = FilterSet([Thing(name="a.csv"), Thing(name="b.txt")])
    things.add(Filterable())  # has none of the attributes
    assert len(things.filter(name__ends_with=".csv", size__gt=1)) == 1
    # The flag holds for every filter of the call (the Octue SDK reversed it for the first one).
    for kwargs in ({"name__ends_with": ".csv", "size__gt": 1}, {"size__gt": 1, "name__ends_with": ".csv"}):
        with pytest.raises(InvalidInputException, match="no attribute"):
            things.filter(ignore_items_without_attribute=False, **kwargs)


def test_containers_keep_their_type_and_dicts_keep_keys() -> None:
    a, b = Thing(name="a", size=1), Thing(name="b", size=2)
    assert isinstance(FilterList([a, b]).filter(size__gt=1), FilterList)
    assert FilterSet([a, b]).filter() == {a, b}
    d = FilterDict(first=a, second=b)
    assert d.filter(size__gt=1) == {"second": b}
    assert d.one(name="a") == ("first", a)
    assert d.order_by("size", reverse=True) == [("second", b), ("first", a)]
    with pytest.raises(InvalidInputException, match="must be Filterable"):
        FilterList([a, 3]).filter(size__gt=1)


def test_one_and_order_by() -> None:
    things = FilterList(Thing(name=n, size=s) for n, s in [("c", 3), ("a", 1), ("b", 2)])
    assert things.one(name="b").size == 2
    with pytest.raises(UnexpectedNumberOfResultsException, match="no result"):
        things.one(name="z")
    with pytest.raises(UnexpectedNumberOfResultsException, match="3 results"):
        things.one(size__gt=0)
    assert [t.name for t in things.order_by("size")] == ["a", "b", "c"]
    assert [t.name for t in things.order_by("tags__site", reverse=True)] == ["c", "a", "b"]  # stable on ties
    assert things.order_by("size", check_start_value=1, check_constant_increment=1)[0].name == "a"
    with pytest.raises(BrokenSequenceException, match="start value"):
        things.order_by("size", check_start_value=0)
    with pytest.raises(BrokenSequenceException, match="constant increment"):
        things.order_by("size", check_constant_increment=2)
    with pytest.raises(InvalidInputException, match="not every member"):
        things.order_by("nope")


#: The table's cases that Datafiles and Datasets have attributes for (``when`` is a Datafile's ``timestamp``).
_ON_DATA = [
    (n, v, e)
    for n, v, e in CASES
    if n.split("__")[0] in ("name", "labels", "tags", "when") and n not in ("name__is", "name__is_not")
]  # (identity: the table's string object is T's own)


@pytest.mark.parametrize(("name", "value", "expected"), _ON_DATA)
async def test_each_action_on_datafiles_and_datasets(name: str, value: Any, expected: bool, tmp_path: Any) -> None:
    import anyio

    from asyncwf.data import Datafile, Dataset

    folder = tmp_path / "Alpha.csv"  # a dataset named like the table's file
    await anyio.Path(folder).mkdir()
    await anyio.Path(folder / "Alpha.csv").write_text("x")
    datafile = await Datafile(str(folder / "Alpha.csv"), labels=T.labels, tags=dict(T.tags), timestamp=T.when)
    dataset = await Dataset(str(folder), labels=T.labels, tags=dict(T.tags))
    assert datafile.satisfies(**{name.replace("when", "timestamp", 1): value}) is expected
    if not name.startswith("when"):
        assert dataset.satisfies(**{name: value}) is expected


def test_filter_errors_are_also_the_builtins_octue_raised() -> None:
    items = FilterList([Thing(name="a"), Thing(name="b")])
    with pytest.raises(TypeError):  # comparing a str with an int
        items.filter(name__lt=5)
    with pytest.raises(TypeError):
        FilterList([Thing(size=1), Thing(size="x")]).order_by("size")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        items.filter(ignore_items_without_attribute=False, colour__equals="red")
    with pytest.raises(InvalidInputException):  # and still asyncwf's typed errors
        items.filter(name__lt=5)
