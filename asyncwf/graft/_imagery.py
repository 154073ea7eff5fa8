"""Raster work under the names the Descartes Labs 1.12 client writes for it.

The client writes Image and ImageCollection operations with generic names: ``wf.add(img, 1)``,
``wf.mean(img, "pixels")``, ``wf.log(img)``, ``wf.pick_bands(img, "red", "nir", allow_missing=False)``,
``wf.mask(img, m, replace=False)``, ``wf.map_imagery(col, fn)``. The operators among them are also the number and
container builtins, so each is one builtin that takes the raster path when an operand is an Image or an
ImageCollection and the generic one otherwise (:func:`binary`, :func:`unary`). An ImageCollection is an
:class:`~asyncwf.graft._raster.ImageCollectionValue`; operations on it apply image by image.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable
from typing import Any

from asyncwf.graft import _raster as raster
from asyncwf.graft._interpreter import GraftError, Interpreter
from asyncwf.graft._raster import ImageCollectionValue, ImageValue

__all__ = [
    "ImageCollectionValue", "as_imagery", "attributes", "binary", "each", "is_imagery", "unary",
]  # fmt: skip


def is_imagery(value: Any) -> bool:
    """An Image or an ImageCollection."""
    return isinstance(value, ImageValue) or raster.is_collection(value)


def each(fn: Callable[..., ImageValue], *args: Any) -> Any:
    """``fn`` on images; on collections image by image (two collections pairwise), giving a collection."""
    collections = [a for a in args if raster.is_collection(a)]
    if not collections:
        return fn(*args)
    size = len(collections[0])
    if any(len(c) != size for c in collections):
        raise GraftError("INVALID", f"ImageCollections of {', '.join(str(len(c)) for c in collections)} images "
                                    "do not combine image by image")  # fmt: skip
    return ImageCollectionValue(fn(*(a[i] if raster.is_collection(a) else a for a in args)) for i in range(size))


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge, "eq": operator.eq,
    "ne": operator.ne, "and": raster.logical("logical_and"), "or": raster.logical("logical_or"),
    "xor": raster.logical("logical_xor"), "arctan2": raster.logical("arctan2"),
}  # fmt: skip


def binary(name: str, generic: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``wf.<name>(a, b)``: pixel by pixel when either is an Image or an ImageCollection, else ``generic``."""
    pixels = raster.binary(_BINARY[name])

    def fn(a: Any, b: Any) -> Any:
        if is_imagery(a) or is_imagery(b):
            return each(pixels, a, b)
        return generic(a, b)

    return functools.wraps(generic)(fn)


#: The client's name of a unary operation -> numpy.ma's.
UNARY = {
    "neg": "negative", "pos": "positive", "abs": "absolute", "invert": "logical_not", "log": "log", "log2": "log2",
    "log10": "log10", "log1p": "log1p", "sqrt": "sqrt", "exp": "exp", "square": "square", "sin": "sin", "cos": "cos",
    "tan": "tan", "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan",
}  # fmt: skip


def unary(name: str, generic: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``wf.<name>(x)``: pixel by pixel on an Image or an ImageCollection, else ``generic``."""
    pixels = raster.unary(UNARY[name])

    def fn(x: Any) -> Any:
        if is_imagery(x):
            return each(pixels, x)
        return generic(x)

    return functools.wraps(generic)(fn)


# --- loading ------------------------------------------------------------------------------

#: The client's resampler names -> rasterio's.
RESAMPLERS = {
    "near": "nearest", "nearest": "nearest", "bilinear": "bilinear", "cubic": "cubic", "cubicspline": "cubic_spline",
    "lanczos": "lanczos", "average": "average", "mode": "mode", "max": "max", "min": "min", "med": "med",
    "q1": "q1", "q3": "q3",
}  # fmt: skip


def _resampling(resampler: Any) -> str:
    if resampler is None:
        return "nearest"
    if resampler not in RESAMPLERS:
        raise GraftError("INVALID", f"resampler is one of {', '.join(RESAMPLERS)}, not {resampler!r}")
    return RESAMPLERS[resampler]


def _processing_level(level: Any) -> None:
    if level is not None and not isinstance(level, str):
        raise GraftError("TYPING", f"processing_level is a string, not {raster.kind(level)}")


def load(image_id: Any, resampler: Any = None, processing_level: Any = None) -> ImageValue:
    """``wf.Image.load(id, resampler=, processing_level=)`` (``Image.from_id``); the catalogue holds one
    processing level of each image, so any level names it."""
    _processing_level(processing_level)
    return raster.read_image(raster.record(image_id), raster.context().geoctx or {}, _resampling(resampler))


def collection_from_id(product_id: Any, start_datetime: Any = None, end_datetime: Any = None, limit: Any = None,
                       resampler: Any = None, processing_level: Any = None) -> ImageCollectionValue:  # fmt: skip
    """``wf.ImageCollection.from_id(product, start_datetime=, end_datetime=, limit=, resampler=,
    processing_level=)``: the product's images acquired in ``[start, end)``, oldest first, at most ``limit``."""
    if not isinstance(product_id, str):
        raise GraftError("TYPING", f"a product id is a string, not {raster.kind(product_id)}")
    if isinstance(limit, str) and resampler is None:  # (asyncwf's earlier grafts sent resampling fourth)
        limit, resampler = None, limit
    for bound in (start_datetime, end_datetime):
        if bound is not None and not isinstance(bound, dt.datetime):
            raise GraftError("TYPING", f"start_datetime and end_datetime are Datetimes, not {raster.kind(bound)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise GraftError("INVALID", f"limit is a non-negative Int or None, not {limit!r}")
    _processing_level(processing_level)
    method = _resampling(resampler)
    ctx = raster.context()
    chosen = []
    for entry in ctx.images.values():
        acquired = dt.datetime.fromisoformat(entry["acquired"])
        if (
            entry["product_id"] == product_id
            and (start_datetime is None or acquired >= start_datetime)
            and (end_datetime is None or acquired < end_datetime)
        ):
            chosen.append(entry)
    chosen.sort(key=lambda r: (r["acquired"], r["id"]))
    return ImageCollectionValue(raster.read_image(r, ctx.geoctx or {}, method) for r in chosen[:limit])


# --- bands, masks, values -----------------------------------------------------------------


def _band_names(names: tuple[Any, ...]) -> list[str]:
    flat: list[Any] = []
    for name in names:
        flat.extend(name.split() if isinstance(name, str) else name if isinstance(name, list | tuple) else [name])
    if not flat or not all(isinstance(n, str) for n in flat):
        raise GraftError("TYPING", "bands are named by strings")
    return flat


def pick_bands(x: Any, *names: Any, allow_missing: Any = False) -> Any:
    """``wf.pick_bands(img, "red", "nir", allow_missing=False)``: those bands, in that order (names missing from
    an image are left out with ``allow_missing``, else an error)."""
    wanted = _band_names(names)

    def pick(image: ImageValue) -> ImageValue:
        present = [n for n in wanted if n in image.bands] if allow_missing is True else wanted
        return raster.pick_bands(image, present)

    return each(pick, as_imagery(x))


def rename_bands_positionally(x: Any, names: Any) -> Any:
    """``img.rename_bands("a", "b", "c")``: new names for all the bands, in order."""
    new = _band_names((names,))
    return each(lambda image: raster.rename_bands(image, new), as_imagery(x))


def rename_bands(x: Any, mapping: Any) -> Any:
    """``img.rename_bands(red="r")``: some bands renamed, ``{old: new}``."""
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise GraftError("TYPING", "rename_bands takes a Dict of old band names to new ones")

    def rename(image: ImageValue) -> ImageValue:
        missing = sorted(set(mapping) - set(image.bands))
        if missing:
            raise GraftError("INVALID", f"no bands {', '.join(missing)}; the image has {', '.join(image.bands)}")
        return raster.rename_bands(image, [mapping.get(b, b) for b in image.bands])

    return each(rename, as_imagery(x))


def mask(x: Any, where: Any, replace: Any = False) -> Any:
    """``img.mask(m, replace=False)``: pixels masked where ``m`` is true, added to the mask (or, with
    ``replace``, instead of it)."""
    if not isinstance(replace, bool):
        raise GraftError("TYPING", "replace is a Bool")
    return each(lambda image, m: raster.mask(image, m, replace=replace), as_imagery(x), as_imagery(where, "a mask"))


def getmask(x: Any) -> Any:
    return each(raster.getmask, as_imagery(x))


def concat_bands(a: Any, b: Any) -> Any:
    return each(raster.concat_bands, as_imagery(a), as_imagery(b))


def clip_values(x: Any, min: Any = None, max: Any = None) -> Any:
    """``img.clip_values(min, max)``: values limited to ``[min, max]`` (either may be None)."""
    return each(lambda image: raster.clip(image, min, max), as_imagery(x))


def mosaic(col: Any, reverse: Any = False) -> ImageValue:
    """Each pixel from the first image with data there (the last, with ``reverse``)."""
    if not isinstance(reverse, bool):
        raise GraftError("TYPING", "reverse is a Bool")
    images = raster.images(col)
    return raster.mosaic(images[::-1] if reverse else images)


def nbands(x: Any) -> int:
    value = as_imagery(x)
    return len((value[0] if isinstance(value, list) else value).bands) if value else 0


def map_imagery(interp: Interpreter, col: Any, fn: Any) -> Any:
    """``col.map(fn)`` where ``fn`` gives Images: an ImageCollection."""
    images = [interp.call(fn, (image,)) for image in raster.collection(col)]
    for result in images:
        if not isinstance(result, ImageValue):
            raise GraftError("TYPING", f"map_imagery's function must return an Image, not {raster.kind(result)}")
    return ImageCollectionValue(images)


def attribute(value: Any, name: str) -> Any:
    """``img.properties``, ``img.bandinfo`` (a collection's: its images' properties, its bands' info)."""
    collection = isinstance(value, list)
    if name == "properties":
        return [raster.properties(i) for i in value] if collection else raster.properties(value)
    if name == "bandinfo":
        bands = (value[0].bands if value else []) if collection else value.bands
        return {band: {"name": band} for band in bands}
    raise GraftError("TYPING", f"no attribute {name!r} on an {'ImageCollection' if collection else 'Image'}")


def attributes(generic: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``wf.getattr``: an Image's or ImageCollection's attributes, else ``generic``'s."""

    def fn(obj: Any, name: str) -> Any:
        return attribute(obj, name) if is_imagery(obj) else generic(obj, name)

    return functools.wraps(generic)(fn)


def as_imagery(value: Any, what: str = "an Image or ImageCollection") -> Any:
    if isinstance(value, ImageValue) or raster.is_collection(value):
        return value
    raise GraftError("TYPING", f"{what} is needed, not {raster.kind(value)}")


# --- reductions -----------------------------------------------------------------------------

_AXIS_NAMES = frozenset({"images", "bands", "pixels"})


def _axes(axis: Any, collection: bool) -> frozenset[str]:
    names = _AXIS_NAMES if collection else _AXIS_NAMES - {"images"}
    if axis is None:
        return frozenset(names)
    chosen = [axis] if isinstance(axis, str) else list(axis) if isinstance(axis, list | tuple) else None
    if not chosen or not set(chosen) <= names or len(set(chosen)) != len(chosen):
        raise GraftError("INVALID", f"axis is None or some of {', '.join(sorted(names))}, not {axis!r}")
    return frozenset(chosen)


def reduction(x: Any, operation: Any, axis: Any = None) -> Any:
    """``img.reduction(op, axis=)`` and ``wf.min/max/mean/median/sum/std/count(x, axis)``.

    Over ``pixels`` a ``{band: value}`` per image, over ``bands`` a one-band Image named after the operation,
    over ``images`` an Image made pixel by pixel; over several axes the values of all of them; ``None`` is all
    of them (one number). Masked pixels are left out.
    """
    if operation not in raster.REDUCERS:
        raise GraftError("INVALID", f"reduction is one of {', '.join(raster.REDUCERS)}, not {operation!r}")
    value = as_imagery(x)
    if isinstance(value, ImageValue):
        return raster.reduce_image(value, operation, _axes(axis, False))
    axes = _axes(axis, True)
    if "images" in axes:
        return raster.reduce_stack(raster.images(value), operation, axes)
    results = [raster.reduce_image(image, operation, axes) for image in raster.collection(value)]
    return ImageCollectionValue(results) if axes == {"bands"} else results


def reducer(operation: str) -> Callable[[Any, Any], Any]:
    """``wf.<operation>(x, axis)`` as the client writes ``img.<operation>(axis=...)``."""

    def fn(x: Any, axis: Any = None) -> Any:
        return reduction(x, operation, axis)

    fn.__name__ = operation
    return fn
