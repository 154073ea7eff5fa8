"""Rows of the job store, shared by the SQLite and PostgreSQL stores: columns and conversions.

Times are stored as seconds since the epoch (floats), labels and document
bodies as JSON text, so both stores read rows the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from asyncwf import _json as fast_json
from asyncwf._model import JobFailure, JobInfo, JobState, Progress
from asyncwf.exceptions import Conflict, InternalError
from asyncwf.server.store._store import Document

__all__ = [
    "COLUMNS",
    "DOC_COLUMNS",
    "ENTITY_COLUMNS",
    "SELECT",
    "cached_query",
    "changes_to_columns",
    "document_values",
    "dt_from",
    "entity_body",
    "entity_query",
    "entity_record",
    "finishes",
    "job_columns",
    "labels_json",
    "progress_columns",
    "request_digest",
    "returned_columns",
    "row_to_document",
    "row_to_job",
    "stale",
    "ts",
]  # fmt: skip

UTC = dt.UTC

COLUMNS = [
    "id",
    "kind",
    "state",
    "version",
    "payload",
    "content_type",
    "idempotency_key",
    "labels",
    "owner",
    "attempt",
    "max_attempts",
    "priority",
    "timeout_seconds",
    "result_ttl_seconds",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "expires_at",
    "progress_done",
    "progress_total",
    "progress_percent",
    "progress_eta",
    "progress_message",
    "error_code",
    "error_message",
    "error_details",
    "result_inline",
    "result_stored",
    "result_size",
    "result_content_type",
    "lease_owner",
    "lease_expires_at",
    "cache_key",
    "cached_from",
    "result_blob",
]
SELECT = ", ".join(COLUMNS)


def cached_query(kind: str, owner: str, cache_key: str, now: dt.datetime) -> tuple[str, tuple[Any, ...]]:
    """The newest succeeded, unexpired job of ``kind`` and ``owner`` with ``cache_key``: SQL and arguments."""
    sql = (
        f"SELECT {SELECT} FROM jobs WHERE cache_key != '' AND kind=? AND owner=? AND cache_key=? AND state=? "  # noqa: S608
        "AND (expires_at IS NULL OR expires_at>?) ORDER BY finished_at DESC LIMIT 1"
    )
    return sql, (kind, owner, cache_key, JobState.SUCCEEDED.value, now.timestamp())


def finishes(changes: Mapping[str, Any]) -> bool:
    """Whether ``changes`` move a job to a terminal state."""
    state = changes.get("state")
    return state is not None and JobState(state).terminal


def returned_columns(changes: Mapping[str, Any], empty_blob: str, prefix: str = "") -> str:
    """What ``update_job`` reads back: every column, or, when ``changes`` finish the job, every column
    but the payload (``empty_blob`` in its place). Nothing reads a finished job's payload from its
    snapshot, and reading back a large one costs more than the update itself."""
    return _returned(finishes(changes), empty_blob, prefix)


#: What a finishing update reads back when the caller knows the job (see :func:`known_after`).
KNOWN_RETURNING = "version, progress_done, progress_total, progress_percent, progress_eta, progress_message"


def known_after(known: JobInfo, changes: Mapping[str, Any], row: Sequence[Any]) -> JobInfo:
    """The snapshot after a finishing update, from the caller's ``known`` snapshot, the ``changes`` and
    the row read back (:data:`KNOWN_RETURNING`): the version and the progress, the one thing stored
    without a new snapshot. As for every finishing snapshot, the payload is left out."""
    progress = tuple(row[1:6])
    return known.replace(
        **changes, version=row[0], payload=b"",
        progress=_NO_PROGRESS if progress == _NO_PROGRESS_COLUMNS else Progress(*progress),
    )  # fmt: skip


@functools.cache
def _returned(finishing: bool, empty_blob: str, prefix: str) -> str:
    return ", ".join(empty_blob if finishing and c == "payload" else f"{prefix}{c}" for c in COLUMNS)


_TIME_FIELDS = frozenset({"created_at", "updated_at", "started_at", "finished_at", "expires_at", "lease_expires_at"})
#: JobInfo fields that map onto one column of the same name.
_PLAIN_FIELDS = frozenset(
    {
        "state",
        "payload",
        "attempt",
        "lease_owner",
        "result_inline",
        "result_stored",
        "result_size",
        "result_content_type",
        "result_blob",
    }
    | _TIME_FIELDS
)


def ts(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def dt_from(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, UTC)


_NO_PROGRESS_COLUMNS = (0, 0, 0.0, None, "")
_NO_PROGRESS = Progress()


def row_to_job(row: Sequence[Any]) -> JobInfo:
    """A job from its row (the columns of :data:`SELECT`, in order). Runs for every job read back, so
    the row is unpacked by position, and unlabelled jobs and jobs without progress share one value."""
    (job_id, kind, state, version, payload, content_type, idempotency_key, labels, owner, attempt, max_attempts,
     priority, timeout_seconds, result_ttl_seconds, created_at, updated_at, started_at, finished_at, expires_at,
     progress_done, progress_total, progress_percent, progress_eta, progress_message, error_code, error_message,
     error_details, result_inline, result_stored, result_size, result_content_type, lease_owner, lease_expires_at,
     cache_key, cached_from, result_blob) = row  # fmt: skip
    progress = (progress_done, progress_total, progress_percent, progress_eta, progress_message)
    return JobInfo(
        id=job_id,
        kind=kind,
        state=JobState(state),
        version=version,
        payload=payload,
        content_type=content_type,
        idempotency_key=idempotency_key,
        labels={} if labels == "{}" else json.loads(labels),
        owner=owner,
        attempt=attempt,
        max_attempts=max_attempts,
        priority=priority,
        timeout_seconds=timeout_seconds,
        result_ttl_seconds=result_ttl_seconds,
        created_at=dt_from(created_at),
        updated_at=dt_from(updated_at),
        started_at=dt_from(started_at),
        finished_at=dt_from(finished_at),
        expires_at=dt_from(expires_at),
        progress=_NO_PROGRESS if progress == _NO_PROGRESS_COLUMNS else Progress(*progress),
        error=None if error_code is None else JobFailure(error_code, error_message or "", error_details or ""),
        result_inline=result_inline,
        result_stored=bool(result_stored),
        result_size=result_size,
        result_content_type=result_content_type,
        lease_owner=lease_owner,
        lease_expires_at=dt_from(lease_expires_at),
        cache_key=cache_key,
        cached_from=cached_from,
        result_blob=result_blob,
    )


def changes_to_columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Translate JobInfo field changes into column assignments."""
    columns: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _TIME_FIELDS:
            columns[name] = ts(value)
        elif name == "state":
            columns[name] = value.value
        elif name == "result_stored":
            columns[name] = int(value)
        elif name in _PLAIN_FIELDS:
            columns[name] = value
        elif name == "error":
            columns["error_code"] = None if value is None else value.code
            columns["error_message"] = None if value is None else value.message
            columns["error_details"] = None if value is None else value.details
        elif name == "progress":
            columns.update(progress_columns(value))
        else:
            raise InternalError(f"unknown job field {name!r}")
    return columns


def progress_columns(value: Progress) -> dict[str, Any]:
    return {
        "progress_done": value.steps_done,
        "progress_total": value.steps_total,
        "progress_percent": value.percent,
        "progress_eta": value.eta_seconds,
        "progress_message": value.message,
    }


def labels_json(labels: Mapping[str, str]) -> str:
    """Labels as compact JSON text, keys sorted (most jobs have none: no encoder is run for them)."""
    return fast_json.dumps(dict(labels), sort_keys=True).decode() if labels else "{}"


def job_columns(job: JobInfo, request_digest: str) -> dict[str, Any]:
    """Column -> value of a new job row."""
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state.value,
        "version": job.version,
        "payload": job.payload,
        "content_type": job.content_type,
        "idempotency_key": job.idempotency_key,
        "request_digest": request_digest,
        "labels": labels_json(job.labels),
        "owner": job.owner,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "timeout_seconds": job.timeout_seconds,
        "result_ttl_seconds": job.result_ttl_seconds,
        "created_at": ts(job.created_at),
        "updated_at": ts(job.updated_at),
        "started_at": ts(job.started_at),
        "finished_at": ts(job.finished_at),
        "expires_at": ts(job.expires_at),
        "lease_owner": job.lease_owner,
        "lease_expires_at": ts(job.lease_expires_at),
        "result_inline": job.result_inline,
        "result_stored": int(job.result_stored),
        "result_size": job.result_size,
        "result_content_type": job.result_content_type,
        "cache_key": job.cache_key,
        "cached_from": job.cached_from,
        "result_blob": job.result_blob,
        **progress_columns(job.progress),
    }


DOC_COLUMNS = "collection, id, name, body, owners, readers, writers, created_at, updated_at, version"


def row_to_document(row: Sequence[Any]) -> Document:
    collection, doc_id, name, body, owners, readers, writers, created, updated, version = row
    return Document(
        collection=collection, id=doc_id, name=name, body=json.loads(body), owners=tuple(json.loads(owners)),
        readers=tuple(json.loads(readers)), writers=tuple(json.loads(writers)), created_at=dt_from(created),
        updated_at=dt_from(updated), version=version,
    )  # fmt: skip


def document_values(doc: Document) -> tuple[Any, ...]:
    return (
        doc.collection, doc.id, doc.name, json.dumps(doc.body, sort_keys=True), json.dumps(list(doc.owners)),
        json.dumps(list(doc.readers)), json.dumps(list(doc.writers)), ts(doc.created_at), ts(doc.updated_at),
        doc.version,
    )  # fmt: skip


def request_digest(*parts: bytes | str) -> str:
    """A stable digest of a create request, to detect reused idempotency keys."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


_RESERVED = frozenset({"serial", "uuid", "occ_lock_version", "created", "modified"})
#: The columns :func:`entity_record` reads, in its order.
ENTITY_COLUMNS = "kind, serial, uuid, occ_lock_version, created, modified, body"


def entity_query(
    kind: str, parent: int, workflow: int, name: str, state: str, state_expression: str
) -> tuple[str, list[Any]]:
    """The SELECT (``?`` placeholders) of ``list_entities``; ``state_expression`` reads the body's state."""
    where, args = ["kind=?"], list[Any]([kind])
    for column, value in (("parent", parent), ("workflow", workflow), ("name", name), (state_expression, state)):
        if value:
            where.append(f"{column}=?")
            args.append(value)
    return f"SELECT {ENTITY_COLUMNS} FROM xf_entities WHERE {' AND '.join(where)} ORDER BY serial", args  # noqa: S608


def entity_record(row: Sequence[Any]) -> dict[str, Any]:
    """An XF entity from ``kind, serial, uuid, occ_lock_version, created, modified, body``."""
    _kind, serial, uid, occ, created, modified, body = row
    return {"serial": serial, "uuid": uid, "occ_lock_version": occ, "created": created, "modified": modified,
            **json.loads(body)}  # fmt: skip


def entity_body(record: Mapping[str, Any]) -> str:
    """The JSON body of an XF entity (everything but the columns of its own)."""
    return json.dumps({k: v for k, v in record.items() if k not in _RESERVED}, sort_keys=True)


def stale(kind: str, serial: int, found: int, expected: int) -> Conflict:
    return Conflict(f"{kind} {serial} is at occ_lock_version {found}, not {expected}: reload it and try again")
