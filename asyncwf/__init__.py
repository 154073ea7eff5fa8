"""asyncwf: an asyncio-native workflow SDK and the backend that runs it.

Every operation that does I/O is a coroutine, every stream an async
generator; :mod:`asyncwf.blocking` offers the same API synchronously.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncwf import exceptions, workflows
    from asyncwf._context import JobContext, JobOutput, KindRegistry
    from asyncwf._model import JobEvent, JobFailure, JobInfo, JobState, LogRecord, Progress, ProgressUpdate
    from asyncwf.client import Auth, Client, RemoteExecutor, RetryPolicy
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

#: Where each public name lives. Nothing is imported until first used, so ``import asyncwf.worker``
#: (a task script) or the pytest plugin do not pay for the client, the proxy types or the server.
_HOMES = {
    **dict.fromkeys(["Auth", "Client", "RemoteExecutor", "RetryPolicy"], "asyncwf.client"),
    **dict.fromkeys(["JobContext", "JobOutput", "KindRegistry"], "asyncwf._context"),
    **dict.fromkeys(["JobEvent", "JobFailure", "JobInfo", "JobState", "LogRecord", "Progress", "ProgressUpdate"],
                    "asyncwf._model"),
    **dict.fromkeys(["Bool", "Datetime", "Dict", "Float", "Function", "Int", "Job", "List", "NoneType", "Number",
                     "Str", "Timedelta", "Tuple", "Workflow", "compute", "ifelse", "parameter", "proxify", "publish",
                     "retrieve", "use"], "asyncwf.workflows"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in ("exceptions", "workflows"):
        value = importlib.import_module(f"asyncwf.{name}")
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        if getattr(value, "__module__", "").startswith(("asyncwf._", "asyncwf.client._")):
            try:
                value.__module__ = "asyncwf"
            except (AttributeError, TypeError):
                pass
    else:
        raise AttributeError(f"module 'asyncwf' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
