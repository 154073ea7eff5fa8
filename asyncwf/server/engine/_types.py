"""What the job engine is configured with and talks to: its settings, a create request, the
watchers of jobs, and the executors that take jobs as they are created."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from asyncwf._context import JobOutput
from asyncwf._model import JobInfo

__all__ = [
    "LOCAL_OWNER_PREFIX", "SHUTDOWN", "CreateSpec", "DirectExecutor", "EngineConfig", "InProcessExecutor", "Watcher",
]  # fmt: skip

#: Put to every watcher when the engine stops.
SHUTDOWN = object()


class Watcher(Protocol):
    """What receives a job's events: an asyncio.Queue, or anything with ``put_nowait``."""

    def put_nowait(self, event: Any, /) -> None: ...


#: Lease owners of the backend's own in-process executor start with this.
LOCAL_OWNER_PREFIX = "local:"


@dataclasses.dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tunables of the job engine."""

    #: Seconds a remote executor's lease lasts without a heartbeat.
    lease_seconds: float = 30.0
    #: Attempts a job gets when the request does not say.
    default_max_attempts: int = 3
    #: Seconds a finished job keeps its result before it becomes EXPIRED.
    result_ttl_seconds: float = 10 * 24 * 3600.0
    #: Seconds an EXPIRED job's record is kept before it is deleted.
    purge_after_seconds: float = 30 * 24 * 3600.0
    #: Results up to this size are stored inline, larger ones as blobs.
    inline_result_bytes: int = 64 * 1024
    #: Largest accepted payload.
    max_payload_bytes: int = 4 * 1024 * 1024
    max_labels: int = 64
    #: Seconds a job that must not wait for an executor (``run_job``) waits for one of its kind to connect
    #: before failing with NoExecutor: an executor started along with the caller has time to reach the backend.
    unserved_grace_seconds: float = 2.0


@dataclasses.dataclass(frozen=True, slots=True)
class CreateSpec:
    """A validated request to create a job."""

    kind: str
    payload: bytes = b""
    content_type: str = ""
    idempotency_key: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_attempts: int = 0
    timeout_seconds: float = 0.0
    result_ttl_seconds: float = 0.0
    priority: int = 0
    cache_key: str = ""
    #: Fail at once (NoExecutor) when no executor serves the kind, instead of queueing the job.
    require_executor: bool = False


class DirectExecutor(Protocol):
    """An executor that can take a job the moment it is created: the in-process one, or a remote
    executor's open lease stream with free slots."""

    executor_id: str
    #: Lease length for jobs given to it; None for no expiry (in-process).
    lease_seconds: float | None

    def served_kinds(self) -> Collection[str]:
        """The kinds it runs."""

    def try_reserve(self, kind: str) -> bool:
        """Reserve a slot for a job of ``kind``; False when it cannot run one now."""

    def release(self) -> None:
        """Give back a reserved slot that was not used."""

    def accept(self, job: JobInfo) -> None:
        """Start a job that was inserted already leased to this executor."""


class InProcessExecutor(DirectExecutor, Protocol):
    """The in-process executor: it may also answer a job as it is created."""

    def answer_inline(self, kind: str, job_id: str, payload: bytes) -> JobOutput | None:
        """The output of a job answered as it is created (see ``KindRegistry.register``), or None."""
