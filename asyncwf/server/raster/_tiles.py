"""Rendering XYZ tiles: an Image graft evaluated on a Web Mercator tile, coloured, as PNG; and the
per-session record of tile errors that ``GetXYZSessionErrors`` streams live."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any

from asyncwf import _json as fast_json
from asyncwf.exceptions import InvalidArgument
from asyncwf.graft._interpreter import GraftError, Interpreter, Limits
from asyncwf.graft._raster import RASTER_CONTEXT, ImageValue, RasterContext
from asyncwf.workflows._geocontext import GeoContext
from asyncwf.workflows._tile_options import COLORMAPS, validate_scales

__all__ = ["TileError", "TileErrors", "TileRequest", "render_tile"]

TILE_TIMEOUT = 30.0
_CHECKER = 8


@dataclasses.dataclass(frozen=True)
class TileRequest:
    """A checked tile request."""

    z: int
    x: int
    y: int
    session_id: str
    colormap: str | None
    scales: list[tuple[float, float]] | None
    checkerboard: bool
    parameters: dict[str, Any]

    @property
    def tile(self) -> tuple[int, int, int]:
        """``(z, x, y)``."""
        return self.z, self.x, self.y

    @classmethod
    def parse(cls, z: str, x: str, y: str, query: Mapping[str, str]) -> TileRequest:
        try:
            zi, xi, yi = int(z), int(x), int(y)
        except ValueError:
            raise InvalidArgument(f"z, x and y are integers, not {z}/{x}/{y}") from None
        GeoContext.from_xyz_tile(xi, yi, zi)  # range checks
        session_id = query.get("session_id", "")
        if len(session_id) > 128:
            raise InvalidArgument("session_id is at most 128 characters")
        colormap = query.get("colormap") or None
        if colormap is not None and colormap not in COLORMAPS:
            raise InvalidArgument(f"unknown colormap {colormap!r}; one of {', '.join(COLORMAPS)}")
        checkerboard = query.get("checkerboard", "false").lower()
        if checkerboard not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"checkerboard is true or false, not {checkerboard!r}")
        scales = _scales(query["scales"]) if "scales" in query else None
        parameters = {}
        for name, text in query.items():
            if name in ("session_id", "colormap", "checkerboard", "scales", "access_token"):
                continue
            parameters[name] = fast_json.loads(text, f"parameter {name!r}")
        return cls(zi, xi, yi, session_id, colormap, scales, checkerboard in ("true", "1"), parameters)


def _scales(text: str) -> list[tuple[float, float]] | None:
    """The scales of a tile request (the rules of ``XYZ.url``); a None bound means the default 0 or 1."""
    try:
        pairs = validate_scales(fast_json.loads(text, "scales"), drop_unset=False)
    except (TypeError, ValueError) as exc:  # json's errors are ValueErrors too
        raise InvalidArgument(f"bad scales: {exc}") from exc
    checked = []
    for lo, hi in pairs or ():
        low, high = (0.0 if lo is None else lo), (1.0 if hi is None else hi)
        if low == high:
            raise InvalidArgument(f"a scale needs two different bounds, not [{lo}, {hi}]")
        checked.append((low, high))
    return checked or None


def render_tile(graft: Mapping[str, Any], request: TileRequest, images: Mapping[str, Any], size: int = 256) -> bytes:
    """Evaluate and colour one tile (blocking: runs in a worker thread). Raises GraftError."""
    geoctx = GeoContext.from_xyz_tile(request.x, request.y, request.z, tilesize=size)
    token = RASTER_CONTEXT.set(RasterContext(images, geoctx.to_dict()))
    try:
        from asyncwf.graft._vocabulary import BUILTINS

        value = Interpreter(BUILTINS, Limits(timeout=TILE_TIMEOUT)).run(dict(graft), request.parameters)
    finally:
        RASTER_CONTEXT.reset(token)
    if not isinstance(value, ImageValue):
        raise GraftError("TYPING", f"an XYZ layer computes an Image, not {type(value).__name__}")
    return _png(value, request)


def _png(image: ImageValue, request: TileRequest) -> bytes:
    import numpy as np
    from PIL import Image as PILImage

    bands = image.array.shape[0]
    if bands not in (1, 3):
        raise GraftError("INVALID", f"a tile shows 1 band (with a colormap) or 3 (red, green, blue), not {bands}")
    if bands == 3 and request.colormap:
        raise GraftError("INVALID", "a colormap colours a one-band image; this one has 3 bands")
    data = np.ma.getdata(image.array)
    mask = np.ma.getmaskarray(image.array).any(axis=0)
    scales = request.scales or [_tile_range(image.array[i]) for i in range(bands)]  # none given: this tile's own
    if len(scales) == 1:
        scales = scales * bands
    if len(scales) != bands:
        raise GraftError("INVALID", f"{len(scales)} scales for {bands} bands")
    scaled = np.empty(data.shape, dtype="f8")
    for i, (lo, hi) in enumerate(scales):
        scaled[i] = np.clip((data[i] - lo) / (hi - lo), 0.0, 1.0)
    scaled = np.nan_to_num(scaled)
    height, width = mask.shape
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    if bands == 1:
        rgba[..., :3] = _lut(request.colormap or "gray")[np.round(scaled[0] * 255).astype(np.uint8)]
    else:
        rgba[..., :3] = np.round(np.moveaxis(scaled, 0, -1) * 255).astype(np.uint8)
    rgba[..., 3] = 255
    if mask.any():
        if request.checkerboard:
            rows, cols = np.indices((height, width))
            checker = np.where(((rows // _CHECKER) + (cols // _CHECKER)) % 2 == 0, 255, 204).astype(np.uint8)
            rgba[mask, :3] = checker[mask][:, None]
        else:
            rgba[mask] = 0
    out = io.BytesIO()
    PILImage.fromarray(rgba, "RGBA").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render_legend(colormap: str, width: int = 256, height: int = 12) -> bytes:
    """A PNG strip of ``colormap`` from its low end (left) to its high end (right), as tiles colour."""
    import numpy as np
    from PIL import Image as PILImage

    if colormap not in COLORMAPS:
        raise InvalidArgument(f"unknown colormap {colormap!r}; one of {', '.join(COLORMAPS)}")
    row = _lut(colormap)[np.round(np.linspace(0, 255, width)).astype(np.int64)]
    out = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(np.broadcast_to(row, (height, width, 3))), "RGB").save(out, format="PNG")
    return out.getvalue()


def _tile_range(band: Any) -> tuple[float, float]:
    valid = band.compressed()
    if valid.size == 0:
        return 0.0, 1.0
    lo, hi = float(valid.min()), float(valid.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


_LUTS: dict[str, Any] = {}


def _lut(name: str) -> Any:
    lut = _LUTS.get(name)
    if lut is None:
        import matplotlib
        import numpy as np

        cmap = matplotlib.colormaps["nipy_spectral" if name == "spectral" else name]
        lut = _LUTS[name] = np.round(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
    return lut


# --- errors -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TileError:
    xyz_id: str
    session_id: str
    code: str
    message: str
    timestamp: float
    #: (z, x, y) of the tile that failed.
    tile: tuple[int, int, int] | None = None


class TileErrors:
    """The recent tile errors per (XYZ id, session id), and the live streams that follow them."""

    def __init__(self, keep: int = 1000) -> None:
        self._errors: dict[tuple[str, str], collections.deque[TileError]] = {}
        self._streams: dict[tuple[str, str], set[asyncio.Queue[TileError | None]]] = {}
        self._keep = keep

    def record(self, error: TileError) -> None:
        key = (error.xyz_id, error.session_id)
        self._errors.setdefault(key, collections.deque(maxlen=self._keep)).append(error)
        for queue in self._streams.get(key, ()):
            queue.put_nowait(error)

    def close(self) -> None:
        """End every live stream (the backend is shutting down)."""
        for queues in self._streams.values():
            for queue in queues:
                queue.put_nowait(None)

    async def follow(self, xyz_id: str, session_id: str, start: float = 0.0) -> AsyncIterator[TileError]:
        """The kept errors at or after ``start`` (epoch seconds), then every new one, until cancelled."""
        key = (xyz_id, session_id)
        queue: asyncio.Queue[TileError | None] = asyncio.Queue()
        self._streams.setdefault(key, set()).add(queue)
        try:
            for kept in list(self._errors.get(key, ())):
                if kept.timestamp >= start:
                    yield kept
            while (error := await queue.get()) is not None:
                if error.timestamp >= start:
                    yield error
        finally:
            queues = self._streams.get(key)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._streams[key]
