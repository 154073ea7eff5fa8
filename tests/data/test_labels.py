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
    assert LabelSet({"a": 1}) == {"a"}  # an iterable (of its keys), as in Octue


def test_labels_and_tags_read_values_as_the_octue_sdk_does() -> None:
    from asyncwf.data import TagDict

    assert LabelSet('"abc"') == {"a", "b", "c"}  # a JSON string's characters
    assert LabelSet('{"a": 1, "b": 2}') == {"a", "b"}  # a JSON object's keys
    assert LabelSet(0) == set() and LabelSet("") == set() and LabelSet([]) == set()
    for bad in ("5", "null", "true"):
        with pytest.raises(TypeError):  # (a LabelTypeError, also an InvalidLabelException)
            LabelSet(bad)
        with pytest.raises(InvalidLabelException):
            LabelSet(bad)
    with pytest.raises(TypeError):
        TagDict([("a", 1)])
    with pytest.raises(TypeError):
        TagDict({5: 1})


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
