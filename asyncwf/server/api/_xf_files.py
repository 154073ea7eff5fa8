"""The XF file service: files of XF entities over HTTP, behind scoped, expiring tokens.

Files live under ``<data dir>/xf-files/<area>/<serial>/<name>`` (areas:
``job-result``, ``job-log``, ``task-config``, ``task-type-config``,
``workflow-config``, ``dependency-package-config``) and
``<data dir>/xf-files/userdata/<path>`` for ``@xfuserdata/<path>``.

A token (issued over gRPC by ``XFService.IssueFileToken``) names one area and
serial, optionally the only files it may touch, whether it may write, and its
expiry, all under an HMAC-SHA256 with the backend's ``files.key``; a userdata
token lists virtual paths (a folder when they end with ``/``) with ``r`` or
``rw``. Routes::

    GET|HEAD|PUT /v1/xf/files/{area}/{serial}/{name}
    GET|HEAD|PUT /v1/xf/userdata/{path}

``HEAD`` answers with ``X-XF-Size``, ``X-XF-Local-Path`` and ``X-XF-Local-Id`` (device and
inode of the file, or of its folder when the file does not exist yet and the
token may write): a worker on the same filesystem uses the path directly.
Bodies stream both ways; an upload lands in a temporary file renamed into
place when complete, so a cut-off upload leaves the old file untouched.
"""

from __future__ import annotations

import base64
import binascii
import errno
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web

from asyncwf._xfpaths import AREAS, USERDATA, check_relative_path
from asyncwf.exceptions import InvalidArgument, PermissionDenied

__all__ = ["FileTokens", "add_routes"]

MAX_TOKEN_SECONDS = 24 * 3600
_CHUNK = 1 << 20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FileTokens:
    """Issues and checks file tokens, and maps areas onto the directory ``root``."""

    def __init__(self, key: bytes, root: Path, base_url: str = "", max_upload_bytes: int = 4 << 30) -> None:
        self._key = key
        self.root = root
        self.base_url = base_url.rstrip("/")
        #: The largest file a PUT may upload.
        self.max_upload_bytes = max_upload_bytes

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, b"xf-file-token\n" + body.encode(), hashlib.sha256).hexdigest()

    def issue(self, claims: dict[str, Any], seconds: float) -> tuple[str, float]:
        """A token for ``claims`` (area, serial, files, write, userdata scopes) valid ``seconds``."""
        if not 0 < seconds <= MAX_TOKEN_SECONDS:
            raise InvalidArgument(f"file tokens last from 1 second to one day, not {seconds:.0f} s")
        expires = time.time() + seconds
        body = _b64(json.dumps({**claims, "e": expires, "n": secrets.token_hex(4)}, sort_keys=True).encode())
        return f"{body}.{self._mac(body)}", expires

    def claims(self, header: str) -> dict[str, Any]:
        """The claims of the bearer token in an ``Authorization`` header; PermissionDenied if invalid or expired."""
        scheme, _, token = header.partition(" ")
        body, _, mac = token.partition(".")
        if scheme.lower() != "bearer" or not body or not hmac.compare_digest(self._mac(body), mac):
            raise PermissionDenied("a valid XF file token is needed (Authorization: Bearer <token>)")
        try:
            claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, binascii.Error) as exc:
            raise PermissionDenied("malformed file token") from exc
        if claims.get("e", 0) < time.time():
            raise PermissionDenied("this file token has expired")
        return claims

    def path(self, area: str, serial: int, name: str) -> Path:
        return self.root / area / str(serial) / name

    def userdata_path(self, rest: str) -> Path:
        return self.root / USERDATA / rest


def _authorize_area(claims: dict[str, Any], area: str, serial: int, name: str, write: bool) -> None:
    if claims.get("a") != area or claims.get("s") != serial:
        raise PermissionDenied(f"this token is not for {area} {serial}")
    files: Sequence[str] = claims.get("f") or ()
    if files and name not in files:
        raise PermissionDenied(f"this token does not cover {name!r}")
    if write and not claims.get("w"):
        raise PermissionDenied("this token is read-only")


def _authorize_userdata(claims: dict[str, Any], rest: str, write: bool) -> None:
    if claims.get("a") != USERDATA:
        raise PermissionDenied("this token is not for @xfuserdata/")
    for scope, access in claims.get("u") or ():
        covered = rest == scope or (scope.endswith("/") and rest.startswith(scope)) or scope == ""
        if covered and (not write or access == "rw"):
            return
    raise PermissionDenied(f"this token does not allow {'writing' if write else 'reading'} @xfuserdata/{rest}")


TOKENS: web.AppKey[FileTokens] = web.AppKey("xf_file_tokens", FileTokens)


def _target(request: web.Request, write: bool) -> tuple[Path, bool]:
    """The file a request names, if its token allows reading (and ``write``: writing) it; and whether
    the token may write it. HTTP errors otherwise."""
    tokens = request.app[TOKENS]
    try:
        claims = tokens.claims(request.headers.get("Authorization", ""))
        authorize: Callable[[bool], None]
        if "area" in request.match_info:
            area, name = request.match_info["area"], check_relative_path(request.match_info["name"])
            if area not in AREAS:
                raise web.HTTPNotFound(text=f"no file area {area!r}")
            serial_text = request.match_info["serial"]
            if not (serial_text.isascii() and serial_text.isdigit()):
                raise InvalidArgument(f"a serial is a positive integer, not {serial_text!r}")
            authorize = functools.partial(_authorize_area, claims, area, int(serial_text), name)
            path = tokens.path(area, int(serial_text), name)
        else:
            rest = check_relative_path(request.match_info["path"], "virtual path")
            authorize = functools.partial(_authorize_userdata, claims, rest)
            path = tokens.userdata_path(rest)
        authorize(write)
    except PermissionDenied as exc:  # the reason also travels in a header, for HEAD requests
        raise web.HTTPForbidden(text=exc.message, headers=_reason(exc.message)) from exc
    except InvalidArgument as exc:
        raise web.HTTPBadRequest(text=exc.message, headers=_reason(exc.message)) from exc
    if write:
        return path, True
    try:
        authorize(True)
    except PermissionDenied:
        return path, False
    return path, True


def _reason(message: str) -> dict[str, str]:
    return {"X-XF-Error": message.encode("ascii", "backslashreplace").decode()[:1000]}


def _local_id(path: Path) -> str:
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}"


async def _get(request: web.Request) -> web.StreamResponse:
    path, _ = _target(request, write=False)
    if not await anyio.Path(path).is_file():
        raise web.HTTPNotFound(text="no such file")
    return web.FileResponse(path, headers={"Cache-Control": "private, no-store"})


async def _head(request: web.Request) -> web.StreamResponse:
    """Where the file is on the backend's filesystem, for workers that share it."""
    path, writable = _target(request, write=False)

    def locate() -> tuple[int, str, int]:
        if path.is_file():
            return 200, _local_id(path), path.stat().st_size
        if writable:
            path.parent.mkdir(parents=True, exist_ok=True)
            return 404, _local_id(path.parent), 0
        return 404, "", 0

    status, local_id, size = await anyio.to_thread.run_sync(locate)
    headers = {"X-XF-Local-Path": str(path), "X-XF-Local-Id": local_id} if local_id else {}
    if status == 200:
        headers["X-XF-Size"] = str(size)
    return web.Response(status=status, headers=headers)


async def _put(request: web.Request) -> web.Response:
    path, _ = _target(request, write=True)
    limit = request.app[TOKENS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(limit, request.content_length)
    part = path.with_name(f".{path.name}.part-{secrets.token_hex(6)}")
    try:
        await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise web.HTTPConflict(text=f"{path.parent.name} is a file, not a folder") from exc
    size = 0
    try:
        async with await anyio.open_file(part, "wb") as f:
            async for chunk in request.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise web.HTTPRequestEntityTooLarge(limit, size)
                await f.write(chunk)
        if request.content_length is not None and size != request.content_length:
            raise web.HTTPBadRequest(text=f"the body ended after {size} of {request.content_length} bytes")
        await anyio.to_thread.run_sync(os.replace, part, path)
    except IsADirectoryError as exc:
        raise web.HTTPConflict(text=f"{path.name} is a folder, not a file") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise web.HTTPInsufficientStorage(text="the backend's disk is full") from exc
        raise
    finally:
        await anyio.Path(part).unlink(missing_ok=True)
    return web.json_response({"size": size}, status=201)


def add_routes(app: web.Application, tokens: FileTokens) -> None:
    app[TOKENS] = tokens
    for route in ("/v1/xf/files/{area}/{serial}/{name:.+}", "/v1/xf/userdata/{path:.+}"):
        app.router.add_get(route, _get, allow_head=False)
        app.router.add_route("HEAD", route, _head)
        app.router.add_put(route, _put)
