"""The authorization layer: every gRPC method and HTTP route is declared, and each role gets what the
table in docs/authorization.md says, over real sockets; executors serve only their kinds and settle only
their leases; rasters come only from raster roots and allowed hosts; owners are named only by themselves."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import rasterio
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError

import asyncwf.workflows as wf
from asyncwf import JobContext, RemoteExecutor
from asyncwf.exceptions import PermissionDenied
from asyncwf.server.api._authz import GRPC, HTTP, Need
from asyncwf.testing import LocalBackend
from asyncwf.v1 import files_pb2, jobs_pb2, rasters_pb2, workflows_pb2, xf_pb2, xyz_pb2
from asyncwf.v1 import workflows_pb2 as wpb

TOKENS = {"t-admin": "alice", "t-exec": "bob", "t-user": "carol"}
ROLES = {"nobody": None, "user": "t-user", "executor": "t-exec", "admin": "t-admin"}
#: What each role may call, by what the method needs.
ALLOWED = {
    "nobody": {Need.OPEN},
    "user": {Need.OPEN, Need.USER},
    "executor": {Need.OPEN, Need.USER, Need.EXECUTOR},
    "admin": {Need.OPEN, Need.USER, Need.ADMIN},
}
MODULES = (jobs_pb2, files_pb2, rasters_pb2, workflows_pb2, xf_pb2, xyz_pb2)


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    (tmp_path / "rasters").mkdir()
    async with LocalBackend(tokens=TOKENS, executors={"bob": ["bob.*"]}, admins=["alice"],
                            raster_roots=(tmp_path / "rasters",)) as backend:  # fmt: skip
        yield backend


def _methods() -> list[tuple[str, Any]]:
    found = []
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append((f"/{service.full_name}/{method.name}", method))
    return found


def test_every_grpc_method_is_in_the_table() -> None:
    declared = {path for path in GRPC if not path.startswith("/grpc.health")}
    assert {path for path, _ in _methods()} == declared


async def test_every_http_route_is_in_the_table(secured: LocalBackend) -> None:
    assert secured.backend is not None and secured.backend.http_app is not None
    app = secured.backend.http_app
    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert routes == set(HTTP)


async def _call(port: int, path: str, method: Any, token: str | None) -> Status:
    from google.protobuf import message_factory

    request_type = message_factory.GetMessageClass(method.input_type)
    reply_type = message_factory.GetMessageClass(method.output_type)
    cardinality = next(c for c in Cardinality
                       if c.value == (method.client_streaming, method.server_streaming))  # fmt: skip
    metadata = {"authorization": f"Bearer {token}"} if token else None
    channel = Channel("127.0.0.1", port)
    try:
        async with channel.request(path, cardinality, request_type, reply_type, metadata=metadata) as stream:
            await stream.send_message(request_type(), end=True)
            await asyncio.wait_for(stream.recv_message(), 5)
        return Status.OK
    except GRPCError as exc:
        return exc.status
    except TimeoutError:
        return Status.OK  # accepted and waiting (a live stream)
    finally:
        channel.close()


async def test_the_permission_matrix_over_grpc(secured: LocalBackend) -> None:
    for path, method in _methods():
        need = GRPC[path]
        for role, token in ROLES.items():
            status = await _call(secured.port, path, method, token)
            if need in ALLOWED[role]:
                assert status not in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED) or (
                    status is Status.PERMISSION_DENIED and path.endswith("/Acquire")  # no kinds granted
                ), (path, role, status)
            else:
                wanted = Status.UNAUTHENTICATED if token is None else Status.PERMISSION_DENIED
                assert status is wanted, (path, role, status)


async def test_the_permission_matrix_over_http(secured: LocalBackend) -> None:
    fill = {"{job_id}": "nojob", "{xyz_id}": "nolayer", "{z}": "1", "{x}": "0", "{y}": "0", "{path}": "x.js",
            "{area}": "job-result", "{serial}": "1", "{name}": "a.txt"}  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for route, need in HTTP.items():
            url = route
            for key, value in fill.items():
                url = url.replace(key, value)
            for role, token in ROLES.items():
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.get(secured.http_url + url, headers=headers) as response:
                    status = response.status
                if need in ALLOWED[role]:
                    assert status not in (401, 403) or need is Need.OPEN, (route, role, status)
                else:
                    assert status == (401 if token is None else 403), (route, role, status)


async def test_executors_serve_only_their_kinds_and_settle_only_their_leases(secured: LocalBackend) -> None:
    async with secured.client(token="t-user") as carol, secured.client(token="t-exec") as bob:
        served: list[bytes] = []

        async def secret(ctx: JobContext) -> bytes:
            served.append(ctx.payload)
            return b"bob's answer"

        refused = RemoteExecutor(bob, {"carol.secret": secret})
        await refused.__aenter__()
        await asyncio.sleep(0.3)
        with pytest.raises(PermissionDenied, match=r"carol\.secret"):
            await refused.stop()
        job = await carol.create_job("carol.secret", b"carol's payload")
        await asyncio.sleep(0.2)
        assert served == [] and (await carol.get_job(job.id)).state.name == "QUEUED"

        # bob may serve bob.* kinds, but cannot settle a lease held in another identity's name
        async with RemoteExecutor(bob, {"bob.echo": lambda ctx: ctx.payload}):
            done = await carol.run_job("bob.echo", b"hi")
            assert await carol.job_result(done) == b"hi"
            assert done.lease_owner.startswith("bob/")


async def test_lease_holders_are_identities(secured: LocalBackend) -> None:
    async with secured.client(token="t-exec") as bob, secured.client(token="t-admin") as alice:
        ctx_seen = asyncio.Event()
        release = asyncio.Event()

        async def slow(ctx: JobContext) -> bytes:
            ctx_seen.set()
            await release.wait()
            return b"bob's own"

        async with RemoteExecutor(bob, {"bob.slow": slow}, executor_id="ex1"):
            job = await alice.create_job("bob.slow", b"")
            await asyncio.wait_for(ctx_seen.wait(), 10)
            running = await alice.get_job(job.id)
            # alice holds no executor grant at all; and even bob's executor id in her name is not bob's lease
            forged = jobs_pb2.CompleteJobRequest(job_id=job.id, executor_id="ex1", attempt=running.attempt,
                                                 data=b"forged")  # fmt: skip
            status = await _unary(secured.port, "/asyncwf.v1.JobService/CompleteJob", forged, jobs_pb2.Job, "t-admin")
            assert status is Status.PERMISSION_DENIED
            release.set()
            result = await alice.job_result(await alice.wait_job(job.id, timeout=10))
            assert result == b"bob's own"


async def _unary(port: int, path: str, request: Any, reply_type: Any, token: str) -> Status:
    channel = Channel("127.0.0.1", port)
    try:
        cardinality = Cardinality.STREAM_UNARY if path.endswith("/CompleteJob") else Cardinality.UNARY_UNARY
        async with channel.request(path, cardinality, type(request), reply_type,
                                   metadata={"authorization": f"Bearer {token}"}) as stream:  # fmt: skip
            await stream.send_message(request, end=True)
            await stream.recv_message()
        return Status.OK
    except GRPCError as exc:
        return exc.status
    finally:
        channel.close()


def _geotiff(path: Path) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="float64", crs="EPSG:4326",
                       transform=rasterio.Affine(0.25, 0, 10, 0, -0.25, 46)) as dst:  # fmt: skip
        dst.write(np.ones((1, 4, 4)))


async def test_rasters_come_from_raster_roots_and_admins_only(secured: LocalBackend, tmp_path: Path) -> None:
    inside, outside = tmp_path / "rasters" / "in.tif", tmp_path / "out.tif"
    _geotiff(inside)
    _geotiff(outside)
    (tmp_path / "rasters" / "link.tif").symlink_to(outside)
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    async with secured.client(token="t-admin") as alice, secured.client(token="t-user") as carol:
        await wf.add_image(str(inside), "in", "p", when, client=alice)
        with pytest.raises(PermissionDenied, match="administrator"):
            await wf.add_image(str(inside), "in2", "p", when, client=carol)
        for path in (str(outside), str(tmp_path / "rasters" / "link.tif"), "/etc/hostname"):
            with pytest.raises(PermissionDenied, match="not under a raster root"):
                await wf.add_image(path, "out", "p", when, client=alice)
        for path in ("/vsicurl/http://127.0.0.1:9/x.tif", "http://127.0.0.1:9/x.tif", "/vsis3/bucket/x.tif",
                     "ftp://host/x.tif"):  # fmt: skip
            with pytest.raises(PermissionDenied):
                await wf.add_image(path, "net", "p", when, client=alice)


async def test_owners_are_named_only_by_themselves(secured: LocalBackend) -> None:
    path = "/asyncwf.v1.WorkflowService/CreateWorkflow"
    graft = json.dumps(wf.Int(1).graft)
    naming_alice = wpb.CreateWorkflowRequest(
        workflow=wpb.Workflow(
            name="w", serialized_graft=graft, serialized_typespec='"Int"', channel=wf.__channel__, owners=["alice"]
        )
    )
    only_carol = wpb.CreateWorkflowRequest(
        workflow=wpb.Workflow(
            name="w", serialized_graft=graft, serialized_typespec='"Int"', channel=wf.__channel__, readers=["alice"]
        )
    )
    assert await _unary(secured.port, path, naming_alice, wpb.Workflow, "t-user") is Status.PERMISSION_DENIED
    assert await _unary(secured.port, path, only_carol, wpb.Workflow, "t-user") is Status.OK


def test_grant_configuration_names_known_identities() -> None:
    from asyncwf.exceptions import ConfigurationError
    from asyncwf.server.api._authz import TokenAuth

    with pytest.raises(ConfigurationError, match="dave"):
        TokenAuth({"t": "alice"}, executors={"dave": ["*"]})
    auth = TokenAuth({"t": "alice"}, executors={"alice": ["images.*"]})
    auth.check_kinds("alice", ["images.resize"])
    with pytest.raises(PermissionDenied):
        auth.check_kinds("alice", ["imagesX"])
    assert auth.lease_holder("alice", "ex1") == "alice/ex1" and TokenAuth().lease_holder(None, "ex1") == "ex1"


def test_the_documented_table_is_the_enforced_one() -> None:
    text = (Path(__file__).parent.parent / "docs" / "authorization.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| (\w+) \|", text, re.MULTILINE)}
    assert rows == {path: need.name for path, need in {**GRPC, **HTTP}.items()}


async def test_the_layer_index_lists_only_what_the_caller_may_read(secured: LocalBackend) -> None:
    from asyncwf.workflows import XYZ, Image

    async with secured.client(token="t-admin") as alice:
        private = XYZ.build(Image.from_id("x"), name="alice-only", client=alice)
        await private.save()
        shared = XYZ.build(Image.from_id("x"), name="for-carol", client=alice)
        shared.readers = ["carol"]
        await shared.save()
    async with aiohttp.ClientSession() as http:
        pages = {}
        for token in ("t-admin", "t-user"):
            async with http.get(f"{secured.http_url}/?access_token={token}") as response:
                pages[token] = await response.text()
    assert "alice-only" in pages["t-admin"] and "for-carol" in pages["t-admin"]
    assert "alice-only" not in pages["t-user"] and "for-carol" in pages["t-user"]
    assert f'href="/v1/xyz/{shared.id}/map?access_token=t-user"' in pages["t-user"]
