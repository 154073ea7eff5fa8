"""SQLite store (WAL) with group commit.

Writes from any number of coroutines are queued and applied by one writer
thread, up to 64 to a transaction: while one batch commits the next one fills.
A write that raises fails alone: its batch is then run again with each write
inside its own SAVEPOINT.
Reads use a second connection on a second thread (WAL lets it read while the
writer writes). The event loop never touches sqlite3.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from asyncwf._model import JobInfo, JobState, LogRecord, Progress
from asyncwf.exceptions import (
    AlreadyExists,
    ConfigurationError,
    Conflict,
    InternalError,
    ResourceExhausted,
    RPCError,
)
from asyncwf.server._rows import (
    DOC_COLUMNS,
    KNOWN_RETURNING,
    SELECT,
    cached_query,
    changes_to_columns,
    document_values,
    dt_from,
    finishes,
    job_columns,
    known_after,
    progress_columns,
    returned_columns,
    row_to_document,
    row_to_job,
    ts,
)
from asyncwf.server._sqlite_xf import ENTITY_MIGRATION, SQLiteEntities
from asyncwf.server._store import Document, JobFilter, JobUpdate, NewJob

__all__ = ["SQLiteStore"]

T = TypeVar("T")
UTC = dt.UTC

_MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state INTEGER NOT NULL,
        version INTEGER NOT NULL,
        payload BLOB NOT NULL,
        content_type TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        request_digest TEXT NOT NULL,
        labels TEXT NOT NULL,
        owner TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        timeout_seconds REAL,
        result_ttl_seconds REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        expires_at REAL,
        progress_done INTEGER NOT NULL DEFAULT 0,
        progress_total INTEGER NOT NULL DEFAULT 0,
        progress_percent REAL NOT NULL DEFAULT 0,
        progress_eta REAL,
        progress_message TEXT NOT NULL DEFAULT '',
        error_code TEXT,
        error_message TEXT,
        error_details TEXT,
        result_inline BLOB,
        result_stored INTEGER NOT NULL DEFAULT 0,
        result_size INTEGER NOT NULL DEFAULT 0,
        result_content_type TEXT NOT NULL DEFAULT '',
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_expires_at REAL
    );
    CREATE UNIQUE INDEX jobs_idempotency ON jobs(owner, idempotency_key) WHERE idempotency_key != '';
    CREATE INDEX jobs_queue ON jobs(state, kind, priority DESC, created_at);
    CREATE INDEX jobs_created ON jobs(created_at, id);
    CREATE INDEX jobs_expiry ON jobs(expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE job_logs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        timestamp REAL NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        logger TEXT NOT NULL
    );
    CREATE INDEX job_logs_job ON job_logs(job_id, seq);
    """,
    """
    CREATE TABLE documents (
        collection TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,
        owners TEXT NOT NULL,
        readers TEXT NOT NULL,
        writers TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (collection, id)
    );
    CREATE INDEX documents_name ON documents(collection, name);
    """,
    """
    ALTER TABLE jobs ADD COLUMN cache_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN cached_from TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN result_blob TEXT NOT NULL DEFAULT '';
    CREATE INDEX jobs_cache ON jobs(kind, owner, cache_key, finished_at) WHERE cache_key != '';
    """,
    ENTITY_MIGRATION,
    # The queue index holds queued jobs only (claims ask for state=1): a job handed to an executor as
    # it is created, and a job that finishes, no longer write to it (~15% of the writer's time per job).
    f"""
    DROP INDEX jobs_queue;
    CREATE INDEX jobs_queue ON jobs(kind, priority DESC, created_at) WHERE state = {JobState.QUEUED.value};
    """,
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
        lookup = cached_query(job.kind, job.owner, job.cache_key, job.created_at or dt.datetime.now(UTC))

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


class SQLiteStore(SQLiteEntities):
    """The embedded store: one SQLite file in WAL mode with group commit.

    Args:
        path: The database file; its folder is created.
        synchronous: SQLite's ``synchronous`` pragma. ``NORMAL`` (default)
            survives a crash of the process; ``FULL`` also a power cut.
        max_batch: The most writes applied in one transaction. Small enough that in a burst the
            first writes are committed (and their jobs dispatched or answered) while the rest wait:
            the stages of a busy backend then overlap (64: 1,000 questions through a served app
            0.37-0.47 s, 2,048: 0.46-0.56 s).
    """

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", max_batch: int = 64) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._max_batch = max_batch
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="asyncwf-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="asyncwf-sqlite-reader")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._progress: dict[str, Progress] = {}
        self._writes = _Batcher(self._writer, self._apply_writes, max_batch, "asyncwf-sqlite-group-commit")
        self._reads = _Batcher(self._reader, self._apply_reads, max_batch, "asyncwf-sqlite-reads")

    # --- lifecycle ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def _open_writer(self) -> None:
        """Open (or make) the database and bring its schema up to date; a data dir that cannot serve
        (unreadable, not a database, full, from a newer asyncwf) is a :class:`ConfigurationError`."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(_MIGRATIONS):
                conn.close()
                raise ConfigurationError(f"{self.path} has schema version {version}, made by a newer asyncwf "
                                         f"(this one knows up to {len(_MIGRATIONS)}): upgrade asyncwf")  # fmt: skip
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"cannot open the store {self.path}: {exc}") from exc
        self._wconn = conn

    def _open_reader(self) -> None:
        self._rconn = self._connect()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._open_writer)
        await loop.run_in_executor(self._reader, self._open_reader)

    async def close(self) -> None:
        await self._reads.wait_idle()
        if self._progress:
            await self._write(lambda conn: None)
        await self._writes.wait_idle()
        loop = asyncio.get_running_loop()
        if self._wconn is not None:
            await loop.run_in_executor(self._writer, self._wconn.close)
            self._wconn = None
        if self._rconn is not None:
            await loop.run_in_executor(self._reader, self._rconn.close)
            self._rconn = None
        self._writer.shutdown(wait=False)
        self._reader.shutdown(wait=False)

    # --- plumbing ----------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._rconn is None:
            raise InternalError("the store is closed")
        return await self._reads.submit(fn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_writable()
        return await self._writes.submit(fn)

    def _check_writable(self) -> None:
        if self._wconn is None:
            raise InternalError("the store is closed")

    def _apply_reads(self, ops: list[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        conn = self._rconn
        if conn is None:
            raise InternalError("the store is closed")
        results: list[Any] = []
        for op in ops:
            try:
                results.append(op(conn))
            except Exception as exc:
                results.append(_Failure(exc))
        return results

    def _apply_writes(self, ops: list[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        conn = self._wconn
        if conn is None:
            raise InternalError("the store is closed")
        progress, self._progress = self._progress, {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            try:
                # Optimistically, without a savepoint per write: writes rarely fail.
                results: list[Any] = [op(conn) for op in ops]
            except Exception as exc:
                if _disk_full(exc):
                    raise
                # One did: start again, each write in its own savepoint, so it fails alone.
                # (Writes are functions of the database and their arguments: safe to run again.)
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                results = [_isolated(conn, op) for op in ops]
            if progress:
                conn.executemany(
                    "UPDATE jobs SET progress_done=?, progress_total=?, progress_percent=?, progress_eta=?, "
                    "progress_message=? WHERE id=?",
                    [(*progress_columns(p).values(), job_id) for job_id, p in progress.items()],
                )
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # (SQLite has already rolled back after some errors: a full disk)
                conn.execute("ROLLBACK")
            if _disk_full(exc):
                raise ResourceExhausted("the backend's disk is full: nothing was written") from exc
            raise
        return [_typed(result) for result in results]

    # --- Store interface ---------------------------------------------------

    async def insert_job(
        self, job: JobInfo, request_digest: str, *, from_cache: Callable[[JobInfo], JobInfo] | None = None
    ) -> tuple[JobInfo, bool]:
        self._check_writable()
        return await self._writes.submit(_insert_op(NewJob(job, request_digest, from_cache)))

    async def insert_jobs(self, jobs: Sequence[NewJob]) -> list[tuple[JobInfo, bool] | Exception]:
        self._check_writable()
        return await self._writes.submit_many([_insert_op(new) for new in jobs])

    async def get_job(self, job_id: str) -> JobInfo | None:
        def op(conn: sqlite3.Connection) -> JobInfo | None:
            row = conn.execute(f"SELECT {SELECT} FROM jobs WHERE id=?", (job_id,)).fetchone()
            return None if row is None else row_to_job(row)

        return await self._read(op)

    async def list_jobs(self, flt: JobFilter, *, after: tuple[float, str] | None, limit: int) -> list[JobInfo]:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if flt.states:
            where.append(f"state IN ({', '.join('?' * len(flt.states))})")
            args += [s.value for s in flt.states]
        if flt.kind:
            where.append("kind=?")
            args.append(flt.kind)
        if flt.owner is not None:
            where.append("owner=?")
            args.append(flt.owner)
        if flt.created_after is not None:
            where.append("created_at>?")
            args.append(flt.created_after.timestamp())
        if flt.created_before is not None:
            where.append("created_at<?")
            args.append(flt.created_before.timestamp())
        for key, value in flt.labels.items():
            where.append("json_extract(labels, ?) = ?")
            args += ["$." + json.dumps(key), value]
        if after is not None:
            where.append("(created_at, id) > (?, ?)")
            args += list(after)
        sql = f"SELECT {SELECT} FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT ?"
        args.append(limit)
        return await self._read(lambda conn: [row_to_job(r) for r in conn.execute(sql, args)])

    async def claim_jobs(
        self, kinds: Collection[str], limit: int, owner: str, lease_expires_at: dt.datetime | None, now: dt.datetime
    ) -> list[JobInfo]:
        kinds = list(kinds)
        sql = (
            f"UPDATE jobs SET state={JobState.RUNNING.value}, attempt=attempt+1, version=version+1, lease_owner=?, "
            "lease_expires_at=?, started_at=?, updated_at=? WHERE id IN (SELECT id FROM jobs WHERE "
            f"state={JobState.QUEUED.value} AND kind IN ({', '.join('?' * len(kinds))}) "
            f"ORDER BY priority DESC, created_at LIMIT ?) RETURNING {SELECT}"
        )
        args = (owner, ts(lease_expires_at), now.timestamp(), now.timestamp(), *kinds, limit)
        return await self._write(lambda conn: [row_to_job(r) for r in conn.execute(sql, args).fetchall()])

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
        self._check_writable()
        update = JobUpdate(job_id, changes, expect_states, expect_attempt, expect_owner, known)
        return await self._writes.submit(self._update_op(update))

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> list[JobInfo | Exception | None]:
        self._check_writable()
        return await self._writes.submit_many([self._update_op(update) for update in updates])

    def _update_op(self, update: JobUpdate) -> Callable[[sqlite3.Connection], JobInfo | None]:
        changes = update.changes
        columns = changes_to_columns(changes)
        args: list[Any] = [*columns.values(), update.job_id, *(s.value for s in update.expect_states)]
        if update.expect_attempt is not None:
            args.append(update.expect_attempt)
        if update.expect_owner is not None:
            args.append(update.expect_owner)
        known = update.known if finishes(changes) and "progress" not in changes else None
        returning = returned_columns(changes, "X''") if known is None else KNOWN_RETURNING
        sql = _update_sql(tuple(columns), len(update.expect_states), update.expect_attempt is not None,
                          update.expect_owner is not None, returning)  # fmt: skip
        if "progress" in changes:
            self._progress.pop(update.job_id, None)

        def op(conn: sqlite3.Connection) -> JobInfo | None:
            row = conn.execute(sql, args).fetchone()
            if row is None:
                return None
            return row_to_job(row) if known is None else known_after(known, changes, row)

        return op

    def record_progress(self, job_id: str, progress: Progress) -> None:
        self._progress[job_id] = progress
        if self._wconn is not None:
            self._writes.kick()

    async def append_logs(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        def op(conn: sqlite3.Connection) -> list[LogRecord]:
            stored = []
            for rec in records:
                cur = conn.execute(
                    "INSERT INTO job_logs (job_id, timestamp, level, message, logger) VALUES (?, ?, ?, ?, ?)",
                    (rec.job_id, rec.timestamp.timestamp(), rec.level, rec.message, rec.logger),
                )
                stored.append(
                    LogRecord(rec.job_id, cur.lastrowid or 0, rec.timestamp, rec.level, rec.message, rec.logger)
                )
            return stored

        return await self._write(op)

    async def get_logs(self, job_id: str, after_seq: int = 0) -> list[LogRecord]:
        sql = "SELECT seq, timestamp, level, message, logger FROM job_logs WHERE job_id=? AND seq>? ORDER BY seq"
        return await self._read(
            lambda conn: [
                LogRecord(job_id, seq, dt.datetime.fromtimestamp(ts, UTC), level, msg, logger)
                for seq, ts, level, msg, logger in conn.execute(sql, (job_id, after_seq))
            ]
        )

    async def find_cached(self, kind: str, owner: str, cache_key: str, now: dt.datetime) -> JobInfo | None:
        sql, args = cached_query(kind, owner, cache_key, now)

        def op(conn: sqlite3.Connection) -> JobInfo | None:
            row = conn.execute(sql, args).fetchone()
            return None if row is None else row_to_job(row)

        return await self._read(op)

    async def running_jobs(self) -> list[JobInfo]:
        sql = f"SELECT {SELECT} FROM jobs WHERE state=?"
        return await self._read(lambda conn: [row_to_job(r) for r in conn.execute(sql, (JobState.RUNNING.value,))])

    async def expiring_jobs(self, now: dt.datetime, limit: int) -> list[JobInfo]:
        sql = f"SELECT {SELECT} FROM jobs WHERE expires_at IS NOT NULL AND expires_at<=? ORDER BY expires_at LIMIT ?"
        return await self._read(lambda conn: [row_to_job(r) for r in conn.execute(sql, (now.timestamp(), limit))])

    async def next_expiry(self) -> dt.datetime | None:
        sql = "SELECT MIN(expires_at) FROM jobs WHERE expires_at IS NOT NULL"
        return await self._read(lambda conn: dt_from(conn.execute(sql).fetchone()[0]))

    async def insert_document(self, doc: Document) -> Document:
        sql = f"INSERT INTO documents ({DOC_COLUMNS}) VALUES ({', '.join('?' * 10)})"

        def op(conn: sqlite3.Connection) -> Document:
            try:
                conn.execute(sql, document_values(doc))
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"{doc.collection} {doc.id!r} already exists") from exc
            return doc

        return await self._write(op)

    async def get_document(self, collection: str, doc_id: str) -> Document | None:
        sql = f"SELECT {DOC_COLUMNS} FROM documents WHERE collection=? AND id=?"

        def op(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute(sql, (collection, doc_id)).fetchone()
            return None if row is None else row_to_document(row)

        return await self._read(op)

    async def update_document(self, doc: Document, expected_version: int) -> Document | None:
        sql = (
            "UPDATE documents SET name=?, body=?, owners=?, readers=?, writers=?, updated_at=?, version=version+1 "
            f"WHERE collection=? AND id=? AND version=? RETURNING {DOC_COLUMNS}"
        )
        _, _, name, body, owners, readers, writers, _, updated_at, _ = document_values(doc)
        args = (name, body, owners, readers, writers, updated_at, doc.collection, doc.id, expected_version)

        def op(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute(sql, args).fetchone()
            return None if row is None else row_to_document(row)

        return await self._write(op)

    async def list_documents(self, collection: str, *, name_prefix: str, limit: int) -> list[Document]:
        sql = (
            f"SELECT {DOC_COLUMNS} FROM documents WHERE collection=? AND substr(name, 1, ?)=? "
            "ORDER BY created_at, id LIMIT ?"
        )
        args = (collection, len(name_prefix), name_prefix, limit)
        return await self._read(lambda conn: [row_to_document(r) for r in conn.execute(sql, args)])

    async def delete_job(self, job_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            conn.execute("DELETE FROM job_logs WHERE job_id=?", (job_id,))

        await self._write(op)
