"""XF entities in PostgreSQL: the same table and rules as in SQLite, safe across replicas.

A new entity's serial is ``MAX + 1`` of its kind under a transaction-scoped
advisory lock of that kind; an update locks its row (``FOR UPDATE``) and,
with a guard, the guard's row, before checking ``occ_lock_version``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from asyncwf._ids import new_uuid
from asyncwf.exceptions import AlreadyExists, NotFound
from asyncwf.server.store._postgres_batch import mapped_store_errors, numbered
from asyncwf.server.store._rows import ENTITY_COLUMNS, entity_body, entity_query, entity_record, stale
from asyncwf.server.store._store import ENTITY_INDEX, Guard, entity_index

__all__ = ["POSTGRES_ENTITY_MIGRATION", "PostgresEntities"]

POSTGRES_ENTITY_MIGRATION = """
    CREATE TABLE xf_entities (
        kind TEXT NOT NULL, serial BIGINT NOT NULL, uuid TEXT NOT NULL UNIQUE, parent BIGINT NOT NULL,
        workflow BIGINT NOT NULL, name TEXT NOT NULL, occ_lock_version BIGINT NOT NULL,
        created DOUBLE PRECISION NOT NULL, modified DOUBLE PRECISION NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (kind, serial)
    );
    CREATE INDEX xf_entities_parent ON xf_entities(kind, parent, serial);
    CREATE INDEX xf_entities_workflow ON xf_entities(kind, workflow, serial);
    CREATE INDEX xf_entities_name ON xf_entities(kind, name, serial);
    CREATE UNIQUE INDEX xf_tasks_spawn_key ON xf_entities(parent, name) WHERE kind = 'task' AND name != '';
    """


def _kind_lock(kind: str) -> int:
    return zlib.crc32(f"asyncwf-xf-{kind}".encode())


async def _check_guard(conn: Any, guard: Guard | None, now: float) -> None:
    if guard is None:
        return
    kind, serial, expected = guard
    found = await conn.fetchval(
        "SELECT occ_lock_version FROM xf_entities WHERE kind=$1 AND serial=$2 FOR UPDATE", kind, serial
    )
    if found is None:
        raise NotFound(f"no {kind} {serial}")
    if expected and found != expected:
        raise stale(kind, serial, found, expected)
    await conn.execute(
        "UPDATE xf_entities SET occ_lock_version=occ_lock_version+1, modified=$1 WHERE kind=$2 AND serial=$3",
        now, kind, serial,
    )  # fmt: skip


@mapped_store_errors
class PostgresEntities:
    """The entity half of :class:`~asyncwf.server.PostgresStore`."""

    @property
    def pool(self) -> Any:
        raise NotImplementedError

    async def insert_entity(
        self, kind: str, fields: Mapping[str, Any], *, guard: Guard | None = None
    ) -> dict[str, Any]:
        import asyncpg

        parent, workflow, name = entity_index(kind, fields)
        async with self.pool.acquire() as conn, conn.transaction():
            now = time.time()
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _kind_lock(kind))
            await _check_guard(conn, guard, now)
            serial = await conn.fetchval("SELECT COALESCE(MAX(serial), 0) + 1 FROM xf_entities WHERE kind=$1", kind)
            try:
                row = await conn.fetchrow(
                    "INSERT INTO xf_entities (kind, serial, uuid, parent, workflow, name, occ_lock_version, created, "
                    f"modified, body) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8) RETURNING {ENTITY_COLUMNS}",
                    kind, serial, new_uuid(), parent, workflow, name, now, entity_body(fields),
                )  # fmt: skip
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"a task with spawn key {name!r} already exists in workflow {parent}") from exc
        return entity_record(tuple(row))

    async def get_entity(self, kind: str, serial: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            f"SELECT {ENTITY_COLUMNS} FROM xf_entities WHERE kind=$1 AND serial=$2", kind, serial
        )
        return None if row is None else entity_record(tuple(row))

    async def get_entity_by_uuid(self, uid: str) -> tuple[str, dict[str, Any]] | None:
        row = await self.pool.fetchrow(f"SELECT {ENTITY_COLUMNS} FROM xf_entities WHERE uuid=$1", uid)
        return None if row is None else (row[0], entity_record(tuple(row)))

    async def list_entities(
        self, kind: str, *, parent: int = 0, workflow: int = 0, name: str = "", state: str = ""
    ) -> list[dict[str, Any]]:
        sql, args = entity_query(kind, parent, workflow, name, state, "(body::jsonb ->> 'state')")
        return [entity_record(tuple(row)) for row in await self.pool.fetch(numbered(sql), *args)]

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
        import asyncpg

        if kind not in ENTITY_INDEX:
            raise NotFound(f"no entity kind {kind!r}")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {ENTITY_COLUMNS} FROM xf_entities WHERE kind=$1 AND serial=$2 FOR UPDATE", kind, serial
            )
            if row is None:
                raise NotFound(f"no {kind} {serial}")
            old = entity_record(tuple(row))
            if old["occ_lock_version"] != expected_version:
                raise stale(kind, serial, old["occ_lock_version"], expected_version)
            now = time.time()
            await _check_guard(conn, guard, now)
            new = {**old, **change(old)}
            parent, workflow, name = entity_index(kind, new)
            try:
                row = await conn.fetchrow(
                    "UPDATE xf_entities SET parent=$1, workflow=$2, name=$3, occ_lock_version=occ_lock_version+$4, "
                    f"modified=$5, body=$6 WHERE kind=$7 AND serial=$8 RETURNING {ENTITY_COLUMNS}",
                    parent, workflow, name, int(bump), now, entity_body(new), kind, serial,
                )  # fmt: skip
            except asyncpg.UniqueViolationError as exc:
                raise AlreadyExists(f"a task with spawn key {name!r} already exists in workflow {parent}") from exc
        return old, entity_record(tuple(row))
