"""Labels and tags follow the Octue SDK's naming rules everywhere they come in."""

from __future__ import annotations

import pytest

from asyncwf.data import Label, LabelSet, TagDict
from asyncwf.exceptions import InvalidLabelException, InvalidTagException


@pytest.mark.parametrize("good", ["a", "raw", "north-site", "x1", "1x"])
def test_good_labels(good: str) -> None:
    assert Label(f"  {good} ") == good


@pytest.mark.parametrize("bad", ["", "-a", "a-", "Upper", "under_score", "sp ace", 3, None])
def test_bad_labels(bad: object) -> None:
    with pytest.raises(InvalidLabelException):
        Label(bad)


def test_label_sets_from_strings_json_and_iterables() -> None:
    assert LabelSet("a b  c") == {"a", "b", "c"}
    assert LabelSet('["a", "b"]') == {"a", "b"}
    assert LabelSet(["a", Label("b")]) == {"a", "b"}
    labels = LabelSet()
    labels.add("x")
    labels.update("y", ["z"])
    assert labels == {"x", "y", "z"}
    with pytest.raises(InvalidLabelException):
        labels.add("Bad")
    with pytest.raises(InvalidLabelException):
        LabelSet({"a": 1})


@pytest.mark.parametrize("bad", ["", "_a", "a_", "Upper", "with-hyphen", "sp ace"])
def test_bad_tag_names_everywhere(bad: str) -> None:
    with pytest.raises(InvalidTagException):
        TagDict({bad: 1})
    tags = TagDict()
    with pytest.raises(InvalidTagException):
        tags[bad] = 1
    with pytest.raises(InvalidTagException):
        tags.update(**{bad: 1})  # the Octue SDK let keyword names through unchecked
    assert tags == {}


def test_tags_hold_any_json_value_and_read_as_attributes() -> None:
    tags = TagDict(depth=5, site="n1", nested={"a": [1, 2]})
    assert tags.depth == 5
    with pytest.raises(AttributeError):
        _ = tags.nope
