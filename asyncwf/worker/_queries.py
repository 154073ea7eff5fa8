"""The ``xfworkerutil`` module functions: entity queries and mutations, sequences and file tokens.

Each is a coroutine taking a :class:`~asyncwf.worker.Connection` and
returning the backend's records as dicts. Updates send the record's
``occ_lock_version``; a stale one raises :class:`~asyncwf.exceptions.Conflict`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from asyncwf._xfpaths import AREAS, check_relative_path, check_virtualpath
from asyncwf.exceptions import InvalidArgument, NotFound, UnsupportedFeatureError
from asyncwf.worker._arguments import ActivityLogLevel
from asyncwf.worker._connection import AuthorizationToken, Connection, serial_of
from asyncwf.worker._parameters import get_parameter_file_references

__all__ = [
    "create_activity_log_event", "create_xf_job", "create_xf_task", "get_parameter_file_token",
    "get_sns_server_connection", "get_xf_combined_query", "get_xf_db_entity_by_uuid",
    "get_xf_default_sns_server_connection_params", "get_xf_dependency_package_config_token", "get_xf_job",
    "get_xf_job_log_token", "get_xf_job_result_token", "get_xf_jobs_by_task", "get_xf_jobs_by_workflow",
    "get_xf_parameter_float_sequence", "get_xf_parameter_paired_float_sequences",
    "get_xf_parameter_paired_sequences", "get_xf_parameter_sequence", "get_xf_project", "get_xf_projects",
    "get_xf_task", "get_xf_task_config_token", "get_xf_task_type", "get_xf_task_type_config_token",
    "get_xf_task_types", "get_xf_tasks_by_workflow", "get_xf_userdata_token", "get_xf_workflow",
    "get_xf_workflow_config_token", "get_xf_workflow_run", "get_xf_workflows_by_project", "update_xf_job",
    "update_xf_project", "update_xf_task", "update_xf_workflow",
]  # fmt: skip

Record = dict[str, Any]


# --- reads --------------------------------------------------------------------


async def get_xf_job(conn: Connection, job_serial: int | str) -> Record:
    """Get a specific XF job."""
    return await conn.get("job", job_serial)


async def get_xf_jobs_by_task(conn: Connection, task_serial: int | str) -> list[Record]:
    """Get all XF jobs of a specific task (by serial)."""
    return await conn.list("job", parent=serial_of(task_serial))


async def get_xf_jobs_by_workflow(conn: Connection, workflow_serial: int | str) -> list[Record]:
    """Get all XF jobs of a specific workflow (by serial)."""
    return await conn.list("job", workflow=serial_of(workflow_serial))


async def get_xf_project(conn: Connection, project_serial: int | str) -> Record:
    """Get a specific XF project."""
    return await conn.get("project", project_serial)


async def get_xf_projects(conn: Connection) -> list[Record]:
    """Get all XF projects."""
    return await conn.list("project")


async def get_xf_task(conn: Connection, task_serial: int | str) -> Record:
    """Get a specific XF task."""
    return await conn.get("task", task_serial)


async def get_xf_tasks_by_workflow(conn: Connection, workflow_serial: int | str) -> list[Record]:
    """Get all XF tasks of a specific XF workflow."""
    return await conn.list("task", parent=serial_of(workflow_serial))


async def get_xf_task_type(conn: Connection, task_type_serial: int | str) -> Record:
    """Get a specific task type."""
    return await conn.get("task_type", task_type_serial)


async def get_xf_task_types(conn: Connection) -> list[Record]:
    """Get all task types."""
    return await conn.list("task_type")


async def get_xf_workflow(conn: Connection, workflow_serial: int | str) -> Record:
    """Get a specific XF workflow."""
    return await conn.get("workflow", workflow_serial)


async def get_xf_workflow_run(conn: Connection, workflow_serial: int | str) -> Record:
    """Get the latest run of an XF workflow (:class:`NotFound` if it never ran)."""
    runs = await conn.list("workflow_run", parent=serial_of(workflow_serial))
    if not runs:
        raise NotFound(f"workflow {workflow_serial} has no run")
    return runs[-1]


async def get_xf_workflows_by_project(conn: Connection, project_serial: int | str) -> list[Record]:
    """Get all XF workflows of a specific XF project."""
    return await conn.list("workflow", parent=serial_of(project_serial))


async def get_xf_db_entity_by_uuid(conn: Connection, uuid: str) -> Record:
    """Get any XF entity by UUID; its kind is in ``"entity_type"``."""
    if not isinstance(uuid, str) or not uuid:
        raise InvalidArgument(f"a uuid is a non-empty string, not {uuid!r}")
    kind, record = await conn.get_with_kind(uuid)
    return {**record, "entity_type": kind}


_COMBINED = {"task_types": "task_type", "dependency_packages": "dependency_package", "projects": "project",
             "workflows": "workflow", "tasks": "task", "jobs": "job", "workers": "worker"}  # fmt: skip
_SINGLE = {"project_serial": "project", "job_serial": "job", "task_type_serial": "task_type",
           "dependency_package_serial": "dependency_package"}  # fmt: skip


async def _selection(conn: Connection, kind: str, selection: str) -> list[Record]:
    if not isinstance(selection, str) or not selection.strip():
        raise InvalidArgument(f"select {kind} entities with 'all' or serials like '1,4,7', not {selection!r}")
    if selection.strip() == "all":
        return await conn.list(kind)
    serials = [serial_of(part) for part in selection.split(",")]
    return list(await asyncio.gather(*(conn.get(kind, s) for s in serials)))


async def get_xf_combined_query(
    conn: Connection, project_serial: int | None = None, job_serial: int | None = None,
    task_type_serial: int | None = None, dependency_package_serial: int | None = None, task_types: str | None = None,
    dependency_packages: str | None = None, projects: str | None = None, workflows: str | None = None,
    tasks: str | None = None, jobs: str | None = None, workers: str | None = None,
) -> Record:  # fmt: skip
    """Several queries in one call, run concurrently.

    The ``*_serial`` arguments add that one entity (key ``project``, ``job``,
    ``task_type``, ``dependency_package``); the plural ones add lists, each
    ``"all"`` or comma-separated serials (``"3,5"``).
    """
    singles = {"project_serial": project_serial, "job_serial": job_serial, "task_type_serial": task_type_serial,
               "dependency_package_serial": dependency_package_serial}  # fmt: skip
    lists = {"task_types": task_types, "dependency_packages": dependency_packages, "projects": projects,
             "workflows": workflows, "tasks": tasks, "jobs": jobs, "workers": workers}  # fmt: skip
    calls: dict[str, Any] = {}
    for name, serial in singles.items():
        if serial is not None:
            calls[_SINGLE[name]] = conn.get(_SINGLE[name], serial)
    for name, selection in lists.items():
        if selection is not None:
            calls[name] = _selection(conn, _COMBINED[name], selection)
    results = await asyncio.gather(*calls.values())
    return dict(zip(calls, results, strict=True))


# --- sequences ----------------------------------------------------------------


async def _sequence_jobs(conn: Connection, sequence: Mapping[str, Any]) -> tuple[str, list[Record]]:
    if not isinstance(sequence, Mapping) or sequence.get("type") != "Sequence":
        raise InvalidArgument(f"a Sequence parameter is {{'type': 'Sequence', 'task_serial': N, 'output': name}}, "
                              f"not {sequence!r}")  # fmt: skip
    output = sequence.get("output")
    if not isinstance(output, str) or not output:
        raise InvalidArgument("a Sequence parameter names the output it collects ('output')")
    jobs = await conn.list("job", parent=serial_of(sequence.get("task_serial", 0), "task_serial"))
    done = [job for job in jobs if job["state"] == "Done" and output in job["outputs"]]
    done.sort(key=lambda job: (job["sort_order"], job["serial"]))
    return output, done


async def get_xf_parameter_sequence(conn: Connection, sequence: Mapping[str, Any]) -> list[Any]:
    """The output parameters of the done jobs of a Sequence, in sort order."""
    output, jobs = await _sequence_jobs(conn, sequence)
    return [job["outputs"][output] for job in jobs]


async def get_xf_parameter_paired_sequences(
    conn: Connection, sequence1: Mapping[str, Any], sequence2: Mapping[str, Any]
) -> tuple[list[Any], list[Any]]:
    """The outputs of two Sequences, paired by the jobs' sort order (jobs without a partner are left out)."""
    (out1, jobs1), (out2, jobs2) = await asyncio.gather(
        _sequence_jobs(conn, sequence1), _sequence_jobs(conn, sequence2)
    )
    second = {job["sort_order"]: job for job in jobs2}
    pairs = [(job["outputs"][out1], second[job["sort_order"]]["outputs"][out2])
             for job in jobs1 if job["sort_order"] in second]  # fmt: skip
    return [a for a, _ in pairs], [b for _, b in pairs]


def _float(value: Any) -> float:
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"not a float output: {value!r}")
    return float(value)


async def get_xf_parameter_float_sequence(conn: Connection, sequence: Mapping[str, Any]) -> list[float]:
    """The float outputs (numbers or ``{"type": "Float", "value": x}``) of a Sequence's done jobs."""
    return [_float(v) for v in await get_xf_parameter_sequence(conn, sequence)]


async def get_xf_parameter_paired_float_sequences(
    conn: Connection, sequence1: Mapping[str, Any], sequence2: Mapping[str, Any]
) -> tuple[list[float], list[float]]:
    """:func:`get_xf_parameter_paired_sequences` for float outputs."""
    first, second = await get_xf_parameter_paired_sequences(conn, sequence1, sequence2)
    return [_float(v) for v in first], [_float(v) for v in second]


# --- writes -------------------------------------------------------------------


async def create_xf_job(conn: Connection, job: Mapping[str, Any]) -> Record:
    """Create a new XF job (``task_serial`` at least); a ``Queued`` one goes to the workers."""
    return await conn.create("job", job)


async def create_xf_task(conn: Connection, task: Mapping[str, Any]) -> Record:
    """Create a new XF task (``workflow_serial`` and ``task_type_serial`` at least)."""
    return await conn.create("task", task)


async def update_xf_job(
    conn: Connection, job: Mapping[str, Any], bump_occ_lock_version: bool = True, **kwargs: Any
) -> Record:
    """Update the XF job, replacing the fields given as keyword arguments."""
    return await conn.update("job", job, kwargs, bump=bump_occ_lock_version)


async def update_xf_project(conn: Connection, project: Mapping[str, Any], **kwargs: Any) -> Record:
    """Update the XF project."""
    return await conn.update("project", project, kwargs)


async def update_xf_task(
    conn: Connection, task: Mapping[str, Any], workflow_occ_lock_version: int, **kwargs: Any
) -> Record:
    """Update the XF task; the workflow must still be at ``workflow_occ_lock_version`` (it is bumped too)."""
    version = serial_of(workflow_occ_lock_version, "workflow_occ_lock_version")
    return await conn.update("task", task, kwargs, workflow_occ_lock_version=version)


async def update_xf_workflow(conn: Connection, workflow: Mapping[str, Any], **kwargs: Any) -> Record:
    """Update the XF workflow."""
    return await conn.update("workflow", workflow, kwargs)


async def create_activity_log_event(
    conn: Connection, title: str, *, level: ActivityLogLevel = ActivityLogLevel.INFO, type: str = "Message",
    source: str = "XamFlowTaskType", payload: Mapping[str, Any] | None = None, job_serial: int | None = None,
) -> Record:  # fmt: skip
    """Create a new event in the activity log (of ``job_serial``'s job when given: its watchers see it)."""
    if not isinstance(title, str) or not title:
        raise InvalidArgument("an activity-log event needs a title")
    if not isinstance(level, ActivityLogLevel):
        raise InvalidArgument(f"level is an ActivityLogLevel, not {level!r}")
    fields: dict[str, Any] = {
        "title": title,
        "level": level.name,
        "type": type,
        "source": source,
        "payload": dict(payload or {}),
    }
    if job_serial is not None:
        fields["job_serial"] = serial_of(job_serial, "job serial")
    return await conn.create("activity", fields)


# --- file tokens --------------------------------------------------------------


async def _area_token(
    conn: Connection, area: str, serial: int | str, filename: str | None, write: bool
) -> AuthorizationToken:
    assert area in AREAS
    files = () if filename is None else (check_relative_path(filename),)
    return await conn.file_token(area, serial_of(serial), filenames=files, write=write)


async def get_xf_job_result_token(
    conn: Connection, job_serial: int | str, filename: str | None = None, *, write: bool = False
) -> AuthorizationToken:
    """A file-service token for a job's result files (one file when ``filename`` is given)."""
    return await _area_token(conn, "job-result", job_serial, filename, write)


async def get_xf_job_log_token(
    conn: Connection, job_serial: int | str, filename: str | None = None, *, write: bool = False
) -> AuthorizationToken:
    """A file-service token for a job's log files."""
    return await _area_token(conn, "job-log", job_serial, filename, write)


async def get_xf_task_config_token(
    conn: Connection, task_serial: int | str, filename: str | None = None, *, write: bool = False
) -> AuthorizationToken:
    """A file-service token for a task's config files."""
    return await _area_token(conn, "task-config", task_serial, filename, write)


async def get_xf_task_type_config_token(
    conn: Connection, task_type_serial: int | str, filename: str | None = None, *, write: bool = False
) -> AuthorizationToken:
    """A file-service token for a task type's config files."""
    return await _area_token(conn, "task-type-config", task_type_serial, filename, write)


async def get_xf_workflow_config_token(
    conn: Connection, workflow_serial: int | str, filename: str | None = None, *, write: bool = False
) -> AuthorizationToken:
    """A file-service token for a workflow's config files."""
    return await _area_token(conn, "workflow-config", workflow_serial, filename, write)


async def get_xf_dependency_package_config_token(
    conn: Connection, dependency_package_serial: int | str, filename: str | None = None, *, write: bool = False
) -> AuthorizationToken:
    """A file-service token for a dependency package's config files."""
    return await _area_token(conn, "dependency-package-config", dependency_package_serial, filename, write)


async def get_xf_userdata_token(conn: Connection, scopes: Sequence[tuple[str, str]]) -> AuthorizationToken:
    """A file-service token for ``@xfuserdata/`` paths: ``[(virtualpath, "r" | "rw"), ...]``
    (a virtual path ending in ``/`` covers a folder)."""
    if isinstance(scopes, str) or not scopes:
        raise InvalidArgument("give at least one (virtualpath, access) scope")
    checked = []
    for scope in scopes:
        if not isinstance(scope, tuple | list) or len(scope) != 2 or scope[1] not in ("r", "rw"):
            raise InvalidArgument(f"a scope is (virtualpath, 'r' or 'rw'), not {scope!r}")
        check_virtualpath(scope[0], folder_ok=True)
        checked.append((str(scope[0]), str(scope[1])))
    return await conn.file_token("userdata", userdata=checked)


async def get_parameter_file_token(conn: Connection, parameter: Mapping[str, Any]) -> AuthorizationToken:
    """A read token for exactly the files of ``parameter`` (all in one job's results, or all user data)."""
    references = get_parameter_file_references(parameter)
    if not references:
        raise InvalidArgument(f"the {parameter.get('type')} parameter has no files")
    if all("virtualpath" in ref for ref in references):
        return await conn.file_token("userdata", userdata=[(ref["virtualpath"], "r") for ref in references])
    jobs = {ref.get("job_serial") for ref in references}
    if len(jobs) != 1 or None in jobs:
        raise InvalidArgument("a parameter's files must all come from one job (or all from @xfuserdata/)")
    job_serial = int(references[0]["job_serial"])
    return await conn.file_token("job-result", job_serial, filenames=[ref["filename"] for ref in references])


# --- SNS ----------------------------------------------------------------------


async def get_xf_default_sns_server_connection_params(conn: Connection) -> Record | None:
    """The ``sns`` entry of the global config (a ``config`` entity named ``sns``), or ``None``."""
    entries = await conn.list("config", name="sns")
    value = entries[-1]["value"] if entries else None
    return value if isinstance(value, dict) else None


def get_sns_server_connection(sns_conn_params: Mapping[str, Any]) -> NoReturn:
    """Not supported: asyncwf has no SNS server (see the worker guide)."""
    raise UnsupportedFeatureError("SNS server connections are not supported by asyncwf")
