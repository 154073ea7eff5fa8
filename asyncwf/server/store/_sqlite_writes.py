"""SQLite group commit: writes batched into one transaction per trip to the writer thread, each write
failing alone (a savepoint), a full disk a typed error."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asyncwf._model import JobInfo
from asyncwf.exceptions import (
    Conflict,
    InternalError,
    ResourceExhausted,
    RPCError,
)
from asyncwf.server.store._rows import (
    SELECT,
    cached_query,
    job_columns,
    row_to_job,
)
from asyncwf.server.store._store import NewJob

T = TypeVar("T")

__all__ = [
    "_Batcher",
    "_Failure",
    "_Group",
    "_disk_full",
    "_insert_op",
    "_insert_sql",
    "_isolated",
    "_typed",
    "_update_sql",
]


def _isolated(conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], Any]) -> Any:
    """Run one write of a group in a savepoint: its result, or its failure (its changes undone)."""
    conn.execute("SAVEPOINT op")
    try:
        result = op(conn)
    except Exception as exc:
        if _disk_full(exc) or not conn.in_transaction:
            raise  # the whole group fails (SQLite may have rolled it all back already)
        conn.execute("ROLLBACK TO op")
        result = _Failure(exc)
    conn.execute("RELEASE op")
    return result


@functools.cache
def _update_sql(columns: tuple[str, ...], states: int, by_attempt: bool, by_owner: bool, returning: str) -> str:
    """A version-checked UPDATE of ``columns`` (made once per shape)."""
    assignments = ", ".join([f"{name}=?" for name in columns] + ["version=version+1"])
    where = [f"state IN ({', '.join('?' * states)})"]
    if by_attempt:
        where.append("attempt=?")
    if by_owner:
        where.append("lease_owner=?")
    return f"UPDATE jobs SET {assignments} WHERE id=? AND {' AND '.join(where)} RETURNING {returning}"


@functools.cache
def _insert_sql(columns: tuple[str, ...]) -> str:
    """The INSERT of a new job row (its columns never change: written once)."""
    return f"INSERT OR IGNORE INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Group:
    """Several operations submitted together: one future for all their outcomes."""

    __slots__ = ("future", "left", "outcomes")

    def __init__(self, future: asyncio.Future[list[Any]], size: int) -> None:
        self.future = future
        self.outcomes: list[Any] = [None] * size
        self.left = size

    def settle(self, index: int, outcome: Any) -> None:
        self.outcomes[index] = outcome
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result(self.outcomes)


class _Batcher:
    """Runs queued operations on one thread, as many per hop as are waiting."""

    def __init__(
        self, thread: ThreadPoolExecutor, apply: Callable[[list[Any]], list[Any]], max_batch: int, name: str
    ) -> None:
        self._thread = thread
        self._apply = apply
        self._max_batch = max_batch
        self._name = name
        #: (operation, its future, -1) or (operation, its group, its index there)
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], Any, int]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future, -1))
        self.kick()
        return await future

    async def submit_many(self, fns: Sequence[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        """Each operation's outcome, or the exception it raised, in order (one future for them all)."""
        if not fns:
            return []
        group = _Group(asyncio.get_running_loop().create_future(), len(fns))
        self._pending.extend([(fn, group, index) for index, fn in enumerate(fns)])
        self.kick()
        return await group.future

    def kick(self) -> None:
        """Make sure a drain is under way (also for work queued outside ``submit``)."""
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name=self._name)

    async def wait_idle(self) -> None:
        while self._drainer is not None:
            await asyncio.shield(self._drainer)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results = await loop.run_in_executor(self._thread, self._apply, [op for op, _, _ in batch])
                except Exception as exc:  # the whole batch failed
                    typed = exc if isinstance(exc, RPCError) else InternalError(f"store operation failed: {exc}")
                    results = [_Failure(typed)] * len(batch)
                for (_, waiter, index), result in zip(batch, results, strict=True):
                    if index >= 0:
                        waiter.settle(index, result.exc if isinstance(result, _Failure) else result)
                    elif waiter.done():
                        continue
                    elif isinstance(result, _Failure):
                        waiter.set_exception(result.exc)
                    else:
                        waiter.set_result(result)
                if not self._pending:
                    return
        finally:
            self._drainer = None


def _insert_op(new: NewJob) -> Callable[[sqlite3.Connection], tuple[JobInfo, bool]]:
    """The write that inserts a new job (and, for a cache key, first looks for a cached result)."""
    job, request_digest, from_cache = new.job, new.request_digest, new.from_cache
    values = job_columns(job, request_digest)
    sql = _insert_sql(tuple(values))
    lookup = None
    if from_cache is not None and job.cache_key:
        lookup = cached_query(job.kind, job.owner, job.cache_key, job.created_at or dt.datetime.now(dt.UTC))

    def op(conn: sqlite3.Connection) -> tuple[JobInfo, bool]:
        nonlocal job, values
        if lookup is not None and from_cache is not None:
            # The cache lookup in the insert's own transaction: one trip to the writer, not two.
            row = conn.execute(*lookup).fetchone()
            if row is not None:
                job = from_cache(row_to_job(row))
                values = job_columns(job, request_digest)
        if conn.execute(sql, tuple(values.values())).rowcount:
            return job, True
        if not job.idempotency_key:
            raise Conflict(f"job id {job.id!r} already exists")
        row = conn.execute(
            f"SELECT {SELECT}, request_digest FROM jobs WHERE owner=? AND idempotency_key=?",
            (job.owner, job.idempotency_key),
        ).fetchone()
        if row is None:
            raise Conflict(f"job id {job.id!r} already exists")
        if row[-1] != request_digest:
            raise Conflict(f"idempotency key {job.idempotency_key!r} was used for a different request")
        return row_to_job(row[:-1]), False

    return op


def _disk_full(exc: BaseException | None) -> bool:
    """Whether SQLite failed for want of space (SQLITE_FULL)."""
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _typed(result: Any) -> Any:
    """A write's result, with a full disk as the typed :class:`ResourceExhausted`."""
    if isinstance(result, _Failure) and _disk_full(result.exc):
        return _Failure(ResourceExhausted("the backend's disk is full: nothing was written"))
    return result
