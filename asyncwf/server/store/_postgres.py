"""PostgreSQL store (asyncpg): the same Store interface as SQLite, for several backend replicas.

Claims use ``FOR UPDATE SKIP LOCKED``, so replicas never lease a job twice;
serials of XF entities are allocated under a per-kind advisory lock.
Migrations run once, under an advisory lock, whichever replica starts first.
Progress is coalesced per job and written at most every 50 ms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio

from asyncwf._model import JobInfo, JobState, LogRecord, Progress
from asyncwf.exceptions import AlreadyExists, ConfigurationError, Conflict, InternalError, Unavailable
from asyncwf.server.engine._cluster import ClusterStore
from asyncwf.server.store._postgres_batch import WriteBatcher, mapped_store_errors, numbered
from asyncwf.server.store._postgres_xf import POSTGRES_ENTITY_MIGRATION, PostgresEntities
from asyncwf.server.store._rows import (
    DOC_COLUMNS,
    SELECT,
    cached_query,
    changes_to_columns,
    document_values,
    dt_from,
    job_columns,
    progress_columns,
    returned_columns,
    row_to_document,
    row_to_job,
    ts,
)
from asyncwf.server.store._store import Document, JobFilter, JobUpdate, NewJob, Store, one_by_one

__all__ = ["PostgresStore"]

_MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, state INTEGER NOT NULL, version INTEGER NOT NULL,
        payload BYTEA NOT NULL, content_type TEXT NOT NULL, idempotency_key TEXT NOT NULL,
        request_digest TEXT NOT NULL, labels TEXT NOT NULL, owner TEXT NOT NULL, attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL, priority INTEGER NOT NULL, timeout_seconds DOUBLE PRECISION,
        result_ttl_seconds DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION,
        expires_at DOUBLE PRECISION, progress_done BIGINT NOT NULL DEFAULT 0, progress_total BIGINT NOT NULL DEFAULT 0,
        progress_percent DOUBLE PRECISION NOT NULL DEFAULT 0, progress_eta DOUBLE PRECISION,
        progress_message TEXT NOT NULL DEFAULT '', error_code TEXT, error_message TEXT, error_details TEXT,
        result_inline BYTEA, result_stored INTEGER NOT NULL DEFAULT 0, result_size BIGINT NOT NULL DEFAULT 0,
        result_content_type TEXT NOT NULL DEFAULT '', lease_owner TEXT NOT NULL DEFAULT '',
        lease_expires_at DOUBLE PRECISION, cache_key TEXT NOT NULL DEFAULT '',
        cached_from TEXT NOT NULL DEFAULT '', result_blob TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX jobs_idempotency ON jobs(owner, idempotency_key) WHERE idempotency_key != '';
    CREATE INDEX jobs_queue ON jobs(state, kind, priority DESC, created_at);
    CREATE INDEX jobs_created ON jobs(created_at, id);
    CREATE INDEX jobs_expiry ON jobs(expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX jobs_cache ON jobs(kind, owner, cache_key, finished_at) WHERE cache_key != '';
    CREATE TABLE job_logs (
        seq BIGSERIAL PRIMARY KEY, job_id TEXT NOT NULL, timestamp DOUBLE PRECISION NOT NULL,
        level TEXT NOT NULL, message TEXT NOT NULL, logger TEXT NOT NULL
    );
    CREATE INDEX job_logs_job ON job_logs(job_id, seq);
    CREATE TABLE documents (
        collection TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, owners TEXT NOT NULL,
        readers TEXT NOT NULL, writers TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (collection, id)
    );
    CREATE INDEX documents_name ON documents(collection, name);
    """,
    POSTGRES_ENTITY_MIGRATION,
    # Every committed change of a job's version is announced to every replica (see asyncwf.server.engine._cluster).
    """
    CREATE FUNCTION asyncwf_job_changed() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify('asyncwf_jobs', NEW.id || ':' || NEW.version || ':' || NEW.state);
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    CREATE TRIGGER asyncwf_job_inserted AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION asyncwf_job_changed();
    CREATE TRIGGER asyncwf_job_updated AFTER UPDATE ON jobs FOR EACH ROW
        WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION asyncwf_job_changed();
    CREATE INDEX jobs_leases ON jobs(lease_expires_at) WHERE state = 2;
    """,
    # ... and every stored log entry (watchers on other replicas fetch what they have not seen).
    """
    CREATE FUNCTION asyncwf_log_added() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify('asyncwf_jobs', 'L|' || NEW.job_id || '|' || NEW.seq);
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    CREATE TRIGGER asyncwf_log_inserted AFTER INSERT ON job_logs FOR EACH ROW EXECUTE FUNCTION asyncwf_log_added();
    """,
]
_MIGRATION_LOCK = 0x61737977  # "asyw": one replica migrates at a time
_PROGRESS_DELAY = 0.05


def _connect_options(dsn: str) -> dict[str, Any]:
    """What asyncpg would otherwise look up on the event loop (files in the home folder), looked up here in
    a worker thread: the password (see :func:`_password`) and, when neither the DSN nor ``$PGSSLMODE`` says,
    TLS: off on loopback, verified against the system's CAs elsewhere."""
    import ssl

    options: dict[str, Any] = {}
    password = _password(dsn)
    if password is not None:
        options["password"] = password
    parts = urlsplit(dsn)
    if "sslmode=" not in parts.query and "PGSSLMODE" not in os.environ:
        loopback = (parts.hostname or "localhost") in ("localhost", "127.0.0.1", "::1") or not parts.hostname
        options["ssl"] = False if loopback else ssl.create_default_context()
    return options


def _password(dsn: str) -> str | None:
    """The password to connect with, looked up here (in a worker thread) so that asyncpg does not read
    ``~/.pgpass`` on the event loop: the DSN's own (None), ``$PGPASSWORD``, a matching ``.pgpass`` line, or ""."""
    parts = urlsplit(dsn)
    if parts.password is not None:
        return None
    if "PGPASSWORD" in os.environ:
        return os.environ["PGPASSWORD"]
    wanted = [parts.hostname or "localhost", str(parts.port or 5432), parts.path.lstrip("/") or "*",
              parts.username or os.environ.get("PGUSER", "")]  # fmt: skip
    path = os.environ.get("PGPASSFILE") or os.path.expanduser("~/.pgpass")
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    for line in lines:
        fields = line.split(":")
        if len(fields) == 5 and all(have in ("*", want) for have, want in zip(fields[:4], wanted, strict=True)):
            return fields[4]
    return ""


@mapped_store_errors
class PostgresStore(PostgresEntities, Store, ClusterStore):
    """The store on PostgreSQL, for one or several backend replicas.

    Args:
        dsn: ``postgresql://user:password@host:port/database``.
        min_size: The fewest connections the pool keeps open.
        max_size: The most connections the pool opens.
    """

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 16) -> None:
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(f"a PostgreSQL DSN starts with postgresql://, not {dsn.split(':')[0]!r}")
        self.dsn = dsn
        self._min, self._max = min_size, max_size
        self._pool: Any = None
        self._progress: dict[str, Progress] = {}
        self._progress_task: asyncio.Task[None] | None = None
        self._options: dict[str, Any] = {}
        self._listener: Any = None
        self._batch = WriteBatcher(None)

    # --- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError as exc:
            raise ConfigurationError("the PostgreSQL store needs asyncpg: pip install 'asyncwf[postgres]'") from exc

        self._options = extra = await anyio.to_thread.run_sync(_connect_options, self.dsn)
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=self._min, max_size=self._max, **extra)
        except (OSError, asyncpg.PostgresError) as exc:
            raise Unavailable(f"cannot reach PostgreSQL at {self.dsn.rsplit('@', 1)[-1]}: {exc}") from exc
        self._batch = WriteBatcher(self._pool)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS asyncwf_schema (version INTEGER NOT NULL)")
            version = await conn.fetchval("SELECT max(version) FROM asyncwf_schema") or 0
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                await conn.execute(script)
                await conn.execute("INSERT INTO asyncwf_schema (version) VALUES ($1)", number)

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
        if self._pool is None:
            return
        await self._batch.wait_idle()
        if self._progress_task is not None:
            await self._progress_task
        await self._flush_progress()
        pool, self._pool = self._pool, None
        await pool.close()

    @property
    def pool(self) -> Any:
        """The asyncpg pool (:class:`~asyncwf.exceptions.InternalError` once the store is closed)."""
        if self._pool is None:
            raise InternalError("the store is closed")
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self.pool.fetch(numbered(sql), *args))

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        return await self.pool.fetchrow(numbered(sql), *args)

    # --- several replicas (asyncwf.server.engine._cluster) --------------------------

    async def listen(self, callback: Callable[[str, str, int, int], None]) -> None:
        """Call ``callback(what, job_id, a, b)`` for what any replica committed: ``("job", id, version, state)``,
        ``("logs", id, seq, 0)`` for a stored log entry, ``("progress", id, 0, 0)``."""
        import asyncpg

        def received(connection: Any, pid: int, channel: str, payload: str) -> None:
            if payload.startswith("L|"):
                _, job_id, seq = payload.split("|")
                callback("logs", job_id, int(seq), 0)
            elif payload.startswith("P|"):
                callback("progress", payload[2:], 0, 0)
            else:
                job_id, version, state = payload.rsplit(":", 2)
                callback("job", job_id, int(version), int(state))

        self._listener = await asyncpg.connect(self.dsn, **self._options)
        await self._listener.add_listener("asyncwf_jobs", received)

    async def renew_leases(self, job_ids: list[str], expires_at: dt.datetime) -> None:
        await self._fetch(
            f"UPDATE jobs SET lease_expires_at=? WHERE id = ANY(?::text[]) AND state={JobState.RUNNING.value} "
            "RETURNING id",
            expires_at.timestamp(), job_ids,
        )  # fmt: skip

    async def expired_leases(self, now: dt.datetime, limit: int) -> list[JobInfo]:
        rows = await self._fetch(
            f"SELECT {SELECT} FROM jobs WHERE state={JobState.RUNNING.value} AND lease_expires_at IS NOT NULL "
            "AND lease_expires_at<? ORDER BY lease_expires_at LIMIT ?",
            now.timestamp(), limit,
        )  # fmt: skip
        return [row_to_job(tuple(r)) for r in rows]

    # --- jobs --------------------------------------------------------------

    async def insert_job(
        self, job: JobInfo, request_digest: str, *, from_cache: Callable[[JobInfo], JobInfo] | None = None
    ) -> tuple[JobInfo, bool]:
        if from_cache is not None and job.cache_key:
            cached = await self.find_cached(
                job.kind, job.owner, job.cache_key, job.created_at or dt.datetime.now(dt.UTC)
            )
            if cached is not None:
                job = from_cache(cached)
        values = job_columns(job, request_digest)
        if await self._batch.insert(values):
            return job, True
        # A unique index said no: the job exists already (the same key twice is an answer, not a race).
        row = await self._fetchrow(f"SELECT {SELECT}, request_digest FROM jobs WHERE owner=? AND idempotency_key=?",
                                   job.owner, job.idempotency_key)  # fmt: skip
        if row is None or not job.idempotency_key:
            raise Conflict(f"job id {job.id!r} already exists")
        if row[-1] != request_digest:
            raise Conflict(f"idempotency key {job.idempotency_key!r} was used for a different request")
        return row_to_job(tuple(row)[:-1]), False

    async def insert_jobs(self, jobs: Sequence[NewJob]) -> list[tuple[JobInfo, bool] | Exception]:
        # Each insert joins the write batcher's next round on its own.
        return await one_by_one(lambda new: self.insert_job(new.job, new.request_digest, from_cache=new.from_cache),
                                jobs)  # fmt: skip

    async def get_job(self, job_id: str) -> JobInfo | None:
        row = await self._fetchrow(f"SELECT {SELECT} FROM jobs WHERE id=?", job_id)
        return None if row is None else row_to_job(tuple(row))

    async def get_jobs(self, job_ids: list[str]) -> list[JobInfo]:
        """The snapshots of the jobs that exist among ``job_ids``, in one query."""
        rows = await self._fetch(f"SELECT {SELECT} FROM jobs WHERE id = ANY(?::text[])", job_ids)
        return [row_to_job(tuple(row)) for row in rows]

    async def list_jobs(self, flt: JobFilter, *, after: tuple[float, str] | None, limit: int) -> list[JobInfo]:
        where: list[str] = ["TRUE"]
        args: list[Any] = []
        if flt.states:
            where.append(f"state IN ({', '.join('?' * len(flt.states))})")
            args += [s.value for s in flt.states]
        for column, value in (("kind", flt.kind or None), ("owner", flt.owner)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if flt.created_after is not None:
            where.append("created_at>?")
            args.append(flt.created_after.timestamp())
        if flt.created_before is not None:
            where.append("created_at<?")
            args.append(flt.created_before.timestamp())
        for key, value in flt.labels.items():
            where.append("(labels::jsonb ->> ?) = ?")
            args += [key, value]
        if after is not None:
            where.append("(created_at, id) > (?, ?)")
            args += list(after)
        sql = f"SELECT {SELECT} FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT ?"
        return [row_to_job(tuple(r)) for r in await self._fetch(sql, *args, limit)]

    async def claim_jobs(
        self, kinds: Collection[str], limit: int, owner: str, lease_expires_at: dt.datetime | None, now: dt.datetime
    ) -> list[JobInfo]:
        sql = (
            f"UPDATE jobs SET state={JobState.RUNNING.value}, attempt=attempt+1, version=version+1, lease_owner=?, "
            "lease_expires_at=?, started_at=?, updated_at=? WHERE id IN (SELECT id FROM jobs WHERE "
            f"state={JobState.QUEUED.value} AND kind = ANY(?::text[]) ORDER BY priority DESC, created_at LIMIT ? "
            f"FOR UPDATE SKIP LOCKED) RETURNING {SELECT}"
        )
        rows = await self._fetch(sql, owner, ts(lease_expires_at), now.timestamp(), now.timestamp(), list(kinds), limit)
        jobs = [row_to_job(tuple(r)) for r in rows]
        jobs.sort(key=lambda job: (-job.priority, job.created_at or now))
        return jobs

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
        # (``known`` is not used: replicas share this store, so only its own row is sure.)
        columns = changes_to_columns(changes)
        if "progress" in changes:
            self._progress.pop(job_id, None)
        states = [s.value for s in expect_states]
        returning = returned_columns(changes, "''::bytea", prefix="jobs.")
        row = await self._batch.update(job_id, columns, states, expect_attempt, expect_owner, returning)
        return None if row is None else row_to_job(tuple(row))

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> list[JobInfo | Exception | None]:
        return await one_by_one(lambda u: self.update_job(u.job_id, u.changes, expect_states=u.expect_states,
                                                          expect_attempt=u.expect_attempt, expect_owner=u.expect_owner),
                                updates)  # fmt: skip

    def record_progress(self, job_id: str, progress: Progress) -> None:
        self._progress[job_id] = progress
        if self._progress_task is None and self._pool is not None:
            self._progress_task = asyncio.create_task(self._progress_soon(), name="asyncwf-pg-progress")

    async def _progress_soon(self) -> None:
        try:
            await asyncio.sleep(_PROGRESS_DELAY)
            await self._flush_progress()
        finally:
            self._progress_task = None

    async def _flush_progress(self) -> None:
        pending, self._progress = self._progress, {}
        if pending:
            await self.pool.executemany(
                numbered("UPDATE jobs SET progress_done=?, progress_total=?, progress_percent=?, progress_eta=?, "
                          "progress_message=? WHERE id=?"),
                [(*progress_columns(p).values(), job_id) for job_id, p in pending.items()],
            )  # fmt: skip
            # Progress does not change a job's version (no trigger): tell the other replicas' watchers.
            await self.pool.execute("SELECT pg_notify('asyncwf_jobs', 'P|' || id) FROM unnest($1::text[]) AS id",
                                    list(pending))  # fmt: skip

    async def append_logs(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        if not records:
            return []
        rows = await self._fetch(
            "INSERT INTO job_logs (job_id, timestamp, level, message, logger) SELECT * FROM "
            "unnest(?::text[], ?::float8[], ?::text[], ?::text[], ?::text[]) RETURNING seq",
            [r.job_id for r in records], [r.timestamp.timestamp() for r in records], [r.level for r in records],
            [r.message for r in records], [r.logger for r in records],
        )  # fmt: skip
        seqs = sorted(row[0] for row in rows)
        return [LogRecord(r.job_id, seq, r.timestamp, r.level, r.message, r.logger)
                for r, seq in zip(records, seqs, strict=True)]  # fmt: skip

    async def get_logs(self, job_id: str, after_seq: int = 0) -> list[LogRecord]:
        rows = await self._fetch(
            "SELECT seq, timestamp, level, message, logger FROM job_logs WHERE job_id=? AND seq>? ORDER BY seq",
            job_id, after_seq,
        )  # fmt: skip
        return [LogRecord(job_id, seq, dt.datetime.fromtimestamp(when, dt.UTC), level, message, logger)
                for seq, when, level, message, logger in rows]  # fmt: skip

    async def find_cached(self, kind: str, owner: str, cache_key: str, now: dt.datetime) -> JobInfo | None:
        sql, args = cached_query(kind, owner, cache_key, now)
        row = await self._fetchrow(sql, *args)
        return None if row is None else row_to_job(tuple(row))

    async def running_jobs(self) -> list[JobInfo]:
        rows = await self._fetch(f"SELECT {SELECT} FROM jobs WHERE state=?", JobState.RUNNING.value)
        return [row_to_job(tuple(r)) for r in rows]

    async def expiring_jobs(self, now: dt.datetime, limit: int) -> list[JobInfo]:
        rows = await self._fetch(
            f"SELECT {SELECT} FROM jobs WHERE expires_at IS NOT NULL AND expires_at<=? ORDER BY expires_at LIMIT ?",
            now.timestamp(), limit,
        )  # fmt: skip
        return [row_to_job(tuple(r)) for r in rows]

    async def next_expiry(self) -> dt.datetime | None:
        return dt_from(await self.pool.fetchval("SELECT MIN(expires_at) FROM jobs WHERE expires_at IS NOT NULL"))

    async def delete_job(self, job_id: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM jobs WHERE id=$1", job_id)
            await conn.execute("DELETE FROM job_logs WHERE job_id=$1", job_id)

    # --- documents ---------------------------------------------------------

    async def insert_document(self, doc: Document) -> Document:
        import asyncpg

        try:
            await self.pool.execute(
                numbered(f"INSERT INTO documents ({DOC_COLUMNS}) VALUES ({', '.join('?' * 10)})"),
                *document_values(doc),
            )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExists(f"{doc.collection} {doc.id!r} already exists") from exc
        return doc

    async def get_document(self, collection: str, doc_id: str) -> Document | None:
        row = await self._fetchrow(f"SELECT {DOC_COLUMNS} FROM documents WHERE collection=? AND id=?", collection,
                                   doc_id)  # fmt: skip
        return None if row is None else row_to_document(tuple(row))

    async def update_document(self, doc: Document, expected_version: int) -> Document | None:
        _, _, name, body, owners, readers, writers, _, updated_at, _ = document_values(doc)
        row = await self._fetchrow(
            "UPDATE documents SET name=?, body=?, owners=?, readers=?, writers=?, updated_at=?, version=version+1 "
            f"WHERE collection=? AND id=? AND version=? RETURNING {DOC_COLUMNS}",
            name, body, owners, readers, writers, updated_at, doc.collection, doc.id, expected_version,
        )  # fmt: skip
        return None if row is None else row_to_document(tuple(row))

    async def list_documents(self, collection: str, *, name_prefix: str, limit: int) -> list[Document]:
        rows = await self._fetch(
            f"SELECT {DOC_COLUMNS} FROM documents WHERE collection=? AND left(name, ?)=? ORDER BY created_at, id "
            "LIMIT ?",
            collection, len(name_prefix), name_prefix, limit,
        )  # fmt: skip
        return [row_to_document(tuple(r)) for r in rows]
