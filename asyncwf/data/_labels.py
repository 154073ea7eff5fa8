"""Labels and tags: the Octue SDK's naming rules, checked on every way in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from asyncwf.exceptions import InvalidLabelException, InvalidTagException, LabelTypeError, TagNameTypeError

__all__ = ["LABEL_PATTERN", "TAG_NAME_PATTERN", "Label", "LabelSet", "TagDict"]

LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*(?<!-)$")
TAG_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*(?<!_)$")


class Label(str):
    """A label: lowercase letters, digits and hyphens, not starting or ending with a hyphen."""

    __slots__ = ()

    def __new__(cls, name: object) -> Label:
        if isinstance(name, Label):
            return name
        if not isinstance(name, str):
            raise InvalidLabelException(f"a label must be a string, not {type(name).__name__}")
        cleaned = name.strip()
        if not LABEL_PATTERN.match(cleaned):
            raise InvalidLabelException(
                f"invalid label {cleaned!r}: use lowercase letters, digits and '-' (not first or last)"
            )
        return super().__new__(cls, cleaned)


def _labels_from(value: object) -> Iterator[Label]:
    """Labels as the Octue SDK reads them: nothing from a false value; from a string its JSON (whose items,
    keys or characters are the labels) or else its words; from any other iterable its items."""
    if not value:
        return iter(())
    items: Any = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            items = value.split()
    if not isinstance(items, Iterable) or (isinstance(items, str) and not isinstance(value, str)):
        raise LabelTypeError(f"labels are a string or an iterable of strings, not {type(items).__name__}")
    return (Label(item) for item in items)


class LabelSet(set[Label]):
    """A set of :class:`Label` s, from a space-separated string, a JSON list or any iterable of strings."""

    def __init__(self, labels: object = None) -> None:
        super().__init__(_labels_from(labels))

    def add(self, label: object) -> None:
        super().add(Label(label))

    def update(self, *labels: Iterable[object]) -> None:  # type: ignore[override]
        """Add labels; each argument is a label or an iterable of labels."""
        for item in labels:
            if isinstance(item, str):
                super().add(Label(item))
            else:
                super().update(Label(label) for label in item)

    def any_label_starts_with(self, value: str) -> bool:
        """Whether a label starts with ``value``."""
        return any(label.startswith(value) for label in self)

    def any_label_ends_with(self, value: str) -> bool:
        """Whether a label ends with ``value``."""
        return any(label.endswith(value) for label in self)

    def any_label_contains(self, value: str) -> bool:
        """Whether a label contains ``value``."""
        return any(value in label for label in self)

    def serialise(self) -> list[str]:
        """The labels as a sorted list of strings."""
        return sorted(self)

    def __repr__(self) -> str:
        return f"LabelSet({sorted(self)!r})"


def _check_tag_name(name: object) -> str:
    if not isinstance(name, str):
        raise TagNameTypeError(f"a tag name is a string, not {type(name).__name__}: {name!r}")
    if not TAG_NAME_PATTERN.match(name):
        raise InvalidTagException(
            f"invalid tag name {name!r}: use lowercase letters, digits and '_' (not first or last)"
        )
    return name


class TagDict(dict[str, Any]):
    """Tags: names checked against the tag pattern, values any JSON-serialisable value.

    Unlike the Octue SDK, names given as keyword arguments to :meth:`update`
    are checked too.
    """

    def __init__(self, tags: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.update(tags or {}, **kwargs)

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(_check_tag_name(name), value)

    def to_primitive(self, **kwargs: Any) -> dict[str, Any]:
        """A plain dict of the tags (the Octue SDK's serialisation hook)."""
        return dict(self)

    def update(self, tags: Any = (), /, **kwargs: Any) -> None:  # type: ignore[override]
        if not isinstance(tags, Mapping) and tags != ():
            raise TagNameTypeError(f"tags are a mapping of name -> value, not {type(tags).__name__}")
        items = dict(tags)
        items.update(kwargs)
        for name in items:
            _check_tag_name(name)
        super().update(items)

    def setdefault(self, name: str, default: Any = None) -> Any:
        return super().setdefault(_check_tag_name(name), default)

    def __getattr__(self, name: str) -> Any:
        # Filters reach into tags by attribute: ``tags__colour__equals="red"``.
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def serialise(self) -> dict[str, Any]:
        """The tags as a plain dict."""
        return dict(self)

    def __repr__(self) -> str:
        return f"TagDict({dict(self)!r})"
