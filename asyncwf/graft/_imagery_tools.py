"""More of the Descartes Labs 1.12 client's raster builtins: properties, value scaling, pixel positions,
band-by-band functions, sliding windows, sort-by composites, and putting collections together and apart
(``wf.with_properties``, ``wf.scale_values``, ``wf.value_at``, ``wf.map_bands_imagery``,
``wf.ImageCollection.map_window``, ``wf.ImageCollection.head``, ``wf.concat`` ...). Each takes an Image or, image
by image, an ImageCollection, as :mod:`asyncwf.graft._imagery` does.
"""

from __future__ import annotations

import math
from typing import Any

from asyncwf.graft import _raster as raster
from asyncwf.graft._imagery import as_imagery, each
from asyncwf.graft._interpreter import GraftError, Interpreter
from asyncwf.graft._raster import ImageCollectionValue, ImageValue

__all__ = [
    "concat",
    "coords_to_index",
    "from_images",
    "head",
    "index_to_coords",
    "map_bands",
    "map_bands_imagery",
    "map_window",
    "map_window_imagery",
    "partition",
    "scale_values",
    "sortby_composite",
    "tail",
    "value_at",
    "with_properties",
    "without_properties",
]


def with_properties(x: Any, **properties: Any) -> Any:
    """The image(s) with these properties added or replaced."""
    return each(lambda i: ImageValue(i.array, i.bands, {**i.properties, **properties}), as_imagery(x))


def without_properties(x: Any, *names: Any) -> Any:
    """The image(s) without these properties (names they lack are ignored)."""
    if not all(isinstance(n, str) for n in names):
        raise GraftError("TYPING", "property names are strings")
    gone = set(names)
    return each(lambda i: ImageValue(i.array, i.bands, {k: v for k, v in i.properties.items() if k not in gone}),
                 as_imagery(x))  # fmt: skip


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GraftError("TYPING", f"{what} is a number, not {raster.kind(value)}")
    return float(value)


def scale_values(x: Any, range_min: Any, range_max: Any, domain_min: Any = None, domain_max: Any = None) -> Any:
    """Values mapped linearly from ``[domain_min, domain_max]`` (each band's own least and greatest valid value
    where None) onto ``[range_min, range_max]``."""
    import numpy as np

    low, high = _number(range_min, "range_min"), _number(range_max, "range_max")
    if low is None or high is None:
        raise GraftError("TYPING", "range_min and range_max are numbers")
    fixed_min, fixed_max = _number(domain_min, "domain_min"), _number(domain_max, "domain_max")

    def scale(image: ImageValue) -> ImageValue:
        array = image.array
        lo = np.ma.min(array, axis=(1, 2), keepdims=True) if fixed_min is None else fixed_min
        hi = np.ma.max(array, axis=(1, 2), keepdims=True) if fixed_max is None else fixed_max
        with np.errstate(all="ignore"):
            result = (array - lo) / (hi - lo) * (high - low) + low
        return ImageValue(np.ma.masked_invalid(np.ma.asarray(result, dtype="f8")), image.bands, image.properties)

    return each(scale, as_imagery(x))


def _grid() -> tuple[float, float, float, float, int, int]:
    geoctx = raster.context().geoctx or {}
    xmin, ymin, xmax, ymax = geoctx["bounds"]
    height, width = geoctx["shape"]
    return xmin, ymin, xmax, ymax, height, width


def _index(px: Any, py: Any) -> tuple[int, int]:
    x, y = _number(px, "x"), _number(py, "y")
    if x is None or y is None:
        raise GraftError("TYPING", "x and y are numbers")
    xmin, ymin, xmax, ymax, height, width = _grid()
    row = math.floor((ymax - y) / (ymax - ymin) * height)
    col = math.floor((x - xmin) / (xmax - xmin) * width)
    if not (0 <= row < height and 0 <= col < width):
        raise GraftError("INVALID", f"({x}, {y}) is outside the GeoContext's bounds {[xmin, ymin, xmax, ymax]}")
    return row, col


def coords_to_index(x: Any, px: Any, py: Any) -> tuple[int, int]:
    """``(row, col)`` of the pixel holding the point ``(px, py)`` (in the GeoContext's CRS)."""
    as_imagery(x)
    return _index(px, py)


def index_to_coords(x: Any, row: Any, col: Any) -> tuple[float, float]:
    """``(x, y)`` of the upper-left corner of pixel ``(row, col)``, in the GeoContext's CRS."""
    as_imagery(x)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (row, col)):
        raise GraftError("TYPING", "row and col are Ints")
    xmin, ymin, xmax, ymax, height, width = _grid()
    if not (0 <= row < height and 0 <= col < width):
        raise GraftError("INVALID", f"pixel ({row}, {col}) is outside the {height} x {width} grid")
    return xmin + col * (xmax - xmin) / width, ymax - row * (ymax - ymin) / height


def value_at(x: Any, px: Any, py: Any) -> Any:
    """Each band's value at the point ``(px, py)`` (None where masked); a list of them for a collection."""
    import numpy as np

    value = as_imagery(x)
    row, col = _index(px, py)

    def at(image: ImageValue) -> dict[str, Any]:
        pixel = image.array[:, row, col]
        hidden = np.ma.getmaskarray(pixel)
        return {b: None if hidden[i] else float(pixel[i]) for i, b in enumerate(image.bands)}

    return [at(i) for i in value] if isinstance(value, list) else at(value)


def _count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise GraftError("TYPING", f"a count is an Int, not {raster.kind(n)}")
    return n


def head(col: Any, n: Any) -> ImageCollectionValue:
    """The first ``n`` images."""
    return ImageCollectionValue(raster.collection(col)[: max(0, _count(n))])


def tail(col: Any, n: Any) -> ImageCollectionValue:
    """The last ``n`` images."""
    count = max(0, _count(n))
    return ImageCollectionValue(raster.collection(col)[-count:] if count else [])


def partition(col: Any, i: Any) -> tuple[ImageCollectionValue, ImageCollectionValue]:
    """The images before index ``i``, and the rest."""
    images = raster.collection(col)
    at = _count(i)
    return ImageCollectionValue(images[:at]), ImageCollectionValue(images[at:])


def concat(*parts: Any) -> ImageCollectionValue:
    """Images and ImageCollections, one after another, as one ImageCollection."""
    joined: list[ImageValue] = []
    for part in parts:
        joined.extend([part] if isinstance(part, ImageValue) else raster.collection(part))
    return ImageCollectionValue(joined)


def from_images(images: Any) -> ImageCollectionValue:
    """``wf.ImageCollection([img, ...])``."""
    return ImageCollectionValue(raster.collection(images))


def _band_parts(value: Any) -> list[tuple[str, Any]]:
    """Each band of an Image (a one-band Image) or of an ImageCollection (a one-band collection), by name."""
    if isinstance(value, ImageValue):
        return [(band, raster.pick_bands(value, [band])) for band in value.bands]
    images = raster.collection(value)
    bands = images[0].bands if images else []
    return [(band, ImageCollectionValue(raster.pick_bands(i, [band]) for i in images)) for band in bands]


def map_bands(interp: Interpreter, x: Any, fn: Any) -> dict[str, Any]:
    """``fn(name, band)`` for every band: ``{name: result}``."""
    return {name: interp.call(fn, (name, part)) for name, part in _band_parts(as_imagery(x))}


def map_bands_imagery(interp: Interpreter, x: Any, fn: Any) -> Any:
    """``fn(name, band)`` for every band, giving Images (ImageCollections): their bands put together."""
    value = as_imagery(x)
    results = [interp.call(fn, (name, part)) for name, part in _band_parts(value)]
    if isinstance(value, ImageValue):
        for result in results:
            if not isinstance(result, ImageValue):
                raise GraftError("TYPING", f"map_bands' function must return an Image, not {raster.kind(result)}")
        return _joined(results)
    collections = [raster.collection(r) for r in results]
    if len({len(c) for c in collections}) > 1:
        raise GraftError("INVALID", "map_bands' function returned ImageCollections of different lengths")
    return ImageCollectionValue(_joined([c[i] for c in collections]) for i in range(len(collections[0])))


def _joined(images: list[ImageValue]) -> ImageValue:
    joined = images[0]
    for image in images[1:]:
        joined = raster.concat_bands(joined, image)
    return joined


def sortby_composite(col: Any, band: Any, operation: Any = "argmax") -> ImageValue:
    """Each pixel from the image whose ``band`` is greatest there (``argmax``) or least (``argmin``)."""
    import numpy as np

    if operation not in ("argmax", "argmin"):
        raise GraftError("INVALID", f"operation is 'argmax' or 'argmin', not {operation!r}")
    images = raster.images(col)
    if not isinstance(band, str) or band not in images[0].bands:
        raise GraftError("INVALID", f"no band {band!r}; the images have {', '.join(images[0].bands)}")
    stack = np.ma.stack([i.array for i in images])  # images, bands, rows, columns
    key = stack[:, images[0].bands.index(band)]
    worst = -np.inf if operation == "argmax" else np.inf
    chosen = getattr(np, operation)(np.ma.filled(key, worst), axis=0)  # rows, columns
    picked = np.take_along_axis(stack, chosen[None, None], axis=0)[0]
    return ImageValue(picked, list(images[0].bands), {"product": images[0].properties.get("product"),
                                                       "count": len(images)})  # fmt: skip


def _windows(col: Any, back: Any, fwd: Any) -> list[tuple[ImageCollectionValue, ImageValue, ImageCollectionValue]]:
    images = raster.collection(col)
    before, after = _count(back), _count(fwd)
    if before < 0 or after < 0:
        raise GraftError("INVALID", "back and fwd are not negative")
    if images and before + 1 + after > len(images):
        raise GraftError("INVALID", f"a window of {before} + 1 + {after} images is longer than the collection's "
                                    f"{len(images)}")  # fmt: skip
    windows = []
    for i in range(before, len(images) - after):
        windows.append((ImageCollectionValue(images[i - before : i]), images[i],
                        ImageCollectionValue(images[i + 1 : i + 1 + after])))  # fmt: skip
    return windows


def map_window(interp: Interpreter, col: Any, fn: Any, back: Any = 0, fwd: Any = 0) -> list[Any]:
    """``fn(back, current, fwd)`` over a sliding window: ``back`` images before and ``fwd`` after each one
    from the ``back``-th to the ``fwd``-th last: a list of the results."""
    return [interp.call(fn, window) for window in _windows(col, back, fwd)]


def map_window_imagery(interp: Interpreter, col: Any, fn: Any, back: Any = 0, fwd: Any = 0) -> ImageCollectionValue:
    """:func:`map_window` where ``fn`` gives Images or ImageCollections: all of them, one after another."""
    return concat(*(as_imagery(interp.call(fn, window), "an Image or ImageCollection result")
                    for window in _windows(col, back, fwd)))  # fmt: skip
