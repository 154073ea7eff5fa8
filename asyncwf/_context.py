"""What a job function sees while it runs, in the backend or in a remote executor."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol

import anyio

from asyncwf._model import JobFailure, JobInfo

__all__ = [
    "JobContext",
    "JobFailureError",
    "JobFunction",
    "JobOutput",
    "KindRegistry",
    "Reporter",
    "call_on_loop",
    "failure_from_exception",
    "run_job_function",
]


@dataclasses.dataclass(frozen=True, slots=True)
class JobOutput:
    """A job's result with its content type (a job function may also return bytes or str)."""

    data: bytes
    content_type: str = "application/octet-stream"


#: A job function: sync (runs in a worker thread) or async (runs on the loop). It returns bytes, str,
#: None (no result) or a JobOutput.
JobFunction = Callable[["JobContext"], Awaitable[bytes | str | JobOutput] | bytes | str | JobOutput]
#: Answers a job of its kind as it is created, on the event loop, from the job's id and payload:
#: its output (bytes, str or a JobOutput, as a job function returns), or None to run the job the
#: usual way. It must be quick (well under a millisecond or two) and pure: the job is stored
#: finished, in one write, with what it returns.
InlineAnswer = Callable[[str, bytes], "bytes | str | JobOutput | None"]


def call_on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` on ``loop``: directly when already there, else thread-safely."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn(*args)
    else:
        loop.call_soon_threadsafe(fn, *args)


class Reporter(Protocol):
    def progress(self, job_id: str, steps_done: int, steps_total: int, message: str) -> None: ...

    def log(self, job_id: str, level: str, message: str, logger: str) -> None: ...


class JobFailureError(Exception):
    """Raise from a job function to fail the job with a specific error ``code``."""

    def __init__(self, code: str, message: str, details: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: More for the record (a traceback, say), kept with the job's error.
        self.details = details


#: Held while a context makes its ``cancelled`` event (the loop and the job's thread may both ask).
_MAKING_EVENT = threading.Lock()


class JobContext:
    """Handed to a job function: the job, its payload, and ways to report.

    ``progress`` and ``log`` are safe to call from the event loop and from
    worker threads; they never block.
    """

    __slots__ = ("_cancelled", "_reporter", "job")

    def __init__(self, job: JobInfo, reporter: Reporter) -> None:
        self.job = job
        self._reporter = reporter
        self._cancelled: threading.Event | None = None

    @property
    def cancelled(self) -> threading.Event:
        """Set when the job is cancelled; sync functions (in threads) should check it.

        Made when first asked for (most jobs never are): a threading.Event costs more than the rest of
        the context."""
        event = self._cancelled
        if event is None:
            with _MAKING_EVENT:
                event = self._cancelled
                if event is None:
                    event = self._cancelled = threading.Event()
        return event

    @property
    def payload(self) -> bytes:
        """The job's payload."""
        return self.job.payload

    @property
    def labels(self) -> Mapping[str, str]:
        """The job's labels."""
        return self.job.labels

    def progress(self, steps_done: int, steps_total: int, message: str = "") -> None:
        """Report that ``steps_done`` of ``steps_total`` steps are finished."""
        if steps_done < 0 or steps_total < 0:
            raise ValueError("steps must not be negative")
        self._reporter.progress(self.job.id, steps_done, steps_total, message)

    def log(self, message: str, level: int | str = logging.INFO, logger: str = "") -> None:
        """Add a log entry to the job, delivered live to its watchers."""
        name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
        self._reporter.log(self.job.id, name, message, logger or self.job.kind)


@dataclasses.dataclass(frozen=True, slots=True)
class _Kind:
    fn: JobFunction
    is_async: bool
    inline: InlineAnswer | None = None


class KindRegistry:
    """Job kinds (names) and the functions that run them."""

    def __init__(self) -> None:
        self._kinds: dict[str, _Kind] = {}

    def register(self, kind: str, fn: JobFunction, *, inline: InlineAnswer | None = None) -> None:
        """Run jobs of ``kind`` with ``fn``; ``inline`` may answer small ones as they are created."""
        if not kind or not callable(fn) or (inline is not None and not callable(inline)):
            raise ValueError("a job kind needs a name and a callable")
        self._kinds[kind] = _Kind(fn, inspect.iscoroutinefunction(fn), inline)

    def kind(self, name: str) -> Any:
        """Decorator form of :meth:`register`."""

        def decorator(fn: JobFunction) -> JobFunction:
            self.register(name, fn)
            return fn

        return decorator

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def get(self, name: str) -> _Kind:
        """The registered kind ``name`` (``KeyError`` if there is none)."""
        return self._kinds[name]


async def run_job_function(kind: _Kind, ctx: JobContext, limiter: anyio.CapacityLimiter | None) -> JobOutput:
    """Run one job function (async on the loop, sync in a thread) with its timeout."""
    timeout = ctx.job.timeout_seconds
    with anyio.fail_after(timeout) if timeout else _no_timeout():
        if kind.is_async:
            value = await kind.fn(ctx)  # type: ignore[misc]
        else:
            value = await anyio.to_thread.run_sync(kind.fn, ctx, limiter=limiter, abandon_on_cancel=True)
    return as_output(value)


def as_output(value: object) -> JobOutput:
    """A job function's return value as a JobOutput (bytes, str, None or a JobOutput)."""
    if isinstance(value, JobOutput):
        return value
    if isinstance(value, str):
        return JobOutput(value.encode(), "text/plain; charset=utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return JobOutput(bytes(value))
    if value is None:
        return JobOutput(b"")
    raise TypeError(f"a job function must return bytes, str or JobOutput, not {type(value).__name__}")


class _no_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def failure_from_exception(exc: BaseException) -> JobFailure:
    """How an exception raised by a job function is recorded."""
    if isinstance(exc, JobFailureError):
        return JobFailure(exc.code, exc.message, exc.details[-8000:])
    if isinstance(exc, TimeoutError):
        return JobFailure("TIMEOUT", "the job exceeded its timeout")
    details = "".join(traceback.format_exception(exc))
    return JobFailure("EXECUTOR_ERROR", f"{type(exc).__name__}: {exc}", details[-8000:])
