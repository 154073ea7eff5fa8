"""Fuzzing a running backend over its sockets: every gRPC method gets random, truncated, bit-flipped and
extreme messages, every HTTP route random paths, queries and headers. The backend answers each with a typed
status (never UNKNOWN, INTERNAL or HTTP 500), keeps serving, and its memory stays bounded."""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncwf.server.api._authz import HTTP
from asyncwf.testing import LocalBackend
from asyncwf.v1 import files_pb2, jobs_pb2, rasters_pb2, workflows_pb2, xf_pb2, xyz_pb2

MODULES = (jobs_pb2, files_pb2, rasters_pb2, workflows_pb2, xf_pb2, xyz_pb2)
METHODS = [
    (f"/{service.full_name}/{method.name}", method)
    for module in MODULES
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
#: Statuses that say the server did not understand its own failure.
UNTYPED = {Status.UNKNOWN, Status.INTERNAL}
pytestmark = pytest.mark.asyncio(loop_scope="module")  # one backend for the whole run
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


class _Raw:
    """A grpclib codec that sends and receives bytes as they are (so messages can be broken)."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzzed() -> AsyncIterator[LocalBackend]:
    async with LocalBackend() as backend:
        yield backend


NUMBERS = {
    FieldDescriptor.TYPE_DOUBLE: st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 0.0, -1.0, 1e-300]),
    FieldDescriptor.TYPE_FLOAT: st.sampled_from([math.inf, math.nan, 3e38, -1.0]),
    FieldDescriptor.TYPE_INT64: st.sampled_from([2**63 - 1, -(2**63), 0, -1, 1]),
    FieldDescriptor.TYPE_UINT64: st.sampled_from([2**64 - 1, 0, 1]),
    FieldDescriptor.TYPE_INT32: st.sampled_from([2**31 - 1, -(2**31), 0, -1]),
    FieldDescriptor.TYPE_UINT32: st.sampled_from([2**32 - 1, 0]),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
}
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "a\r\nb", "²", "../../etc/passwd", "/vsicurl/http://127.0.0.1:1/x", "wf.compute",
                     "x" * 5000, "%00", "😀" * 10, "job-result", "1", "-1"]),
)  # fmt: skip
DEEP_JSON = st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)
JSON = st.one_of(
    DEEP_JSON,
    st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=8),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=8).map(lambda v: __import__("json").dumps(v)),
    st.sampled_from(['{"graft": {"1": ["wf.range", "2"], "2": 100000000000, "returns": "1"}}',
                     '{"graft": {"returns": "x", "x": {"parameters": ["a"], "returns": "a"}}}', "{", "null"]),
)  # fmt: skip


@st.composite
def _message(draw: st.DrawFn, descriptor: Any, depth: int = 0) -> Any:
    message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        values = draw(st.lists(_value(field, depth), min_size=1, max_size=3)) if field.is_repeated \
            else [draw(_value(field, depth))]  # fmt: skip
        for value in values:
            if value is None:
                continue
            target = getattr(message, field.name)
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                (target.add() if field.is_repeated else target).CopyFrom(value)
            elif field.is_repeated:
                target.append(value)
            else:
                setattr(message, field.name, value)
    return message


def _value(field: Any, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry or depth >= 2:
            return st.none()
        return _message(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_STRING:
        return JSON if field.name.endswith("json") else TEXT
    if field.type == FieldDescriptor.TYPE_BYTES:
        return JSON.map(str.encode) if "json" in field.name or field.name in ("payload", "data") else st.binary(
            max_size=64)  # fmt: skip
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values] + [99])
    return NUMBERS.get(field.type, st.none())


@st.composite
def _call(draw: st.DrawFn) -> tuple[str, Any, bytes]:
    path, method = draw(st.sampled_from(METHODS))
    valid = draw(_message(method.input_type)).SerializeToString()
    how = draw(st.sampled_from(["valid", "valid", "truncated", "flipped", "random"]))
    if how == "truncated" and valid:
        data = valid[: draw(st.integers(0, len(valid) - 1))]
    elif how == "flipped" and valid:
        at = draw(st.integers(0, len(valid) - 1))
        data = valid[:at] + bytes([valid[at] ^ (1 << draw(st.integers(0, 7)))]) + valid[at + 1 :]
    elif how == "random":
        data = draw(st.binary(max_size=200))
    else:
        data = valid
    return path, method, data


async def _send(port: int, path: str, method: Any, data: bytes) -> Status:
    cardinality = next(c for c in Cardinality if c.value == (method.client_streaming, method.server_streaming))
    channel = Channel("127.0.0.1", port, codec=_Raw())  # type: ignore[arg-type]
    try:
        async with channel.request(path, cardinality, bytes, bytes, timeout=5) as stream:
            await stream.send_message(data, end=True)
            try:
                await asyncio.wait_for(stream.recv_message(), 1.0)
            except TimeoutError:
                return Status.OK  # a live stream, waiting
            if method.server_streaming:
                with contextlib.suppress(Exception):  # the server may have ended it already
                    await stream.cancel()
        return Status.OK
    except GRPCError as exc:
        return exc.status
    except StreamTerminatedError:
        return Status.CANCELLED
    finally:
        channel.close()


@SETTINGS
@given(call=_call())
async def test_every_grpc_method_answers_hostile_messages_with_typed_statuses(
    fuzzed: LocalBackend, call: tuple[str, Any, bytes]
) -> None:
    path, method, data = call
    status = await _send(fuzzed.port, path, method, data)
    assert status not in UNTYPED, (path, data[:200], status)


ROUTE_VALUES = st.one_of(TEXT, st.sampled_from(["1", "0", "-5", "99999999999999999999", "job-result", "a/b"]))


@st.composite
def _http(draw: st.DrawFn) -> tuple[str, str, dict[str, str], dict[str, str]]:
    route = draw(st.sampled_from(sorted(HTTP)))
    path = route
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + urllib.parse.quote(draw(ROUTE_VALUES) or "x", safe="/") + path[end + 1 :]
    query = draw(st.dictionaries(st.sampled_from(["scales", "colormap", "session_id", "access_token", "expires",
                                                  "signature", "path", "checkerboard", "image", "x"]),
                                 st.one_of(TEXT, JSON), max_size=4))  # fmt: skip
    headers = draw(st.dictionaries(st.sampled_from(["Authorization", "Content-Type", "Range", "X-XF-Size"]),
                                   st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
                                   max_size=3))  # fmt: skip
    return draw(st.sampled_from(["GET", "HEAD", "PUT"])), path, query, headers


@SETTINGS
@given(request=_http())
async def test_every_http_route_answers_hostile_requests_without_a_500(
    fuzzed: LocalBackend, request: tuple[str, str, dict[str, str], dict[str, str]]
) -> None:
    method, path, query, headers = request
    body = b"x" * 10 if method == "PUT" else None
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, fuzzed.http_url + path, params=query, headers=headers, data=body) as response,
        ):
            await response.read()
            status = response.status
    except aiohttp.ClientResponseError as exc:  # aiohttp's own answer to a request line it will not read
        status = exc.status
    assert status < 500, (method, path, query, headers, status)


async def test_after_the_fuzzing_the_backend_serves_and_its_memory_is_bounded(fuzzed: LocalBackend) -> None:
    async with fuzzed.client() as client:
        assert await client.health() == "SERVING"
        assert await client.job_result(await client.run_job("asyncwf.echo", b"still here")) == b"still here"
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < 2048, f"the test process peaked at {peak_mib:.0f} MiB"
