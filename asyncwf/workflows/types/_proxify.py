"""proxify: turn a Python value into the matching proxy object."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from asyncwf.workflows.types._core import Proxytype, ProxyTypeError, of

__all__ = ["proxify"]


def proxify(obj: Any) -> Proxytype:
    """The proxy of ``obj``: bool → Bool (not Int, unlike the original), int → Int, float → Float,
    str → Str, None → NoneType, datetime → Datetime, timedelta → Timedelta, a homogeneous list →
    List[T], a tuple or mixed list → Tuple[...], a homogeneous dict → Dict[K, V], a callable →
    Function over Any arguments. Proxy objects pass through."""
    return cast(Proxytype, _proxify(obj))


def _proxify(obj: Any) -> Any:
    from asyncwf.workflows.types import _containers as c
    from asyncwf.workflows.types import _datetimes as d
    from asyncwf.workflows.types import _function as f
    from asyncwf.workflows.types import _primitives as p

    if isinstance(obj, Proxytype):
        return obj
    if isinstance(obj, bool):
        return p.Bool._promote(obj)
    if isinstance(obj, int):
        return p.Int._promote(obj)
    if isinstance(obj, float):
        return p.Float._promote(obj)
    if isinstance(obj, str):
        return p.Str._promote(obj)
    if obj is None:
        return p.NoneType._promote(None)
    if isinstance(obj, dt.datetime):
        return d.Datetime._promote(obj)
    if isinstance(obj, dt.timedelta):
        return d.Timedelta._promote(obj)
    if isinstance(obj, list | tuple):
        items = [proxify(x) for x in obj]
        types = {type(x) for x in items}
        if isinstance(obj, list) and len(types) == 1:
            item_type = types.pop()
            return of(c.List, item_type)._promote(items)
        if isinstance(obj, list) and not obj:
            raise ProxyTypeError("cannot tell the item type of an empty list; use List[T]([])")
        return c.Tuple[tuple(type(x) for x in items)]._promote(items)  # type: ignore[no-any-return]
    if isinstance(obj, dict):
        if not obj:
            raise ProxyTypeError("cannot tell the types of an empty dict; use Dict[K, V]({})")
        keys = [proxify(k) for k in obj]
        values = [proxify(v) for v in obj.values()]
        key_types, value_types = {type(k) for k in keys}, {type(v) for v in values}
        if len(key_types) != 1 or len(value_types) != 1:
            raise ProxyTypeError("dict keys and values must each have one type; use Dict[K, Any]")
        return of(c.Dict, key_types.pop(), value_types.pop())._promote(obj)
    if callable(obj):
        import inspect

        from asyncwf.workflows.types._primitives import Any_

        n = len([q for q in inspect.signature(obj).parameters.values() if q.default is q.empty])
        return f.Function.from_callable(obj, *([Any_] * n))
    raise ProxyTypeError(f"cannot proxify a {type(obj).__name__}")
