"""Workflow, publish, retrieve, use: stored in the backend, access enforced from the caller's token."""

from __future__ import annotations

import json

import pytest

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.exceptions import Conflict, InvalidArgument, NotFound, PermissionDenied
from asyncwf.testing import LocalBackend
from asyncwf.v1 import workflows_grpc
from asyncwf.v1 import workflows_pb2 as pb

TOKENS = {"alice-token": "alice", "bob-token": "bob"}


async def test_publish_retrieve_use_round_trip(client: Client) -> None:
    x = wf.parameter("x", wf.Int)
    published = await wf.publish(x * 10 + 1, "times ten", "multiplies by ten", client=client)
    assert published.id and published.name == "times ten" and published.description == "multiplies by ten"
    assert published.channel == wf.__channel__ and published.type is wf.Int
    assert published.created_timestamp is not None and published.updated_timestamp is not None
    loaded = await wf.retrieve(published.id, client=client)
    assert loaded.name == "times ten" and loaded.type is wf.Int
    assert await wf.compute(loaded.object, x=4, client=client) == 41
    obj = await wf.use(published.id, client=client)
    assert await wf.compute(obj * 2, x=1, client=client) == 22  # composes with new code
    Client.set_default_client(client)
    method = await (wf.Str("a") * 2).publish("twice")
    assert await wf.compute(await wf.use(method.id)) == "aa"


async def test_update_and_stale_versions(client: Client) -> None:
    workflow = wf.Workflow.build(wf.Int(1), "one", client=client)
    assert workflow.id is None and workflow.created_timestamp is None
    await workflow.save()
    first = workflow.id
    await workflow.update(wf.Int(2) + 3, description="now five")
    assert workflow.id == first and workflow.description == "now five"
    assert await wf.compute((await wf.retrieve(first, client=client)).object, client=client) == 5
    stale = await wf.retrieve(first, client=client)
    await workflow.update(name="renamed")
    with pytest.raises(Conflict, match="changed since version"):
        await stale.update(name="lost update")
    assert (await wf.retrieve(first, client=client)).name == "renamed"


async def test_owners_readers_writers_are_enforced() -> None:
    async with (
        LocalBackend(tokens=TOKENS) as backend,
        backend.client(token="alice-token") as alice,
        backend.client(token="bob-token") as bob,
    ):
        workflow = await wf.publish(wf.Int(42), "answer", client=alice)
        assert workflow.owners == ["alice"]
        with pytest.raises(PermissionDenied):
            await wf.retrieve(workflow.id, client=bob)  # type: ignore[arg-type]
        workflow.readers = ["bob"]
        await workflow.save()
        as_bob = await wf.retrieve(workflow.id, client=bob)  # type: ignore[arg-type]
        assert await wf.compute(as_bob.object, client=bob) == 42
        with pytest.raises(PermissionDenied, match="read-only"):
            await as_bob.update(name="mine now")
        workflow.writers = ["bob"]
        await workflow.save()
        as_bob = await wf.retrieve(workflow.id, client=bob)  # type: ignore[arg-type]
        await as_bob.update(description="edited by bob")
        as_bob.readers = ["*"]
        with pytest.raises(PermissionDenied, match="only owners"):
            await as_bob.save()
        workflow = await wf.retrieve(workflow.id, client=alice)  # type: ignore[arg-type]
        workflow.readers = ["*"]
        await workflow.save()
        async with backend.client(token="bob-token") as anyone:
            assert (await wf.retrieve(workflow.id, client=anyone)).description == "edited by bob"  # type: ignore[arg-type]


async def test_bad_workflows_are_rejected(client: Client) -> None:
    with pytest.raises(NotFound):
        await wf.retrieve("missing", client=client)
    with pytest.raises(InvalidArgument):
        await wf.retrieve("", client=client)
    bad = pb.Workflow(
        name="x", serialized_graft='{"1": ["add", 2], "returns": "1"}', serialized_typespec='"Int"', channel="v1"
    )
    with pytest.raises(InvalidArgument, match="argument 1 must be a key"):
        await client._unary(
            "CreateWorkflow", pb.CreateWorkflowRequest(workflow=bad), timeout=None, idempotent=False,
            service=workflows_grpc.WorkflowServiceStub,
        )  # fmt: skip
    bad.serialized_graft, bad.serialized_typespec = '{"1": 1, "returns": "1"}', '"Banana"'
    with pytest.raises(InvalidArgument, match="unknown type"):
        await client._unary(
            "CreateWorkflow", pb.CreateWorkflowRequest(workflow=bad), timeout=None, idempotent=False,
            service=workflows_grpc.WorkflowServiceStub,
        )  # fmt: skip
    old = wf.Workflow(
        None,
        pb.Workflow(
            serialized_graft=json.dumps({"1": 1, "returns": "1"}), serialized_typespec='"Int"', channel="v0-11"
        ),
    )
    with pytest.raises(ValueError, match="channel"):
        _ = old.object


def test_blocking_publish_and_use() -> None:
    import asyncwf.blocking as bwf

    with bwf.LocalBackend() as backend:
        client = backend.client()
        published = bwf.publish(bwf.Int(1) + 1, "two", client=client)
        assert isinstance(published, bwf.Workflow)
        assert bwf.compute(bwf.use(published.id, client=client), client=client) == 2
        client.close()
