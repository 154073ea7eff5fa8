"""The table of builtins a graft may call, by domain: each with its Descartes Labs 1.12 name, the other
names it is read under (1.0's bare names, numpy synonyms) and the arguments it takes.

The interpreter checks every application against its builtin's arguments before calling it, so a wrong
count or keyword is a TYPING error naming the builtin, its signature and the graft key. Arguments are
read from the implementation's own signature unless declared (variadic ones, those the client names).
``docs/reference/vocabulary.md`` is written from this table (``scripts/gen_vocabulary.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import operator
from collections.abc import Callable, Iterable
from typing import Any, Literal

from asyncwf.graft import _builtins as impl
from asyncwf.graft._interpreter import Builtin
from asyncwf.graft._raster import RASTER_OPS

__all__ = ["BUILTINS", "DOMAINS", "TABLE"]

#: The domains, in the order the docs list them.
DOMAINS = ("numbers", "containers", "dicts", "strings", "datetimes", "functions", "rasters")
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def builtin(
    domain: str,
    name: str,
    fn: Callable[..., Any],
    *aliases: str,
    keywords: Iterable[str] | Literal["*"] = (),
    params: tuple[str, ...] | None = None,
    required: int | None = None,
    higher_order: bool = False,
) -> Builtin:
    """One entry: its arguments from ``fn``'s signature unless ``params``/``required`` are given;
    ``keywords="*"`` takes any name."""
    signature = list(inspect.signature(fn).parameters.values())[1 if higher_order else 0 :]
    positional = [p for p in signature if p.kind in _POSITIONAL]
    variadic = params is None and any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature)
    if params is None:
        params = tuple(p.name for p in positional)
    if required is None:
        required = sum(p.default is inspect.Parameter.empty for p in positional)
    any_keywords = keywords == "*"
    return Builtin(
        name, fn, higher_order, params=params, required=required, variadic=variadic,
        keywords=frozenset(() if any_keywords else keywords), any_keywords=any_keywords, domain=domain,
        aliases=aliases,
    )  # fmt: skip


def _numbers() -> list[Builtin]:
    def n(name: str, fn: Callable[..., Any], *aliases: str, **kw: Any) -> Builtin:
        return builtin("numbers", name, fn, *aliases, **kw)

    def unary(name: str, op: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def fn(x: Any) -> Any:
            return impl._arith(name, lambda a, _: op(a))(x, 0)

        return fn

    table = [
        n("wf.numpy.add", impl._add, "add"),
        n("wf.numpy.subtract", impl._sub, "sub"),
        n("wf.numpy.multiply", impl._mul, "mul"),
        n("wf.numpy.true_divide", impl._arith("div", operator.truediv), "wf.numpy.divide", "div", "truediv"),
        n("wf.numpy.floor_divide", impl._arith("floordiv", operator.floordiv), "floordiv"),
        n("wf.numpy.remainder", impl._arith("mod", operator.mod), "wf.numpy.mod", "mod"),
        n("wf.numpy.power", impl._pow, "pow"),
        n("wf.numpy.negative", unary("neg", operator.neg), "wf.neg", "neg"),
        n("wf.pos", unary("pos", operator.pos), "pos"),
        n("wf.numpy.absolute", unary("abs", abs), "wf.abs", "abs"),
        n("wf.divmod", lambda a, b: tuple(impl._arith("divmod", divmod)(a, b)), "divmod"),
    ]
    for np_name, name, op in (
        ("less", "lt", operator.lt),
        ("less_equal", "le", operator.le),
        ("greater", "gt", operator.gt),
        ("greater_equal", "ge", operator.ge),
        ("equal", "eq", operator.eq),
        ("not_equal", "ne", operator.ne),
    ):
        table.append(n(f"wf.numpy.{np_name}", impl._compare(name, op), name))
    for name, op in (("and", operator.and_), ("or", operator.or_), ("xor", operator.xor)):
        table.append(n(f"wf.numpy.logical_{name}", impl._logic(name, op), name))
        table.append(n(f"wf.{name}", impl._int_op(name, op), f"bit{name}"))
    table += [
        n("wf.numpy.logical_not", impl._not, "not"),
        n("wf.lshift", impl._int_op("lshift", operator.lshift), "lshift"),
        n("wf.rshift", impl._int_op("rshift", operator.rshift), "rshift"),
        n("wf.invert", lambda a: impl._int_op("invert", lambda x, _: ~x)(a, 0), "invert"),
        *(
            n(f"wf.{t}.cast", impl._cast(py), f"{t}.cast")
            for t, py in (("Int", int), ("Float", float), ("Str", str), ("Bool", bool))
        ),
        n("wf.arctan2", lambda y, x: math.atan2(y, x), "wf.numpy.arctan2", "atan2"),
        n("wf.e", lambda: math.e),
    ]
    for fn in (
        math.sqrt,
        math.log,
        math.log10,
        math.log2,
        math.exp,
        math.sin,
        math.cos,
        math.tan,
        math.asin,
        math.acos,
        math.atan,
        math.floor,
        math.ceil,
        math.log1p,
        math.expm1,
    ):
        table.append(n(f"wf.{fn.__name__}", impl._math(fn), fn.__name__, f"wf.numpy.{fn.__name__}"))
    return table


def _containers() -> list[Builtin]:
    def c(name: str, fn: Callable[..., Any], *aliases: str, **kw: Any) -> Builtin:
        return builtin("containers", name, fn, *aliases, **kw)

    return [
        c("wf.list", lambda *items: impl._sized(list(items)), "list"),
        c("wf.tuple", lambda *items: impl._sized(tuple(items)), "tuple"),
        c("wf.get", impl._get, "getitem"),
        c("wf.Slice.create", impl._slice, "slice", keywords=("start", "stop", "step")),
        c("wf.length", impl._length, "length", "len"),
        c("wf.contains", impl._contains, "contains"),
        c("wf.reversed", impl._reversed, "reversed"),
        c(
            "wf.range",
            impl._range,
            "range",
            params=("start", "stop", "step"),
            required=1,
            keywords=("start", "stop", "step"),
        ),
        c("wf.zip", impl._zip, "zip"),
        c("wf.add", impl._add),
        c("wf.sub", impl._sub),
        c("wf.mul", impl._mul),
        *(
            c(f"wf.{name}", impl._compare(name, op))
            for name, op in (
                ("eq", operator.eq),
                ("ne", operator.ne),
                ("lt", operator.lt),
                ("le", operator.le),
                ("gt", operator.gt),
                ("ge", operator.ge),
            )
        ),
        c("wf.map", impl._map, "map", higher_order=True),
        c("wf.filter", impl._filter, "filter", higher_order=True),
        c("wf.reduce", impl._reduce, "reduce", higher_order=True, keywords=("initial",)),
        c("wf.sorted", impl._sorted, "sorted", higher_order=True, keywords=("key", "reverse")),
        c("min", lambda seq: min(seq)),
        c("max", lambda seq: max(seq)),
        c("sum", lambda seq: sum(seq)),
    ]


def _dicts() -> list[Builtin]:
    def d(name: str, fn: Callable[..., Any], *aliases: str, **kw: Any) -> Builtin:
        return builtin("dicts", name, fn, *aliases, **kw)

    return [
        d("wf.dict.create", impl._dict_create, "dict.create", keywords="*"),
        d("wf.dict.from_pairs", impl._dict_from_pairs, "dict.from_pairs"),
        d("wf.dict.keys", lambda d: list(d.keys()), "dict.keys"),
        d("wf.dict.values", lambda d: list(d.values()), "dict.values"),
        d("wf.dict.items", lambda d: list(d.items()), "dict.items"),
    ]


def _strings() -> list[Builtin]:
    table = [
        builtin(
            "strings",
            f"wf.Str.{name}",
            impl._str_method(name),
            f"Str.{name}",
            params=("s", *params),
            required=1 + required,
            keywords=params,
        )
        for name, (params, required) in impl.STR_METHODS.items()
    ]
    table.append(builtin("strings", "wf.Str.join", impl._join, "Str.join"))
    table.append(builtin("strings", "wf.Str.format", impl._str_format, "Str.format", keywords="*"))
    return table


def _datetimes() -> list[Builtin]:
    def t(name: str, fn: Callable[..., Any], *aliases: str, **kw: Any) -> Builtin:
        return builtin("datetimes", name, fn, *aliases, **kw)

    dt_parts = ("year", "month", "day", "hour", "minute", "second", "microsecond")
    td_parts = ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks")
    return [
        t("wf.datetime.from_components", impl._datetime_create, "datetime.from_components", keywords=dt_parts),
        t("wf.datetime.from_string", impl._datetime_from_string, "datetime.from_string"),
        t("wf.datetime.from_timestamp", impl._datetime_from_timestamp, "datetime.from_timestamp"),
        t("wf.timedelta.from_components", impl._timedelta_create, "timedelta.from_components", keywords=td_parts),
        t("wf.timedelta.total_seconds", lambda td: impl._getattr(td, "total_seconds"), "timedelta.total_seconds"),
        t("wf.getattr", impl._getattr, "getattr"),
    ]


def _functions() -> list[Builtin]:
    return [
        builtin("functions", "wf.ifelse", impl._ifelse, "ifelse", higher_order=True),
        builtin("functions", "call", impl._call, higher_order=True, keywords="*"),
    ]


def _rasters() -> list[Builtin]:
    keywords = {"wf.Image.from_id": ("resampling", "resampler"), "wf.Image.reduce": ("axis",)}
    table = [builtin("rasters", name, fn, keywords=keywords.get(name, ())) for name, fn in RASTER_OPS.items()]
    table.append(builtin("rasters", "wf.ImageCollection.groupby", impl._groupby, higher_order=True))
    return table


#: Every builtin by domain, under its DL 1.12 name.
TABLE: dict[str, list[Builtin]] = {
    "numbers": _numbers(),
    "containers": _containers(),
    "dicts": _dicts(),
    "strings": _strings(),
    "datetimes": _datetimes(),
    "functions": _functions(),
    "rasters": _rasters(),
}


#: Every name a graft may call (DL names and aliases) → its builtin, whose ``name`` is the name called.
BUILTINS: dict[str, Builtin] = {}
for _entries in TABLE.values():
    for _entry in _entries:
        for _name in (_entry.name, *_entry.aliases):
            if _name in BUILTINS:
                raise RuntimeError(f"builtin {_name!r} is declared twice")
            BUILTINS[_name] = _entry if _name == _entry.name else dataclasses.replace(_entry, name=_name)
