"""Who may call what: the backend's one authorization layer, for gRPC methods and HTTP routes.

Every gRPC method and HTTP route is declared in :data:`GRPC` or :data:`HTTP`
with what it needs (:class:`Need`); the layer checks that before any handler
runs, and refuses a method or route that is not declared. With no tokens
configured, auth is off and every caller may do everything (one user on one
machine).

With tokens, each token is an identity, and:

- ``USER``: any identity. The handlers then scope it to what the identity owns:
  its jobs (create, watch, cancel, read results), its workflows, XYZ layers and
  XF entities (an XF job follows its engine job's owner).
- ``EXECUTOR``: an identity granted job kinds to serve (``--executor
  bob=images.*``, shell-style patterns). It may lease jobs of those kinds only,
  and settle, heartbeat or fail only the leases it holds (a lease is held in the
  name of identity and executor id together). The in-process executor serves the
  built-in kinds and needs no grant.
- ``ADMIN``: an administrator (``--admin alice``): registers rasters, and only
  files under the configured raster roots.
- ``OPEN``: no token (health checks; URLs that carry their own signature).
"""

from __future__ import annotations

import enum
import fnmatch
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web
from grpclib.const import Status
from grpclib.events import RecvRequest
from grpclib.exceptions import GRPCError

from asyncwf.exceptions import ConfigurationError, PermissionDenied, Unauthenticated

__all__ = ["GRPC", "HTTP", "Need", "TokenAuth", "http_guard"]


class Need(enum.Enum):
    """What a caller needs to call a method."""

    OPEN = "anyone, without a token"
    USER = "any identity (scoped to what it owns)"
    EXECUTOR = "an identity granted job kinds"
    ADMIN = "an administrator"


_JOBS, _FILES, _RASTERS = "/asyncwf.v1.JobService/", "/asyncwf.v1.FileService/", "/asyncwf.v1.RasterService/"
_WORKFLOWS, _XF, _XYZ = "/asyncwf.v1.WorkflowService/", "/asyncwf.v1.XFService/", "/asyncwf.v1.XYZService/"

#: Every gRPC method, by its path, and what it needs.
GRPC: dict[str, Need] = {
    "/grpc.health.v1.Health/Check": Need.OPEN,
    "/grpc.health.v1.Health/Watch": Need.OPEN,
    **{_JOBS + m: Need.USER for m in ("CreateJob", "CreateAndWatch", "GetJob", "ListJobs", "CancelJob", "WatchJob",
                                     "GetResult", "RunJobs")},
    **{_JOBS + m: Need.EXECUTOR for m in ("Acquire", "Heartbeat", "CompleteJob", "FailJob")},
    _FILES + "SignFileURL": Need.USER,
    _RASTERS + "AddImage": Need.ADMIN,
    _RASTERS + "GetImage": Need.USER,
    _RASTERS + "ListImages": Need.USER,
    **{_WORKFLOWS + m: Need.USER for m in ("CreateWorkflow", "GetWorkflow", "UpdateWorkflow", "ListWorkflows")},
    **{_XF + m: Need.USER for m in ("GetEntity", "ListEntities", "CreateEntity", "UpdateEntity", "IssueFileToken")},
    **{_XYZ + m: Need.USER for m in ("CreateXYZ", "GetXYZ", "UpdateXYZ", "GetXYZSessionErrors")},
}  # fmt: skip

#: Every HTTP route (as aiohttp writes it), and what it needs. Signed URLs and XF file tokens are checked
#: by their routes; tiles, map pages and error streams take the bearer token as ``?access_token=`` too.
HTTP: dict[str, Need] = {
    "/healthz": Need.OPEN,
    "/": Need.USER,
    "/v1/colormaps/{name}.png": Need.OPEN,
    "/v1/jobs/{job_id}/result": Need.USER,
    "/v1/files": Need.OPEN,
    "/v1/xyz/{xyz_id}/{z}/{x}/{y}.png": Need.USER,
    "/v1/xyz/{xyz_id}/map": Need.USER,
    "/v1/xyz/{xyz_id}/errors": Need.USER,
    "/static/asyncwf/{path}": Need.OPEN,
    "/v1/xf/files/{area}/{serial}/{name}": Need.OPEN,
    "/v1/xf/userdata/{path}": Need.OPEN,
}


class TokenAuth:
    """Bearer tokens mapped to identities, with the grants of :mod:`asyncwf.server.api._authz`.

    Args:
        tokens: Bearer token -> identity. None or empty turns auth off.
        executors: Identity -> the job kinds (shell-style patterns) it may serve.
        admins: Identities that may register rasters.
    """

    def __init__(
        self,
        tokens: Mapping[str, str] | None = None,
        executors: Mapping[str, Sequence[str]] | None = None,
        admins: Iterable[str] = (),
    ) -> None:
        self._tokens = dict(tokens or {})
        self._executors = {who: tuple(patterns) for who, patterns in (executors or {}).items()}
        self._admins = frozenset(admins)
        identities = set(self._tokens.values())
        unknown = sorted((set(self._executors) | self._admins) - identities)
        if self._tokens and unknown:
            raise ConfigurationError(f"grants name identities without a token: {', '.join(unknown)}")

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def identify(self, metadata: Mapping[str, Any]) -> str | None:
        """The caller's identity, ``None`` when auth is off; raises :class:`Unauthenticated`."""
        if not self._tokens:
            return None
        header = metadata.get("authorization", "")
        if isinstance(header, bytes):
            header = header.decode(errors="replace")
        scheme, _, token = str(header).partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing bearer token")
        for known, identity in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return identity
        raise Unauthenticated("invalid token")

    def check(self, identity: str | None, need: Need, what: str) -> None:
        """Raise :class:`PermissionDenied` unless ``identity`` may do what ``need`` asks."""
        if identity is None or need in (Need.OPEN, Need.USER):
            return
        if need is Need.EXECUTOR and identity in self._executors:
            return
        if need is Need.ADMIN and identity in self._admins:
            return
        raise PermissionDenied(f"{what} needs {need.value}; {identity!r} is not one")

    def is_admin(self, identity: str | None) -> bool:
        return identity is None or identity in self._admins

    def check_kinds(self, identity: str | None, kinds: Iterable[str]) -> None:
        """Raise :class:`PermissionDenied` unless ``identity`` may serve every kind in ``kinds``."""
        if identity is None:
            return
        patterns = self._executors.get(identity, ())
        refused = sorted(k for k in kinds if not any(fnmatch.fnmatchcase(k, p) for p in patterns))
        if refused:
            raise PermissionDenied(f"{identity!r} may not serve job kinds {', '.join(refused)}")

    def lease_holder(self, identity: str | None, executor_id: str) -> str:
        """The name a lease is held in: the executor id, within its identity when auth is on."""
        return executor_id if identity is None else f"{identity}/{executor_id}"

    async def on_request(self, event: RecvRequest) -> None:
        """grpclib listener: authenticate and authorize every call before its handler runs."""
        need = GRPC.get(event.method_name)
        if need is None:
            raise GRPCError(Status.PERMISSION_DENIED, f"{event.method_name} is not in the authorization table")
        if need is Need.OPEN:
            return
        try:
            self.check(self.identify(event.metadata), need, event.method_name)
        except Unauthenticated as exc:
            raise GRPCError(Status.UNAUTHENTICATED, exc.message) from exc
        except PermissionDenied as exc:
            raise GRPCError(Status.PERMISSION_DENIED, exc.message) from exc


def http_guard(auth: TokenAuth) -> Any:
    """aiohttp middleware: the :data:`HTTP` table, checked before any route handler runs."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is None:  # no route matched: aiohttp answers 404 / 405
            return await handler(request)  # type: ignore[no-any-return]
        need = HTTP.get(resource.canonical)
        if need is None:
            raise web.HTTPForbidden(text=f"{resource.canonical} is not in the authorization table")
        if need is not Need.OPEN:
            header = request.headers.get("Authorization") or (
                f"Bearer {request.query['access_token']}" if "access_token" in request.query else ""
            )
            try:
                auth.check(auth.identify({"authorization": header}), need, resource.canonical)
            except Unauthenticated as exc:
                raise web.HTTPUnauthorized(text=exc.message) from exc
            except PermissionDenied as exc:
                raise web.HTTPForbidden(text=exc.message) from exc
        return await handler(request)  # type: ignore[no-any-return]

    return guard
