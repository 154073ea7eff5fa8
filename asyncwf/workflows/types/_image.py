"""Image and ImageCollection proxies: rasters from the backend's catalogue, computed within a GeoContext.

Everything here builds grafts (nothing is read until ``compute(obj, geoctx=...)``).
Arithmetic, comparison and logic combine Images with Images or numbers, band by
band; comparisons give 0/1 Images usable as masks; masked pixels stay masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from asyncwf.workflows.types._containers import Dict, List, _function
from asyncwf.workflows.types._core import Proxytype, ProxyTypeError, of
from asyncwf.workflows.types._datetimes import Datetime
from asyncwf.workflows.types._primitives import Any_, Float, Int, Number, Str

if TYPE_CHECKING:
    from asyncwf.workflows._image_result import ImageResult

__all__ = ["Image", "ImageCollection", "where"]

_REDUCTIONS = ("mean", "min", "max", "sum", "std", "median", "count")
_RESAMPLING = ("nearest", "bilinear", "cubic", "average", "mode", "max", "min", "med")


def _operand(value: Any, op: str) -> Any:
    if isinstance(value, Image):
        return value
    if isinstance(value, Number):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Float._promote(float(value))
    raise ProxyTypeError(f"Image {op} needs an Image or a number, not {type(value).__name__}")


def _names(bands: Any, what: str) -> Any:
    if isinstance(bands, str):
        bands = bands.split()
    if not isinstance(bands, Sequence) or not bands or not all(isinstance(b, str) and b for b in bands):
        raise ProxyTypeError(f"{what} takes band names: 'red green' or ['red', 'green'], not {bands!r}")
    return List[Str]._promote(list(bands))


def _resampling(resampling: str) -> Any:
    if resampling not in _RESAMPLING:
        raise ProxyTypeError(f"resampling is one of {', '.join(_RESAMPLING)}, not {resampling!r}")
    return Str._promote(resampling)


def _binary(op: str, *, reverse: bool = False) -> Callable[[Image, Any], Image]:
    def method(self: Image, other: Any) -> Image:
        operand = _operand(other, op)
        args = (operand, self) if reverse else (self, operand)
        return Image._from_apply(f"wf.Image.{op}", *args)

    return method


def _unary(op: str) -> Callable[[Image], Image]:
    def method(self: Image) -> Image:
        return Image._from_apply(f"wf.Image.{op}", self)

    method.__doc__ = f"``{op}`` of every pixel (invalid results are masked)."
    return method


class Image(Proxytype):
    """A raster: bands of pixels on the GeoContext it is computed in. ``Image.from_id("landsat:2020-06")``."""

    __slots__ = ()
    _computed: ImageResult

    @classmethod
    def from_id(cls, image_id: Any, resampling: str = "nearest", *, resampler: str | None = None,
                **ignored: Any) -> Image:  # fmt: skip
        """The catalogued image ``image_id``, read onto the computation's GeoContext, resampled by
        ``resampling`` (or ``resampler``, the original's name). The original's ``processing_level`` and other
        catalogue options are accepted and have no effect here."""
        method = resampler if resampler is not None else resampling
        return cls._from_apply("wf.Image.from_id", Str._promote(image_id), _resampling(method))

    @classmethod
    def _promote(cls, obj: Any) -> Image:
        if isinstance(obj, cls):
            return obj
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to Image")

    # --- bands ---------------------------------------------------------------

    def pick_bands(self, bands: str | Sequence[str]) -> Image:
        """These bands, in this order: ``img.pick_bands("red nir")``."""
        return Image._from_apply("wf.Image.pick_bands", self, _names(bands, "pick_bands"))

    def rename_bands(self, *names: str) -> Image:
        """New names for every band, in order."""
        return Image._from_apply("wf.Image.rename_bands", self, _names(list(names), "rename_bands"))

    def getmask(self) -> Image:
        """The mask as an Image: 1 where a pixel is masked, 0 where it is valid."""
        return Image._from_apply("wf.Image.getmask", self)

    def concat_bands(self, other: Image) -> Image:
        """This image's bands followed by ``other``'s (their names must differ)."""
        return Image._from_apply("wf.Image.concat_bands", self, Image._promote(other))

    def normalized_difference(self, other: Image) -> Image:
        """``(self - other) / (self + other)``, pixel by pixel (NDVI: ``nir.normalized_difference(red)``)."""
        other = Image._promote(other)
        return (self - other) / (self + other)

    @property
    def bandinfo(self) -> Any:
        """The band names."""
        return List[Str]._from_apply("wf.Image.bands", self)

    @property
    def properties(self) -> Any:
        """id, product, date and the catalogued properties."""
        return Dict[Str, Any_]._from_apply("wf.Image.properties", self)

    def get_property(self, name: str, cls: type = Float) -> Any:
        """One property as a proxy of type ``cls`` (Float by default): ``img.get_property("cloud") < 0.3``."""
        if not isinstance(name, str) or not isinstance(cls, type) or not issubclass(cls, Proxytype):
            raise ProxyTypeError("get_property takes a name and a proxy type, like get_property('cloud', Float)")
        return cls._from_apply("wf.get", self.properties, Str._promote(name))

    # --- arithmetic, comparison, logic ---------------------------------------

    __add__, __radd__ = _binary("add"), _binary("add", reverse=True)
    __sub__, __rsub__ = _binary("sub"), _binary("sub", reverse=True)
    __mul__, __rmul__ = _binary("mul"), _binary("mul", reverse=True)
    __truediv__, __rtruediv__ = _binary("truediv"), _binary("truediv", reverse=True)
    __pow__, __rpow__ = _binary("pow"), _binary("pow", reverse=True)
    __lt__, __le__, __gt__, __ge__ = _binary("lt"), _binary("le"), _binary("gt"), _binary("ge")
    __eq__, __ne__ = _binary("eq"), _binary("ne")  # type: ignore[assignment]
    __and__, __or__ = _binary("and"), _binary("or")
    __neg__ = _unary("negative")
    __invert__ = _unary("logical_not")
    __abs__ = _unary("abs")
    log, log10, sqrt, exp = _unary("log"), _unary("log10"), _unary("sqrt"), _unary("exp")
    sin, cos, tan = _unary("sin"), _unary("cos"), _unary("tan")
    __hash__ = Proxytype.__hash__

    def clip(self, lo: Any, hi: Any) -> Image:
        """Every pixel limited to [lo, hi]."""
        return Image._from_apply("wf.Image.clip", self, _operand(lo, "clip"), _operand(hi, "clip"))

    # --- masks ---------------------------------------------------------------

    def mask(self, mask: Image) -> Image:
        """Mask the pixels where ``mask`` (an Image, e.g. ``img < 0``) is true."""
        return Image._from_apply("wf.Image.mask", self, Image._promote(mask))

    def fill(self, value: Any) -> Image:
        """Masked pixels replaced by ``value`` (and no longer masked)."""
        return Image._from_apply("wf.Image.fill", self, _operand(value, "fill"))

    # --- reductions ----------------------------------------------------------

    def reduction(self, operation: str, axis: Any = "pixels") -> Any:
        """``operation`` (mean, min, max, sum, std, median or count) over the valid pixels, along ``axis``:
        ``"pixels"`` gives ``{band: value}``, ``"bands"`` a one-band Image, ``None`` or ``("bands", "pixels")``
        one number."""
        if operation not in _REDUCTIONS:
            raise ProxyTypeError(f"reduction is one of {', '.join(_REDUCTIONS)}, not {operation!r}")
        value = Int if operation == "count" else Float
        if axis == "pixels":
            return of(Dict, Str, value)._from_apply("wf.Image.reduce", self, Str._promote(operation))
        if axis == "bands":
            return Image._from_apply("wf.Image.reduce", self, Str._promote(operation), axis=Str._promote(axis))
        if axis is None or (isinstance(axis, tuple | list) and sorted(axis) == ["bands", "pixels"]):
            both = List[Str]._promote(["bands", "pixels"])
            return value._from_apply("wf.Image.reduce", self, Str._promote(operation), axis=both)
        raise ProxyTypeError(f"axis is 'pixels', 'bands', ('bands', 'pixels') or None, not {axis!r}")

    def mean(self, axis: Any = "pixels") -> Any:
        """The mean of the valid pixels along ``axis`` (see :meth:`reduction`)."""
        return self.reduction("mean", axis)

    def min(self, axis: Any = "pixels") -> Any:
        """The least valid pixel along ``axis`` (see :meth:`reduction`)."""
        return self.reduction("min", axis)

    def max(self, axis: Any = "pixels") -> Any:
        """The greatest valid pixel along ``axis`` (see :meth:`reduction`)."""
        return self.reduction("max", axis)

    def sum(self, axis: Any = "pixels") -> Any:
        """The sum of the valid pixels along ``axis`` (see :meth:`reduction`)."""
        return self.reduction("sum", axis)

    def std(self, axis: Any = "pixels") -> Any:
        """The standard deviation of the valid pixels along ``axis`` (see :meth:`reduction`)."""
        return self.reduction("std", axis)

    def median(self, axis: Any = "pixels") -> Any:
        """The median of the valid pixels along ``axis`` (see :meth:`reduction`)."""
        return self.reduction("median", axis)

    def count(self, axis: Any = "pixels") -> Any:
        """The number of valid pixels along ``axis`` (see :meth:`reduction`)."""
        return self.reduction("count", axis)


def where(condition: Image, then: Any, otherwise: Any) -> Image:
    """``then`` where ``condition`` is true, else ``otherwise`` (Images or numbers), pixel by pixel."""
    return Image._from_apply("wf.Image.where", Image._promote(condition), _operand(then, "where"),
                             _operand(otherwise, "where"))  # fmt: skip


def _datetime(value: Any, what: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise ProxyTypeError(f"{what} must be timezone-aware (or a string with an offset)")
    return Datetime._promote(value)


class ImageCollection(Proxytype):
    """Images of one product, oldest first: ``ImageCollection.from_id("landsat", start, end)``."""

    __slots__ = ()
    _computed: list[ImageResult]

    @classmethod
    def from_id(cls, product_id: Any, start_datetime: Any = None, end_datetime: Any = None,
                resampling: str = "nearest") -> ImageCollection:  # fmt: skip
        """The product's images acquired in [start, end) (all of them without bounds)."""
        start, end = _datetime(start_datetime, "start_datetime"), _datetime(end_datetime, "end_datetime")
        return cls._from_apply("wf.ImageCollection.from_id", Str._promote(product_id), start, end,
                               _resampling(resampling))  # fmt: skip

    @classmethod
    def _promote(cls, obj: Any) -> ImageCollection:
        if isinstance(obj, cls):
            return obj
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to ImageCollection")

    def length(self) -> Int:
        """The number of images (an Int)."""
        return Int._from_apply("wf.length", self)

    def __getitem__(self, index: Any) -> Image:
        return Image._from_apply("wf.get", self, Int._promote(index))

    def map(self, fn: Callable[[Image], Any]) -> Any:
        """``fn`` on every image: an ImageCollection if it returns Images, else a List."""
        function = _function(fn, Image)
        result = function._result_type()
        target = ImageCollection if issubclass(result, Image) else of(List, result)
        return target._from_apply("wf.map", self, function)

    def filter(self, fn: Callable[[Image], Any]) -> ImageCollection:
        """The images for which ``fn`` (Image -> Bool, e.g. on ``properties``) is true."""
        from asyncwf.workflows.types._primitives import Bool

        function = _function(fn, Image)
        if not issubclass(function._result_type(), Bool):
            raise ProxyTypeError("filter needs a function returning Bool")
        return ImageCollection._from_apply("wf.filter", self, function)

    def _composite(self, operation: str, axis: Any) -> Image:
        if axis != "images":
            raise ProxyTypeError(
                f"an ImageCollection's {operation} takes axis='images' (a composite, pixel by pixel), not {axis!r}; "
                f"for one value per image, use .map(lambda img: img.{operation}(axis=...))"
            )
        return Image._from_apply(f"wf.ImageCollection.{operation}", self)

    def mean(self, axis: Any = "images") -> Image:
        """The mean of the images, pixel by pixel (masked pixels left out), as Descartes Labs'
        ``ic.mean(axis="images")``."""
        return self._composite("mean", axis)

    def median(self, axis: Any = "images") -> Image:
        """The median of the images, pixel by pixel (masked pixels left out)."""
        return self._composite("median", axis)

    def min(self, axis: Any = "images") -> Image:
        """The least of the images, pixel by pixel (masked pixels left out)."""
        return self._composite("min", axis)

    def max(self, axis: Any = "images") -> Image:
        """The greatest of the images, pixel by pixel (masked pixels left out)."""
        return self._composite("max", axis)

    def sum(self, axis: Any = "images") -> Image:
        """The sum of the images, pixel by pixel (masked pixels left out)."""
        return self._composite("sum", axis)

    def std(self, axis: Any = "images") -> Image:
        """The standard deviation of the images, pixel by pixel (masked pixels left out)."""
        return self._composite("std", axis)

    def sorted(self, key: Callable[[Image], Any], reverse: bool = False) -> ImageCollection:
        """The images ordered by ``key`` (Image -> a comparable value, e.g. a property), stably."""
        from asyncwf.workflows.types._primitives import Bool

        function = _function(key, Image)
        return ImageCollection._from_apply("wf.sorted", self, key=function, reverse=Bool._promote(reverse))

    def groupby(self, key: Callable[[Image], Any]) -> Any:
        """The images grouped by ``key`` (Image -> a Str, Int ... value): a Dict of key -> ImageCollection, each
        group in the collection's order."""
        function = _function(key, Image)
        return of(Dict, function._result_type(), ImageCollection)._from_apply(
            "wf.ImageCollection.groupby", self, function
        )

    def pick_bands(self, bands: str | Sequence[str]) -> ImageCollection:
        """These bands of every image, in this order."""
        names = _names(bands, "pick_bands")
        return self.map(lambda img: Image._from_apply("wf.Image.pick_bands", img, names))  # type: ignore[no-any-return]

    def _each(self, op: str, other: Any, *, reverse: bool = False) -> ImageCollection:
        """``op`` applied to every image with ``other`` (an Image or a number)."""
        operand = _operand(other, op)
        if reverse:
            return self.map(lambda img: Image._from_apply(f"wf.Image.{op}", operand, img))  # type: ignore[no-any-return]
        return self.map(lambda img: Image._from_apply(f"wf.Image.{op}", img, operand))  # type: ignore[no-any-return]

    def __add__(self, other: Any) -> ImageCollection:
        return self._each("add", other)

    def __radd__(self, other: Any) -> ImageCollection:
        return self._each("add", other, reverse=True)

    def __sub__(self, other: Any) -> ImageCollection:
        return self._each("sub", other)

    def __rsub__(self, other: Any) -> ImageCollection:
        return self._each("sub", other, reverse=True)

    def __mul__(self, other: Any) -> ImageCollection:
        return self._each("mul", other)

    def __rmul__(self, other: Any) -> ImageCollection:
        return self._each("mul", other, reverse=True)

    def __truediv__(self, other: Any) -> ImageCollection:
        return self._each("truediv", other)

    def __rtruediv__(self, other: Any) -> ImageCollection:
        return self._each("truediv", other, reverse=True)

    __hash__ = Proxytype.__hash__

    def mosaic(self) -> Image:
        """Each pixel from the first image that has data there."""
        return self._composite("mosaic", "images")

    __hash__ = Proxytype.__hash__
