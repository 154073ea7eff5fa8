"""Raster builtins: Images and ImageCollections evaluated with numpy and rasterio (in the backend).

An image value is an :class:`ImageValue`: a masked float64 array of shape
(bands, rows, columns) on the grid of the evaluation's GeoContext, its band
names and its properties. ``wf.Image.from_id`` reads a catalogued GeoTIFF
through a ``WarpedVRT`` onto that grid (reprojecting and resampling as
needed), so every image of one evaluation is aligned and band math is plain
numpy. An ImageCollection is a list of images (``wf.map`` and ``wf.filter``
work on it unchanged). The catalogue and the GeoContext come from
:data:`RASTER_CONTEXT`, set by the compute job around the evaluation.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from asyncwf.graft._interpreter import GraftError

__all__ = ["RASTER_OPS", "RASTER_CONTEXT", "RasterContext", "ImageValue"]

RESAMPLING = ("nearest", "bilinear", "cubic", "average", "mode", "max", "min", "med")


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


def _context() -> RasterContext:
    ctx = RASTER_CONTEXT.get(None)
    if ctx is None or ctx.geoctx is None:
        raise GraftError("INVALID", "computing an Image needs a geocontext: compute(obj, geoctx=GeoContext(...))")
    return ctx


def _record(image_id: Any) -> Mapping[str, Any]:
    if not isinstance(image_id, str):
        raise GraftError("TYPING", f"an image id is a string, not {type(image_id).__name__}")
    record = _context().images.get(image_id)
    if record is None:
        raise GraftError("INVALID", f"no image {image_id!r} in the catalogue")
    return record


def read_image(record: Mapping[str, Any], geoctx: Mapping[str, Any], resampling: str = "nearest") -> ImageValue:
    """Read a catalogued image onto the GeoContext's grid (masked where it has no data)."""
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


def _image(value: Any, what: str = "an Image") -> ImageValue:
    if not isinstance(value, ImageValue):
        raise GraftError("TYPING", f"{what} is needed, not {type(value).__name__}")
    return value


def _operand(value: Any) -> Any:
    if isinstance(value, ImageValue):
        return value.array
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GraftError("TYPING", f"image arithmetic takes an Image or a number, not {type(value).__name__}")
    return value


def _bands_of(a: Any, b: Any) -> tuple[list[str], dict[str, Any]]:
    first = a if isinstance(a, ImageValue) else b
    other = b if first is a else a
    if isinstance(other, ImageValue) and len(other.bands) not in (1, len(first.bands)) and len(first.bands) != 1:
        raise GraftError("TYPING", f"images of {len(first.bands)} and {len(other.bands)} bands do not combine")
    bands = first.bands if not isinstance(other, ImageValue) or len(first.bands) >= len(other.bands) else other.bands
    return list(bands), dict(first.properties)


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], ImageValue]:
    def apply(a: Any, b: Any) -> ImageValue:
        import numpy as np

        bands, properties = _bands_of(a, b)
        with np.errstate(all="ignore"):
            result = op(_operand(a), _operand(b))
        return ImageValue(np.ma.masked_invalid(np.ma.asarray(result, dtype="f8")), bands, properties)

    return apply


def _unary(name: str) -> Callable[[Any], ImageValue]:
    def apply(img: Any) -> ImageValue:
        import numpy as np

        image = _image(img)
        with np.errstate(all="ignore"):
            result = getattr(np.ma, name)(image.array)
        return ImageValue(np.ma.masked_invalid(np.ma.asarray(result, dtype="f8")), image.bands, image.properties)

    return apply


def _from_id(image_id: Any, resampling: Any = "nearest", resampler: Any = None) -> ImageValue:
    resampling = resampler if resampler is not None else resampling  # (the original's name for it)
    if resampling not in RESAMPLING:
        raise GraftError("INVALID", f"resampling is one of {', '.join(RESAMPLING)}, not {resampling!r}")
    return read_image(_record(image_id), _context().geoctx or {}, resampling)


def _pick_bands(img: Any, names: Any) -> ImageValue:
    image = _image(img)
    if isinstance(names, str):
        names = names.split()
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise GraftError("TYPING", "pick_bands takes band names")
    missing = [n for n in names if n not in image.bands]
    if missing:
        raise GraftError("INVALID", f"no bands {', '.join(missing)}; the image has {', '.join(image.bands)}")
    return ImageValue(image.array[[image.bands.index(n) for n in names]], list(names), image.properties)


def _rename_bands(img: Any, names: Any) -> ImageValue:
    image = _image(img)
    if isinstance(names, str):
        names = names.split()
    if not isinstance(names, list) or len(names) != len(image.bands) or len(set(names)) != len(names):
        raise GraftError("INVALID", f"rename_bands needs {len(image.bands)} distinct names")
    return ImageValue(image.array, list(names), image.properties)


def _clip(img: Any, lo: Any, hi: Any) -> ImageValue:
    import numpy as np

    image = _image(img)
    return ImageValue(np.ma.clip(image.array, _operand(lo), _operand(hi)), image.bands, image.properties)


def _mask(img: Any, mask: Any) -> ImageValue:
    """Mask the pixels where ``mask`` (a one-band or same-band image) is true."""
    import numpy as np

    image, where = _image(img), _image(mask, "a mask Image")
    hide = np.ma.filled(where.array, 1).astype(bool)
    array = np.ma.array(image.array, mask=np.ma.getmaskarray(image.array) | np.broadcast_to(hide, image.array.shape))
    return ImageValue(array, image.bands, image.properties)


def _where(cond: Any, then: Any, otherwise: Any) -> ImageValue:
    import numpy as np

    condition = _image(cond, "a condition Image")
    bands, properties = _bands_of(then, otherwise)
    pick = np.ma.filled(condition.array, 0).astype(bool)
    chosen = np.ma.where(pick, _operand(then), _operand(otherwise))  # type: ignore[no-untyped-call]
    return ImageValue(np.ma.asarray(chosen, dtype="f8"), bands, properties)


def _fill(img: Any, value: Any) -> ImageValue:
    import numpy as np

    image = _image(img)
    return ImageValue(np.ma.masked_array(image.array.filled(_operand(value))), image.bands, image.properties)


_REDUCERS = ("mean", "min", "max", "sum", "std", "median", "count")


def _reduce_pixels(img: Any, operation: Any) -> dict[str, Any]:
    """Per band, over the valid pixels: ``{band: value}`` (None for a band without valid pixels)."""
    import numpy as np

    image = _image(img)
    if operation not in _REDUCERS:
        raise GraftError("INVALID", f"reduction is one of {', '.join(_REDUCERS)}, not {operation!r}")
    out: dict[str, Any] = {}
    for name, band in zip(image.bands, image.array, strict=True):
        valid = band.compressed()
        if operation == "count":
            out[name] = int(valid.size)
        else:
            out[name] = None if valid.size == 0 else float(getattr(np, operation)(valid))
    return out


_AXES = {"pixels": (1, 2), "bands": (0,), "all": (0, 1, 2)}


def _reduce(img: Any, operation: Any, axis: Any = "pixels") -> Any:
    """``img.<op>(axis=...)``: over pixels a ``{band: value}`` dict, over bands a one-band Image, over both (or
    ``None``) one number; masked pixels are left out."""
    import numpy as np

    image = _image(img)
    if operation not in _REDUCERS:
        raise GraftError("INVALID", f"reduction is one of {', '.join(_REDUCERS)}, not {operation!r}")
    if axis == "pixels":
        return _reduce_pixels(image, operation)
    if axis not in ("bands", None, "all") and sorted(axis if isinstance(axis, list) else []) != ["bands", "pixels"]:
        raise GraftError("INVALID", f"axis is 'pixels', 'bands', ('bands', 'pixels') or None, not {axis!r}")
    if axis == "bands":
        result: Any
        with np.errstate(all="ignore"):
            if operation == "count":
                result = np.ma.asarray(np.ma.count(image.array, axis=0), dtype="f8")[np.newaxis]
            else:
                result = getattr(np.ma, operation)(image.array, axis=0)[np.newaxis]
        return ImageValue(np.ma.masked_invalid(np.ma.asarray(result, dtype="f8")), [operation], image.properties)
    valid = image.array.compressed()
    if operation == "count":
        return int(valid.size)
    return None if valid.size == 0 else float(getattr(np, operation)(valid))


def _getmask(img: Any) -> ImageValue:
    """The mask as an Image: 1 where a pixel is masked, 0 where it is valid (nothing masked)."""
    import numpy as np

    image = _image(img)
    mask = np.ma.getmaskarray(image.array).astype("f8")
    return ImageValue(np.ma.array(mask, mask=np.zeros_like(mask, dtype=bool)), image.bands, image.properties)


def _concat_bands(a: Any, b: Any) -> ImageValue:
    """The bands of ``a`` then those of ``b`` (names must not repeat)."""
    import numpy as np

    first, second = _image(a), _image(b)
    if set(first.bands) & set(second.bands):
        raise GraftError("INVALID", f"both images have bands {sorted(set(first.bands) & set(second.bands))}")
    joined = np.ma.concatenate([first.array, second.array])  # type: ignore[no-untyped-call]
    return ImageValue(joined, [*first.bands, *second.bands],
                      first.properties)  # fmt: skip


def _properties(img: Any) -> dict[str, Any]:
    return dict(_image(img).properties)


def _bandinfo(img: Any) -> list[str]:
    return list(_image(img).bands)


def _collection_from_id(product_id: Any, start: Any = None, end: Any = None, resampling: Any = "nearest") -> list[Any]:
    if not isinstance(product_id, str):
        raise GraftError("TYPING", "a product id is a string")
    for bound in (start, end):
        if bound is not None and not isinstance(bound, dt.datetime):
            raise GraftError("TYPING", "start and end are Datetimes")
    ctx = _context()
    chosen = []
    for record in ctx.images.values():
        if record["product_id"] != product_id:
            continue
        acquired = dt.datetime.fromisoformat(record["acquired"])
        if (start is None or acquired >= start) and (end is None or acquired < end):
            chosen.append(record)
    chosen.sort(key=lambda r: (r["acquired"], r["id"]))
    return [_from_id(r["id"], resampling) for r in chosen]


def _images(col: Any) -> list[ImageValue]:
    if not isinstance(col, list) or not all(isinstance(v, ImageValue) for v in col):
        raise GraftError("TYPING", "an ImageCollection is needed")
    if not col:
        raise GraftError("INVALID", "the ImageCollection is empty")
    return col


def _composite(operation: str) -> Callable[[Any], ImageValue]:
    def apply(col: Any) -> ImageValue:
        import numpy as np

        images = _images(col)
        stack = np.ma.stack([img.array for img in images])
        with np.errstate(all="ignore"):
            result = getattr(np.ma, operation)(stack, axis=0)
        return ImageValue(np.ma.masked_invalid(np.ma.asarray(result, dtype="f8")), images[0].bands,
                          {"product": images[0].properties.get("product"), "count": len(images)})  # fmt: skip

    return apply


def _mosaic(col: Any) -> ImageValue:
    """Each pixel from the first image (in the collection's order) that has valid data there."""
    import numpy as np

    images = _images(col)
    data = np.ma.getdata(images[0].array).copy()
    mask = np.ma.getmaskarray(images[0].array).copy()
    for image in images[1:]:
        take = mask & ~np.ma.getmaskarray(image.array)
        data[take] = np.ma.getdata(image.array)[take]
        mask &= ~take
    return ImageValue(np.ma.array(data, mask=mask), images[0].bands,
                      {"product": images[0].properties.get("product"), "count": len(images)})  # fmt: skip


def _logical(name: str) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        import numpy as np

        return getattr(np.ma, name)(a, b)

    return apply


def _ops() -> dict[str, Callable[..., Any]]:
    import operator

    table: dict[str, Callable[..., Any]] = {
        "wf.Image.from_id": _from_id, "wf.Image.pick_bands": _pick_bands, "wf.Image.rename_bands": _rename_bands,
        "wf.Image.clip": _clip, "wf.Image.mask": _mask, "wf.Image.where": _where, "wf.Image.fill": _fill,
        "wf.Image.properties": _properties, "wf.Image.bands": _bandinfo,
        "wf.ImageCollection.from_id": _collection_from_id, "wf.ImageCollection.mosaic": _mosaic,
        "wf.Image.reduce": _reduce, "wf.Image.getmask": _getmask, "wf.Image.concat_bands": _concat_bands,
    }  # fmt: skip
    for name, op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                     ("truediv", operator.truediv), ("pow", operator.pow), ("lt", operator.lt),
                     ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge), ("eq", operator.eq),
                     ("ne", operator.ne), ("and", _logical("logical_and")),
                     ("or", _logical("logical_or"))]:  # fmt: skip
        table[f"wf.Image.{name}"] = _binary(op)
    for name in ("log", "sqrt", "exp", "abs", "log10", "sin", "cos", "tan", "negative", "logical_not"):
        table[f"wf.Image.{name}"] = _unary(name)
    for name in ("mean", "median", "min", "max", "sum", "std"):
        table[f"wf.ImageCollection.{name}"] = _composite(name)
    return table


#: The raster builtins by name (their table entries are in asyncwf.graft._vocabulary).
RASTER_OPS: dict[str, Callable[..., Any]] = _ops()
