"""Workflow: a published proxy object with metadata and access lists (the seed's ``Workflow``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from asyncwf.client import Client
from asyncwf.exceptions import InvalidArgument
from asyncwf.v1 import workflows_grpc
from asyncwf.v1 import workflows_pb2 as pb
from asyncwf.workflows._channel import CHANNEL
from asyncwf.workflows._typespec import from_typespec, to_typespec
from asyncwf.workflows.types._core import Proxytype
from asyncwf.workflows.types._proxify import proxify

__all__ = ["Workflow", "publish", "retrieve", "use"]

_SERVICE = workflows_grpc.WorkflowServiceStub


def _when(message: pb.Workflow, field: str) -> dt.datetime | None:
    if not message.HasField(field):  # type: ignore[arg-type]
        return None
    stamp = getattr(message, field)
    return dt.datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, dt.UTC)


class Workflow:
    """A proxy object, and metadata about it. Build with :meth:`build`, persist with :meth:`save`.

    ``readers``/``writers``/``owners`` are identities (the backend's token
    names); ``"*"`` among the readers shares it with everyone.
    """

    def __init__(
        self, proxy_object: Proxytype | None, proto_message: pb.Workflow, client: Client | None = None
    ) -> None:
        self._object = proxy_object
        self._message = proto_message
        self._client = client

    @classmethod
    def build(cls, proxy_object: Any, name: str = "", description: str = "", client: Client | None = None) -> Workflow:
        """Construct a new (unsaved) Workflow from a proxy object."""
        obj = proxy_object if isinstance(proxy_object, Proxytype) else proxify(proxy_object)
        message = pb.Workflow(
            name=name, description=description, channel=CHANNEL,
            serialized_graft=json.dumps(obj.graft), serialized_typespec=json.dumps(to_typespec(type(obj))),
        )  # fmt: skip
        return cls(obj, message, client)

    @classmethod
    async def get(cls, workflow_id: str, client: Client | None = None) -> Workflow:
        """Get an existing workflow by id."""
        if not isinstance(workflow_id, str) or not workflow_id:
            raise InvalidArgument("a workflow id must be a non-empty string")
        client = client or Client.get_default_client()
        message = await client._unary(
            "GetWorkflow", pb.GetWorkflowRequest(id=workflow_id), timeout=None, idempotent=True, service=_SERVICE
        )
        return cls(None, message, client)

    @property
    def _api(self) -> Client:
        if self._client is None:
            self._client = Client.get_default_client()
        return self._client

    async def save(self) -> None:
        """Persist this Workflow (create it, or update it if it was saved before)."""
        if not self._message.id:
            request: Any = pb.CreateWorkflowRequest(workflow=self._message)
            self._message = await self._api._unary(
                "CreateWorkflow", request, timeout=None, idempotent=False, service=_SERVICE
            )
            return
        request = pb.UpdateWorkflowRequest(workflow=self._message, expected_version=self._message.version)
        self._message = await self._api._unary(
            "UpdateWorkflow", request, timeout=None, idempotent=True, service=_SERVICE
        )

    async def update(self, proxy_object: Any = None, name: str | None = None, description: str | None = None) -> None:
        """Update the proxy object and/or metadata of this Workflow (saved at once if already saved)."""
        if proxy_object is not None:
            obj = proxy_object if isinstance(proxy_object, Proxytype) else proxify(proxy_object)
            self._object = obj
            self._message.serialized_graft = json.dumps(obj.graft)
            self._message.serialized_typespec = json.dumps(to_typespec(type(obj)))
            self._message.channel = CHANNEL
        if name is not None:
            self._message.name = name
        if description is not None:
            self._message.description = description
        if self._message.id:
            await self.save()

    # --- attributes -----------------------------------------------------------

    @property
    def object(self) -> Proxytype:
        """The proxy object of this Workflow; ValueError if it was made for another channel."""
        if self.channel != CHANNEL:
            raise ValueError(f"this workflow is for channel {self.channel!r}; this client speaks {CHANNEL!r}")
        if self._object is None:
            graft = json.loads(self._message.serialized_graft)
            self._object = self.type._from_graft(graft)
        return self._object

    @property
    def type(self) -> type[Proxytype]:
        """The type of the proxy object."""
        return from_typespec(json.loads(self._message.serialized_typespec))

    @property
    def id(self) -> str | None:
        """The globally unique identifier for the Workflow, or None if it hasn't been saved yet."""
        return self._message.id or None

    @property
    def name(self) -> str:
        """The workflow's name; settable before :meth:`save`."""
        return self._message.name

    @name.setter
    def name(self, value: str) -> None:
        self._message.name = value

    @property
    def description(self) -> str:
        """The workflow's description; settable."""
        return self._message.description

    @description.setter
    def description(self, value: str) -> None:
        self._message.description = value

    @property
    def channel(self) -> str:
        """The channel name this Workflow is compatible with."""
        return self._message.channel

    @property
    def owners(self) -> list[str]:
        """Identities that may change the workflow and its access lists; settable."""
        return list(self._message.owners)

    @property
    def readers(self) -> list[str]:
        """Identities that may read and use the workflow (``"*"``: everyone); settable."""
        return list(self._message.readers)

    @readers.setter
    def readers(self, value: list[str]) -> None:
        del self._message.readers[:]
        self._message.readers.extend(value)

    @property
    def writers(self) -> list[str]:
        """Identities that may update the workflow; settable."""
        return list(self._message.writers)

    @writers.setter
    def writers(self, value: list[str]) -> None:
        del self._message.writers[:]
        self._message.writers.extend(value)

    @property
    def created_timestamp(self) -> dt.datetime | None:
        """The UTC date this Workflow was created, or None if it hasn't been saved yet."""
        return _when(self._message, "created_at")

    @property
    def updated_timestamp(self) -> dt.datetime | None:
        """The UTC date this Workflow was most recently modified, or None if it hasn't been saved yet."""
        return _when(self._message, "updated_at")

    def __repr__(self) -> str:
        return f"Workflow(id={self.id!r}, name={self.name!r}, type={self.type.__name__})"


async def publish(obj: Any, name: str = "", description: str = "", client: Client | None = None) -> Workflow:
    """Publish a proxy object as a Workflow."""
    workflow = Workflow.build(obj, name, description, client)
    await workflow.save()
    return workflow


async def retrieve(workflow_id: str, client: Client | None = None) -> Workflow:
    """Load a published Workflow object."""
    return await Workflow.get(workflow_id, client)


async def use(workflow_id: str, client: Client | None = None) -> Proxytype:
    """Use like import: load the proxy object of a published Workflow."""
    return (await retrieve(workflow_id, client)).object
