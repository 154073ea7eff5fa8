"""XYZ: a saved Image layer served as map tiles by the backend, and the errors of its tiles, live."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

from asyncwf.client import Client
from asyncwf.exceptions import InvalidArgument
from asyncwf.graft._syntax import declared_parameters
from asyncwf.v1 import workflows_pb2 as wpb
from asyncwf.v1 import xyz_grpc
from asyncwf.v1 import xyz_pb2 as pb
from asyncwf.workflows._tile_options import COLORMAPS, validate_scales
from asyncwf.workflows._workflow import Workflow
from asyncwf.workflows.types._core import Proxytype, ProxyTypeError
from asyncwf.workflows.types._image import Image
from asyncwf.workflows.types._proxify import proxify

__all__ = ["XYZ", "XYZErrorListener"]

_SERVICE = xyz_grpc.XYZServiceStub


def _errors_request(xyz_id: str, session_id: str, start_datetime: dt.datetime | None) -> pb.GetXYZSessionErrorsRequest:
    """The request for a session's errors; a naive ``start_datetime`` is local time (as ``datetime.now()``)."""
    if not isinstance(session_id, str) or not session_id:
        raise InvalidArgument("a session id is required")
    start_ms = 0
    if start_datetime is not None:
        if not isinstance(start_datetime, dt.datetime):
            raise InvalidArgument(f"start_datetime is a datetime, not {type(start_datetime).__name__}")
        start_ms = max(0, int(start_datetime.timestamp() * 1000))
    return pb.GetXYZSessionErrorsRequest(xyz_id=xyz_id, session_id=session_id, start_timestamp_ms=start_ms)


async def _tile_errors(
    client: Client, xyz_id: str, session_id: str, start_datetime: dt.datetime | None
) -> AsyncIterator[Any]:
    """The ``GetXYZSessionErrors`` stream of a layer's session (see :meth:`XYZ.iter_tile_errors`)."""
    request = _errors_request(xyz_id, session_id, start_datetime)
    async for error in client._stream("GetXYZSessionErrors", request, timeout=None, service=_SERVICE):
        yield error


class XYZ(Workflow):
    """A proxy Image, saved so the backend's tile endpoint can render it (``XYZ.build(img).save()``)."""

    def __init__(self, proxy_object: Proxytype | None, proto_message: wpb.Workflow, client: Client | None = None,
                 url_template: str = "") -> None:  # fmt: skip
        super().__init__(proxy_object, proto_message, client)
        self._url_template = url_template

    @classmethod
    def build(cls, proxy_object: Any, name: str = "", description: str = "", client: Client | None = None) -> XYZ:
        """A new (unsaved) XYZ of an Image."""
        obj = proxy_object if isinstance(proxy_object, Proxytype) else proxify(proxy_object)
        if not isinstance(obj, Image):
            raise ProxyTypeError(f"an XYZ layer shows an Image, not {type(obj).__name__}")
        workflow = Workflow.build(obj, name, description, client)
        return cls(obj, workflow._message, client)

    @classmethod
    async def get(cls, xyz_id: str, client: Client | None = None) -> XYZ:
        """An existing XYZ by id."""
        if not isinstance(xyz_id, str) or not xyz_id:
            raise InvalidArgument("an XYZ id must be a non-empty string")
        client = client or Client.get_default_client()
        info = await client._unary("GetXYZ", pb.GetXYZRequest(xyz_id=xyz_id), timeout=None, idempotent=True,
                                   service=_SERVICE)  # fmt: skip
        return cls(None, info.xyz, client, info.url_template)

    async def save(self) -> None:
        """Persist this layer (after which :attr:`id` is set); saving again updates it."""
        if not self._message.id:
            info = await self._api._unary("CreateXYZ", pb.CreateXYZRequest(xyz=self._message), timeout=None,
                                          idempotent=False, service=_SERVICE)  # fmt: skip
        else:
            request = pb.UpdateXYZRequest(xyz=self._message, expected_version=self._message.version)
            info = await self._api._unary("UpdateXYZ", request, timeout=None, idempotent=True, service=_SERVICE)
        self._message, self._url_template = info.xyz, info.url_template

    async def update(self, proxy_object: Any = None, name: str | None = None, description: str | None = None) -> None:
        if proxy_object is not None and not isinstance(proxy_object, Image):
            raise ProxyTypeError(f"an XYZ layer shows an Image, not {type(proxy_object).__name__}")
        await super().update(proxy_object, name, description)

    @property
    def BASE_URL(self) -> str:  # the seed's name
        """The HTTP address of the backend serving this layer's tiles ("" until saved)."""
        return self._url_template.split("/v1/xyz/", 1)[0] if "/v1/xyz/" in self._url_template else ""

    def url(self, session_id: str | None = None, colormap: str | None = None, scales: Any = None,
            checkerboard: bool = False, **parameters: Any) -> str:  # fmt: skip
        """The URL template (``.../{z}/{x}/{y}.png?...``) of this layer's tiles on the backend.

        Parameter names must be parameters of the object; values are JSON-able
        values or proxy objects (sent as their grafts). Raises ``ValueError``
        if the layer has not been saved.
        """
        if not self.id or not self._url_template:
            raise ValueError("this XYZ has not been persisted yet (call save()), or its backend serves no HTTP")
        if colormap is not None and colormap not in COLORMAPS:
            raise ValueError(f"unknown colormap {colormap!r}; one of {', '.join(COLORMAPS)}")
        query: dict[str, str] = {}
        if session_id is not None:
            query["session_id"] = str(session_id)
        if colormap is not None:
            query["colormap"] = colormap
        if checkerboard:
            query["checkerboard"] = "true"
        checked = validate_scales(scales)
        if checked is not None:
            query["scales"] = json.dumps(checked)
        declared = set(declared_parameters(self.object._node)) if parameters else set()
        for name, value in parameters.items():
            if name not in declared:
                raise TypeError(f"{name!r} is not a parameter of this XYZ's object (it has {sorted(declared)})")
            query[name] = json.dumps(value.graft if isinstance(value, Proxytype) else proxify(value).graft
                                     if isinstance(value, dt.datetime | dt.timedelta) else value)  # fmt: skip
        separator = "?" if query else ""
        return f"{self._url_template}{separator}{urlencode(query)}"

    def map_url(self, session_id: str | None = None, colormap: str | None = None, scales: Any = None,
                checkerboard: bool = False, *, lat: float | None = None, lon: float | None = None,
                zoom: int | None = None, **parameters: Any) -> str:  # fmt: skip
        """The URL of the backend's map page of this layer: its tiles (with the arguments of :meth:`url`) in a
        browser map, centred on ``lat``/``lon`` at ``zoom`` when given, with the session's tile errors, live.
        Without ``session_id`` the page makes one of its own."""
        tiles = self.url(session_id, colormap, scales, checkerboard, **parameters)
        template, _, query = tiles.partition("?")
        place = {name: value for name, value in (("lat", lat), ("lon", lon), ("zoom", zoom)) if value is not None}
        for name, value in place.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} is a number, not {type(value).__name__}")
        page = template.rsplit("/{z}/{x}/{y}.png", 1)[0] + "/map"
        query = "&".join(part for part in (query, urlencode(place)) if part)
        return f"{page}?{query}" if query else page

    async def iter_tile_errors(self, session_id: str, start_datetime: dt.datetime | None = None) -> AsyncIterator[Any]:
        """The errors of this layer's tiles in ``session_id``, live: kept ones (since ``start_datetime``, which
        must be timezone-aware) first, then each new one as it happens, until you stop iterating."""
        if not self.id:
            raise ValueError("this XYZ has not been persisted yet (call save())")
        async for error in _tile_errors(self._api, self.id, session_id, start_datetime):
            yield error

    def error_listener(self) -> XYZErrorListener:
        """An :class:`XYZErrorListener` for this layer."""
        if not self.id:
            raise ValueError("this XYZ has not been persisted yet (call save())")
        return XYZErrorListener(self.id, self._api)

    def __repr__(self) -> str:
        return f"XYZ(id={self.id!r}, name={self.name!r})"


class XYZErrorListener:
    """Calls callbacks (sync or async) with each tile error of a session, as an asyncio task.

    A callback that raises stops the listener; the exception is then raised by
    :meth:`stop` (and is :attr:`error`), never swallowed.
    """

    def __init__(self, xyz_id: str, client: Client | None = None) -> None:
        self.xyz_id = xyz_id
        self.callbacks: list[Callable[[Any], Any]] = []
        self._client = client
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    def add_callback(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback`` with each tile error received (a coroutine function, or a plain one in the blocking
        API)."""
        if not callable(callback):
            raise TypeError("a callback must be callable")
        self.callbacks.append(callback)

    def listen(self, session_id: str, start_datetime: dt.datetime | None = None) -> None:
        """Start listening (in a task of the running loop) for errors of ``session_id``."""
        if self.running():
            raise RuntimeError("this listener is already listening; stop() it first")
        _errors_request(self.xyz_id, session_id, start_datetime)  # bad arguments raise here, not in the task
        stream = _tile_errors(self._client or Client.get_default_client(), self.xyz_id, session_id, start_datetime)
        self.error = None
        self._task = asyncio.get_running_loop().create_task(self._run(stream), name=f"xyz-errors-{self.xyz_id}")

    async def _run(self, stream: AsyncIterator[Any]) -> None:
        try:
            async for error in stream:
                for callback in list(self.callbacks):
                    result = callback(error)
                    if inspect.isawaitable(result):
                        await result
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    def running(self) -> bool:
        """Whether the listener is listening."""
        return self._task is not None and not self._task.done()

    async def stop(self, timeout: float | None = None) -> bool:
        """Stop listening; True when the listener has stopped within ``timeout`` seconds. Raises the
        exception of a callback that stopped it."""
        task = self._task
        if task is None:
            return True
        if not task.done():
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            return False
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        return True
