"""A connection to the XF server (the asyncwf backend): entities over gRPC, files over HTTP."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from asyncwf.client import Auth, Client
from asyncwf.exceptions import InvalidArgument
from asyncwf.v1 import xf_grpc
from asyncwf.v1 import xf_pb2 as pb

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AuthorizationToken", "Connection", "connect", "serial_of"]


def serial_of(value: int | str, what: str = "serial") -> int:
    """A positive serial from an int or a string of digits."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgument(f"a {what} is a positive integer, not {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class AuthorizationToken:
    """A file-service token: what it may touch is fixed when it is issued."""

    token: str
    expires_at: dt.datetime
    #: The file service's base URL.
    url: str

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP header that presents this token (``Authorization: Bearer ...``)."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def expired(self) -> bool:
        """Whether the token's expiry time has passed."""
        return self.expires_at <= dt.datetime.now(dt.UTC)


class Connection:
    """An open connection to the backend for XF calls (``async with connect(...) as conn``).

    Every ``get_xf_*``/``create_*``/``update_*`` function takes one. It holds a
    :class:`~asyncwf.client.Client` and, once files move, one HTTP session.
    """

    def __init__(self, client: Client, *, owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        """The HTTP session for the file service (made on first use, closed by :meth:`aclose`)."""
        import aiohttp  # imported on first use: scripts that move no files start faster

        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))
        return self._http

    async def _call(self, method: str, request: Any, *, idempotent: bool) -> Any:
        return await self.client._unary(method, request, timeout=None, idempotent=idempotent,
                                        service=xf_grpc.XFServiceStub)  # fmt: skip

    async def get(self, kind: str, serial: int | str = 0, *, uuid: str = "") -> dict[str, Any]:
        """The entity of ``kind`` with ``serial`` (or ``uuid``); ``NotFound`` if there is none."""
        request = pb.GetEntityRequest(kind=kind, serial=serial_of(serial) if not uuid else 0, uuid=uuid)
        reply = await self._call("GetEntity", request, idempotent=True)
        return _record(reply)

    async def get_with_kind(self, uuid: str) -> tuple[str, dict[str, Any]]:
        """``(kind, entity)`` of the entity with ``uuid``, whatever its kind."""
        reply = await self._call("GetEntity", pb.GetEntityRequest(uuid=uuid), idempotent=True)
        return str(reply.kind), _record(reply)

    async def list(self, kind: str, *, parent: int = 0, workflow: int = 0, name: str = "") -> list[dict[str, Any]]:
        """The entities of ``kind``, optionally those of one parent (a project's workflows, a task's jobs ...),
        workflow or name."""
        request = pb.ListEntitiesRequest(kind=kind, parent=parent, workflow=workflow, name=name)
        reply = await self._call("ListEntities", request, idempotent=True)
        return [_record(entity) for entity in reply.entities]

    async def create(self, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create an entity of ``kind`` from ``fields``; returns it with its serial, uuid and occ_lock_version."""
        request = pb.CreateEntityRequest(kind=kind, json=_encode(fields))
        return _record(await self._call("CreateEntity", request, idempotent=False))

    async def update(
        self, kind: str, entity: Mapping[str, Any], changes: Mapping[str, Any], *, bump: bool = True,
        workflow_occ_lock_version: int = 0,
    ) -> dict[str, Any]:  # fmt: skip
        """Replace ``changes`` in ``entity`` (a record from the backend, with its ``occ_lock_version``)."""
        if not isinstance(entity, Mapping) or "serial" not in entity or "occ_lock_version" not in entity:
            raise InvalidArgument(f"give the {kind} as the backend returned it (with serial and occ_lock_version)")
        request = pb.UpdateEntityRequest(
            kind=kind, serial=serial_of(entity["serial"]), changes_json=_encode(changes),
            occ_lock_version=int(entity["occ_lock_version"]), bump_occ_lock_version=bump,
            workflow_occ_lock_version=workflow_occ_lock_version,
        )  # fmt: skip
        return _record(await self._call("UpdateEntity", request, idempotent=False))

    async def file_token(
        self, area: str, serial: int = 0, *, filenames: Iterable[str] = (), write: bool = False,
        userdata: Sequence[tuple[str, str]] = (), expires_in: float = 0.0,
    ) -> AuthorizationToken:  # fmt: skip
        """A file-service token for an ``area`` (``job-result``, ``task-config`` ...) of entity ``serial``, or for
        ``userdata`` scopes; read-only unless ``write``."""
        scopes = [pb.UserdataScope(virtualpath=path, access=access) for path, access in userdata]
        request = pb.FileTokenRequest(area=area, serial=serial, filenames=list(filenames), write=write,
                                      userdata=scopes, expires_in_seconds=expires_in)  # fmt: skip
        reply = await self._call("IssueFileToken", request, idempotent=True)
        return AuthorizationToken(reply.token, reply.expires_at.ToDatetime(dt.UTC), reply.url)

    async def aclose(self) -> None:
        """Close the HTTP session (the gRPC client is the caller's)."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


@contextlib.asynccontextmanager
async def connect(host: str, port: int | str, auth: str = "") -> AsyncIterator[Connection]:
    """Open a connection to the backend at ``host:port`` with the bearer token ``auth``."""
    if not isinstance(host, str) or not host:
        raise InvalidArgument("a host name is needed")
    port_number = serial_of(port, "port")
    client = Client(host, port_number, auth=Auth(auth or None))
    async with Connection(client, owns_client=True) as conn:
        yield conn


def _encode(fields: Mapping[str, Any]) -> bytes:
    if not isinstance(fields, Mapping):
        raise InvalidArgument(f"entity fields are a dict, not {type(fields).__name__}")
    try:
        return json.dumps(dict(fields), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"entity fields must be JSON: {exc}") from exc


def _record(entity: pb.Entity) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(entity.json)
    return value
