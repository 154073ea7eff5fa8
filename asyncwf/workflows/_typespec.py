"""Typespecs (the JSON names of proxy types) and turning computed values into Python results."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from asyncwf.exceptions import InvalidArgument
from asyncwf.workflows.types._containers import Dict, List, Tuple
from asyncwf.workflows.types._core import ProxyTypeError
from asyncwf.workflows.types._datetimes import Datetime, Timedelta
from asyncwf.workflows.types._function import Function
from asyncwf.workflows.types._image import Image, ImageCollection
from asyncwf.workflows.types._primitives import Any_, Bool, Float, Int, NoneType, Number, Str

__all__ = ["ResultTooLarge", "decode_value", "encode_value", "from_typespec", "to_typespec", "unmarshal"]

_NAMED: dict[str, type] = {
    "Any": Any_, "Bool": Bool, "Int": Int, "Float": Float, "Number": Number, "Str": Str, "NoneType": NoneType,
    "Datetime": Datetime, "Timedelta": Timedelta, "List": List, "Tuple": Tuple, "Dict": Dict, "Function": Function,
    "Image": Image, "ImageCollection": ImageCollection,
}  # fmt: skip
_NAMES = {cls: name for name, cls in _NAMED.items()}
_COMPUTABLE = (Any_, Bool, Int, Float, Number, Str, NoneType, Datetime, Timedelta, List, Tuple, Dict, Image,
               ImageCollection)  # fmt: skip


def to_typespec(cls: type) -> Any:
    """``Int`` → ``"Int"``; ``List[Int]`` → ``{"type": "List", "params": ["Int"]}``."""
    base: Any = getattr(cls, "_generic_base", None) or cls
    if base._blocking:  # a blocking proxy type has its async original's typespec
        base = base._Async
    name = _NAMES.get(base)
    if name is None:
        raise ProxyTypeError(f"{cls.__name__} has no typespec")
    params = getattr(cls, "_type_params", ())
    if not params:
        return name
    return {"type": name, "params": [_param_spec(p) for p in params]}


def _param_spec(param: Any) -> Any:
    if isinstance(param, dict):
        return [[k, to_typespec(v)] for k, v in param.items()]
    return to_typespec(param)


def from_typespec(spec: Any) -> type:
    """The proxy type of a typespec; raises InvalidArgument for an unknown or malformed one.

    Both spellings are read: asyncwf's JSON (``"Int"``, ``{"type": "List", "params": ["Int"]}``, a dict
    parameter as ``[[name, spec], ...]``) and the Descartes Labs client's ``Typespec`` protobuf as JSON
    (``{"type": "Int"}``, ``{"composite": {"type": "List", "params": [{"type": "Int"}]}}``, a dict parameter as
    ``{"map": {"items": [{"key": {"primitive": {"string": name}}, "val": spec}]}}``).
    """
    if isinstance(spec, str):
        cls = _NAMED.get(spec)
        if cls is None:
            raise InvalidArgument(f"unknown type {spec!r}")
        return cls
    if isinstance(spec, dict) and set(spec) == {"type"} and isinstance(spec["type"], str):
        return from_typespec(spec["type"])
    if isinstance(spec, dict) and set(spec) == {"composite"} and isinstance(spec["composite"], dict):
        return from_typespec({"type": spec["composite"].get("type"), "params": spec["composite"].get("params", [])})
    if isinstance(spec, dict) and isinstance(spec.get("type"), str) and isinstance(spec.get("params"), list):
        base = from_typespec(spec["type"])
        params = tuple(_param(p, spec) for p in spec["params"])
        try:
            return base[params]  # type: ignore[no-any-return,index]
        except ProxyTypeError as exc:
            raise InvalidArgument(f"bad typespec {spec!r}: {exc}") from exc
    raise InvalidArgument(f"malformed typespec {spec!r}")


def _param(param: Any, spec: Any) -> Any:
    """A type parameter: a typespec, or named argument types (asyncwf's pairs or DL's ``map``)."""
    if isinstance(param, list):
        if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in param):
            raise InvalidArgument(f"malformed named types in typespec {spec!r}")
        return {k: from_typespec(v) for k, v in param}
    if isinstance(param, dict) and set(param) == {"map"}:
        items = (param["map"] or {}).get("items", []) if isinstance(param["map"], dict) else None
        if not isinstance(items, list):
            raise InvalidArgument(f"malformed map in typespec {spec!r}")
        named = {}
        for item in items:
            key = item.get("key", {}).get("primitive", {}) if isinstance(item, dict) else {}
            name = key.get("string", key.get("string_")) if isinstance(key, dict) else None
            if not isinstance(name, str):
                raise InvalidArgument(f"named types in typespec {spec!r} need string keys")
            named[name] = from_typespec(item.get("val"))
        return named
    return from_typespec(param)


def check_computable(cls: type) -> None:
    if not issubclass(cls, _COMPUTABLE) or issubclass(cls, Function):
        raise ProxyTypeError(f"{cls.__name__} is not a computable type")


# --- values on the wire: JSON with tags for what JSON lacks ----------------------


#: Integers longer than this travel in hex: 4,300 decimal digits is Python's default limit.
DECIMAL_INT_BITS = 14_000


class ResultTooLarge(ValueError):
    """A computed value has more items, or deeper nesting, than its encoding may hold."""


def encode_value(value: Any, max_items: int | None = None, max_depth: int = 512) -> Any:
    """A JSON-able form of a computed value (tuples, dicts with any keys, datetimes, inf/nan, huge ints).

    With ``max_items``, the size of the encoding is worked out first, without
    making it: a value shared by several containers is written (and counted)
    once for each, so a small graft of shared lists can stand for an encoding
    of billions of items. More than ``max_items``, or nesting deeper than
    ``max_depth``, raises :class:`ResultTooLarge` before anything is made.
    """
    if max_items is not None:
        size = _encoded_size(value, {}, max_depth)
        if size > max_items:
            raise ResultTooLarge(f"the result has too many items to encode ({size})")
    return _encode(value, max_depth)


def _encoded_size(value: Any, seen: dict[int, int], depth: int) -> int:
    """How many items encoding ``value`` writes; each distinct container is visited once (``seen``)."""
    if not isinstance(value, list | tuple | dict):
        return 1
    known = seen.get(id(value))
    if known is not None:
        return known
    if depth <= 0:
        raise ResultTooLarge("the result is nested too deeply to encode")
    items = value.items() if isinstance(value, dict) else ((v,) for v in value)
    size = 1 + sum(_encoded_size(part, seen, depth - 1) for item in items for part in item)
    seen[id(value)] = size
    return size


def _encode(value: Any, depth: int) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > DECIMAL_INT_BITS:
        return {"$int": hex(value)}  # Python will not print it in decimal (sys.get_int_max_str_digits)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if depth <= 0 and isinstance(value, list | tuple | dict):
        raise ResultTooLarge("the result is nested too deeply to encode")
    if isinstance(value, list):
        return [_encode(v, depth - 1) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, depth - 1) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[_encode(k, depth - 1), _encode(v, depth - 1)] for k, v in value.items()]}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    encode = getattr(value, "__wf_encode__", None)
    if encode is not None:  # an image (asyncwf.graft._raster)
        return encode()
    raise TypeError(f"a {type(value).__name__} value cannot be a result (functions are not computable)")


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        ((tag, inner),) = value.items()
        if tag == "$float":
            return float(inner)
        if tag == "$int":
            return int(inner, 16)
        if tag == "$tuple":
            return tuple(decode_value(v) for v in inner)
        if tag == "$dict":
            return {_hashable(decode_value(k)): decode_value(v) for k, v in inner}
        if tag == "$datetime":
            return dt.datetime.fromisoformat(inner)
        if tag == "$timedelta":
            return dt.timedelta(seconds=inner)
        if tag == "$image":
            from asyncwf.workflows._image_result import ImageResult

            return ImageResult.from_wire(inner)
        raise InvalidArgument(f"unknown value tag {tag!r}")
    return value


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def unmarshal(cls: type, value: Any) -> Any:
    """The Python result of type ``cls`` from a decoded value."""
    if issubclass(cls, Bool):
        return bool(value)
    if issubclass(cls, Int):
        return int(value)
    if issubclass(cls, Float):
        return float(value)
    if issubclass(cls, List):
        item = cls._type_params[0] if cls._type_params else Any_
        return [unmarshal(item, v) for v in value]
    if issubclass(cls, Tuple):
        types = cls._type_params or (Any_,) * len(value)
        return tuple(unmarshal(t, v) for t, v in zip(types, value, strict=True))
    if issubclass(cls, Dict):
        k, v = cls._type_params or (Any_, Any_)
        return {unmarshal(k, key): unmarshal(v, val) for key, val in value.items()}
    return value
