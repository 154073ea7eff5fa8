"""Datetime and Timedelta proxies. Naive datetimes are taken as UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

from asyncwf.graft._syntax import Apply, Literal
from asyncwf.workflows.types._core import Proxytype, ProxyTypeError, blocking_class
from asyncwf.workflows.types._primitives import Float, Int, Number, Primitive, _orderings

__all__ = ["Datetime", "Timedelta"]


_COMPONENTS = ("year", "month", "day", "hour", "minute", "second", "microsecond")


def _timedelta_node(parts: dict[str, Any]) -> Apply:
    """``wf.timedelta.from_components`` with all seven components named (the missing ones 0), as DL writes it."""
    zero = Int._promote(0)
    return Apply("wf.timedelta.from_components", (), {k: parts.get(k, zero)._node for k in Timedelta._FIELDS})


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class Datetime(Primitive):
    """A proxy datetime (UTC when no timezone is given)."""

    __slots__ = ("_parts",)
    _computed: dt.datetime
    #: The components it was made from, if made from components: its fields are those proxies (as the
    #: client's Datetime struct gives them back), not ``wf.getattr`` applications.
    _parts: dict[str, Int]

    def __init__(
        self,
        year: Any,
        month: Any = 1,
        day: Any = 1,
        hour: Any = 0,
        minute: Any = 0,
        second: Any = 0,
        microsecond: Any = 0,
    ) -> None:
        values = (year, month, day, hour, minute, second, microsecond)
        self._parts = {name: Int._promote(v) for name, v in zip(_COMPONENTS, values, strict=True)}
        self._node = Apply("wf.datetime.from_components", (), {k: v._node for k, v in self._parts.items()})

    @classmethod
    def _promote(cls, obj: Any) -> Datetime:
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dt.datetime):
            return cls._from_node(Apply("wf.datetime.from_string", [Literal(_aware(obj).isoformat())]))
        if isinstance(obj, str):
            try:
                dt.datetime.fromisoformat(obj)
            except ValueError as exc:
                raise ProxyTypeError(f"not an ISO 8601 datetime: {obj!r}") from exc
            return cls._from_node(Apply("wf.datetime.from_string", [Literal(obj)]))
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to Datetime")

    @classmethod
    def from_string(cls, text: Any) -> Datetime:
        """An ISO 8601 datetime (UTC when it names no timezone)."""
        return cls._from_apply("wf.datetime.from_string", text)

    @classmethod
    def from_timestamp(cls, seconds: Any) -> Datetime:
        """The UTC datetime ``seconds`` after the epoch."""
        return cls._from_apply("wf.datetime.from_timestamp", Number._promote(seconds))

    def __add__(self, other: Any) -> Datetime:
        return Datetime._from_apply("wf.add", self, Timedelta._promote(other))

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, Datetime | dt.datetime):
            return Timedelta._from_apply("wf.sub", self, Datetime._promote(other))
        return Datetime._from_apply("wf.sub", self, Timedelta._promote(other))

    __lt__, __le__, __gt__, __ge__ = _orderings()

    def _field(self, name: str) -> Int:
        parts = getattr(self, "_parts", None)
        if parts is not None:
            part = parts[name]
            return blocking_class(Int)._from_node(part._node) if self._blocking and not part._blocking else part
        return Int._from_apply("wf.getattr", self, name)

    year = property(lambda self: self._field("year"), doc="The year (an Int).")
    month = property(lambda self: self._field("month"), doc="The month, 1-12 (an Int).")
    day = property(lambda self: self._field("day"), doc="The day of the month, 1-31 (an Int).")
    hour = property(lambda self: self._field("hour"), doc="The hour, 0-23 (an Int).")
    minute = property(lambda self: self._field("minute"), doc="The minute, 0-59 (an Int).")
    second = property(lambda self: self._field("second"), doc="The second, 0-59 (an Int).")
    microsecond = property(lambda self: self._field("microsecond"), doc="The microsecond, 0-999999 (an Int).")

    __hash__ = Proxytype.__hash__


class Timedelta(Primitive):
    """A proxy duration: ``Timedelta(days=1, hours=2)``."""

    __slots__ = ()
    _computed: dt.timedelta
    _FIELDS = ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks")

    def __init__(self, **parts: Any) -> None:
        unknown = set(parts) - set(self._FIELDS)
        if unknown:
            raise ProxyTypeError(f"unknown Timedelta fields: {', '.join(sorted(unknown))}")
        self._node = _timedelta_node({k: Number._promote(v) for k, v in parts.items()})

    @classmethod
    def _promote(cls, obj: Any) -> Timedelta:
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dt.timedelta):
            return cls._from_node(_timedelta_node({"seconds": Float._promote(obj.total_seconds())}))
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to Timedelta")

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Datetime | dt.datetime):
            return Datetime._from_apply("wf.add", Datetime._promote(other), self)
        return Timedelta._from_apply("wf.add", self, Timedelta._promote(other))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Timedelta:
        return Timedelta._from_apply("wf.sub", self, Timedelta._promote(other))

    def __mul__(self, other: Any) -> Timedelta:
        return Timedelta._from_apply("wf.mul", self, Number._promote(other))

    __rmul__ = __mul__

    __lt__, __le__, __gt__, __ge__ = _orderings()

    def total_seconds(self) -> Float:
        """The whole duration in seconds (a Float)."""
        return Float._from_apply("wf.timedelta.total_seconds", self)

    days = property(
        lambda self: Int._from_apply("wf.getattr", self, "days"), doc="The days part (an Int), as ``timedelta.days``."
    )
    seconds = property(
        lambda self: Int._from_apply("wf.getattr", self, "seconds"),
        doc="The seconds part, 0-86399 (an Int), as ``timedelta.seconds``.",
    )
    microseconds = property(
        lambda self: Int._from_apply("wf.getattr", self, "microseconds"),
        doc="The microseconds part (an Int), as ``timedelta.microseconds``.",
    )

    __hash__ = Proxytype.__hash__
