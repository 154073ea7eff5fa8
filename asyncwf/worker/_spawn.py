"""Finding task types and spawning task types, tasks and jobs from a task script."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncwf.exceptions import AlreadyExists, Conflict, InvalidArgument, NotFound
from asyncwf.worker._arguments import parse_version
from asyncwf.worker._connection import Connection
from asyncwf.worker._queries import create_xf_job, create_xf_task, update_xf_task

__all__ = ["Spawning"]

Record = dict[str, Any]


def _entity(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("serial"), int):
        raise InvalidArgument(f"{what} is a record from the backend (with its serial), not {value!r}")
    return value


class Spawning:
    """``find_xf_task_type(s)``, ``get_existing_job_sort_orders`` and the ``spawn_xf_*_basic`` family."""

    job: Record
    job_serial: int

    async def find_xf_task_types(
        self, connection: Connection, name: str, *, raise_if_not_any: bool = True
    ) -> list[Record]:
        """Every task type of the package ``name``, newest version first."""
        if not isinstance(name, str) or not name:
            raise InvalidArgument("give a task type's package name")
        found = await connection.list("task_type", name=name)
        found.sort(key=lambda task_type: parse_version(task_type["version"]), reverse=True)
        if not found and raise_if_not_any:
            raise NotFound(f"no task type {name!r}")
        return found

    async def find_xf_task_type(self, connection: Connection, name: str) -> Record:
        """The newest version of the task type ``name`` (:class:`NotFound` if there is none)."""
        return (await self.find_xf_task_types(connection, name))[0]

    async def get_existing_job_sort_orders(self, connection: Connection) -> list[str]:
        """The sort orders of the jobs already in this job's workflow."""
        jobs = await connection.list("job", workflow=self.job["workflow_serial"])
        return [job["sort_order"] for job in jobs if job["sort_order"]]

    async def spawn_xf_task_type_basic(
        self, connection: Connection, task_type_metadata: Mapping[str, Any], task_type_interface: Mapping[str, Any]
    ) -> Record:
        """A task type (``task_type_metadata`` holds ``name`` and ``version``); the existing one when that
        version exists with the same interface (:class:`Conflict` if it differs)."""
        if not isinstance(task_type_metadata, Mapping) or not isinstance(task_type_interface, Mapping):
            raise InvalidArgument("task_type_metadata and task_type_interface are dicts")
        name, version = task_type_metadata.get("name"), task_type_metadata.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise InvalidArgument("task_type_metadata needs the package 'name' and 'version'")
        for existing in await self.find_xf_task_types(connection, name, raise_if_not_any=False):
            if existing["version"] == version:
                if existing["interface"] != dict(task_type_interface):
                    raise Conflict(f"task type {name} {version} exists with another interface")
                return existing
        metadata = {k: v for k, v in task_type_metadata.items() if k not in ("name", "version")}
        fields = {"name": name, "version": version, "interface": dict(task_type_interface), "metadata": metadata}
        return await connection.create("task_type", fields)

    async def spawn_xf_task_basic(
        self, connection: Connection, task_type: Mapping[str, Any], task_name: str | None = None,
        spawn_key: str | None = None, task_inputs: list[dict[str, Any]] | None = None,
        task_metadata: dict[str, Any] | None = None, upgrade_task_types: list[dict[str, Any]] | None = None,
    ) -> Record:  # fmt: skip
        """Ensure a task of ``task_type`` in this job's workflow, found by ``spawn_key`` (default: the task
        type's name). An existing task whose task type is among ``upgrade_task_types`` moves to ``task_type``."""
        task_type = _entity(task_type, "task_type")
        key = spawn_key or f"{task_type['name']}"
        workflow_serial = self.job["workflow_serial"]
        fields = {"workflow_serial": workflow_serial, "task_type_serial": task_type["serial"],
                  "name": task_name or task_type["name"], "spawn_key": key, "inputs": list(task_inputs or []),
                  "metadata": dict(task_metadata or {})}  # fmt: skip
        for _attempt in range(5):
            existing = [t for t in await connection.list("task", parent=workflow_serial) if t["spawn_key"] == key]
            if not existing:
                try:
                    return await create_xf_task(connection, fields)
                except AlreadyExists:
                    continue  # spawned concurrently: use that one
            task = existing[0]
            upgrades = {t["serial"] for t in upgrade_task_types or ()}
            if task["task_type_serial"] == task_type["serial"] or task["task_type_serial"] not in upgrades:
                return task
            workflow = await connection.get("workflow", workflow_serial)
            try:
                return await update_xf_task(connection, task, workflow["occ_lock_version"],
                                            task_type_serial=task_type["serial"])  # fmt: skip
            except Conflict:
                continue
        raise Conflict(f"could not spawn task {key!r}: the workflow kept changing")

    async def spawn_xf_job_basic(
        self, connection: Connection, task_type: Mapping[str, Any], task: Mapping[str, Any],
        source_job_serial: int | None = None, state: str = "Done", inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None, sort_order: str | None = None, metadata: dict[str, Any] | None = None,
    ) -> Record:  # fmt: skip
        """A job of ``task`` (``Done`` with its outputs by default; ``Queued`` sends it to the workers)."""
        task_type, task = _entity(task_type, "task_type"), _entity(task, "task")
        return await create_xf_job(connection, {
            "task_serial": task["serial"], "task_type_serial": task_type["serial"], "state": state,
            "inputs": dict(inputs or {}), "outputs": dict(outputs or {}), "sort_order": sort_order or "",
            "source_job_serial": source_job_serial or self.job_serial, "metadata": dict(metadata or {}),
        })  # fmt: skip
