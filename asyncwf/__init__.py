"""asyncwf: an asyncio-native workflow SDK and the backend that runs it.

Every operation that does I/O is a coroutine, every stream an async
generator; :mod:`asyncwf.blocking` offers the same API synchronously.
"""

import importlib
from typing import TYPE_CHECKING, Any

from asyncwf import exceptions
from asyncwf._context import JobContext, JobOutput, KindRegistry
from asyncwf._model import JobEvent, JobFailure, JobInfo, JobState, LogRecord, Progress, ProgressUpdate
from asyncwf.client import Auth, Client, RemoteExecutor, RetryPolicy

if TYPE_CHECKING:
    from asyncwf import workflows
    from asyncwf.workflows import (
        Bool,
        Datetime,
        Dict,
        Float,
        Function,
        Int,
        Job,
        List,
        NoneType,
        Number,
        Str,
        Timedelta,
        Tuple,
        Workflow,
        compute,
        ifelse,
        parameter,
        proxify,
        publish,
        retrieve,
        use,
    )

__version__ = "0.1.0"

__all__ = [
    "Auth",
    "Bool",
    "Client",
    "Datetime",
    "Dict",
    "Float",
    "Function",
    "Int",
    "Job",
    "JobContext",
    "JobEvent",
    "JobFailure",
    "JobInfo",
    "JobOutput",
    "JobState",
    "KindRegistry",
    "List",
    "LogRecord",
    "NoneType",
    "Number",
    "Progress",
    "ProgressUpdate",
    "RemoteExecutor",
    "RetryPolicy",
    "Str",
    "Timedelta",
    "Tuple",
    "Workflow",
    "compute",
    "exceptions",
    "ifelse",
    "parameter",
    "proxify",
    "publish",
    "retrieve",
    "use",
    "workflows",
]

#: Names imported when first used: ``import asyncwf.worker`` (a task script) does not pay for the proxy types.
_LAZY = frozenset({"Bool", "Datetime", "Dict", "Float", "Function", "Int", "Job", "List", "NoneType", "Number", "Str",
                   "Timedelta", "Tuple", "Workflow", "compute", "ifelse", "parameter", "proxify", "publish",
                   "retrieve", "use"})  # fmt: skip


def __getattr__(name: str) -> Any:
    if name == "workflows" or name in _LAZY:
        module = importlib.import_module("asyncwf.workflows")
        value = module if name == "workflows" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'asyncwf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


for _name in __all__:
    if _name == "workflows" or _name in _LAZY:
        continue
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(("asyncwf._", "asyncwf.client._")):
        try:
            _obj.__module__ = "asyncwf"
        except (AttributeError, TypeError):
            pass
del _name, _obj
