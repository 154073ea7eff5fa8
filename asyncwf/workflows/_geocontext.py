"""GeoContext: where and at what resolution an Image is computed (bounds + CRS + resolution or shape)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from asyncwf.exceptions import InvalidArgument

__all__ = ["GeoContext", "WEB_MERCATOR_HALF"]

#: Half the width of the Web Mercator world, in metres.
WEB_MERCATOR_HALF = 20037508.342789244
MAX_PIXELS = 100_000_000
_CRS = re.compile(r"^EPSG:\d{4,6}$")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _reprojected(bounds: tuple[float, float, float, float], source: str, target: str) -> tuple[float, ...]:
    """``bounds`` in ``source`` as bounds in ``target``: exact between EPSG:4326 and EPSG:3857 (Web Mercator),
    through rasterio (``asyncwf[raster]``) otherwise."""
    pair = (source.upper(), target.upper())
    if pair == ("EPSG:4326", "EPSG:3857"):
        for lat in (bounds[1], bounds[3]):
            if not -85.06 <= lat <= 85.06:
                raise InvalidArgument(f"latitude {lat} is outside Web Mercator (|lat| <= 85.06)")
        x = [WEB_MERCATOR_HALF * lon / 180 for lon in (bounds[0], bounds[2])]
        y = [WEB_MERCATOR_HALF / math.pi * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
             for lat in (bounds[1], bounds[3])]  # fmt: skip
        return x[0], y[0], x[1], y[1]
    if pair == ("EPSG:3857", "EPSG:4326"):
        lons = [180 * x / WEB_MERCATOR_HALF for x in (bounds[0], bounds[2])]
        lats = [math.degrees(2 * math.atan(math.exp(y * math.pi / WEB_MERCATOR_HALF)) - math.pi / 2)
                for y in (bounds[1], bounds[3])]  # fmt: skip
        return lons[0], lats[0], lons[1], lats[1]
    try:
        from rasterio.errors import CRSError
        from rasterio.warp import transform_bounds
    except ImportError as exc:
        raise InvalidArgument(f"reprojecting bounds from {source} to {target} needs asyncwf[raster]") from exc
    try:
        return tuple(transform_bounds(source, target, *bounds))
    except CRSError as exc:
        raise InvalidArgument(f"cannot reproject bounds from {source} to {target}: {exc}") from exc


class GeoContext:
    """The grid an Image is read onto: ``bounds`` (xmin, ymin, xmax, ymax) in ``crs``, and either
    ``resolution`` (the size of a pixel, in CRS units) or ``shape`` (rows, columns)::

        GeoContext((5.9, 45.8, 10.5, 47.8), "EPSG:4326", resolution=0.01)
        GeoContext.from_xyz_tile(x=8, y=5, z=4)     # a 256 x 256 Web Mercator map tile
    """

    __slots__ = ("bounds", "crs", "height", "width")

    def __init__(
        self, bounds: Sequence[float], crs: str = "EPSG:4326", *, resolution: float | None = None,
        shape: Sequence[int] | None = None, bounds_crs: str | None = None,
    ) -> None:  # fmt: skip
        if not isinstance(bounds, Sequence) or isinstance(bounds, str) or len(bounds) != 4:
            raise InvalidArgument(f"bounds are (xmin, ymin, xmax, ymax), not {bounds!r}")
        xmin, ymin, xmax, ymax = (_number(v, "a bound") for v in bounds)
        if bounds_crs is not None and isinstance(crs, str) and bounds_crs.upper() != crs.upper():
            # Bounds given in another CRS (the original's ``bounds_crs``): the grid covers their extent in ``crs``.
            xmin, ymin, xmax, ymax = _reprojected((xmin, ymin, xmax, ymax), bounds_crs, crs)
        if not (xmin < xmax and ymin < ymax):
            raise InvalidArgument(f"bounds need xmin < xmax and ymin < ymax, not {tuple(bounds)!r}")
        if not isinstance(crs, str) or not _CRS.match(crs.upper()):
            raise InvalidArgument(f"crs is an EPSG code like 'EPSG:4326', not {crs!r}")
        if (resolution is None) == (shape is None):
            raise InvalidArgument("give either resolution or shape")
        if resolution is not None:
            res = _number(resolution, "resolution")
            if res <= 0:
                raise InvalidArgument(f"resolution must be positive, not {resolution!r}")
            height, width = max(1, round((ymax - ymin) / res)), max(1, round((xmax - xmin) / res))
        else:
            assert shape is not None
            if (not isinstance(shape, Sequence) or len(shape) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):  # fmt: skip
                raise InvalidArgument(f"shape is (rows, columns) of positive integers, not {shape!r}")
            height, width = shape
        if height * width > MAX_PIXELS:
            raise InvalidArgument(f"{height} x {width} pixels exceeds the limit of {MAX_PIXELS:,}")
        self.bounds = (xmin, ymin, xmax, ymax)
        self.crs = crs.upper()
        self.height, self.width = int(height), int(width)

    @classmethod
    def from_xyz_tile(cls, x: int, y: int, z: int, tilesize: int = 256) -> GeoContext:
        """The Web Mercator (EPSG:3857) bounds of map tile ``z/x/y``, ``tilesize`` pixels square."""
        for name, value in (("x", x), ("y", y), ("z", z), ("tilesize", tilesize)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"{name} must be an integer, not {value!r}")
        if not 0 <= z <= 24:
            raise InvalidArgument(f"zoom must be 0-24, not {z}")
        if not (0 <= x < 2**z and 0 <= y < 2**z):
            raise InvalidArgument(f"tile {z}/{x}/{y} does not exist: x and y run from 0 to {2**z - 1}")
        if not 1 <= tilesize <= 4096:
            raise InvalidArgument("tilesize must be 1-4096")
        size = 2 * WEB_MERCATOR_HALF / 2**z
        xmin, ymax = -WEB_MERCATOR_HALF + x * size, WEB_MERCATOR_HALF - y * size
        return cls((xmin, ymax - size, xmin + size, ymax), "EPSG:3857", shape=(tilesize, tilesize))

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the raster this context asks for."""
        return self.height, self.width

    @property
    def resolution(self) -> tuple[float, float]:
        """(x, y) size of a pixel in CRS units."""
        xmin, ymin, xmax, ymax = self.bounds
        return (xmax - xmin) / self.width, (ymax - ymin) / self.height

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """The affine transform (a, b, c, d, e, f) from (column, row) to (x, y), north up."""
        xres, yres = self.resolution
        return xres, 0.0, self.bounds[0], 0.0, -yres, self.bounds[3]

    def to_dict(self) -> dict[str, Any]:
        """The context as a JSON-able dict (what a compute request carries)."""
        return {"bounds": list(self.bounds), "crs": self.crs, "shape": [self.height, self.width]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeoContext:
        """A GeoContext from :meth:`to_dict`'s form."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a geocontext is an object with bounds, crs and shape, not {data!r}")
        try:
            return cls(data["bounds"], data["crs"], shape=tuple(data["shape"]))
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"a geocontext needs bounds, crs and shape: {exc}") from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeoContext) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.bounds, self.crs, self.shape))

    def __repr__(self) -> str:
        return f"GeoContext(bounds={self.bounds}, crs={self.crs!r}, shape={self.shape})"
