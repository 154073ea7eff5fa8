"""The backend's HTTP face (aiohttp): health and job results; tiles and files come later."""

from __future__ import annotations

import logging

from aiohttp import web

from asyncwf.exceptions import InvalidArgument, NotFound, PermissionDenied, RPCError, Unauthenticated
from asyncwf.server.api._authz import TokenAuth, http_guard
from asyncwf.server.engine._engine import JobEngine

__all__ = ["build_http_app"]

ENGINE: web.AppKey[JobEngine] = web.AppKey("engine", JobEngine)
AUTH: web.AppKey[TokenAuth] = web.AppKey("auth", TokenAuth)
_HTTP_ERRORS: tuple[tuple[type[RPCError], type[web.HTTPException]], ...] = (
    (NotFound, web.HTTPNotFound),
    (PermissionDenied, web.HTTPForbidden),
    (Unauthenticated, web.HTTPUnauthorized),
    (InvalidArgument, web.HTTPBadRequest),
)


def _identity(request: web.Request) -> str | None:
    try:
        return request.app[AUTH].identify({"authorization": request.headers.get("Authorization", "")})
    except Unauthenticated as exc:
        raise web.HTTPUnauthorized(text=exc.message) from exc


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "SERVING"})


async def job_result(request: web.Request) -> web.StreamResponse:
    """``GET /v1/jobs/{id}/result``: the result bytes, streamed."""
    engine = request.app[ENGINE]
    try:
        job, chunks = await engine.result(request.match_info["job_id"], _identity(request))
    except RPCError as exc:
        raise _http_error(exc) from exc
    response = web.StreamResponse(
        headers={"Content-Type": job.result_content_type or "application/octet-stream"},
    )
    response.content_length = job.result_size
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


def _http_error(exc: RPCError) -> web.HTTPException:
    for cls, http_error in _HTTP_ERRORS:
        if isinstance(exc, cls):
            return http_error(text=exc.message)
    return web.HTTPInternalServerError(text=exc.message)


class _GrpcOnHttpPort(logging.Filter):
    """One line instead of a traceback when a gRPC (HTTP/2) client connects to the HTTP port."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and "PRI/Upgrade" in str(exc):
            record.msg, record.args, record.exc_info, record.levelno, record.levelname = (
                "a gRPC client connected to the HTTP port; gRPC is served on the --port", None, None,
                logging.WARNING, "WARNING",
            )  # fmt: skip
        return True


_quiet_grpc_clients = _GrpcOnHttpPort()


def build_http_app(engine: JobEngine, auth: TokenAuth, *, max_body_bytes: int) -> web.Application:
    if _quiet_grpc_clients not in logging.getLogger("aiohttp.server").filters:
        logging.getLogger("aiohttp.server").addFilter(_quiet_grpc_clients)
    app = web.Application(client_max_size=max_body_bytes, middlewares=[http_guard(auth)])
    app[ENGINE] = engine
    app[AUTH] = auth
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/jobs/{job_id}/result", job_result)
    return app
