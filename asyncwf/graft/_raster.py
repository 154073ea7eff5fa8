"""Raster values and their operations: Images and ImageCollections evaluated with numpy and rasterio.

An image value is an :class:`ImageValue`: a masked float64 array of shape
(bands, rows, columns) on the grid of the evaluation's GeoContext, its band
names and its properties. ``wf.Image.from_id`` reads a catalogued GeoTIFF
through a ``WarpedVRT`` onto that grid (reprojecting and resampling as
needed), so every image of one evaluation is aligned and band math is plain
numpy. An ImageCollection is a list of images (``wf.map`` and ``wf.filter``
work on it unchanged). The catalogue and the GeoContext come from
:data:`RASTER_CONTEXT`, set by the compute job around the evaluation. The
builtins that reach these operations, under the client's names, are in
:mod:`asyncwf.graft._imagery`.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from asyncwf.graft._interpreter import GraftError

__all__ = ["RASTER_CONTEXT", "ImageCollectionValue", "ImageValue", "RasterContext", "read_image"]


@dataclasses.dataclass(frozen=True)
class RasterContext:
    """What raster builtins need: the catalogue (image id -> record) and the GeoContext (a dict)."""

    images: Mapping[str, Mapping[str, Any]]
    geoctx: Mapping[str, Any] | None


RASTER_CONTEXT: contextvars.ContextVar[RasterContext] = contextvars.ContextVar("asyncwf_raster_context")


class ImageValue:
    """An image in an evaluation: ``array`` (numpy masked, bands x rows x cols), ``bands``, ``properties``."""

    __slots__ = ("array", "bands", "properties")

    def __init__(self, array: Any, bands: list[str], properties: dict[str, Any]) -> None:
        self.array = array
        self.bands = bands
        self.properties = properties

    def __wf_encode__(self) -> dict[str, Any]:
        import numpy as np

        data = np.ma.getdata(self.array).astype("<f8", copy=False)
        mask = np.ma.getmaskarray(self.array)
        ctx = RASTER_CONTEXT.get(None)
        return {"$image": {
            "shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode(),
            "mask": base64.b64encode(np.packbits(mask, axis=None).tobytes()).decode(), "bands": self.bands,
            "properties": _jsonable(self.properties), "geocontext": dict(ctx.geoctx) if ctx and ctx.geoctx else None,
        }}  # fmt: skip


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def context() -> RasterContext:
    ctx = RASTER_CONTEXT.get(None)
    if ctx is None or ctx.geoctx is None:
        raise GraftError("INVALID", "computing an Image needs a geocontext: compute(obj, geoctx=GeoContext(...))")
    return ctx


def record(image_id: Any) -> Mapping[str, Any]:
    """The catalogue's record of an image."""
    if not isinstance(image_id, str):
        raise GraftError("TYPING", f"an image id is a string, not {kind(image_id)}")
    found = context().images.get(image_id)
    if found is None:
        raise GraftError("INVALID", f"no image {image_id!r} in the catalogue")
    return found


def read_image(record: Mapping[str, Any], geoctx: Mapping[str, Any], resampling: str = "nearest") -> ImageValue:
    """Read a catalogued image onto the GeoContext's grid (masked where it has no data); ``resampling`` is
    a rasterio method name."""
    try:
        import numpy as np
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.errors import RasterioError
        from rasterio.vrt import WarpedVRT
    except ImportError as exc:
        raise GraftError("INVALID", "this backend cannot read rasters: install asyncwf[raster]") from exc

    height, width = geoctx["shape"]
    xmin, ymin, xmax, ymax = geoctx["bounds"]
    transform = rasterio.Affine((xmax - xmin) / width, 0.0, xmin, 0.0, -(ymax - ymin) / height, ymax)
    try:
        with rasterio.open(record["path"]) as src, WarpedVRT(
            src, crs=geoctx["crs"], transform=transform, width=width, height=height,
            resampling=Resampling[resampling], src_nodata=src.nodata, nodata=src.nodata,
        ) as vrt:  # fmt: skip
            array = vrt.read(masked=True).astype("f8")
            valid = vrt.dataset_mask().astype(bool)
    except (RasterioError, OSError) as exc:
        raise GraftError("INVALID", f"cannot read image {record['id']!r}: {exc}") from exc
    array.mask = np.ma.getmaskarray(array) | ~valid[np.newaxis, :, :]
    properties = {"id": record["id"], "product": record["product_id"], "date": record["acquired"],
                  **record.get("properties", {})}  # fmt: skip
    return ImageValue(array, list(record["bands"]), properties)


class ImageCollectionValue(list):  # type: ignore[type-arg]
    """An ImageCollection in an evaluation: its images, oldest first (a list that knows it is a collection, so
    ``col + col`` is pixel arithmetic where ``list + list`` concatenates)."""

    __slots__ = ()


def is_collection(value: Any) -> bool:
    """An ImageCollection: an :class:`ImageCollectionValue`, or a non-empty list of images."""
    if isinstance(value, ImageCollectionValue):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, ImageValue) for v in value)


def collection(value: Any) -> list[ImageValue]:
    """An ImageCollection's images (perhaps none)."""
    if isinstance(value, ImageCollectionValue) or (
        isinstance(value, list) and all(isinstance(v, ImageValue) for v in value)
    ):
        return list(value)
    raise GraftError("TYPING", f"an ImageCollection is needed, not {kind(value)}")


def kind(value: Any) -> str:
    """What a value is, in the client's words (an ImageValue is an Image, a list of them an ImageCollection)."""
    if isinstance(value, ImageValue):
        return "Image"
    if is_collection(value):
        return "ImageCollection"
    return {bool: "Bool", int: "Int", float: "Float", str: "Str", list: "List", dict: "Dict", tuple: "Tuple",
            type(None): "None"}.get(type(value), type(value).__name__)  # fmt: skip


def image(value: Any, what: str = "an Image") -> ImageValue:
    if not isinstance(value, ImageValue):
        raise GraftError("TYPING", f"{what} is needed, not {kind(value)}")
    return value


def _operand(value: Any) -> Any:
    if isinstance(value, ImageValue):
        return value.array
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GraftError("TYPING", f"image arithmetic takes an Image or a number, not {kind(value)}")
    return value


def _bands_of(a: Any, b: Any) -> tuple[list[str], dict[str, Any]]:
    first = a if isinstance(a, ImageValue) else b
    other = b if first is a else a
    if isinstance(other, ImageValue) and len(other.bands) not in (1, len(first.bands)) and len(first.bands) != 1:
        raise GraftError("TYPING", f"images of {len(first.bands)} and {len(other.bands)} bands do not combine")
    bands = first.bands if not isinstance(other, ImageValue) or len(first.bands) >= len(other.bands) else other.bands
    return list(bands), dict(first.properties)


def _masked(result: Any) -> Any:
    import numpy as np

    return np.ma.masked_invalid(np.ma.asarray(result, dtype="f8"))


def binary(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], ImageValue]:
    """``op`` pixel by pixel on two Images, or an Image and a number (invalid results masked)."""

    def apply(a: Any, b: Any) -> ImageValue:
        import numpy as np

        bands, properties = _bands_of(a, b)
        with np.errstate(all="ignore"):
            result = op(_operand(a), _operand(b))
        return ImageValue(_masked(result), bands, properties)

    return apply


def unary(name: str) -> Callable[[Any], ImageValue]:
    """``numpy.ma.<name>`` pixel by pixel (invalid results masked)."""

    def apply(img: Any) -> ImageValue:
        import numpy as np

        value = image(img)
        function = getattr(np.ma, name, None) or getattr(np, name)  # (numpy.ma has no square: the ufunc masks)
        with np.errstate(all="ignore"):
            result = function(value.array)
        return ImageValue(_masked(result), value.bands, value.properties)

    return apply


def logical(name: str) -> Callable[[Any, Any], Any]:
    """``numpy.ma.<name>`` of two operands (logical_and, arctan2 ...)."""

    def apply(a: Any, b: Any) -> Any:
        import numpy as np

        return getattr(np.ma, name)(a, b)

    return apply


def pick_bands(img: Any, names: list[str]) -> ImageValue:
    """Those bands, in that order."""
    value = image(img)
    missing = [n for n in names if n not in value.bands]
    if missing:
        raise GraftError("INVALID", f"no bands {', '.join(missing)}; the image has {', '.join(value.bands)}")
    return ImageValue(value.array[[value.bands.index(n) for n in names]], list(names), value.properties)


def rename_bands(img: Any, names: list[str]) -> ImageValue:
    """New names for all the bands, in order."""
    value = image(img)
    if len(names) != len(value.bands) or len(set(names)) != len(names):
        raise GraftError("INVALID", f"rename_bands needs {len(value.bands)} distinct names")
    return ImageValue(value.array, list(names), value.properties)


def clip(img: Any, lo: Any, hi: Any) -> ImageValue:
    """Values limited to ``[lo, hi]`` (None: no limit on that side)."""
    import numpy as np

    value = image(img)
    low = None if lo is None else _operand(lo)
    high = None if hi is None else _operand(hi)
    if low is None and high is None:
        return value
    return ImageValue(np.ma.clip(value.array, low, high), value.bands, value.properties)


def mask(img: Any, where: Any, *, replace: bool = False) -> ImageValue:
    """Mask the pixels where ``where`` (a one-band or same-band image) is true; ``replace``: that is the
    whole mask, the image's own is dropped."""
    import numpy as np

    value, condition = image(img), image(where, "a mask Image")
    hide = np.broadcast_to(np.ma.filled(condition.array, 1).astype(bool), value.array.shape)
    kept = np.zeros(value.array.shape, dtype=bool) if replace else np.ma.getmaskarray(value.array)
    return ImageValue(np.ma.array(np.ma.getdata(value.array), mask=kept | hide), value.bands, value.properties)


def where(cond: Any, then: Any, otherwise: Any) -> ImageValue:
    import numpy as np

    condition = image(cond, "a condition Image")
    bands, properties = _bands_of(then, otherwise)
    pick = np.ma.filled(condition.array, 0).astype(bool)
    chosen = np.ma.where(pick, _operand(then), _operand(otherwise))  # type: ignore[no-untyped-call]
    return ImageValue(np.ma.asarray(chosen, dtype="f8"), bands, properties)


def fill(img: Any, value: Any) -> ImageValue:
    import numpy as np

    source = image(img)
    return ImageValue(np.ma.masked_array(source.array.filled(_operand(value))), source.bands, source.properties)


def getmask(img: Any) -> ImageValue:
    """The mask as an Image: 1 where a pixel is masked, 0 where it is valid (nothing masked)."""
    import numpy as np

    value = image(img)
    hidden = np.ma.getmaskarray(value.array).astype("f8")
    return ImageValue(np.ma.array(hidden, mask=np.zeros_like(hidden, dtype=bool)), value.bands, value.properties)


def concat_bands(a: Any, b: Any) -> ImageValue:
    """The bands of ``a`` then those of ``b`` (names must not repeat)."""
    import numpy as np

    first, second = image(a), image(b)
    if set(first.bands) & set(second.bands):
        raise GraftError("INVALID", f"both images have bands {sorted(set(first.bands) & set(second.bands))}")
    joined = np.ma.concatenate([first.array, second.array])  # type: ignore[no-untyped-call]
    return ImageValue(joined, [*first.bands, *second.bands], first.properties)


def properties(img: Any) -> dict[str, Any]:
    return dict(image(img).properties)


def band_names(img: Any) -> list[str]:
    return list(image(img).bands)


def images(col: Any) -> list[ImageValue]:
    """A non-empty ImageCollection's images."""
    chosen = collection(col)
    if not chosen:
        raise GraftError("INVALID", "the ImageCollection is empty")
    return chosen


def mosaic(chosen: list[ImageValue]) -> ImageValue:
    """Each pixel from the first image (in the given order) that has valid data there."""
    import numpy as np

    data = np.ma.getdata(chosen[0].array).copy()
    hidden = np.ma.getmaskarray(chosen[0].array).copy()
    for value in chosen[1:]:
        take = hidden & ~np.ma.getmaskarray(value.array)
        data[take] = np.ma.getdata(value.array)[take]
        hidden &= ~take
    return ImageValue(np.ma.array(data, mask=hidden), chosen[0].bands,
                      {"product": chosen[0].properties.get("product"), "count": len(chosen)})  # fmt: skip


REDUCERS = ("mean", "min", "max", "sum", "std", "median", "count")


def _reduce_values(valid: Any, operation: str) -> Any:
    """One number from the valid values (None when there are none; ``count`` is an Int)."""
    import numpy as np

    if operation == "count":
        return int(valid.size)
    return None if valid.size == 0 else float(getattr(np, operation)(valid))


def _reduce_array(array: Any, operation: str, axis: int | tuple[int, ...]) -> Any:
    import numpy as np

    with np.errstate(all="ignore"):
        if operation == "count":
            return np.ma.asarray(np.ma.count(array, axis=axis), dtype="f8")
        return _masked(getattr(np.ma, operation)(array, axis=axis))


def reduce_image(value: ImageValue, operation: str, axes: frozenset[str]) -> Any:
    """An Image reduced over ``axes`` (of bands, pixels), masked pixels left out: over pixels ``{band:
    value}``, over bands a one-band Image named after the operation, over both one number."""
    if axes == {"pixels"}:
        return {name: _reduce_values(band.compressed(), operation)
                for name, band in zip(value.bands, value.array, strict=True)}  # fmt: skip
    if axes == {"bands"}:
        result = _reduce_array(value.array, operation, 0)[None]
        return ImageValue(_masked(result), [operation], value.properties)
    return _reduce_values(value.array.compressed(), operation)


def reduce_stack(chosen: list[ImageValue], operation: str, axes: frozenset[str]) -> Any:
    """Images of one collection reduced over ``axes``, which include ``images``: pixel by pixel an Image (its
    bands, or one named after the operation with ``bands`` too), with ``pixels`` a ``{band: value}`` over all the
    images, over all three one number."""
    import numpy as np

    if len({v.array.shape for v in chosen}) != 1 or len({tuple(v.bands) for v in chosen}) != 1:
        raise GraftError("INVALID", "the images of the collection do not have the same bands")
    stack = np.ma.stack([v.array for v in chosen])  # images, bands, rows, columns
    summary = {"product": chosen[0].properties.get("product"), "count": len(chosen)}
    if axes == {"images"}:
        return ImageValue(_masked(_reduce_array(stack, operation, 0)), list(chosen[0].bands), summary)
    if axes == {"images", "bands"}:
        return ImageValue(_masked(_reduce_array(stack, operation, (0, 1))[None]), [operation], summary)
    if axes == {"images", "pixels"}:
        return {name: _reduce_values(stack[:, i].compressed(), operation) for i, name in enumerate(chosen[0].bands)}
    return _reduce_values(stack.compressed(), operation)
