"""XF entities in SQLite: one table, integer serials per kind, optimistic concurrency.

Mixed into :class:`~asyncwf.server.SQLiteStore`; every write goes through its
group-commit writer, so allocating a serial (``MAX + 1`` of the kind) and
checking an ``occ_lock_version`` happen inside one transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from asyncwf._ids import new_uuid
from asyncwf.exceptions import AlreadyExists, NotFound
from asyncwf.server.store._rows import ENTITY_COLUMNS, entity_body, entity_query, entity_record, stale
from asyncwf.server.store._store import ENTITY_INDEX, Guard, entity_index

__all__ = ["ENTITY_MIGRATION", "SQLiteEntities"]

T = TypeVar("T")

ENTITY_MIGRATION = """
    CREATE TABLE xf_entities (
        kind TEXT NOT NULL,
        serial INTEGER NOT NULL,
        uuid TEXT NOT NULL UNIQUE,
        parent INTEGER NOT NULL,
        workflow INTEGER NOT NULL,
        name TEXT NOT NULL,
        occ_lock_version INTEGER NOT NULL,
        created REAL NOT NULL,
        modified REAL NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, serial)
    );
    CREATE INDEX xf_entities_parent ON xf_entities(kind, parent, serial);
    CREATE INDEX xf_entities_workflow ON xf_entities(kind, workflow, serial);
    CREATE INDEX xf_entities_name ON xf_entities(kind, name, serial);
    CREATE UNIQUE INDEX xf_tasks_spawn_key ON xf_entities(parent, name) WHERE kind = 'task' AND name != '';
    """


def _check_guard(conn: sqlite3.Connection, guard: Guard | None, now: float) -> None:
    if guard is None:
        return
    kind, serial, expected = guard
    row = conn.execute("SELECT occ_lock_version FROM xf_entities WHERE kind=? AND serial=?", (kind, serial)).fetchone()
    if row is None:
        raise NotFound(f"no {kind} {serial}")
    if expected and row[0] != expected:
        raise stale(kind, serial, row[0], expected)
    conn.execute(
        "UPDATE xf_entities SET occ_lock_version=occ_lock_version+1, modified=? WHERE kind=? AND serial=?",
        (now, kind, serial),
    )


class SQLiteEntities:
    """The entity half of the SQLite store (see :class:`~asyncwf.server.store._store.EntityStore`)."""

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def insert_entity(
        self, kind: str, fields: Mapping[str, Any], *, guard: Guard | None = None
    ) -> dict[str, Any]:
        parent, workflow, name = entity_index(kind, fields)
        body = entity_body(fields)

        def op(conn: sqlite3.Connection) -> dict[str, Any]:
            now = time.time()
            _check_guard(conn, guard, now)
            serial = conn.execute("SELECT COALESCE(MAX(serial), 0) + 1 FROM xf_entities WHERE kind=?", (kind,))
            values = (kind, serial.fetchone()[0], new_uuid(), parent, workflow, name, 1, now, now, body)
            try:
                row = conn.execute(
                    "INSERT INTO xf_entities (kind, serial, uuid, parent, workflow, name, occ_lock_version, created, "
                    f"modified, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {ENTITY_COLUMNS}",
                    values,
                ).fetchone()
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"a task with spawn key {name!r} already exists in workflow {parent}") from exc
            return entity_record(row)

        return await self._write(op)

    async def get_entity(self, kind: str, serial: int) -> dict[str, Any] | None:
        sql = f"SELECT {ENTITY_COLUMNS} FROM xf_entities WHERE kind=? AND serial=?"

        def op(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(sql, (kind, serial)).fetchone()
            return None if row is None else entity_record(row)

        return await self._read(op)

    async def get_entity_by_uuid(self, uid: str) -> tuple[str, dict[str, Any]] | None:
        sql = f"SELECT {ENTITY_COLUMNS} FROM xf_entities WHERE uuid=?"

        def op(conn: sqlite3.Connection) -> tuple[str, dict[str, Any]] | None:
            row = conn.execute(sql, (uid,)).fetchone()
            return None if row is None else (row[0], entity_record(row))

        return await self._read(op)

    async def list_entities(
        self, kind: str, *, parent: int = 0, workflow: int = 0, name: str = "", state: str = ""
    ) -> list[dict[str, Any]]:
        sql, args = entity_query(kind, parent, workflow, name, state, "json_extract(body, '$.state')")
        return await self._read(lambda conn: [entity_record(row) for row in conn.execute(sql, args)])

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
        if kind not in ENTITY_INDEX:
            raise NotFound(f"no entity kind {kind!r}")
        select = f"SELECT {ENTITY_COLUMNS} FROM xf_entities WHERE kind=? AND serial=?"

        def op(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
            row = conn.execute(select, (kind, serial)).fetchone()
            if row is None:
                raise NotFound(f"no {kind} {serial}")
            old = entity_record(row)
            if old["occ_lock_version"] != expected_version:
                raise stale(kind, serial, old["occ_lock_version"], expected_version)
            now = time.time()
            _check_guard(conn, guard, now)
            new = {**old, **change(old)}
            parent, workflow, name = entity_index(kind, new)
            row = conn.execute(
                "UPDATE xf_entities SET parent=?, workflow=?, name=?, occ_lock_version=occ_lock_version+?, "
                f"modified=?, body=? WHERE kind=? AND serial=? RETURNING {ENTITY_COLUMNS}",
                (parent, workflow, name, int(bump), now, entity_body(new), kind, serial),
            ).fetchone()
            return old, entity_record(row)

        return await self._write(op)
