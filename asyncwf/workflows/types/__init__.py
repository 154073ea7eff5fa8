"""Proxy types: lazy values whose operations build grafts."""

from asyncwf.workflows.types._containers import Dict, List, Tuple
from asyncwf.workflows.types._containers import zip_ as zip
from asyncwf.workflows.types._core import GenericProxytype, Proxytype, ProxyTypeError
from asyncwf.workflows.types._datetimes import Datetime, Timedelta
from asyncwf.workflows.types._function import (
    Function,
    ceil,
    cos,
    e,
    exp,
    floor,
    ifelse,
    inf,
    log,
    log2,
    log10,
    nan,
    parameter,
    pi,
    range,
    sin,
    sqrt,
    tan,
)
from asyncwf.workflows.types._image import Image, ImageCollection, where
from asyncwf.workflows.types._primitives import Any_ as Any
from asyncwf.workflows.types._primitives import Bool, Float, Int, NoneType, Number, Primitive, Str
from asyncwf.workflows.types._proxify import proxify

__all__ = [
    "Any",
    "Bool",
    "Datetime",
    "Dict",
    "Float",
    "Function",
    "GenericProxytype",
    "Image",
    "ImageCollection",
    "Int",
    "List",
    "NoneType",
    "Number",
    "Primitive",
    "ProxyTypeError",
    "Proxytype",
    "Str",
    "Timedelta",
    "Tuple",
    "ceil",
    "cos",
    "e",
    "exp",
    "floor",
    "ifelse",
    "inf",
    "log",
    "log10",
    "log2",
    "nan",
    "parameter",
    "pi",
    "proxify",
    "range",
    "sin",
    "sqrt",
    "tan",
    "where",
    "zip",
]
