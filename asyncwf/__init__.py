"""asyncwf: an asyncio-native workflow SDK and the backend that runs it.

Every operation that does I/O is a coroutine, every stream an async
generator; :mod:`asyncwf.blocking` offers the same API synchronously.
"""

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

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(("asyncwf._", "asyncwf.client._")):
        try:
            _obj.__module__ = "asyncwf"
        except (AttributeError, TypeError):
            pass
del _name, _obj
