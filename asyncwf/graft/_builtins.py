"""What the builtins a graft may call do (numbers, containers, strings, datetimes); the table naming them,
with their arguments, is :mod:`asyncwf.graft._vocabulary`.

Each builtin checks what it produces against the interpreter's size limits,
so a graft cannot make a huge string, list or integer.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asyncwf.graft._interpreter import CURRENT_LIMITS, GraftError, Limits

if TYPE_CHECKING:
    from asyncwf.graft._interpreter import Interpreter

__all__: list[str] = []  # the table of these, by name, is asyncwf.graft._vocabulary.BUILTINS


def _max_items() -> int:
    return CURRENT_LIMITS.get(_DEFAULT).max_items


def _max_bits() -> int:
    return CURRENT_LIMITS.get(_DEFAULT).max_int_bits


#: An argument not given (None is a value).
_NO_VALUE: Any = type("_NoValue", (), {"__repr__": lambda self: "<no value>"})()
_DEFAULT = Limits()


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict | bytes) and len(value) > _max_items():
        raise GraftError("OOM", f"a value of {len(value)} items exceeds the limit of {_max_items()}")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _max_bits():
        raise GraftError("OOM", f"an integer of more than {_max_bits()} bits")
    return value


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _check_numbers(name: str, *values: Any) -> None:
    for v in values:
        if not (_number(v) or isinstance(v, bool)):
            raise GraftError("TYPING", f"{name} needs numbers, not {type(v).__name__}")


def _add(a: Any, b: Any) -> Any:
    if (type(a) is int or type(a) is float) and (type(b) is int or type(b) is float):
        return a + b
    if isinstance(a, str | list | tuple) and type(a) is type(b):
        if len(a) + len(b) > _max_items():
            raise GraftError("OOM", "concatenation exceeds the size limit")
        return operator.add(a, b)
    if isinstance(a, dt.datetime | dt.timedelta) or isinstance(b, dt.datetime | dt.timedelta):
        return a + b
    _check_numbers("add", a, b)
    return a + b


def _sub(a: Any, b: Any) -> Any:
    if isinstance(a, dt.datetime | dt.timedelta):
        return a - b
    _check_numbers("sub", a, b)
    return a - b


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, str | list | tuple) and isinstance(b, int) and not isinstance(b, bool):
        if len(a) * max(b, 0) > _max_items():
            raise GraftError("OOM", "repetition exceeds the size limit")
        return a * b
    if isinstance(a, dt.timedelta) and _number(b):
        return a * b
    _check_numbers("mul", a, b)
    return _sized(a * b)


def _pow(a: Any, b: Any) -> Any:
    _check_numbers("pow", a, b)
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and abs(a).bit_length() * b > _max_bits():
        raise GraftError("OOM", f"{a} ** {b} is too large")
    return a**b


def _arith(name: str, op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def fn(a: Any, b: Any) -> Any:
        if isinstance(a, dt.timedelta) or isinstance(b, dt.timedelta):
            return op(a, b)
        _check_numbers(name, a, b)
        return op(a, b)

    return fn


def _slice(start: Any = None, stop: Any = None, step: Any = None) -> slice:
    return slice(start, stop, step)


def _range(*args: Any, **named: Any) -> list[int]:
    """``wf.range(start, stop, step)``; the client names ``step`` (and may name ``start``/``stop``)."""
    args = (*args, *(named.pop(n) for n in ("start", "stop", "step")[len(args) :] if n in named))
    if named:
        raise GraftError("INVALID", f"range takes no argument {', '.join(sorted(named))}")
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args) or not 1 <= len(args) <= 3:
        raise GraftError("TYPING", "range takes 1 to 3 integers")
    r = range(*args)
    if len(r) > _max_items():
        raise GraftError("OOM", f"range of {len(r)} items exceeds the limit of {_max_items()}")
    return list(r)


def _dict_create(*pairs: Any, **named: Any) -> Any:
    """``wf.dict.create``: named arguments for Str keys, or positional ``k1, v1, k2, v2, ...``."""
    if len(pairs) % 2:
        raise GraftError("INVALID", "wf.dict.create takes keys and values in pairs")
    created: dict[Any, Any] = dict(zip(pairs[::2], pairs[1::2], strict=True))
    created.update(named)
    return _sized(created)


def _dict_from_pairs(pairs: Any) -> Any:
    return _sized(dict(pairs))


def _map(interp: Interpreter, seq: Any, fn: Any) -> Any:
    if isinstance(seq, dict):
        return dict(interp.call(fn, (k, v)) for k, v in seq.items())
    result = [interp.call(fn, (x,)) for x in seq]
    return tuple(result) if isinstance(seq, tuple) else result


def _filter(interp: Interpreter, seq: Any, fn: Any) -> Any:
    if isinstance(seq, dict):
        return {k: v for k, v in seq.items() if _truth(interp.call(fn, (k, v)))}
    result = [x for x in seq if _truth(interp.call(fn, (x,)))]
    return tuple(result) if isinstance(seq, tuple) else _like(seq, result)


def _like(seq: Any, items: list[Any]) -> list[Any]:
    """``items`` as the kind of list ``seq`` is (an ImageCollection stays one)."""
    return items if type(seq) is list else type(seq)(items)


def _truth(value: Any) -> bool:
    if not isinstance(value, bool):
        raise GraftError("TYPING", f"a predicate must return Bool, not {type(value).__name__}")
    return value


def _reduce(interp: Interpreter, seq: Any, fn: Any, initial: Any = _NO_VALUE) -> Any:
    items = list(seq)
    if initial is _NO_VALUE:
        if not items:
            raise GraftError("INVALID", "reduce of an empty sequence with no initial value")
        acc, items = items[0], items[1:]
    else:
        acc = initial
    for item in items:
        acc = interp.call(fn, (acc, item))
    return acc


def _sorted(interp: Interpreter, seq: Any, key: Any = None, reverse: bool = False) -> list[Any]:
    if key is None:
        return sorted(seq, reverse=reverse)
    items = list(seq)
    keys = [interp.call(key, (x,)) for x in items]
    order = sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)  # stable, also reversed, as Python's
    return _like(seq, [items[i] for i in order])


def _groupby(interp: Interpreter, seq: Any, fn: Any) -> dict[Any, list[Any]]:
    """``seq``'s items grouped by ``fn(item)``, each group in ``seq``'s order (the groups in first-seen order)."""
    groups: dict[Any, list[Any]] = {}
    for item in seq:
        key = interp.call(fn, (item,))
        try:
            groups.setdefault(key, []).append(item)
        except TypeError as exc:
            kind = type(key).__name__
            raise GraftError("TYPING", f"a group key must be a Str, Int, Float or Bool, not {kind}") from exc
    return groups


def _ifelse(interp: Interpreter, condition: Any, then: Any, otherwise: Any) -> Any:
    branch = then if _truth(condition) else otherwise
    return interp.call(branch, ()) if callable(getattr(branch, "graft", None)) or hasattr(branch, "graft") else branch


def _call(interp: Interpreter, fn: Any, *args: Any, **kwargs: Any) -> Any:
    return interp.call(fn, args, kwargs)


def _length(x: Any) -> int:
    return len(x)


def _contains(container: Any, item: Any) -> bool:
    return item in container


def _get(container: Any, key: Any, default: Any = _NO_VALUE) -> Any:
    """``wf.get``: an item of a list, tuple or string by index or slice, or a dict's value (or ``default``)."""
    if isinstance(container, dict):
        if key in container:
            return container[key]
        if default is _NO_VALUE:
            raise GraftError("INVALID", f"key {key!r} is not in the dict")
        return default
    if isinstance(key, slice) or (isinstance(key, int) and not isinstance(key, bool)):
        try:
            return container[key]
        except IndexError as exc:
            raise GraftError("INVALID", f"index {key} is out of range for a length-{len(container)} sequence") from exc
        except TypeError as exc:
            raise GraftError("TYPING", f"cannot index a {type(container).__name__}") from exc
    raise GraftError("TYPING", f"cannot index {type(container).__name__} with {type(key).__name__}")


def _zip(*seqs: Any) -> Any:
    return _sized(list(zip(*seqs, strict=False)))


def _reversed(seq: Any) -> Any:
    return seq[::-1] if isinstance(seq, list | tuple | str) else _sized(list(reversed(seq)))


def _cast(target: type) -> Callable[[Any], Any]:
    def fn(value: Any) -> Any:
        if target is bool and not isinstance(value, bool | int | float | str):
            raise GraftError("TYPING", f"cannot cast {type(value).__name__} to Bool")
        return _sized(target(value))

    return fn


_NONE: tuple[str, ...] = ()
#: The str methods a graft may call: their parameters after the string (the client names them as Python
#: does) and how many of them are required.
STR_METHODS: dict[str, tuple[tuple[str, ...], int]] = {
    **dict.fromkeys((
        "upper", "lower", "capitalize", "title", "swapcase", "casefold", "isdigit", "isalpha", "isalnum",
        "isdecimal", "isnumeric", "isspace", "islower", "isupper", "istitle",
    ), (_NONE, 0)),
    "strip": (("chars",), 0), "lstrip": (("chars",), 0), "rstrip": (("chars",), 0),
    "split": (("sep", "maxsplit"), 0), "rsplit": (("sep", "maxsplit"), 0), "splitlines": (("keepends",), 0),
    "replace": (("old", "new", "count"), 2), "zfill": (("width",), 1), "center": (("width", "fillchar"), 1),
    "ljust": (("width", "fillchar"), 1), "rjust": (("width", "fillchar"), 1),
    "startswith": (("prefix", "start", "end"), 1), "endswith": (("suffix", "start", "end"), 1),
    "find": (("sub", "start", "end"), 1), "rfind": (("sub", "start", "end"), 1), "index": (("sub", "start", "end"), 1),
    "rindex": (("sub", "start", "end"), 1), "count": (("sub", "start", "end"), 1), "partition": (("sep",), 1),
    "rpartition": (("sep",), 1),
}  # fmt: skip


def _positional(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A str method's named arguments in their places (Python takes most of them only by position)."""
    if not kwargs:
        return args, kwargs
    given = list(args)
    for param in STR_METHODS[name][0][len(args) :]:
        if param not in kwargs:
            break
        given.append(kwargs.pop(param))
    if kwargs:
        raise GraftError("INVALID", f"Str.{name}: {', '.join(sorted(kwargs))} given without the arguments before")
    return tuple(given), {}


def _str_method(name: str) -> Callable[..., Any]:
    def fn(s: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(s, str):
            raise GraftError("TYPING", f"Str.{name} needs a Str, not {type(s).__name__}")
        args, kwargs = _positional(name, args, kwargs)
        size = _str_result_size(name, s, (*args, *kwargs.values()))
        if size > _max_items():  # checked before the string is made
            raise GraftError("OOM", f"Str.{name} would make {size} characters; the limit is {_max_items()}")
        try:
            return _sized(getattr(s, name)(*args, **kwargs))
        except (TypeError, ValueError, OverflowError) as exc:
            raise GraftError("INVALID", f"Str.{name}: {exc}") from exc

    return fn


def _str_format(template: Any, *args: Any, **kwargs: Any) -> Any:
    """``wf.Str.format``: fields by position or name only (no attribute or item access), widths bounded."""
    if not isinstance(template, str):
        raise GraftError("TYPING", f"Str.format needs a Str, not {type(template).__name__}")
    try:
        for _, field, spec, _ in string.Formatter().parse(template):
            if field and not (field.isdigit() or field.isidentifier()):
                raise GraftError("INVALID", f"Str.format fields are positions or names, not {field!r}")
            width = re.search(r"\d+", spec or "")
            if width is not None and int(width.group()) > _max_items():
                raise GraftError("OOM", f"Str.format width {width.group()} exceeds the limit of {_max_items()}")
        return _sized(template.format(*args, **kwargs))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise GraftError("INVALID", f"Str.format: {exc!r}") from exc


def _str_result_size(name: str, s: str, args: tuple[Any, ...]) -> int:
    """The length of ``s.<name>(*args)``, or an upper bound, worked out without making it."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        limit = args[2] if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0 else None
        found = s.count(old) if old else len(s) + 1
        found = found if limit is None else min(found, limit)
        return len(s) + found * (len(new) - len(old))
    if name in ("zfill", "center", "ljust", "rjust") and args and isinstance(args[0], int):
        return max(len(s), args[0])
    return 3 * len(s)  # the other methods at most triple a string's length (case mapping: 'ß'.upper())


def _join(sep: str, items: Any) -> Any:
    if not isinstance(sep, str) or not all(isinstance(i, str) for i in items):
        raise GraftError("TYPING", "Str.join needs a Str and a list of Str")
    size = sum(map(len, items)) + len(sep) * max(len(items) - 1, 0)
    if size > _max_items():
        raise GraftError("OOM", f"Str.join would make {size} characters; the limit is {_max_items()}")
    return sep.join(items)


def _datetime_from_string(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise GraftError("INVALID", f"not an ISO 8601 datetime: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _datetime_from_timestamp(seconds: Any) -> dt.datetime:
    _check_numbers("Datetime.from_timestamp", seconds)
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise GraftError("INVALID", f"no datetime at {seconds} seconds since the epoch") from exc


def _datetime_create(
    year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=dt.UTC)


def _timedelta_create(
    days: float = 0, seconds: float = 0, microseconds: float = 0, milliseconds: float = 0, minutes: float = 0,
    hours: float = 0, weeks: float = 0,
) -> dt.timedelta:  # fmt: skip
    return dt.timedelta(days, seconds, microseconds, milliseconds, minutes, hours, weeks)


_ATTRS = {
    "year", "month", "day", "hour", "minute", "second", "microsecond", "days", "seconds", "microseconds",
}  # fmt: skip


def _getattr(obj: Any, name: str) -> Any:
    if name == "total_seconds" and isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if name not in _ATTRS or not isinstance(obj, dt.datetime | dt.timedelta):
        raise GraftError("TYPING", f"no attribute {name!r} on {type(obj).__name__}")
    return getattr(obj, name)


def _math(fn: Callable[[float], float]) -> Callable[[Any], float]:
    def wrapped(x: Any) -> float:
        _check_numbers(fn.__name__, x)
        return fn(x)

    return wrapped


def _logic(name: str, op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def fn(a: Any, b: Any) -> Any:
        if not (isinstance(a, bool) and isinstance(b, bool)):
            raise GraftError("TYPING", f"{name} needs Bool operands, not {type(a).__name__} and {type(b).__name__}")
        return op(a, b)

    return fn


def _not(a: Any) -> bool:
    if not isinstance(a, bool):
        raise GraftError("TYPING", f"not needs a Bool, not {type(a).__name__}")
    return not a


def _int_op(name: str, op: Callable[[int, int], int]) -> Callable[[Any, Any], int]:
    def fn(a: Any, b: Any) -> int:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
            raise GraftError("TYPING", f"{name} needs Int operands")
        if name == "lshift" and b > _max_bits():
            raise GraftError("OOM", "shift too large")
        return op(a, b)

    return fn


def _compare(name: str, op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def fn(a: Any, b: Any) -> bool:
        if (_number(a) and _number(b)) or type(a) is type(b) or name in {"eq", "ne"}:
            return op(a, b)
        raise GraftError("TYPING", f"cannot compare {type(a).__name__} and {type(b).__name__} with {name}")

    return fn
