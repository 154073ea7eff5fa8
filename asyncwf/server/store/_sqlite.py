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
    InternalError,
    ResourceExhausted,
)
from asyncwf.server.store._rows import (
    DOC_COLUMNS,
    KNOWN_RETURNING,
    SELECT,
    cached_query,
    changes_to_columns,
    document_values,
    dt_from,
    finishes,
    known_after,
    progress_columns,
    returned_columns,
    row_to_document,
    row_to_job,
    ts,
)
from asyncwf.server.store._sqlite_writes import (
    _Batcher,
    _disk_full,
    _Failure,
    _insert_op,
    _isolated,
    _typed,
    _update_sql,
)
from asyncwf.server.store._sqlite_xf import ENTITY_MIGRATION, SQLiteEntities
from asyncwf.server.store._store import Document, JobFilter, JobUpdate, NewJob, Store

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


class SQLiteStore(SQLiteEntities, Store):
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
