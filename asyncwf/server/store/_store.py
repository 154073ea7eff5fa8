"""The Store interface: durable job state behind the job engine.

Implementations: :class:`asyncwf.server.SQLiteStore` (embedded default).
Every method is a coroutine and every write is atomic; the engine publishes a
change to watchers only after the store has committed it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from asyncwf._model import JobInfo, JobState, LogRecord, Progress

T = TypeVar("T")

__all__ = [
    "ENTITY_INDEX", "Document", "EntityStore", "Guard", "JobFilter", "JobUpdate", "NewJob", "Store", "entity_index",
    "one_by_one",
]  # fmt: skip

#: XF entity kind -> the fields the store indexes: (parent serial, workflow serial, name).
ENTITY_INDEX: dict[str, tuple[str | None, str | None, str | None]] = {
    "project": (None, None, "name"),
    "workflow": ("project_serial", None, "name"),
    "workflow_run": ("workflow_serial", "workflow_serial", None),
    "task": ("workflow_serial", "workflow_serial", "spawn_key"),
    "job": ("task_serial", "workflow_serial", None),
    "task_type": (None, None, "name"),
    "dependency_package": (None, None, "name"),
    "worker": (None, None, "name"),
    "activity": ("job_serial", "workflow_serial", None),
    "config": (None, None, "name"),
}

#: Another entity whose ``occ_lock_version`` must match (0: any) and is bumped in the same
#: transaction: ``(kind, serial, expected version)`` — a task's workflow.
Guard = tuple[str, int, int]


def entity_index(kind: str, fields: Mapping[str, Any]) -> tuple[int, int, str]:
    """The indexed values (parent, workflow, name) of an entity of ``kind``."""
    parent, workflow, name = ENTITY_INDEX[kind]
    return (
        int(fields.get(parent) or 0) if parent else 0,
        int(fields.get(workflow) or 0) if workflow else 0,
        str(fields.get(name) or "") if name else "",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs ``list_jobs`` returns. Empty fields match everything."""

    states: frozenset[JobState] = frozenset()
    kind: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    owner: str | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewJob:
    """One job for :meth:`Store.insert_jobs`: the arguments of :meth:`Store.insert_job`."""

    job: JobInfo
    request_digest: str
    from_cache: Callable[[JobInfo], JobInfo] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class JobUpdate:
    """One update for :meth:`Store.update_jobs`: the arguments of :meth:`Store.update_job`."""

    job_id: str
    changes: Mapping[str, Any]
    expect_states: Collection[JobState]
    expect_attempt: int | None = None
    expect_owner: str | None = None
    #: The job as the caller knows it (see :meth:`Store.update_job`).
    known: JobInfo | None = None


async def one_by_one(fn: Callable[[Any], Awaitable[T]], items: Sequence[Any]) -> list[T | Exception]:
    """``fn`` of each item at once, each outcome or error in order (for stores that batch on their own)."""
    outcomes = await asyncio.gather(*(fn(item) for item in items), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
    return outcomes  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    """A stored object other than a job (a published workflow, an XYZ layer), with access lists."""

    collection: str
    id: str
    name: str
    body: Mapping[str, Any]
    owners: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()
    writers: tuple[str, ...] = ()
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    version: int = 1


class EntityStore(Protocol):
    """Durable XF entities: serials per kind, uuids, and ``occ_lock_version`` checked on every update."""

    async def insert_entity(
        self, kind: str, fields: Mapping[str, Any], *, guard: Guard | None = None
    ) -> dict[str, Any]:
        """Store a new entity with the next serial of its kind, a uuid and ``occ_lock_version`` 1."""

    async def get_entity(self, kind: str, serial: int) -> dict[str, Any] | None: ...

    async def get_entity_by_uuid(self, uid: str) -> tuple[str, dict[str, Any]] | None: ...

    async def list_entities(
        self, kind: str, *, parent: int = 0, workflow: int = 0, name: str = "", state: str = ""
    ) -> list[dict[str, Any]]:
        """Entities of ``kind`` matching the non-empty filters (``state``: the body's), by serial."""

    async def update_entity(
        self,
        kind: str,
        serial: int,
        change: Callable[[dict[str, Any]], Mapping[str, Any]],
        *,
        expected_version: int,
        bump: bool = True,
        guard: Guard | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Apply ``change(old)`` (the fields to replace) in one transaction; return ``(old, new)``.

        Raises :class:`~asyncwf.exceptions.Conflict` and changes nothing when the
        stored version is not ``expected_version`` (or the guard's does not match);
        ``change`` may raise to refuse the update.
        """


class Store(EntityStore, Protocol):
    """Durable storage of jobs and their log entries."""

    async def open(self) -> None:
        """Create or migrate the schema; idempotent."""

    async def close(self) -> None:
        """Flush pending writes and release every connection and thread."""

    async def insert_job(
        self, job: JobInfo, request_digest: str, *, from_cache: Callable[[JobInfo], JobInfo] | None = None
    ) -> tuple[JobInfo, bool]:
        """Insert ``job``; return ``(stored job, created)``.

        When a job with the same owner and idempotency key exists it is
        returned with ``created=False``; :class:`~asyncwf.exceptions.Conflict`
        is raised if it was created from a different request. With
        ``from_cache`` and a ``job.cache_key``, a job :meth:`find_cached` would
        find is looked for first (in the same transaction where the store can),
        and ``from_cache(that job)`` is inserted instead of ``job``.
        """

    async def insert_jobs(self, jobs: Sequence[NewJob]) -> list[tuple[JobInfo, bool] | Exception]:
        """:meth:`insert_job` of each, together where the store can (one trip to its writer): each
        outcome, or the error that job alone met, in order."""

    async def get_job(self, job_id: str) -> JobInfo | None:
        """The job's current snapshot, or None if there is no such job."""

    async def list_jobs(self, flt: JobFilter, *, after: tuple[float, str] | None, limit: int) -> list[JobInfo]:
        """One page of jobs ordered by (created_at, id), strictly after ``after``."""

    async def claim_jobs(
        self, kinds: Collection[str], limit: int, owner: str, lease_expires_at: dt.datetime | None, now: dt.datetime
    ) -> list[JobInfo]:
        """Move up to ``limit`` queued jobs of ``kinds`` to RUNNING under a lease."""

    async def update_job(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        expect_states: Collection[JobState],
        expect_attempt: int | None = None,
        expect_owner: str | None = None,
        known: JobInfo | None = None,
    ) -> JobInfo | None:
        """Apply ``changes`` if the job matches the expectations; bump its version.

        Returns the new snapshot, or ``None`` when the job is missing or does not match.
        When ``changes`` finish the job, the snapshot's payload is left out (``b""``):
        nothing reads it there, and reading a large one back costs more than the update.
        ``known`` is the job's latest snapshot, when the caller is sure to have it (one
        backend owns the store): a store may then read back only what changes without a
        snapshot (the version and the progress) and build the new snapshot from it.
        """

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> list[JobInfo | Exception | None]:
        """:meth:`update_job` of each, together where the store can: each outcome, or the error that
        update alone met, in order."""

    def record_progress(self, job_id: str, progress: Progress) -> None:
        """Persist the latest progress with the next write (no version bump; coalesced per job; never waits)."""

    async def append_logs(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Store log entries; return them with their sequence numbers."""

    async def get_logs(self, job_id: str, after_seq: int = 0) -> list[LogRecord]:
        """The job's log entries after ``after_seq``, in order."""

    async def find_cached(self, kind: str, owner: str, cache_key: str, now: dt.datetime) -> JobInfo | None:
        """The latest SUCCEEDED, unexpired job of ``kind`` and ``owner`` with ``cache_key``."""

    async def running_jobs(self) -> list[JobInfo]:
        """Every RUNNING job (for lease recovery at start-up)."""

    async def expiring_jobs(self, now: dt.datetime, limit: int) -> list[JobInfo]:
        """Terminal jobs whose ``expires_at`` has passed."""

    async def delete_job(self, job_id: str) -> None:
        """Forget a job and its logs."""

    async def next_expiry(self) -> dt.datetime | None:
        """The earliest ``expires_at`` of any job that is not yet expired."""

    async def insert_document(self, doc: Document) -> Document:
        """Store a new document; :class:`~asyncwf.exceptions.AlreadyExists` if its id is taken."""

    async def get_document(self, collection: str, doc_id: str) -> Document | None:
        """The document, or None if there is none with this id in the collection."""

    async def update_document(self, doc: Document, expected_version: int) -> Document | None:
        """Replace a document if its version is ``expected_version`` (bumping it); None otherwise."""

    async def list_documents(self, collection: str, *, name_prefix: str, limit: int) -> list[Document]:
        """Up to ``limit`` documents of the collection whose name starts with ``name_prefix``, oldest first."""
