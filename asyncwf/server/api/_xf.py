"""XFService: XF entities (projects ... activity log) and file tokens, over the shared job engine.

Entities are JSON objects with a serial per kind, a uuid and an
``occ_lock_version``; every update names the version it was based on and
fails with :class:`~asyncwf.exceptions.Conflict`, changing nothing, when the
stored one differs. Creating a task, or updating one, also bumps its
workflow's version (the workflow's structure changed).

An XF job in state ``Queued`` is also an engine job of kind
``xf:<task type name>`` (payload ``{"job_serial": N}``, its id in the job's
``engine_job_id``), which ``asyncwf worker`` leases. The XF job's progress
(``metadata.progress``, percent) and activity-log events reach the engine
job's watchers as progress and log entries. Setting a job back to
``Queued`` queues it again; setting it to ``Cancelled`` cancels the engine job.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from grpclib.server import Stream

from asyncwf import _json as fast_json
from asyncwf._model import ts_to_pb
from asyncwf._xfpaths import AREAS, USERDATA, check_relative_path, check_virtualpath, engine_kind
from asyncwf.exceptions import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from asyncwf.server.api._authz import TokenAuth
from asyncwf.server.api._jobs import CallTracker, _grpc_errors, _request
from asyncwf.server.api._xf_files import FileTokens
from asyncwf.server.engine._engine import CreateSpec, JobEngine
from asyncwf.server.store._store import ENTITY_INDEX, Store
from asyncwf.v1 import xf_grpc
from asyncwf.v1 import xf_pb2 as pb

__all__ = ["JOB_STATES", "XFService"]

log = logging.getLogger("asyncwf.server.xf")

JOB_STATES = ("Queued", "Running", "Done", "Failed", "ReadyForInteractive", "Cancelled")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_NUMBER = (int, float)
_ANY = (object,)
#: Kind -> field -> accepted JSON types. Fields not listed are refused.
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "project": {"name": (str,), "metadata": (dict,)},
    "workflow": {"project_serial": (int,), "name": (str,), "metadata": (dict,)},
    "workflow_run": {"workflow_serial": (int,), "state": (str,), "metadata": (dict,)},
    "task": {"workflow_serial": (int,), "task_type_serial": (int,), "name": (str,), "spawn_key": (str,),
             "inputs": (list,), "metadata": (dict,), "initial_state": (dict,)},
    "job": {"task_serial": (int,), "task_type_serial": (int,), "workflow_serial": (int,), "state": (str,),
            "inputs": (dict,), "outputs": (dict,), "metadata": (dict,), "sort_order": (str,),
            "source_job_serial": (int, type(None)), "worker": (str,), "started": (*_NUMBER, type(None)),
            "finished": (*_NUMBER, type(None)), "attempt": (int,), "engine_job_id": (str,),
            "owner": (str,)},
    "task_type": {"name": (str,), "version": (str,), "interface": (dict,), "metadata": (dict,)},
    "dependency_package": {"name": (str,), "version": (str,), "metadata": (dict,)},
    "worker": {"name": (str,), "host": (str,), "task_types": (list,), "metadata": (dict,), "last_seen": _NUMBER},
    "activity": {"title": (str,), "level": (str,), "type": (str,), "source": (str,), "payload": (dict,),
                 "job_serial": (int,), "workflow_serial": (int,), "timestamp": _NUMBER},
    "config": {"name": (str,), "value": _ANY},
}  # fmt: skip
_REQUIRED = {"project": ("name",), "workflow": ("project_serial", "name"), "workflow_run": ("workflow_serial",),
             "task": ("workflow_serial", "task_type_serial"), "job": ("task_serial",),
             "task_type": ("name", "version"), "dependency_package": ("name", "version"), "worker": ("name",),
             "activity": ("title",), "config": ("name",)}  # fmt: skip
_DEFAULTS: dict[str, dict[str, Any]] = {
    "project": {"metadata": {}}, "workflow": {"metadata": {}}, "workflow_run": {"state": "Running", "metadata": {}},
    "task": {"name": "", "spawn_key": "", "inputs": [], "metadata": {}, "initial_state": {}},
    "job": {"state": "Queued", "inputs": {}, "outputs": {}, "metadata": {}, "sort_order": "",
            "source_job_serial": None, "worker": "", "started": None, "finished": None, "attempt": 0,
            "engine_job_id": "", "owner": ""},
    "task_type": {"interface": {"inputs": [], "outputs": []}, "metadata": {}},
    "dependency_package": {"metadata": {}}, "worker": {"host": "", "task_types": [], "metadata": {}, "last_seen": 0},
    "activity": {"level": "INFO", "type": "Message", "source": "XamFlowTaskType", "payload": {}, "job_serial": 0,
                 "workflow_serial": 0},
    "config": {"value": None},
}  # fmt: skip
#: Fields the backend sets when it creates the entity.
_SET_BY_BACKEND = {"job": ("workflow_serial", "engine_job_id", "attempt", "owner"), "activity": ("workflow_serial",)}
#: Fields no update changes.
_DERIVED = {"job": ("workflow_serial", "task_type_serial", "task_serial", "engine_job_id", "owner"),
            "task": ("workflow_serial",), "activity": ("job_serial", "workflow_serial")}  # fmt: skip
_REFERENCES = {"project_serial": "project", "workflow_serial": "workflow", "task_serial": "task",
               "task_type_serial": "task_type", "source_job_serial": "job", "job_serial": "job"}  # fmt: skip
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
DEFAULT_TOKEN_SECONDS = 3600.0


def _kind(kind: str) -> str:
    if kind not in ENTITY_INDEX:
        raise InvalidArgument(f"no entity kind {kind!r}; kinds: {', '.join(ENTITY_INDEX)}")
    return kind


def _decode(data: bytes, what: str) -> dict[str, Any]:
    value = fast_json.loads(data or b"{}", what)
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


def _check_fields(kind: str, fields: Mapping[str, Any]) -> None:
    allowed = _FIELDS[kind]
    for name, value in fields.items():
        types = allowed.get(name)
        if types is None:
            raise InvalidArgument(f"a {kind} has no field {name!r}; fields: {', '.join(allowed)}")
        if types is not _ANY and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise InvalidArgument(f"{kind}.{name} must be {names}, not {type(value).__name__}")
    if kind == "job" and fields.get("state", "Queued") not in JOB_STATES:
        raise InvalidArgument(f"job.state must be one of {', '.join(JOB_STATES)}, not {fields['state']!r}")
    if kind == "activity" and fields.get("level", "INFO") not in LEVELS:
        raise InvalidArgument(f"activity.level must be one of {', '.join(LEVELS)}, not {fields['level']!r}")
    if kind in ("task_type", "dependency_package"):
        if "name" in fields and not _PACKAGE_NAME.match(fields["name"]):
            raise InvalidArgument(f"a package name is 1-100 letters, digits, '_', '.' or '-', not {fields['name']!r}")
        if "version" in fields and not _VERSION.match(fields["version"]):
            raise InvalidArgument(f"a version is numbers separated by dots, not {fields['version']!r}")


def _entity(kind: str, record: Mapping[str, Any]) -> pb.Entity:
    return pb.Entity(kind=kind, json=json.dumps(record).encode())


class XFService(xf_grpc.XFServiceBase):
    """``asyncwf.v1.XFService``: entities for any authenticated caller; file tokens scoped per entity."""

    def __init__(self, store: Store, engine: JobEngine, auth: TokenAuth, tokens: FileTokens | None = None) -> None:
        self.store = store
        self.engine = engine
        self.auth = auth
        self.tokens = tokens
        self.calls = CallTracker()

    async def _require(self, kind: str, serial: int) -> dict[str, Any]:
        record = await self.store.get_entity(kind, serial)
        if record is None:
            raise NotFound(f"no {kind} {serial}")
        return record

    # --- creating ----------------------------------------------------------

    async def create(self, kind: str, fields: dict[str, Any], identity: str | None = None) -> dict[str, Any]:
        """Validate, fill in defaults and derived fields, store; queue a Queued job in the engine."""
        _check_fields(_kind(kind), fields)
        given = [name for name in _SET_BY_BACKEND.get(kind, ()) if name in fields]
        if given:
            raise InvalidArgument(f"{kind} fields {', '.join(given)} are set by the backend")
        missing = [name for name in _REQUIRED[kind] if name not in fields]
        if missing:
            raise InvalidArgument(f"a {kind} needs {', '.join(missing)}")
        record = {**_DEFAULTS[kind], **fields}
        referenced: dict[str, dict[str, Any]] = {}  # each referenced entity is read once
        for name, ref_kind in _REFERENCES.items():
            if record.get(name) and name in _FIELDS[kind]:
                referenced[name] = await self._require(ref_kind, record[name])
        guard = None
        if kind == "job":
            task = referenced["task_serial"]
            record["workflow_serial"] = task["workflow_serial"]
            record["engine_job_id"] = ""
            record["owner"] = identity or ""
            if "task_type_serial" not in referenced:
                record["task_type_serial"] = task["task_type_serial"]
                referenced["task_type_serial"] = await self._require("task_type", task["task_type_serial"])
        elif kind == "task":
            guard = ("workflow", record["workflow_serial"], 0)
        elif kind == "activity" and record["job_serial"]:
            record["workflow_serial"] = referenced["job_serial"]["workflow_serial"]
        if kind == "activity":
            record.setdefault("timestamp", time.time())
        stored = await self.store.insert_entity(kind, record, guard=guard)
        if kind == "job" and stored["state"] == "Queued":
            stored = await self._enqueue(stored, identity, referenced["task_type_serial"])
        elif kind == "activity" and record["job_serial"]:
            await self._relay_activity(stored, referenced["job_serial"])
        return stored

    async def _enqueue(
        self, job: dict[str, Any], identity: str | None, task_type: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if task_type is None:
            task_type = await self._require("task_type", job["task_type_serial"])
        spec = CreateSpec(
            kind=engine_kind(task_type["name"]), payload=json.dumps({"job_serial": job["serial"]}).encode(),
            content_type="application/json", idempotency_key=f"xf-job:{job['uuid']}:{job['occ_lock_version']}",
            labels={"xf.job_serial": str(job["serial"]), "xf.task_type": task_type["name"]},
        )  # fmt: skip
        engine_job, _ = await self.engine.create(spec, identity)
        _, stored = await self.store.update_entity(
            "job", job["serial"], lambda old: {"engine_job_id": engine_job.id},
            expected_version=job["occ_lock_version"], bump=False,
        )  # fmt: skip
        return stored

    async def _relay_activity(self, event: dict[str, Any], job: dict[str, Any]) -> None:
        if job["engine_job_id"]:
            entry = (event["level"], event["title"], f"xf.activity.{event['type']}", _utc(event["timestamp"]))
            await self.engine.append_logs(job["engine_job_id"], [entry])

    async def recover(self) -> int:
        """Queue the engine jobs of Queued XF jobs that never got one (a crash in between); returns how many."""
        count = 0
        for job in await self.store.list_entities("job", state="Queued"):
            if not job["engine_job_id"]:
                await self._enqueue(job, None)
                count += 1
        return count

    # --- updating ----------------------------------------------------------

    async def update(
        self, kind: str, serial: int, changes: dict[str, Any], expected: int, *, bump: bool = True,
        workflow_version: int = 0, identity: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        _check_fields(_kind(kind), changes)
        derived = [name for name in _DERIVED.get(kind, ()) if name in changes]
        if derived:
            raise InvalidArgument(f"{kind} fields {', '.join(derived)} are set by the backend")
        if expected < 1:
            raise InvalidArgument("give the occ_lock_version the update is based on (the entity's, from the backend)")
        for name, ref_kind in _REFERENCES.items():
            if changes.get(name):
                await self._require(ref_kind, changes[name])
        guard = None
        if kind == "task":
            task = await self._require("task", serial)
            guard = ("workflow", task["workflow_serial"], workflow_version)
        elif kind == "job":
            await self._check_job_access(await self._require("job", serial), identity)
        old, new = await self.store.update_entity(
            kind, serial, lambda _old: changes, expected_version=expected, bump=bump, guard=guard
        )
        if kind == "job":
            new = await self._job_changed(old, new, identity)
        return new

    async def _job_changed(self, old: dict[str, Any], new: dict[str, Any], identity: str | None) -> dict[str, Any]:
        engine_id = new["engine_job_id"]
        if new["state"] == "Queued" and old["state"] != "Queued":
            return await self._enqueue(new, identity)
        if new["state"] == "Cancelled" and old["state"] != "Cancelled" and engine_id:
            await self.engine.cancel(engine_id, "the XF job was cancelled")
        progress = new["metadata"].get("progress")
        if engine_id and isinstance(progress, _NUMBER) and progress != old["metadata"].get("progress"):
            done = int(max(0.0, min(float(progress), 100.0)) * 100)
            self.engine.report_progress(engine_id, done, 10_000, f"{float(progress):.1f}%")
        return new

    async def _check_job_access(self, job: Mapping[str, Any], identity: str | None) -> None:
        """An XF job follows its engine job: its owner, or the executor holding its lease, may change it
        (before it has one, the identity that created it)."""
        if identity is None:
            return
        if not job.get("engine_job_id"):
            if job.get("owner") and job["owner"] != identity:
                raise PermissionDenied(f"XF job {job['serial']} belongs to another identity")
            return
        engine_job = await self.engine.get(job["engine_job_id"])
        if identity != engine_job.owner and not engine_job.lease_owner.startswith(f"{identity}/"):
            raise PermissionDenied(f"XF job {job['serial']} belongs to another identity")

    # --- file tokens -------------------------------------------------------

    async def issue_token(self, request: pb.FileTokenRequest, identity: str | None = None) -> pb.FileToken:
        if self.tokens is None:
            raise FailedPrecondition("this backend has no HTTP endpoint for files")
        seconds = request.expires_in_seconds or DEFAULT_TOKEN_SECONDS
        if request.area == USERDATA:
            if not request.userdata:
                raise InvalidArgument("a userdata token needs at least one (virtual path, access) scope")
            scopes = []
            for scope in request.userdata:
                if scope.access not in ("r", "rw"):
                    raise InvalidArgument(f"access is 'r' or 'rw', not {scope.access!r}")
                scopes.append([check_virtualpath(scope.virtualpath, folder_ok=True), scope.access])
            claims: dict[str, Any] = {"a": USERDATA, "u": scopes}
        else:
            kind = AREAS.get(request.area)
            if kind is None:
                raise InvalidArgument(f"no file area {request.area!r}; areas: {', '.join([*AREAS, USERDATA])}")
            record = await self._require(kind, request.serial)
            if kind == "job":
                await self._check_job_access(record, identity)
            files = [check_relative_path(name) for name in request.filenames]
            claims = {"a": request.area, "s": request.serial, "f": files, "w": request.write}
        token, expires = self.tokens.issue(claims, seconds)
        return pb.FileToken(token=token, expires_at=ts_to_pb(_utc(expires)), url=self.tokens.base_url)

    # --- gRPC --------------------------------------------------------------

    def _identity(self, stream: Stream[Any, Any]) -> str | None:
        return self.auth.identify(stream.metadata or {})

    @_grpc_errors
    async def GetEntity(self, stream: Stream[pb.GetEntityRequest, pb.Entity]) -> None:
        self._identity(stream)
        request = await _request(stream)
        if request.uuid:
            found = await self.store.get_entity_by_uuid(request.uuid)
            if found is None or (request.kind and found[0] != request.kind):
                raise NotFound(f"no {request.kind or 'entity'} with uuid {request.uuid!r}")
            kind, record = found
        else:
            kind = _kind(request.kind)
            record = await self._require(kind, request.serial)
        await stream.send_message(_entity(kind, record))

    @_grpc_errors
    async def ListEntities(self, stream: Stream[pb.ListEntitiesRequest, pb.EntityList]) -> None:
        self._identity(stream)
        request = await _request(stream)
        kind = _kind(request.kind)
        records = await self.store.list_entities(kind, parent=request.parent, workflow=request.workflow,
                                                 name=request.name)  # fmt: skip
        await stream.send_message(pb.EntityList(entities=[_entity(kind, r) for r in records]))

    @_grpc_errors
    async def CreateEntity(self, stream: Stream[pb.CreateEntityRequest, pb.Entity]) -> None:
        identity = self._identity(stream)
        request = await _request(stream)
        record = await self.create(request.kind, _decode(request.json, "the entity"), identity)
        await stream.send_message(_entity(request.kind, record))

    @_grpc_errors
    async def UpdateEntity(self, stream: Stream[pb.UpdateEntityRequest, pb.Entity]) -> None:
        identity = self._identity(stream)
        request = await _request(stream)
        record = await self.update(
            request.kind, request.serial, _decode(request.changes_json, "changes_json"), request.occ_lock_version,
            bump=request.bump_occ_lock_version, workflow_version=request.workflow_occ_lock_version, identity=identity,
        )  # fmt: skip
        await stream.send_message(_entity(request.kind, record))

    @_grpc_errors
    async def IssueFileToken(self, stream: Stream[pb.FileTokenRequest, pb.FileToken]) -> None:
        identity = self._identity(stream)
        await stream.send_message(await self.issue_token(await _request(stream), identity))


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)
