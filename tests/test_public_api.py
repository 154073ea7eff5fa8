"""The public surface: sorted ``__all__``, public module paths, one exception tree."""

from __future__ import annotations

import importlib

import pytest

import asyncwf
import asyncwf.exceptions as exc

MODULES = [
    "asyncwf",
    "asyncwf.blocking.data",
    "asyncwf.blocking.workflows",
    "asyncwf.blocking.services",
    "asyncwf.blocking.worker",
    "asyncwf.client",
    "asyncwf.data",
    "asyncwf.server",
    "asyncwf.services",
    "asyncwf.testing",
    "asyncwf.exceptions",
    "asyncwf.worker",
    "asyncwf.workflows",
    "asyncwf.workflows.types",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr}"


def test_top_level_names_are_pinned() -> None:
    assert asyncwf.__all__ == [
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
    assert asyncwf.Client.__module__ == "asyncwf"


def test_exception_tree() -> None:
    for name in exc.__all__:
        obj = getattr(exc, name)
        if isinstance(obj, type) and issubclass(obj, Warning):
            assert obj is exc.BlockingCallWarning, name
        elif isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, exc.AsyncwfError), name
    assert issubclass(exc.TimeoutError, TimeoutError)
    assert issubclass(exc.DeadlineExceeded, TimeoutError)
    assert issubclass(exc.InvalidArgument, ValueError)
    assert issubclass(exc.NotFound, LookupError)
    assert isinstance(exc.error_for_status(5, "x"), exc.NotFound)
    assert isinstance(exc.error_for_status(9, "conflict: stale"), exc.Conflict)
    assert isinstance(exc.error_for_status(99, "?"), exc.UnknownError)


def test_errors_pickle() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(exc.NotFound("gone")))
    assert isinstance(err, exc.NotFound) and err.message == "gone"
    job_err = pickle.loads(pickle.dumps(exc.JobFailed("x", job_id="j", code="C")))
    assert (job_err.id, job_err.code) == ("j", "C")
    storage_err = pickle.loads(pickle.dumps(exc.StorageError("boom", 503)))
    assert (str(storage_err), storage_err.status) == ("boom", 503)


#: Modules whose public names and public members all carry a docstring (the API reference is built from them).
DOCUMENTED = ("asyncwf", "asyncwf.workflows", "asyncwf.data", "asyncwf.services", "asyncwf.worker", "asyncwf.testing",
              "asyncwf.server",
              "asyncwf.exceptions", "asyncwf.blocking.workflows", "asyncwf.blocking.data", "asyncwf.blocking.services",
              "asyncwf.blocking.worker")  # fmt: skip


def _undocumented(module_name: str) -> list[str]:
    import importlib
    import inspect

    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            member = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
            if attr.startswith("_") or not callable(member):
                continue
            inherited = any(inspect.getdoc(getattr(base, attr, None)) for base in obj.__mro__[1:] if base is not object)
            if not (value.__doc__ or member.__doc__ or "").strip() and not inherited:
                missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_every_public_name_and_member_has_a_docstring(module_name: str) -> None:
    assert _undocumented(module_name) == []
