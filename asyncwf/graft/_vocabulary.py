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
from asyncwf.graft import _imagery as imagery
from asyncwf.graft import _imagery_tools as tools
from asyncwf.graft import _raster as raster
from asyncwf.graft._interpreter import Builtin

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

        return imagery.unary(name, fn)

    table = [
        n("wf.numpy.add", impl._add, "add"),
        n("wf.numpy.subtract", impl._sub, "sub"),
        n("wf.numpy.multiply", impl._mul, "mul"),
        n(
            "wf.numpy.true_divide",
            imagery.binary("truediv", impl._arith("div", operator.truediv)),
            "wf.numpy.divide",
            "div",
            "truediv",
            "wf.div",
            "wf.truediv",
            "wf.Image.truediv",
        ),
        n(
            "wf.numpy.floor_divide",
            imagery.binary("floordiv", impl._arith("floordiv", operator.floordiv)),
            "floordiv",
            "wf.floordiv",
        ),
        n(
            "wf.numpy.remainder",
            imagery.binary("mod", impl._arith("mod", operator.mod)),
            "wf.numpy.mod",
            "mod",
            "wf.mod",
        ),
        n("wf.numpy.power", imagery.binary("pow", impl._pow), "pow", "wf.pow", "wf.Image.pow"),
        n("wf.numpy.negative", unary("neg", operator.neg), "wf.neg", "neg", "wf.Image.negative"),
        n("wf.pos", unary("pos", operator.pos), "pos"),
        n("wf.numpy.absolute", unary("abs", abs), "wf.abs", "abs", "wf.Image.abs"),
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
        aliases = (f"bit{name}", f"wf.Image.{name}") if name != "xor" else (f"bit{name}",)
        table.append(n(f"wf.{name}", imagery.binary(name, impl._int_op(name, op)), *aliases))
    table += [
        n("wf.numpy.logical_not", imagery.unary("invert", impl._not), "not", "wf.Image.logical_not"),
        n("wf.lshift", impl._int_op("lshift", operator.lshift), "lshift"),
        n("wf.rshift", impl._int_op("rshift", operator.rshift), "rshift"),
        n("wf.invert", imagery.unary("invert", _invert), "invert"),
        *(
            n(f"wf.{t}.cast", impl._cast(py), f"{t}.cast")
            for t, py in (("Int", int), ("Float", float), ("Str", str), ("Bool", bool))
        ),
        n("wf.arctan2", imagery.binary("arctan2", _atan2), "wf.numpy.arctan2", "atan2"),
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
        name = fn.__name__
        dl_name = _ARC.get(name, name)  # (the client's names: wf.arcsin ...)
        read_as = [name, f"wf.numpy.{name}", *((f"wf.Image.{name}",) if name in _OLD_IMAGE_UNARY else ())]
        if dl_name != name:
            read_as += [f"wf.{name}", f"wf.numpy.{dl_name}"]
        generic = impl._math(fn)
        table.append(n(f"wf.{dl_name}", imagery.unary(dl_name, generic) if dl_name in imagery.UNARY else generic,
                       *read_as))  # fmt: skip
    table.append(n("wf.square", imagery.unary("square", lambda x: impl._mul(x, x)), "wf.numpy.square"))
    return table


_ARC = {"asin": "arcsin", "acos": "arccos", "atan": "arctan"}


#: The names asyncwf's earlier proxies wrote for these operations on Images (grafts stored then still run).
_OLD_IMAGE_UNARY = ("log", "sqrt", "exp", "log10", "sin", "cos", "tan")


def _atan2(y: Any, x: Any) -> float:
    impl._check_numbers("arctan2", y, x)
    return math.atan2(y, x)


def _invert(a: Any) -> int:
    return impl._int_op("invert", lambda x, _: ~x)(a, 0)


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
        c("wf.add", imagery.binary("add", impl._add), "wf.Image.add"),
        c("wf.sub", imagery.binary("sub", impl._sub), "wf.Image.sub"),
        c("wf.mul", imagery.binary("mul", impl._mul), "wf.Image.mul"),
        *(
            c(f"wf.{name}", imagery.binary(name, impl._compare(name, op)), f"wf.Image.{name}")
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
        t("wf.getattr", imagery.attributes(impl._getattr), "getattr"),
    ]


def _functions() -> list[Builtin]:
    return [
        builtin("functions", "wf.ifelse", impl._ifelse, "ifelse", higher_order=True),
        builtin("functions", "call", impl._call, higher_order=True, keywords="*"),
    ]


def _rasters() -> list[Builtin]:
    def r(name: str, fn: Callable[..., Any], *aliases: str, **kw: Any) -> Builtin:
        return builtin("rasters", name, fn, *aliases, **kw)

    table = [
        r("wf.Image.load", imagery.load, "wf.Image.from_id", keywords=("resampler", "processing_level")),
        r(
            "wf.ImageCollection.from_id",
            imagery.collection_from_id,
            keywords=("start_datetime", "end_datetime", "limit", "resampler", "processing_level"),
        ),
        r("wf.pick_bands", imagery.pick_bands, "wf.Image.pick_bands", keywords=("allow_missing",)),
        r("wf.rename_bands_positionally", imagery.rename_bands_positionally, "wf.Image.rename_bands"),
        r("wf.rename_bands", imagery.rename_bands),
        r("wf.mask", imagery.mask, "wf.Image.mask", keywords=("replace",)),
        r("wf.getmask", imagery.getmask, "wf.Image.getmask"),
        r("wf.concat_bands", imagery.concat_bands, "wf.Image.concat_bands"),
        r("wf.clip_values", imagery.clip_values, "wf.Image.clip"),
        r("wf.mosaic", imagery.mosaic, "wf.ImageCollection.mosaic", keywords=("reverse",)),
        r("wf.nbands", imagery.nbands),
        r("wf.map_imagery", imagery.map_imagery, higher_order=True),
        r("wf.reduction", imagery.reduction, keywords=("axis",)),
        *(r(f"wf.{op}", imagery.reducer(op)) for op in raster.REDUCERS),
        r("wf.with_properties", tools.with_properties, keywords="*"),
        r("wf.without_properties", tools.without_properties),
        r("wf.scale_values", tools.scale_values),
        r("wf.value_at", tools.value_at),
        r("wf.coords_to_index", tools.coords_to_index),
        r("wf.index_to_coords", tools.index_to_coords),
        r("wf.ImageCollection.head", tools.head),
        r("wf.ImageCollection.tail", tools.tail),
        r("wf.ImageCollection.partition", tools.partition),
        r("wf.ImageCollection.from_images", tools.from_images),
        r("wf.concat", tools.concat),
        r("wf.map_bands", tools.map_bands, higher_order=True),
        r("wf.map_bands_imagery", tools.map_bands_imagery, higher_order=True),
        r("wf.ImageCollection.sortby_composite", tools.sortby_composite, keywords=("operation",)),
        r("wf.ImageCollection.map_window", tools.map_window, higher_order=True),
        r("wf.ImageCollection.map_window_ic", tools.map_window_imagery, higher_order=True),
        r("wf.Image.reduce", _old_image_reduce, keywords=("axis",)),
        *(r(f"wf.ImageCollection.{op}", _old_composite(op)) for op in raster.REDUCERS if op != "count"),
        r("wf.Image.where", raster.where),
        r("wf.Image.fill", raster.fill),
        r("wf.Image.properties", raster.properties),
        r("wf.Image.bands", raster.band_names),
        r("wf.ImageCollection.groupby", impl._groupby, higher_order=True),
    ]
    return table


def _old_image_reduce(img: Any, operation: Any, axis: Any = "pixels") -> Any:
    """``wf.Image.reduce``, as asyncwf's earlier proxies wrote ``img.mean()`` (over pixels by default)."""
    return imagery.reduction(img, operation, None if axis == "all" else axis)


def _old_composite(operation: str) -> Callable[[Any], Any]:
    """``wf.ImageCollection.<op>(col)``, as asyncwf's earlier proxies wrote composites."""

    def fn(col: Any) -> Any:
        return imagery.reduction(col, operation, "images")

    return fn


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
