"""WorkflowService: published workflows, stored as documents, with owners/readers/writers enforced."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from grpclib.server import Stream

from asyncwf import _json as fast_json
from asyncwf._ids import new_id
from asyncwf._model import ts_to_pb
from asyncwf.exceptions import Conflict, InvalidArgument, NotFound, PermissionDenied
from asyncwf.graft._syntax import validate_graft
from asyncwf.server.api._authz import TokenAuth
from asyncwf.server.api._jobs import CallTracker, _grpc_errors, _request
from asyncwf.server.store._store import Document, Store
from asyncwf.v1 import workflows_grpc
from asyncwf.v1 import workflows_pb2 as pb
from asyncwf.workflows._typespec import from_typespec

__all__ = ["WorkflowService", "can_read", "can_write"]

COLLECTION = "workflow"
EVERYONE = "*"


def can_read(doc: Document, identity: str | None) -> bool:
    """Owners, readers and writers read; ``"*"`` among the readers makes it public."""
    return identity is None or identity in (*doc.owners, *doc.readers, *doc.writers) or EVERYONE in doc.readers


def can_write(doc: Document, identity: str | None) -> bool:
    return identity is None or identity in (*doc.owners, *doc.writers)


def _consented(owners: Sequence[str], already: Sequence[str], identity: str | None, what: str) -> None:
    """Only the caller makes itself an owner: naming another identity as an owner needs its consent."""
    named = sorted(set(owners) - set(already) - {identity})
    if identity is not None and named:
        raise PermissionDenied(f"a {what} names no owner but the caller ({', '.join(named)} did not consent); "
                               "share it with them as readers or writers")  # fmt: skip


def _body(message: pb.Workflow) -> dict[str, Any]:
    if len(message.name) > 256 or len(message.description) > 16384:
        raise InvalidArgument("name is limited to 256 and description to 16384 characters")
    graft = fast_json.loads(message.serialized_graft, "serialized_graft")
    typespec = fast_json.loads(message.serialized_typespec, "serialized_typespec")
    validate_graft(graft)
    from_typespec(typespec)
    if not message.channel:
        raise InvalidArgument("a workflow needs its channel")
    return {"description": message.description, "graft": graft, "typespec": typespec, "channel": message.channel}


def _identities(values: Any) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(values))
    if len(items) > 1000 or not all(isinstance(v, str) and 0 < len(v) <= 256 for v in items):
        raise InvalidArgument("access lists hold up to 1000 non-empty identities")
    return items


def to_pb(doc: Document) -> pb.Workflow:
    body = doc.body
    return pb.Workflow(
        id=doc.id, name=doc.name, description=body["description"], serialized_graft=json.dumps(body["graft"]),
        serialized_typespec=json.dumps(body["typespec"]), channel=body["channel"], owners=list(doc.owners),
        readers=list(doc.readers), writers=list(doc.writers), created_at=ts_to_pb(doc.created_at),
        updated_at=ts_to_pb(doc.updated_at), version=doc.version,
    )  # fmt: skip


class WorkflowService(workflows_grpc.WorkflowServiceBase):
    """``asyncwf.v1.WorkflowService`` over the store's documents."""

    def __init__(self, store: Store, auth: TokenAuth, collection: str = COLLECTION) -> None:
        self.store = store
        self.auth = auth
        self.collection = collection
        self.calls = CallTracker()

    def _identity(self, stream: Stream[Any, Any]) -> str | None:
        return self.auth.identify(stream.metadata or {})

    async def _get(self, doc_id: str, identity: str | None) -> Document:
        if not doc_id:
            raise InvalidArgument(f"a {self.collection} id is required")
        doc = await self.store.get_document(self.collection, doc_id)
        if doc is None:
            raise NotFound(f"{self.collection} {doc_id!r} does not exist")
        if not can_read(doc, identity):
            raise PermissionDenied(f"{self.collection} {doc_id!r} is not shared with you")
        return doc

    async def create(self, message: pb.Workflow, identity: str | None) -> Document:
        """Store a new document from ``message``; the caller becomes an owner."""
        now = dt.datetime.now(dt.UTC)
        owners = _identities([*([identity] if identity else []), *message.owners])
        _consented(owners, (), identity, self.collection)
        doc = Document(
            collection=self.collection, id=new_id(), name=message.name, body=_body(message), owners=owners,
            readers=_identities(message.readers), writers=_identities(message.writers), created_at=now,
            updated_at=now,
        )  # fmt: skip
        return await self.store.insert_document(doc)

    async def update(self, message: pb.Workflow, expected_version: int, identity: str | None) -> Document:
        """Replace a document (writers may; only owners change the access lists)."""
        current = await self._get(message.id, identity)
        if not can_write(current, identity):
            raise PermissionDenied(f"{self.collection} {current.id!r} is read-only for you")
        owners = _identities(message.owners) or current.owners
        _consented(owners, current.owners, identity, self.collection)
        readers, writers = _identities(message.readers), _identities(message.writers)
        acl_changed = (owners, readers, writers) != (current.owners, current.readers, current.writers)
        if acl_changed and identity is not None and identity not in current.owners:
            raise PermissionDenied(f"only owners change who may read or write a {self.collection}")
        expected = expected_version or current.version
        replacement = Document(
            collection=self.collection, id=current.id, name=message.name, body=_body(message), owners=owners,
            readers=readers, writers=writers, updated_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        updated = await self.store.update_document(replacement, expected)
        if updated is None:
            raise Conflict(f"{self.collection} {current.id!r} changed since version {expected}; get it again")
        return updated

    @_grpc_errors
    async def CreateWorkflow(self, stream: Stream[pb.CreateWorkflowRequest, pb.Workflow]) -> None:
        req = await _request(stream)
        await stream.send_message(to_pb(await self.create(req.workflow, self._identity(stream))))

    @_grpc_errors
    async def GetWorkflow(self, stream: Stream[pb.GetWorkflowRequest, pb.Workflow]) -> None:
        req = await _request(stream)
        await stream.send_message(to_pb(await self._get(req.id, self._identity(stream))))

    @_grpc_errors
    async def UpdateWorkflow(self, stream: Stream[pb.UpdateWorkflowRequest, pb.Workflow]) -> None:
        req = await _request(stream)
        updated = await self.update(req.workflow, req.expected_version, self._identity(stream))
        await stream.send_message(to_pb(updated))

    async def readable(self, identity: str | None, *, name_prefix: str = "", limit: int = 1000) -> list[Document]:
        """The documents (up to ``limit``, by name prefix) that ``identity`` may read."""
        docs = await self.store.list_documents(self.collection, name_prefix=name_prefix, limit=limit)
        return [doc for doc in docs if can_read(doc, identity)]

    @_grpc_errors
    async def ListWorkflows(self, stream: Stream[pb.ListWorkflowsRequest, pb.Workflow]) -> None:
        req = await _request(stream)
        for doc in await self.readable(self._identity(stream), name_prefix=req.name_prefix, limit=req.limit or 1000):
            await stream.send_message(to_pb(doc))
