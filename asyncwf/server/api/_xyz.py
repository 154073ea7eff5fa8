"""XYZService (gRPC) and the tile endpoint (HTTP): saved Image layers served as map tiles.

``GET /v1/xyz/{id}/{z}/{x}/{y}.png?session_id=&colormap=&scales=&checkerboard=&<parameter>=<JSON>``
(bearer token in ``Authorization`` or, for browsers, ``access_token=``). A tile
is evaluated and coloured in a worker thread; an evaluation error is recorded
for the (layer, session) and answered with 400 (the graft's fault: INVALID,
TYPING ...) or 500, the code in ``X-Error-Code`` and the message in the body.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import anyio
from aiohttp import web
from grpclib.server import Stream

from asyncwf._model import ts_to_pb
from asyncwf._xfpaths import check_relative_path
from asyncwf.exceptions import InvalidArgument, NotFound, PermissionDenied, RPCError, Unauthenticated
from asyncwf.graft._interpreter import GraftError
from asyncwf.server.api._authz import TokenAuth
from asyncwf.server.api._jobs import CallTracker, _grpc_errors, _request
from asyncwf.server.api._workflows import WorkflowService, to_pb
from asyncwf.server.raster._bounds import layer_bounds
from asyncwf.server.raster._catalog import RasterCatalog
from asyncwf.server.raster._tiles import TileError, TileErrors, TileRequest, render_legend, render_tile
from asyncwf.server.store._store import Document, Store
from asyncwf.v1 import xyz_grpc
from asyncwf.v1 import xyz_pb2 as pb

__all__ = ["COLLECTION", "XYZService", "add_tile_routes"]

COLLECTION = "xyz"
_CLIENT_CODES = {"INVALID", "TYPING"}


class XYZService(xyz_grpc.XYZServiceBase):
    """``asyncwf.v1.XYZService``: layers are documents like published workflows, with a tile URL template."""

    def __init__(self, store: Store, auth: TokenAuth, errors: TileErrors) -> None:
        self.docs = WorkflowService(store, auth, COLLECTION)
        self.auth = auth
        self.errors = errors
        self.calls = CallTracker()
        #: The backend's HTTP address, once it serves HTTP.
        self.base_url = ""

    def info(self, doc: Document) -> pb.XYZInfo:
        template = f"{self.base_url}/v1/xyz/{doc.id}/{{z}}/{{x}}/{{y}}.png" if self.base_url else ""
        return pb.XYZInfo(xyz=to_pb(doc), url_template=template)

    async def get(self, xyz_id: str, identity: str | None) -> Document:
        return await self.docs._get(xyz_id, identity)

    @_grpc_errors
    async def CreateXYZ(self, stream: Stream[pb.CreateXYZRequest, pb.XYZInfo]) -> None:
        req = await _request(stream)
        doc = await self.docs.create(req.xyz, self.auth.identify(stream.metadata or {}))
        await stream.send_message(self.info(doc))

    @_grpc_errors
    async def GetXYZ(self, stream: Stream[pb.GetXYZRequest, pb.XYZInfo]) -> None:
        req = await _request(stream)
        await stream.send_message(self.info(await self.get(req.xyz_id, self.auth.identify(stream.metadata or {}))))

    @_grpc_errors
    async def UpdateXYZ(self, stream: Stream[pb.UpdateXYZRequest, pb.XYZInfo]) -> None:
        req = await _request(stream)
        doc = await self.docs.update(req.xyz, req.expected_version, self.auth.identify(stream.metadata or {}))
        await stream.send_message(self.info(doc))

    @_grpc_errors
    async def GetXYZSessionErrors(self, stream: Stream[pb.GetXYZSessionErrorsRequest, pb.XYZError]) -> None:
        req = await _request(stream)
        await self.get(req.xyz_id, self.auth.identify(stream.metadata or {}))
        if not req.session_id:
            raise InvalidArgument("a session id is required")
        if req.start_timestamp_ms < 0:
            raise InvalidArgument("start_timestamp_ms must not be negative")
        async for error in self.errors.follow(req.xyz_id, req.session_id, req.start_timestamp_ms / 1000):
            await stream.send_message(pb.XYZError(
                code=error.code, message=error.message, session_id=error.session_id, xyz_id=error.xyz_id,
                timestamp=ts_to_pb(dt.datetime.fromtimestamp(error.timestamp, dt.UTC)),
            ))  # fmt: skip


XYZ: web.AppKey[XYZService] = web.AppKey("xyz_service", XYZService)
CATALOG: web.AppKey[RasterCatalog] = web.AppKey("raster_catalog", RasterCatalog)


def _fail(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return status(text=f"{code}: {message}", headers={"X-Error-Code": code})


async def tile(request: web.Request) -> web.StreamResponse:
    service, catalog = request.app[XYZ], request.app[CATALOG]
    doc = await _authorized(request)
    try:
        parsed = TileRequest.parse(request.match_info["z"], request.match_info["x"], request.match_info["y"],
                                   request.query)  # fmt: skip
    except InvalidArgument as exc:
        raise _fail(web.HTTPBadRequest, "INVALID_ARGUMENT", exc.message) from exc
    images = await catalog.snapshot()
    try:
        png = await anyio.to_thread.run_sync(functools.partial(render_tile, doc.body["graft"], parsed, images))
    except GraftError as exc:
        service.errors.record(TileError(doc.id, parsed.session_id, exc.code, exc.message, time.time(), parsed.tile))
        status = web.HTTPBadRequest if exc.code in _CLIENT_CODES else web.HTTPInternalServerError
        raise _fail(status, exc.code, exc.message) from exc
    except RPCError as exc:
        service.errors.record(TileError(doc.id, parsed.session_id, "INVALID", exc.message, time.time(), parsed.tile))
        raise _fail(web.HTTPBadRequest, "INVALID", exc.message) from exc
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "private, max-age=60"})


def _identity(request: web.Request) -> str | None:
    """Who the request's token (``Authorization`` or ``?access_token=``) names (HTTP 401 otherwise)."""
    header = request.headers.get("Authorization") or (
        f"Bearer {request.query['access_token']}" if "access_token" in request.query else ""
    )
    try:
        return request.app[XYZ].auth.identify({"authorization": header})
    except Unauthenticated as exc:
        raise _fail(web.HTTPUnauthorized, "UNAUTHENTICATED", exc.message) from exc


async def _authorized(request: web.Request) -> Document:
    """The layer of the request, if its token may read it (HTTP errors otherwise)."""
    try:
        return await request.app[XYZ].get(request.match_info["xyz_id"], _identity(request))
    except PermissionDenied as exc:
        raise _fail(web.HTTPForbidden, "PERMISSION_DENIED", exc.message) from exc
    except NotFound as exc:
        raise _fail(web.HTTPNotFound, "NOT_FOUND", exc.message) from exc


async def map_page(request: web.Request) -> web.StreamResponse:
    """``GET /v1/xyz/{id}/map?lat=&lon=&zoom=&session_id=&colormap=&scales=...``: a Leaflet map of the layer
    with its session's tile errors, live; without lat/lon it fits the images the layer reads by id."""
    doc = await _authorized(request)
    images = await request.app[CATALOG].snapshot()
    bounds = await anyio.to_thread.run_sync(layer_bounds, doc.body["graft"], images)
    page = (await _map_template()).replace("{{layer}}", html.escape(doc.name or doc.id))
    page = page.replace("{{bounds}}", html.escape(json.dumps(bounds)))
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


_template: list[str] = []  # the map page's HTML, read once


async def _map_template() -> str:
    if not _template:
        _template.append(await anyio.Path(STATIC / "map" / "map.html").read_text())
    return _template[0]


async def legend(request: web.Request) -> web.StreamResponse:
    """``GET /v1/colormaps/{name}.png``: the colormap as a strip, low values left (the map page's legend)."""
    try:
        png = await anyio.to_thread.run_sync(render_legend, request.match_info["name"])
    except InvalidArgument as exc:
        raise _fail(web.HTTPNotFound, "NOT_FOUND", exc.message) from exc
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


async def layers_page(request: web.Request) -> web.StreamResponse:
    """``GET /``: the saved XYZ layers the caller may read, newest first, each linked to its map page."""
    token = request.query.get("access_token")
    docs = await request.app[XYZ].docs.readable(_identity(request))
    readable = sorted(docs, key=lambda d: d.updated_at or d.created_at or 0, reverse=True)
    suffix = "?" + urlencode({"access_token": token}) if token else ""
    rows = "".join(
        f'<li><a href="/v1/xyz/{quote(d.id)}/map{suffix}">{html.escape(d.name or d.id)}</a> '
        f"<small>{html.escape(d.id)}</small></li>"
        for d in readable
    )
    body = _INDEX.format(rows=rows or "<li>No saved layers yet: <code>await XYZ.build(image).save()</code></li>")
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


_INDEX = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>asyncwf · XYZ layers</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2em; }} li {{ margin: .4em 0; }}</style></head>
<body><h1>XYZ layers</h1><ul id="layers">{rows}</ul></body></html>
"""


async def error_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/xyz/{id}/errors?session_id=``: the session's tile errors as server-sent events, live."""
    doc = await _authorized(request)
    session_id = request.query.get("session_id", "")
    if not session_id or len(session_id) > 128:
        raise _fail(web.HTTPBadRequest, "INVALID_ARGUMENT", "a session_id of 1-128 characters is required")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    await response.write(b": listening\n\n")
    async for error in request.app[XYZ].errors.follow(doc.id, session_id):
        data = json.dumps({"code": error.code, "message": error.message, "session_id": error.session_id,
                           "timestamp": error.timestamp, "tile": error.tile})  # fmt: skip
        await response.write(f"event: tile-error\ndata: {data}\n\n".encode())
    return response


STATIC = Path(__file__).parent.parent / "static"  # asyncwf/server/static
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".html": "text/html"}


async def static_file(request: web.Request) -> web.StreamResponse:
    """The map page's files, shipped in the package (Leaflet from npm, built by scripts/build_static.py)."""
    try:
        name = check_relative_path(request.match_info["path"])
    except InvalidArgument as exc:
        raise web.HTTPNotFound() from exc
    content_type = _TYPES.get(Path(name).suffix)
    if content_type is None:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Content-Type": content_type, "Cache-Control": "max-age=3600"})


def add_tile_routes(app: web.Application, service: XYZService, catalog: RasterCatalog) -> None:
    app[XYZ] = service
    app[CATALOG] = catalog
    app.router.add_get("/v1/xyz/{xyz_id}/{z}/{x}/{y}.png", tile)
    app.router.add_get("/v1/xyz/{xyz_id}/map", map_page)
    app.router.add_get("/", layers_page)
    app.router.add_get("/v1/colormaps/{name}.png", legend)
    app.router.add_get("/v1/xyz/{xyz_id}/errors", error_events)
    app.router.add_get("/static/asyncwf/{path:.+}", static_file)
