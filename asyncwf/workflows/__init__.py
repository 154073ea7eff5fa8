"""Compute workflows: lazy proxy objects, grafts, Jobs (the Descartes Labs Workflows API, async).

::

    from asyncwf.workflows import Int, compute, parameter

    x = parameter("x", Int)
    assert await compute(Int(1) + x, x=41) == 42
    assert await (Int(1) + 2).compute() == 3
"""

from asyncwf.client import Client
from asyncwf.exceptions import (
    JobAuth,
    JobComputeError,
    JobDeadlineExceeded,
    JobInterrupt,
    JobInvalid,
    JobInvalidTyping,
    JobOOM,
    JobTerminated,
    TimeoutError,
)
from asyncwf.graft._syntax import isolate_keys, parametrize
from asyncwf.workflows import numpy
from asyncwf.workflows._catalog import add_image, get_image, list_images
from asyncwf.workflows._channel import CHANNEL as __channel__
from asyncwf.workflows._foreign import compute_graft, graft_object
from asyncwf.workflows._geocontext import GeoContext
from asyncwf.workflows._image_result import ImageResult
from asyncwf.workflows._job import Job
from asyncwf.workflows._toplevel import compute
from asyncwf.workflows._workflow import Workflow, publish, retrieve, use
from asyncwf.workflows._xyz import XYZ, XYZErrorListener
from asyncwf.workflows.types import (
    Any,
    Bool,
    Datetime,
    Dict,
    Float,
    Function,
    Image,
    ImageCollection,
    Int,
    List,
    NoneType,
    Number,
    Proxytype,
    ProxyTypeError,
    Str,
    Timedelta,
    Tuple,
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
    proxify,
    range,
    sin,
    sqrt,
    tan,
    where,
    zip,
)

__all__ = [
    "Any",
    "Bool",
    "Client",
    "Datetime",
    "Dict",
    "Float",
    "Function",
    "GeoContext",
    "Image",
    "ImageCollection",
    "ImageResult",
    "Int",
    "Job",
    "JobAuth",
    "JobComputeError",
    "JobDeadlineExceeded",
    "JobInterrupt",
    "JobInvalid",
    "JobInvalidTyping",
    "JobOOM",
    "JobTerminated",
    "List",
    "NoneType",
    "Number",
    "ProxyTypeError",
    "Proxytype",
    "Str",
    "Timedelta",
    "TimeoutError",
    "Tuple",
    "Workflow",
    "XYZ",
    "XYZErrorListener",
    "__channel__",
    "add_image",
    "ceil",
    "compute",
    "compute_graft",
    "cos",
    "e",
    "exp",
    "floor",
    "get_image",
    "graft_object",
    "ifelse",
    "inf",
    "isolate_keys",
    "list_images",
    "log",
    "log10",
    "log2",
    "nan",
    "numpy",
    "parameter",
    "parametrize",
    "pi",
    "proxify",
    "publish",
    "range",
    "retrieve",
    "sin",
    "sqrt",
    "tan",
    "use",
    "where",
    "zip",
]
