"""Filterable objects and the containers that filter them (the Octue SDK's filter syntax).

A filter is a keyword argument ``<attribute>[__<nested>...]__<action>=value``:
``labels__contains="raw"``, ``tags__colour__iequals="RED"``,
``timestamp__year_in={2024, 2025}``. The actions available depend on the
type of the attribute's value (see :data:`TYPE_FILTERS` and
:data:`INTERFACE_FILTERS`); most have a negated ``not_<action>`` form (``is``
has ``is_not``). Leaving the action out means ``equals`` (``name="a.csv"``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from asyncwf.exceptions import (
    BrokenSequenceException,
    FilterTypeError,
    InvalidInputException,
    MissingFilterAttribute,
    UnexpectedNumberOfResultsException,
)

__all__ = [
    "INTERFACE_FILTERS",
    "TYPE_FILTERS",
    "FilterDict",
    "FilterList",
    "FilterSet",
    "Filterable",
    "get_nested_attribute",
]

Action = Callable[[Any, Any], bool]


def _with_negation(name: str, action: Action) -> dict[str, Action]:
    negated = "is_not" if name == "is" else f"not_{name}"
    return {name: action, negated: lambda item, value: not action(item, value)}


def _icontains(item: Any, value: Any) -> bool:
    if isinstance(item, str):
        return str(value).casefold() in item.casefold()
    # An iterable: does any of its strings contain the value, ignoring case?
    return any(isinstance(x, str) and str(value).casefold() in x.casefold() for x in item)


_IS = _with_negation("is", lambda item, value: item is value)
_EQUALS = _with_negation("equals", lambda item, value: item == value)
_CONTAINS = _with_negation("contains", lambda item, value: value in item)
_ICONTAINS = _with_negation("icontains", _icontains)
_IN_RANGE = _with_negation("in_range", lambda item, value: value[0] <= item <= value[1])
_COMPARISONS: dict[str, Action] = {
    "lt": lambda item, value: item < value,
    "lte": lambda item, value: item <= value,
    "gt": lambda item, value: item > value,
    "gte": lambda item, value: item >= value,
}


def _part_equals(part: Callable[[dt.datetime], Any]) -> Action:
    return lambda item, value: bool(part(item) == value)


def _part_in(part: Callable[[dt.datetime], Any]) -> Action:
    return lambda item, value: part(item) in value


def _datetime_parts() -> dict[str, Action]:
    parts: dict[str, Callable[[dt.datetime], Any]] = {
        "year": lambda d: d.year,
        "month": lambda d: d.month,
        "day": lambda d: d.day,
        "weekday": lambda d: d.weekday(),
        "iso_weekday": lambda d: d.isoweekday(),
        "time": lambda d: d.time(),
        "hour": lambda d: d.hour,
        "minute": lambda d: d.minute,
        "second": lambda d: d.second,
    }
    actions: dict[str, Action] = {}
    for name, part in parts.items():
        actions[f"{name}_equals"] = _part_equals(part)
        actions[f"{name}_in"] = _part_in(part)
    actions["in_date_range"] = lambda item, value: value[0] <= item.date() <= value[1]
    actions["in_time_range"] = lambda item, value: value[0] <= item.time() <= value[1]
    return actions


#: Actions by the exact type name of the attribute's value.
TYPE_FILTERS: dict[str, dict[str, Action]] = {
    "bool": {**_EQUALS, **_IS},
    "NoneType": {**_EQUALS, **_IS},
    "str": {
        **_with_negation("iequals", lambda item, value: str(value).casefold() == item.casefold()),
        **_with_negation("starts_with", lambda item, value: item.startswith(value)),
        **_with_negation("ends_with", lambda item, value: item.endswith(value)),
        **_EQUALS, **_IS, **_COMPARISONS, **_CONTAINS, **_ICONTAINS, **_IN_RANGE,
    },
    "LabelSet": {
        **_EQUALS, **_CONTAINS, **_IS,
        **_with_negation("any_label_contains", lambda item, value: item.any_label_contains(value)),
        **_with_negation("any_label_starts_with", lambda item, value: item.any_label_starts_with(value)),
        **_with_negation("any_label_ends_with", lambda item, value: item.any_label_ends_with(value)),
    },
    "datetime": {**_EQUALS, **_IS, **_COMPARISONS, **_IN_RANGE, **_datetime_parts()},
}  # fmt: skip

#: Actions by interface, for values whose type is not in TYPE_FILTERS (tried in order).
INTERFACE_FILTERS: dict[type, dict[str, Action]] = {
    numbers.Number: {**_EQUALS, **_COMPARISONS, **_IS, **_IN_RANGE},
    Iterable: {**_EQUALS, **_CONTAINS, **_ICONTAINS, **_IS},
}

_MISSING = object()


def get_nested_attribute(obj: Any, name: str) -> Any:
    """``obj.a.b.c`` for ``name="a.b.c"``; mapping keys and list indices (``coords.0``) work too.
    Raises AttributeError."""
    for part in name.split("."):
        value = getattr(obj, part, _MISSING)
        if value is _MISSING and isinstance(obj, Mapping):
            value = obj.get(part, _MISSING)
        if value is _MISSING and isinstance(obj, list | tuple) and part.lstrip("-").isdigit():
            index = int(part)
            value = obj[index] if -len(obj) <= index < len(obj) else _MISSING
        if value is _MISSING:
            raise AttributeError(f"{type(obj).__name__} has no attribute {part!r}")
        obj = value
    return obj


def _actions_for(value: Any) -> dict[str, Action]:
    actions = TYPE_FILTERS.get(type(value).__name__)
    if actions is not None:
        return actions
    for interface, table in INTERFACE_FILTERS.items():
        if isinstance(value, interface):
            return table
    raise InvalidInputException(f"attributes of type {type(value).__name__} cannot be filtered")


class Filterable:
    """Something a filter container can filter: answers ``satisfies(attr__action=value)``."""

    __slots__ = ()

    def satisfies(self, raise_error_if_filter_is_invalid: bool = True, **kwargs: Any) -> bool:
        """Whether this object passes one filter, e.g. ``satisfies(name__ends_with=".csv")``.

        A missing attribute fails the filter, or raises InvalidInputException
        when ``raise_error_if_filter_is_invalid`` is true. An unknown action or
        an unfilterable type always raises.
        """
        if len(kwargs) != 1:
            raise InvalidInputException(f"satisfies() takes exactly one filter, got {len(kwargs)}")
        ((filter_name, value),) = kwargs.items()
        parts = filter_name.split("__")
        if len(parts) == 1 and parts[0]:
            parts.append("equals")  # ``name=...`` means ``name__equals=...``
        *path, action = parts
        if not all(parts):
            raise InvalidInputException(
                f"invalid filter {filter_name!r}: use '<attribute>[__<nested>...]__<action>' (or '<attribute>=...')"
            )
        try:
            attribute = get_nested_attribute(self, ".".join(path))
        except AttributeError:
            attribute = _MISSING
        if attribute is not _MISSING:
            actions = _actions_for(attribute)
            if action in actions:
                return _apply(actions[action], attribute, value, filter_name)
        # The shortcut for equals: ``a__b=7`` means ``a__b__equals=7``.
        try:
            whole = get_nested_attribute(self, ".".join([*path, action]))
        except AttributeError:
            whole = _MISSING
        if whole is not _MISSING:
            return _apply(_actions_for(whole)["equals"], whole, value, filter_name)
        if attribute is not _MISSING and not isinstance(attribute, Mapping):
            # ``name__frobnicate``: not a key of a mapping (``tags__kind`` is), so a wrong action.
            raise InvalidInputException(
                f"no filter action {action!r} for a {type(attribute).__name__}; "
                f"the actions are: {', '.join(sorted(_actions_for(attribute)))}"
            )
        if raise_error_if_filter_is_invalid:
            missing = ".".join(path if attribute is _MISSING else [*path, action])
            raise MissingFilterAttribute(f"{type(self).__name__} has no attribute {missing!r} to filter on")
        return False


def _apply(action: Action, attribute: Any, value: Any, filter_name: str) -> bool:
    try:
        return bool(action(attribute, value))
    except TypeError as exc:
        raise FilterTypeError(f"filter {filter_name}={value!r}: {exc}") from exc
    except (AttributeError, IndexError, KeyError) as exc:
        raise InvalidInputException(f"filter {filter_name}={value!r}: {exc}") from exc


C = TypeVar("C", bound="_FilterContainer")


def _passes(strict: bool, name: str, value: Any) -> Callable[[Any], bool]:
    return lambda item: bool(item.satisfies(strict, **{name: value}))


class _FilterContainer:
    """What FilterSet and FilterList share; items must be :class:`Filterable`."""

    __slots__ = ()

    def _members(self) -> Iterable[Any]:
        return self  # type: ignore[return-value]

    def _rebuild(self: C, keep: Callable[[Any], bool]) -> C:
        return type(self)(item for item in self._members() if keep(item))  # type: ignore[call-arg]

    def filter(self: C, ignore_items_without_attribute: bool = True, **kwargs: Any) -> C:
        """A new container of the members that pass every filter given.

        ``ignore_items_without_attribute`` applies to every filter of the call
        (the Octue SDK reversed it for the first filter of a chain).
        """
        for item in self._members():
            if not callable(getattr(item, "satisfies", None)):  # Filterables, and their blocking twins
                raise InvalidInputException(f"every member of a {type(self).__name__} must be Filterable, not {item!r}")
        strict = not ignore_items_without_attribute
        result = self._rebuild(lambda item: True)
        for name, value in kwargs.items():
            result = result._rebuild(_passes(strict, name, value))
        return result

    def order_by(
        self, attribute_name: str, check_start_value: Any = None, check_constant_increment: Any = None,
        reverse: bool = False,
    ) -> FilterList:  # fmt: skip
        """The members sorted by an attribute (``"a"``, ``"a.b"`` or ``"a__b"``), as a FilterList.

        ``check_start_value`` and ``check_constant_increment`` check the
        sequence and raise BrokenSequenceException when it is broken.
        """
        name = attribute_name.replace("__", ".")
        members = list(self._members())
        try:
            decorated = [(get_nested_attribute(m, name), m) for m in members]
            keyed = sorted(decorated, key=lambda pair: pair[0], reverse=reverse)  # stable, also reversed
        except AttributeError as exc:
            raise MissingFilterAttribute(f"not every member has an attribute {name!r}: {exc}") from exc
        except TypeError as exc:
            raise FilterTypeError(f"the values of {name!r} cannot be ordered: {exc}") from exc
        if keyed and check_start_value is not None and keyed[0][0] != check_start_value:
            raise BrokenSequenceException(
                f"the first {name!r} is {keyed[0][0]!r}, not the expected start value {check_start_value!r}"
            )
        if check_constant_increment is not None:
            for (a, _), (b, _) in itertools.pairwise(keyed):
                if b - a != check_constant_increment:
                    raise BrokenSequenceException(
                        f"{name!r} goes from {a!r} to {b!r}, not by the constant increment {check_constant_increment!r}"
                    )
        return FilterList(m for _, m in keyed)

    def one(self, **kwargs: Any) -> Any:
        """The single member passing the filters; UnexpectedNumberOfResultsException otherwise."""
        results = list(self.filter(**kwargs)._members())
        if len(results) != 1:
            found = "no result" if not results else f"{len(results)} results"
            raise UnexpectedNumberOfResultsException(f"{found} for filters {kwargs!r} (expected exactly one)")
        return results[0]


class FilterSet(_FilterContainer, set[Any]):
    """A set of Filterables that can be filtered, ordered and searched."""

    __slots__ = ()


class FilterList(_FilterContainer, list[Any]):
    """A list of Filterables that can be filtered, ordered and searched."""

    __slots__ = ()


class FilterDict(_FilterContainer, dict[Any, Any]):
    """A dict whose values are Filterables: filters apply to the values, keys are kept."""

    __slots__ = ()

    def _members(self) -> Iterable[Any]:
        return self.values()

    def _rebuild(self, keep: Callable[[Any], bool]) -> FilterDict:
        return FilterDict({k: v for k, v in self.items() if keep(v)})

    def order_by(  # type: ignore[override]
        self, attribute_name: str, reverse: bool = False
    ) -> FilterList:
        """The ``(key, value)`` pairs sorted by an attribute of the values, as a FilterList."""
        name = attribute_name.replace("__", ".")
        try:
            pairs = sorted(self.items(), key=lambda kv: get_nested_attribute(kv[1], name), reverse=reverse)
        except AttributeError as exc:
            raise MissingFilterAttribute(f"not every value has an attribute {name!r}: {exc}") from exc
        return FilterList(pairs)

    def one(self, **kwargs: Any) -> tuple[Any, Any]:
        """The single ``(key, value)`` pair whose value passes the filters."""
        results = list(self.filter(**kwargs).items())
        if len(results) != 1:
            found = "no result" if not results else f"{len(results)} results"
            raise UnexpectedNumberOfResultsException(f"{found} for filters {kwargs!r} (expected exactly one)")
        return results[0]
