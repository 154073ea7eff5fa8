"""XF fixtures: a backend with a project, a workflow, task types and tasks in it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncwf.testing import LocalBackend
from asyncwf.worker import Connection, XFWorkerArguments, get_xf_job_result_token
from asyncwf.worker._transfer import area_url, upload

SCRIPTS = Path(__file__).parent / "scripts"
INTERFACE = {"inputs": [{"name": "table", "type": "CSV"}], "outputs": [{"name": "total", "type": "CSV"}]}


@dataclasses.dataclass
class XF:
    backend: LocalBackend
    conn: Connection
    project: dict[str, Any]
    workflow: dict[str, Any]
    task_types: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]

    def arguments(self, job_serial: int) -> XFWorkerArguments:
        return XFWorkerArguments(job_serial, "127.0.0.1", str(self.backend.port))

    async def input_file(self, name: str, content: str) -> dict[str, Any]:
        """A Done job of the "input" task holding ``name`` among its results; returns the CSV parameter."""
        job = await self.conn.create("job", {"task_serial": self.tasks["input"]["serial"], "state": "Done"})
        token = await get_xf_job_result_token(self.conn, job["serial"], name, write=True)
        path = Path(self.backend.data_dir) / f"upload-{job['serial']}"
        await anyio.Path(path).write_text(content)
        await upload(self.conn, token, area_url(token, "job-result", job["serial"], name), path)
        return {"type": "CSV", "filename": name, "job_serial": job["serial"]}


async def make_xf(backend: LocalBackend, conn: Connection) -> XF:
    project = await conn.create("project", {"name": "bones"})
    workflow = await conn.create("workflow", {"project_serial": project["serial"], "name": "density"})
    task_types = {
        "input": await conn.create("task_type", {"name": "input", "version": "1.0"}),
        "summarize": await conn.create("task_type", {"name": "summarize", "version": "1.2.0", "interface": INTERFACE}),
        "failing": await conn.create("task_type", {"name": "failing", "version": "0.1"}),
        "blocking": await conn.create("task_type", {"name": "blocking", "version": "2"}),
    }
    tasks = {}
    for name, task_type in task_types.items():
        tasks[name] = await conn.create("task", {"workflow_serial": workflow["serial"], "name": name,
                                                 "task_type_serial": task_type["serial"]})  # fmt: skip
    return XF(backend, conn, project, workflow, task_types, tasks)


@pytest.fixture
async def xf() -> AsyncIterator[XF]:
    async with LocalBackend() as backend, backend.client() as client, Connection(client) as conn:
        yield await make_xf(backend, conn)
