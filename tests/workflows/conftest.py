from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncwf import Client
from asyncwf.graft._interpreter import Interpreter, Limits
from asyncwf.graft._vocabulary import BUILTINS
from asyncwf.workflows._typespec import decode_value, encode_value, unmarshal
from asyncwf.workflows.types import Proxytype


def evaluate(graft: dict[str, Any], limits: Limits | None = None, **arguments: Any) -> Any:
    """Evaluate a graft locally, after a JSON round trip (as the backend receives it)."""
    wire = json.loads(json.dumps(graft))
    return Interpreter(BUILTINS, limits).run(wire, arguments or None)


def local_compute(obj: Proxytype, **arguments: Any) -> Any:
    """What compute() returns, without a backend: evaluate, encode, decode, unmarshal."""
    value = evaluate(obj.graft, **arguments)
    return unmarshal(type(obj), decode_value(json.loads(json.dumps(encode_value(value)))))


@pytest.fixture
async def default_client(client: Client) -> Client:
    """``client`` (a LocalBackend's), as the default client of this test."""
    Client.set_default_client(client)
    return client


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Client]:
    """A client of a LocalBackend whose catalogue holds ``tests.workflows.rasters``' images."""
    from tests.workflows.rasters import catalog_backend

    async for client in catalog_backend(tmp_path):
        yield client
