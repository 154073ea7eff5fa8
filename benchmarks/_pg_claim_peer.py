"""The PostgreSQL peer of the replicas benchmark: a bare asyncpg job queue with ``FOR UPDATE SKIP LOCKED``.

``python -m benchmarks._pg_claim_peer worker DSN`` runs one claim loop (a replica's part): it claims up to
64 queued jobs in one statement, "runs" them (the result is the payload, as ``asyncwf.echo``), marks them
done in one statement and announces them with ``NOTIFY``; when nothing is queued it waits for a ``NOTIFY``
of new work. :func:`run_jobs` is the client's part: ``n`` jobs, ``in_flight`` at a time, each inserted
with one statement and awaited through the done notices. Durability as asyncwf's store has it: every
statement commits, ``synchronous_commit`` on.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS peer_jobs (
    id bigserial PRIMARY KEY, payload bytea NOT NULL, state smallint NOT NULL DEFAULT 0, result bytea,
    created_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS peer_jobs_queued ON peer_jobs (id) WHERE state = 0;
"""
CLAIM = """
UPDATE peer_jobs SET state = 1 WHERE id IN (
    SELECT id FROM peer_jobs WHERE state = 0 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 64
) RETURNING id, payload
"""
COMPLETE = """
WITH done AS (
    UPDATE peer_jobs SET state = 2, result = r.result, finished_at = now()
    FROM unnest($1::bigint[], $2::bytea[]) AS r(id, result) WHERE peer_jobs.id = r.id RETURNING peer_jobs.id
) SELECT pg_notify('peer_done', string_agg(id::text, ',')) FROM done
"""


async def worker(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    listener = await asyncpg.connect(dsn)
    work = asyncio.Event()
    await listener.add_listener("peer_new", lambda *_: work.set())
    print(json.dumps({"pid": os.getpid()}), flush=True)
    while True:
        work.clear()
        rows = await conn.fetch(CLAIM)
        if not rows:
            try:
                await asyncio.wait_for(work.wait(), 0.05)
            except TimeoutError:
                pass
            continue
        await conn.fetchval(COMPLETE, [r["id"] for r in rows], [r["payload"] for r in rows])


async def run_jobs(dsn: str, n: int, in_flight: int) -> float:
    """Jobs per second for ``n`` jobs, ``in_flight`` at a time (the workers must be running)."""
    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=16, max_size=16)
    listener = await asyncpg.connect(dsn)
    waiting: dict[int, asyncio.Future[None]] = {}
    early: set[int] = set()

    def done(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for text in payload.split(","):
            future = waiting.pop(int(text), None)
            if future is None:
                early.add(int(text))
            elif not future.done():
                future.set_result(None)

    await listener.add_listener("peer_done", done)
    loop = asyncio.get_running_loop()

    async def one(payload: bytes) -> None:
        job_id = await pool.fetchval(
            "WITH j AS (INSERT INTO peer_jobs (payload) VALUES ($1) RETURNING id) "
            "SELECT id FROM j, pg_notify('peer_new', '')", payload)  # fmt: skip
        if job_id in early:
            early.discard(job_id)
            return
        future = waiting[job_id] = loop.create_future()
        await future

    remaining = n

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one(b"x")

    await asyncio.gather(*(one(b"w") for _ in range(200)))  # warm-up
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(in_flight)))
    elapsed = time.perf_counter() - start
    await listener.close()
    await pool.close()
    return n / elapsed


async def create_schema(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        asyncio.run(worker(sys.argv[2]))
