"""The one exception tree of asyncwf.

::

    AsyncwfError
    ├── RPCError (status, message, details)   -- every error the backend reports
    │   ├── Cancelled
    │   ├── UnknownError
    │   ├── InvalidArgument (also ValueError)
    │   ├── DeadlineExceeded (also asyncwf.exceptions.TimeoutError)
    │   ├── NotFound (also LookupError)
    │   ├── AlreadyExists
    │   ├── PermissionDenied
    │   ├── ResourceExhausted
    │   ├── FailedPrecondition
    │   │   └── Conflict                 -- an idempotency key or version clash
    │   ├── Aborted
    │   ├── OutOfRange
    │   ├── Unimplemented
    │   ├── InternalError
    │   ├── Unavailable                  -- also raised when the backend cannot be reached
    │   ├── DataLoss
    │   └── Unauthenticated
    ├── TimeoutError (also the builtin TimeoutError)
    ├── JobError                         -- a job finished without a result
    │   ├── JobFailed
    │   │   └── JobComputeError          -- a compute job failed (seed name), by code:
    │   │       ├── JobInvalid
    │   │       │   └── JobInvalidTyping
    │   │       ├── JobDeadlineExceeded
    │   │       ├── JobOOM
    │   │       ├── JobTerminated
    │   │       ├── JobInterrupt
    │   │       └── JobAuth
    │   ├── JobCancelled
    │   └── JobExpired
    ├── ConfigurationError (also ValueError) -- bad arguments caught before any I/O
    ├── EventLoopError (also RuntimeError) -- an object used from an event loop it does not belong to
    ├── ChildError                       -- a child service raised (``child``, ``exception_type``, ``remote_traceback``)
    ├── DataError                        -- datafiles, datasets, manifests (asyncwf.data)
    │   ├── InvalidInputException (also ValueError)   -- seed name
    │   │   ├── TwineValidationError     -- data that breaks a twine (``strand``, ``path``)
    │   │   ├── InvalidTagException
    │   │   ├── InvalidLabelException
    │   │   └── UnsafePathError          -- a path that escapes its dataset
    │   ├── UnexpectedNumberOfResultsException (also LookupError)
    │   ├── BrokenSequenceException (also ValueError)
    │   ├── CloudLocationNotSpecified (also ValueError)
    │   ├── NotLoadedError               -- stored metadata or a hash asked for before it was read
    │   ├── FileNotFound (also FileNotFoundError)
    │   ├── IntegrityError               -- a transfer's checksum did not match
    │   └── StorageError                 -- the storage service failed (``status``)
    └── WorkerError                      -- XF task scripts and workers (asyncwf.worker)
        ├── UnsupportedFeatureError (also NotImplementedError) -- SNS server connections
        │   └── UnsupportedFormatError   -- IPL and OMNI images
        └── TransferError                -- the file service refused or broke off a transfer (``status``)

Errors of third-party libraries (grpclib, h2, aiohttp, sqlite3) never escape:
they are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

import builtins
import enum
from typing import Any

__all__ = [
    "Aborted",
    "AlreadyExists",
    "AsyncwfError",
    "BlockingCallWarning",
    "BrokenSequenceException",
    "Cancelled",
    "ChildError",
    "CloudLocationNotSpecified",
    "ConfigurationError",
    "Conflict",
    "DataError",
    "DataLoss",
    "DeadlineExceeded",
    "EventLoopError",
    "FailedPrecondition",
    "FileNotFound",
    "IntegrityError",
    "InternalError",
    "InvalidArgument",
    "InvalidInputException",
    "InvalidLabelException",
    "InvalidTagException",
    "JobAuth",
    "JobCancelled",
    "JobComputeError",
    "JobDeadlineExceeded",
    "JobError",
    "JobExpired",
    "JobFailed",
    "JobInterrupt",
    "JobInvalid",
    "JobInvalidTyping",
    "JobOOM",
    "JobTerminated",
    "NoExecutor",
    "NotFound",
    "NotLoadedError",
    "OutOfRange",
    "PermissionDenied",
    "RPCError",
    "RPCStatus",
    "ResourceExhausted",
    "StorageError",
    "TimeoutError",
    "TransferError",
    "TwineValidationError",
    "Unauthenticated",
    "Unavailable",
    "UnexpectedNumberOfResultsException",
    "Unimplemented",
    "UnknownError",
    "UnsafePathError",
    "UnsupportedFeatureError",
    "UnsupportedFormatError",
    "WorkerError",
    "error_for_status",
]


class RPCStatus(enum.IntEnum):
    """gRPC status codes, mirrored so callers never import grpclib."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class AsyncwfError(Exception):
    """Base class of every error asyncwf raises on purpose."""


class ConfigurationError(AsyncwfError, ValueError):
    """Arguments or settings that are wrong before any I/O happens."""


class EventLoopError(AsyncwfError, RuntimeError):
    """An object bound to one event loop (a ``Client``, its channels and run stream) was used from another.

    Make a client inside the loop that uses it, or use the default client
    (``Client.get_default_client()``), which is one per event loop.
    """


class BlockingCallWarning(RuntimeWarning):
    """A call of ``asyncwf.blocking`` blocked a thread that runs an event loop (a notebook, a coroutine)."""


class TimeoutError(AsyncwfError, builtins.TimeoutError):
    """An operation did not finish in time. Also a builtin ``TimeoutError``."""


class RPCError(AsyncwfError):
    """An error reported by the backend, with its gRPC ``status``."""

    status: RPCStatus = RPCStatus.UNKNOWN

    def __init__(self, message: str = "", *, status: RPCStatus | None = None, details: str = "") -> None:
        super().__init__(message or self.__class__.__name__)
        if status is not None:
            self.status = status
        self.message = message
        self.details = details

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_rpc_error, (type(self), self.message, self.status, self.details))


def _rebuild_rpc_error(cls: type[RPCError], message: str, status: RPCStatus, details: str) -> RPCError:
    return cls(message, status=status, details=details)


class Cancelled(RPCError):
    status = RPCStatus.CANCELLED


class UnknownError(RPCError):
    status = RPCStatus.UNKNOWN


class InvalidArgument(RPCError, ValueError):
    status = RPCStatus.INVALID_ARGUMENT


class DeadlineExceeded(RPCError, TimeoutError):
    status = RPCStatus.DEADLINE_EXCEEDED


class NotFound(RPCError, LookupError):
    status = RPCStatus.NOT_FOUND


class AlreadyExists(RPCError):
    status = RPCStatus.ALREADY_EXISTS


class PermissionDenied(RPCError):
    status = RPCStatus.PERMISSION_DENIED


class ResourceExhausted(RPCError):
    status = RPCStatus.RESOURCE_EXHAUSTED


class FailedPrecondition(RPCError):
    status = RPCStatus.FAILED_PRECONDITION


class Conflict(FailedPrecondition):
    """A write lost a race: a reused idempotency key, a stale version or lease."""


class NoExecutor(FailedPrecondition):
    """No executor serves the kind of a job that must not wait for one: ``run_job`` fails at once
    (unless ``wait_for_executor=True``); the message names the kind and what to start."""


class Aborted(RPCError):
    status = RPCStatus.ABORTED


class OutOfRange(RPCError):
    status = RPCStatus.OUT_OF_RANGE


class Unimplemented(RPCError):
    status = RPCStatus.UNIMPLEMENTED


class InternalError(RPCError):
    status = RPCStatus.INTERNAL


class Unavailable(RPCError):
    status = RPCStatus.UNAVAILABLE


class DataLoss(RPCError):
    status = RPCStatus.DATA_LOSS


class Unauthenticated(RPCError):
    status = RPCStatus.UNAUTHENTICATED


_BY_STATUS: dict[RPCStatus, type[RPCError]] = {
    cls.status: cls
    for cls in (
        Cancelled,
        UnknownError,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        InternalError,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}

#: Marker the server puts in front of a FAILED_PRECONDITION message that is a conflict.
CONFLICT_PREFIX = "conflict: "
#: The FAILED_PRECONDITION errors told apart by a marker in front of the message.
_MARKED: dict[type[RPCError], str] = {Conflict: CONFLICT_PREFIX, NoExecutor: "no executor: "}


def wire_message(exc: RPCError) -> str:
    """The message the server sends with ``exc``'s status: a conflict (or a missing executor) is marked, so
    that :func:`error_for_status` on the client's side makes a :class:`Conflict` (:class:`NoExecutor`) again."""
    return _MARKED.get(type(exc), "") + exc.message


def error_for_status(status: int, message: str = "", details: str = "") -> RPCError:
    """Build the exception that matches a gRPC status code."""
    try:
        code = RPCStatus(status)
    except ValueError:
        code = RPCStatus.UNKNOWN
    cls = _BY_STATUS.get(code, UnknownError)
    if code is RPCStatus.FAILED_PRECONDITION:
        for marked, prefix in _MARKED.items():
            if message.startswith(prefix):
                cls, message = marked, message[len(prefix) :]
                break
    return cls(message, status=code, details=details)


class JobError(AsyncwfError):
    """A job ended without a result."""

    def __init__(self, message: str, *, job_id: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.id = job_id
        self.code = code

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_job_error, (type(self), self.message, self.id, self.code))


def _rebuild_job_error(cls: type[JobError], message: str, job_id: str, code: str) -> JobError:
    return cls(message, job_id=job_id, code=code)


class JobFailed(JobError):
    """The job failed: its executor raised, timed out or ran out of attempts."""


class JobCancelled(JobError):
    """The job was cancelled before it finished."""


class JobExpired(JobError):
    """The job's result passed its expiry and was deleted."""


class JobComputeError(JobFailed):
    """A compute job failed (the seed's exception). ``code`` is the error code as the original named it
    (``"ERROR_OOM"``, ``"ERROR_INVALID"``, ``"ERROR_DEADLINE"`` ...), ``message`` the backend's message, ``id``
    the job id. Raised as the subclass of its code."""

    def __init__(self, job: object = None, *, code: str = "", message: str = "", job_id: str = "") -> None:
        # A workflows Job exposes its engine snapshot as ``info``; a JobInfo is used as is.
        source = getattr(job, "info", None) or job
        error = getattr(source, "error", None)
        if job is not None:
            job_id = str(getattr(source, "id", "") or job_id)
            code = str(getattr(error, "code", "") or code)
            message = str(getattr(error, "message", "") or message)
        code = dl_error_code(code)
        super().__init__(f'Job("{job_id}") failed with: code={code}, message="{message}"', job_id=job_id, code=code)
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_compute_error, (type(self), self.code, self.message, self.id))

    @staticmethod
    def for_code(code: str) -> type[JobComputeError]:
        """The exception class of an error code, as the backend or the original names it (``"OOM"`` or
        ``"ERROR_OOM"``); the base class for unknown codes."""
        return _COMPUTE_ERRORS.get(code.removeprefix("ERROR_"), JobComputeError)


def _rebuild_compute_error(cls: type[JobComputeError], code: str, message: str, job_id: str) -> JobComputeError:
    return cls(code=code, message=message, job_id=job_id)


class JobInvalid(JobComputeError):
    """The graft or its arguments are invalid (unknown name, bad value, cycle ...)."""


class JobInvalidTyping(JobInvalid):
    """Operands of the wrong type met while evaluating."""


class JobDeadlineExceeded(JobComputeError):
    """The evaluation ran past its time limit."""


class JobOOM(JobComputeError):
    """The evaluation would use too much memory (or the graft is too large)."""


class JobTerminated(JobComputeError):
    """The evaluation was stopped (the job was cancelled)."""


class JobInterrupt(JobComputeError):
    """The evaluation was interrupted by the backend."""


class JobAuth(JobComputeError):
    """The job was not allowed to read something it needed."""


def dl_error_code(code: str) -> str:
    """A backend failure code as the original's ``ErrorCode`` names it: ``"OOM"`` -> ``"ERROR_OOM"``,
    ``"TIMEOUT"`` -> ``"ERROR_DEADLINE"``; other codes of the backend -> ``"ERROR_UNKNOWN"``."""
    if code.startswith("ERROR_") or not code:
        return code
    return _DL_CODES.get(code, "ERROR_UNKNOWN")


_DL_CODES = {"INVALID": "ERROR_INVALID", "TYPING": "ERROR_TYPING", "DEADLINE": "ERROR_DEADLINE",
             "TIMEOUT": "ERROR_DEADLINE", "OOM": "ERROR_OOM", "TERMINATED": "ERROR_TERMINATED",
             "INTERRUPT": "ERROR_INTERRUPT", "AUTH": "ERROR_AUTH"}  # fmt: skip

_COMPUTE_ERRORS: dict[str, type[JobComputeError]] = {
    "INVALID": JobInvalid,
    "TYPING": JobInvalidTyping,
    "DEADLINE": JobDeadlineExceeded,
    "TIMEOUT": JobDeadlineExceeded,
    "OOM": JobOOM,
    "TERMINATED": JobTerminated,
    "INTERRUPT": JobInterrupt,
    "AUTH": JobAuth,
}


class ChildError(AsyncwfError):
    """A child service raised an exception while answering a question.

    A builtin exception type (ValueError ...) is re-raised as itself, with
    this error as its ``__cause__``; another type comes as a subclass of this
    error named as the child's exception (as the Octue SDK made one of that
    name). The message starts with the child's own.
    """

    def __init__(self, child: str, exception_type: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"{message} ({exception_type} raised by child {child})")
        self.child, self.exception_type, self.remote_message = child, exception_type, message
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.child, self.exception_type, self.remote_message, self.remote_traceback))


# --- data (asyncwf.data) ------------------------------------------------------


class DataError(AsyncwfError):
    """A problem with a datafile, dataset, manifest or their storage."""


class InvalidInputException(DataError, ValueError):
    """An argument or filter that makes no sense (the Octue SDK's name)."""


class InvalidTagException(InvalidInputException):
    """A tag name that breaks the rules: lowercase letters, digits and ``_``, not at either end."""


class InvalidLabelException(InvalidInputException):
    """A label that breaks the rules: lowercase letters, digits and ``-``, not at either end."""


# Typed errors that are also the builtin exception the Octue SDK raised in the same case, so that ported
# ``except TypeError:`` / ``except AttributeError:`` still catch them.


class FilterTypeError(InvalidInputException, TypeError):
    """A filter or ordering compared values of types that do not compare (Octue: TypeError)."""


class MissingFilterAttribute(InvalidInputException, AttributeError):
    """A filtered-for attribute is missing and missing ones are not ignored (Octue: AttributeError)."""


class TagNameTypeError(InvalidTagException, TypeError):
    """A tag name that is not a string, or tags that are not a mapping (Octue: TypeError)."""


class LabelTypeError(InvalidLabelException, TypeError):
    """Labels that are not strings or an iterable of them (Octue: TypeError)."""


class TwineValidationError(InvalidInputException):
    """Data that breaks a twine: ``strand`` names the strand, ``path`` the failing place (JSON pointer)."""

    def __init__(self, strand: str, path: str, reason: str) -> None:
        super().__init__(f"{strand} at {path}: {reason}")
        self.strand, self.path, self.reason = strand, path, reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.strand, self.path, self.reason))


class UnsafePathError(InvalidInputException):
    """A path inside a dataset that is absolute or climbs out of it with ``..``."""


class UnexpectedNumberOfResultsException(DataError, LookupError):
    """``one()`` found no result, or more than one."""


class BrokenSequenceException(DataError, ValueError):
    """``order_by`` checks failed: the wrong start value or a non-constant increment."""


class CloudLocationNotSpecified(DataError, ValueError):
    """A cloud operation on something that has no cloud path."""


class NotLoadedError(DataError, RuntimeError):
    """Stored metadata (or a hash, or a cloud file's local copy) was read before it was loaded: ``await`` the
    coroutine the message names first. ``load`` is that coroutine function, when there is one to call with no
    arguments: the blocking API calls it and reads again, as the Octue SDK's properties did."""

    def __init__(self, message: str, *, load: Any = None) -> None:
        super().__init__(message)
        self.load = load


class FileNotFound(DataError, FileNotFoundError):
    """No file or object at the given path."""


class IntegrityError(DataError):
    """A transfer's checksum did not match the store's; nothing corrupt was kept."""


class StorageError(DataError):
    """The storage service failed; ``status`` is its HTTP status (0 if it could not be reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.status))


# --- worker (asyncwf.worker) --------------------------------------------------


class WorkerError(AsyncwfError):
    """A problem in an XF task script or worker."""


class UnsupportedFeatureError(WorkerError, NotImplementedError):
    """An ``xfworkerutil`` feature asyncwf does not provide (SNS server connections)."""


class UnsupportedFormatError(UnsupportedFeatureError):
    """A proprietary image format (IPL, OMNI): handle such images as ordinary files with their additional files."""


class TransferError(WorkerError):
    """The file service refused a transfer or it broke off; ``status`` is the HTTP status (0: unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.status))
