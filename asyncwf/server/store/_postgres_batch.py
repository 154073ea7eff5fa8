"""Group commit for PostgreSQL: concurrent job inserts and updates become one set-based statement each.

Every job costs an insert and an update or two; sent one by one, each is a
round trip, a transaction and a commit. Here the writes waiting at the same
moment are grouped by shape and sent as one ``INSERT ... SELECT FROM unnest``
or ``UPDATE ... FROM unnest`` each, the groups concurrently on separate
connections. A job appears at most once per round, so two updates of one
job are applied in order, as if sent one by one; conditional updates keep
their conditions per row.

Also the helpers both PostgreSQL modules share: ``?`` placeholders to ``$n``
(:func:`numbered`) and asyncpg's errors as asyncwf's (:func:`store_error`,
:func:`mapped_store_errors`).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

from asyncwf.exceptions import InternalError, InvalidArgument, ResourceExhausted, Unavailable

__all__ = ["PG_TYPES", "WriteBatcher", "mapped_store_errors", "numbered", "store_error"]

T = TypeVar("T")


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``?`` placeholders -> ``$1, $2 ...`` (remembered: the same statements come again and again)."""
    parts = sql.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))


def store_error(exc: BaseException) -> BaseException:
    """asyncpg's errors as asyncwf's: a refused value is InvalidArgument, a lost server Unavailable."""
    import asyncpg

    if isinstance(exc, asyncpg.DataError):
        return InvalidArgument(f"the store refused a value: {exc}")
    if isinstance(exc, asyncpg.exceptions.InsufficientResourcesError):  # disk full, out of memory (class 53)
        return ResourceExhausted(f"the store is out of resources: {exc}")
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError):
        return Unavailable(f"the store is unreachable: {exc}")
    if isinstance(exc, asyncpg.PostgresError):
        return InternalError(f"the store failed: {exc}")
    return exc


def mapped_store_errors(cls: type[T]) -> type[T]:
    """Class decorator: asyncpg errors raised by the class's public coroutines come out as asyncwf's."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(member):
            continue

        def wrap(fn: Any) -> Any:
            @functools.wraps(fn)
            async def method(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except Exception as exc:
                    mapped = store_error(exc)
                    if mapped is exc:
                        raise
                    raise mapped from exc

            return method

        setattr(cls, name, wrap(member))
    return cls


#: Column -> its PostgreSQL type (for the arrays ``unnest`` takes).
PG_TYPES = {
    "id": "text", "kind": "text", "state": "int4", "version": "int4", "payload": "bytea", "content_type": "text",
    "idempotency_key": "text", "request_digest": "text", "labels": "text", "owner": "text", "attempt": "int4",
    "max_attempts": "int4", "priority": "int4", "timeout_seconds": "float8", "result_ttl_seconds": "float8",
    "created_at": "float8", "updated_at": "float8", "started_at": "float8", "finished_at": "float8",
    "expires_at": "float8", "progress_done": "int8", "progress_total": "int8", "progress_percent": "float8",
    "progress_eta": "float8", "progress_message": "text", "error_code": "text", "error_message": "text",
    "error_details": "text", "result_inline": "bytea", "result_stored": "int4", "result_size": "int8",
    "result_content_type": "text", "lease_owner": "text", "lease_expires_at": "float8", "cache_key": "text",
    "cached_from": "text", "result_blob": "text",
}  # fmt: skip

_Op = tuple[str, tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class WriteBatcher:
    """Queues inserts and updates of jobs and applies the ones waiting together in set-based statements."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._pending: collections.deque[_Op] = collections.deque()
        self._drainer: asyncio.Task[None] | None = None

    async def insert(self, values: Mapping[str, Any]) -> bool:
        """Insert a job row; False when a unique index (its id, or owner + idempotency key) refused it."""
        return bool(await self._submit(str(values["id"]), ("insert", tuple(values)), dict(values)))

    async def update(
        self, job_id: str, columns: Mapping[str, Any], expect_states: Collection[int],
        expect_attempt: int | None, expect_owner: str | None, returning: str,
    ) -> Any:  # fmt: skip
        """Apply ``columns`` (and bump the version) if the job matches; its new row (``returning``), or None."""
        shape = ("update", tuple(columns), tuple(sorted(expect_states)), expect_attempt is not None,
                 expect_owner is not None, returning)  # fmt: skip
        row = {"id": job_id, **columns, "_attempt": expect_attempt, "_owner": expect_owner}
        return await self._submit(job_id, shape, row)

    async def _submit(self, job_id: str, shape: tuple[Any, ...], row: dict[str, Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((job_id, shape, row, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="asyncwf-pg-group-commit")
        return await future

    async def wait_idle(self) -> None:
        while self._drainer is not None:
            await asyncio.shield(self._drainer)

    async def _drain(self) -> None:
        try:
            while self._pending:
                groups: dict[tuple[Any, ...], list[_Op]] = {}
                seen: set[str] = set()
                later: collections.deque[_Op] = collections.deque()
                while self._pending:
                    op = self._pending.popleft()
                    if op[0] in seen:
                        later.append(op)  # the same job again: next round, after this one
                    else:
                        seen.add(op[0])
                        groups.setdefault(op[1], []).append(op)
                self._pending = later + self._pending
                await asyncio.gather(*(self._apply(shape, ops) for shape, ops in groups.items()))
        finally:
            self._drainer = None

    async def _apply(self, shape: tuple[Any, ...], ops: list[_Op]) -> None:
        try:
            if shape[0] == "insert":
                created = await self._insert(shape[1], [op[2] for op in ops])
                results: list[Any] = [op[0] in created for op in ops]
            else:
                rows = await self._update(shape, [op[2] for op in ops])
                results = [rows.get(op[0]) for op in ops]
        except Exception as exc:
            if len(ops) > 1:
                # One bad write must not fail the others sent with it: apply them one by one.
                await asyncio.gather(*(self._apply(shape, [op]) for op in ops))
                return
            if not ops[0][3].done():
                ops[0][3].set_exception(store_error(exc))
            return
        for op, result in zip(ops, results, strict=True):
            if not op[3].done():
                op[3].set_result(result)

    async def _insert(self, columns: Sequence[str], rows: list[dict[str, Any]]) -> set[str]:
        arrays = [f"${i}::{PG_TYPES[c]}[]" for i, c in enumerate(columns, start=1)]
        sql = (f"INSERT INTO jobs ({', '.join(columns)}) SELECT * FROM unnest({', '.join(arrays)}) "
               "ON CONFLICT DO NOTHING RETURNING id")  # fmt: skip
        records = await self.pool.fetch(sql, *([row[c] for row in rows] for c in columns))
        return {record[0] for record in records}

    async def _update(self, shape: tuple[Any, ...], rows: list[dict[str, Any]]) -> dict[str, Any]:
        _, columns, states, by_attempt, by_owner, returning = shape
        names = ["id", *columns]
        types = [PG_TYPES[c] for c in names]
        if by_attempt:
            names.append("_attempt")
            types.append("int4")
        if by_owner:
            names.append("_owner")
            types.append("text")
        arrays = [f"${i}::{t}[]" for i, t in enumerate(types, start=1)]
        alias = [f"v{i}" for i in range(len(names))]
        assignments = [f"{c}=v.v{i}" for i, c in enumerate(names) if c in columns]
        where = [f"jobs.state = ANY(${len(arrays) + 1}::int4[])", "jobs.id = v.v0"]
        if by_attempt:
            where.append(f"jobs.attempt = v.v{names.index('_attempt')}")
        if by_owner:
            where.append(f"jobs.lease_owner = v.v{names.index('_owner')}")
        assignments.append("version=jobs.version+1")
        sql = (f"UPDATE jobs SET {', '.join(assignments)} FROM unnest({', '.join(arrays)}) "
               f"AS v({', '.join(alias)}) WHERE {' AND '.join(where)} RETURNING {returning}")  # fmt: skip
        records = await self.pool.fetch(sql, *([row[n] for row in rows] for n in names), list(states))
        return {record[0]: record for record in records}
