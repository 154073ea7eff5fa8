"""Image and ImageCollection proxies: rasters from the backend's catalogue, computed within a GeoContext.

Everything here builds grafts (nothing is read until ``compute(obj, geoctx=...)``), with the builtin names,
argument shapes and result types of the Descartes Labs 1.12 client (``wf.Image.load``, ``wf.add(img, 1)``,
``wf.mean(img, axis)``, ``wf.pick_bands(img, "red", "nir", allow_missing=False)`` ...), so a graft made here and
one made by the original client for the same program are interchangeable. Arithmetic, comparison and logic
combine Images and ImageCollections with each other or numbers, band by band; comparisons give 0/1 Images
usable as masks; masked pixels stay masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from asyncwf.graft._syntax import Quoted
from asyncwf.workflows.types._containers import Dict, List, Tuple, _function
from asyncwf.workflows.types._core import Proxytype, ProxyTypeError, of
from asyncwf.workflows.types._datetimes import Datetime
from asyncwf.workflows.types._primitives import Any_, Bool, Float, Int, NoneType, Number, Str

if TYPE_CHECKING:
    from asyncwf.workflows._image_result import ImageResult

__all__ = ["Image", "ImageCollection", "concat", "where"]

_REDUCTIONS = ("mean", "min", "max", "sum", "std", "median", "count")
#: The resamplers the original accepts (and ``nearest``, asyncwf's name for ``near``).
_RESAMPLERS = ("near", "nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode", "max", "min",
               "med", "q1", "q3")  # fmt: skip


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Int._promote(value) if isinstance(value, int) else Float._promote(value)


def _operand(value: Any, op: str) -> Any:
    if isinstance(value, Image | ImageCollection | Number):
        return value
    number = _number(value)
    if number is None:
        raise ProxyTypeError(f"{op} needs an Image, an ImageCollection or a number, not {type(value).__name__}")
    return number


def _names(bands: Any, what: str) -> list[str]:
    if isinstance(bands, str):
        bands = bands.split()
    if not isinstance(bands, Sequence) or not bands or not all(isinstance(b, str) and b for b in bands):
        raise ProxyTypeError(f"{what} takes band names: 'red green' or ['red', 'green'], not {bands!r}")
    return list(bands)


def _optional_str(value: Any, what: str, allowed: Sequence[str] = ()) -> Any:
    if value is None:
        return NoneType._promote(None)
    if not isinstance(value, str | Str) or (allowed and isinstance(value, str) and value not in allowed):
        raise ProxyTypeError(f"{what} is one of {', '.join(allowed)}, not {value!r}" if allowed else
                             f"{what} is a string, not {type(value).__name__}")  # fmt: skip
    return Str._promote(value)


def _axis_key(axis: Any) -> Any:
    if isinstance(axis, list | tuple):
        return frozenset(axis) if len(axis) > 1 else axis[0]
    return axis


def _axis_node(axis: Any) -> Any:
    if axis is None:
        return NoneType._promote(None)
    if isinstance(axis, list | tuple):
        return Any_._from_node(Quoted(list(axis))) if len(axis) > 1 else Str._promote(axis[0])
    return Str._promote(axis)


def _binary(name: str, *, reverse: bool = False) -> Callable[[Any, Any], Any]:
    def method(self: Any, other: Any) -> Any:
        operand = _operand(other, name)
        result = ImageCollection if isinstance(self, ImageCollection) or isinstance(operand, ImageCollection) else Image
        return result._from_apply(f"wf.{name}", *((operand, self) if reverse else (self, operand)))

    return method


def _unary(name: str) -> Callable[[Any], Any]:
    def method(self: Any) -> Any:
        return type(self)._from_apply(f"wf.{name}", self)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of every pixel (invalid results are masked)."
    return method


class _Imagery(Proxytype):
    """What Images and ImageCollections share: band and mask operations, arithmetic, reductions."""

    __slots__ = ()
    #: ``axis`` (a name, or a frozenset of names) -> the result's type, as the original's.
    _STATS: dict[Any, Any] = {}

    # --- bands ---------------------------------------------------------------

    def pick_bands(self, bands: str | Sequence[str], allow_missing: bool = False) -> Any:
        """These bands, in this order: ``img.pick_bands("red nir")`` (with ``allow_missing``, bands an image
        lacks are left out instead of failing)."""
        names = [Str._promote(n) for n in _names(bands, "pick_bands")]
        return type(self)._from_apply("wf.pick_bands", self, *names, allow_missing=Bool._promote(allow_missing))

    def unpack_bands(self, bands: str | Sequence[str]) -> Any:
        """Each of these bands on its own, as a Python tuple (one band: just it): ``red, nir =
        img.unpack_bands("red nir")``."""
        names = _names(bands, "unpack_bands")
        picked = tuple(self.pick_bands(name) for name in names)
        return picked[0] if len(picked) == 1 else picked

    def rename_bands(self, *names: str, **renames: str) -> Any:
        """New names for every band, in order (``rename_bands("r", "g", "b")``), or for some by name
        (``rename_bands(red="r")``)."""
        if (names and renames) or not (names or renames):
            raise ProxyTypeError("rename_bands takes new names for all bands in order, or old=new pairs, not both")
        if renames:
            return type(self)._from_apply("wf.rename_bands", self, of(Dict, Str, Str)._promote(renames))
        return type(self)._from_apply("wf.rename_bands_positionally", self,
                                      List[Str]._promote(_names(list(names), "rename_bands")))  # fmt: skip

    def concat_bands(self, other: Any) -> Any:
        """This one's bands followed by ``other``'s (their names must differ)."""
        if not isinstance(other, Image | ImageCollection):
            raise ProxyTypeError(f"concat_bands needs an Image or ImageCollection, not {type(other).__name__}")
        result = ImageCollection if isinstance(self, ImageCollection) or isinstance(other, ImageCollection) else Image
        return result._from_apply("wf.concat_bands", self, other)

    @property
    def nbands(self) -> Int:
        """The number of bands."""
        return Int._from_apply("wf.nbands", self)

    # --- properties, values, pixels -----------------------------------------

    def with_properties(self, **properties: Any) -> Any:
        """These properties added (or replaced)."""
        return type(self)._from_apply("wf.with_properties", self, **properties)

    def without_properties(self, *names: str) -> Any:
        """Without these properties."""
        return type(self)._from_apply("wf.without_properties", self, *(Str._promote(n) for n in names))

    def scale_values(self, range_min: Any, range_max: Any, domain_min: Any = None, domain_max: Any = None) -> Any:
        """Values mapped linearly from [domain_min, domain_max] (each band's least and greatest valid value
        where None) onto [range_min, range_max]."""
        bounds = (range_min, range_max, domain_min, domain_max)
        return type(self)._from_apply("wf.scale_values", self, *(
            NoneType._promote(None) if v is None else _operand(v, "scale_values") for v in bounds))  # fmt: skip

    def value_at(self, x: Any, y: Any) -> Any:
        """Each band's value at the point (x, y), in the GeoContext's CRS (None where masked)."""
        values = of(Dict, Str, Float)
        result = of(List, values) if isinstance(self, ImageCollection) else values
        return result._from_apply("wf.value_at", self, Float._promote(x), Float._promote(y))

    def coords_to_index(self, x: Any, y: Any) -> Any:
        """``(row, col)`` of the pixel holding the point (x, y), in the GeoContext's CRS."""
        return of(Tuple, Int, Int)._from_apply("wf.coords_to_index", self, Float._promote(x), Float._promote(y))

    def index_to_coords(self, row: Any, col: Any) -> Any:
        """``(x, y)`` of the upper-left corner of pixel (row, col), in the GeoContext's CRS."""
        return of(Tuple, Float, Float)._from_apply("wf.index_to_coords", self, Int._promote(row), Int._promote(col))

    def map_bands(self, func: Callable[[Any, Any], Any]) -> Any:
        """``func(name, band)`` (a Str and a one-band Image, or ImageCollection) for every band: the results'
        bands put together when ``func`` gives Images (ImageCollections), else a Dict of band name -> result."""
        function = _function(func, Str, type(self))
        result = function._result_type()
        if issubclass(result, Image | ImageCollection):
            return result._from_apply("wf.map_bands_imagery", self, function)
        return of(Dict, Str, result)._from_apply("wf.map_bands", self, function)

    def concat(self, *others: Any) -> ImageCollection:
        """This and ``others`` (Images or ImageCollections), one after another, as an ImageCollection."""
        for other in others:
            if not isinstance(other, Image | ImageCollection):
                raise ProxyTypeError(f"concat takes Images and ImageCollections, not {type(other).__name__}")
        return ImageCollection._from_apply("wf.concat", self, *others)

    # --- masks ---------------------------------------------------------------

    def mask(self, mask: Any, replace: bool = False) -> Any:
        """Mask the pixels where ``mask`` (an Image, e.g. ``img < 0``) is true, in addition to those masked
        already (only those, with ``replace``)."""
        if not isinstance(mask, Image | ImageCollection):
            raise ProxyTypeError(f"mask needs an Image or ImageCollection, not {type(mask).__name__}")
        return type(self)._from_apply("wf.mask", self, mask, replace=Bool._promote(replace))

    def getmask(self) -> Any:
        """The mask as an Image: 1 where a pixel is masked, 0 where it is valid."""
        return type(self)._from_apply("wf.getmask", self)

    def clip_values(self, min: Any = None, max: Any = None) -> Any:
        """Every pixel limited to [min, max] (None: no limit on that side)."""
        low = NoneType._promote(None) if min is None else _operand(min, "clip_values")
        high = NoneType._promote(None) if max is None else _operand(max, "clip_values")
        return type(self)._from_apply("wf.clip_values", self, low, high)

    def clip(self, lo: Any, hi: Any) -> Any:
        """:meth:`clip_values` by another name."""
        return self.clip_values(lo, hi)

    # --- arithmetic, comparison, logic ---------------------------------------

    __add__, __radd__ = _binary("add"), _binary("add", reverse=True)
    __sub__, __rsub__ = _binary("sub"), _binary("sub", reverse=True)
    __mul__, __rmul__ = _binary("mul"), _binary("mul", reverse=True)
    __truediv__, __rtruediv__ = _binary("div"), _binary("truediv", reverse=True)
    __floordiv__, __rfloordiv__ = _binary("floordiv"), _binary("floordiv", reverse=True)
    __mod__, __rmod__ = _binary("mod"), _binary("mod", reverse=True)
    __pow__, __rpow__ = _binary("pow"), _binary("pow", reverse=True)
    __lt__, __le__, __gt__, __ge__ = _binary("lt"), _binary("le"), _binary("gt"), _binary("ge")
    __eq__, __ne__ = _binary("eq"), _binary("ne")  # type: ignore[assignment]
    __and__, __rand__ = _binary("and"), _binary("and", reverse=True)
    __or__, __ror__ = _binary("or"), _binary("or", reverse=True)
    __xor__, __rxor__ = _binary("xor"), _binary("xor", reverse=True)
    __neg__, __pos__, __abs__, __invert__ = _unary("neg"), _unary("pos"), _unary("abs"), _unary("invert")
    log, log2, log10, log1p = _unary("log"), _unary("log2"), _unary("log10"), _unary("log1p")
    sqrt, exp, square = _unary("sqrt"), _unary("exp"), _unary("square")
    sin, cos, tan = _unary("sin"), _unary("cos"), _unary("tan")
    arcsin, arccos, arctan = _unary("arcsin"), _unary("arccos"), _unary("arctan")
    __hash__ = Proxytype.__hash__

    # --- reductions ----------------------------------------------------------

    def reduction(self, operation: str, axis: Any = None) -> Any:
        """``operation`` (mean, min, max, sum, std, median or count) over the valid pixels along ``axis``, as
        the original: see :meth:`mean`."""
        if operation not in _REDUCTIONS:
            raise ProxyTypeError(f"reduction is one of {', '.join(_REDUCTIONS)}, not {operation!r}")
        result = self._result_of(axis)
        return result._from_apply("wf.reduction", self, Str._promote(operation), axis=_axis_node(axis))

    def _reduce(self, operation: str, axis: Any) -> Any:
        return self._result_of(axis)._from_apply(f"wf.{operation}", self, _axis_node(axis))

    def _result_of(self, axis: Any) -> Any:
        try:
            found = self._STATS[_axis_key(axis)]
        except (KeyError, TypeError):
            choices = ", ".join(repr(tuple(sorted(k)) if isinstance(k, frozenset) else k) for k in self._STATS)
            raise ProxyTypeError(f"axis is one of {choices}, not {axis!r}") from None
        return found if isinstance(found, type) else found()  # (a lambda: a class defined below this table)

    def mean(self, axis: Any = None) -> Any:
        """The mean of the valid pixels along ``axis``. On an Image: ``None`` (all of them) or
        ``("bands", "pixels")`` one Float, ``"pixels"`` ``{band: value}``, ``"bands"`` a one-band Image. On an
        ImageCollection ``"images"`` composites pixel by pixel (an Image), and the other axes as the original."""
        return self._reduce("mean", axis)

    def min(self, axis: Any = None) -> Any:
        """The least valid pixel along ``axis`` (see :meth:`mean`)."""
        return self._reduce("min", axis)

    def max(self, axis: Any = None) -> Any:
        """The greatest valid pixel along ``axis`` (see :meth:`mean`)."""
        return self._reduce("max", axis)

    def sum(self, axis: Any = None) -> Any:
        """The sum of the valid pixels along ``axis`` (see :meth:`mean`)."""
        return self._reduce("sum", axis)

    def std(self, axis: Any = None) -> Any:
        """The standard deviation of the valid pixels along ``axis`` (see :meth:`mean`)."""
        return self._reduce("std", axis)

    def median(self, axis: Any = None) -> Any:
        """The median of the valid pixels along ``axis`` (see :meth:`mean`)."""
        return self._reduce("median", axis)

    def count(self, axis: Any = None) -> Any:
        """The number of valid pixels along ``axis`` (see :meth:`mean`)."""
        return self._reduce("count", axis)


class Image(_Imagery):
    """A raster: bands of pixels on the GeoContext it is computed in. ``Image.from_id("landsat:2020-06")``."""

    __slots__ = ()
    _computed: ImageResult
    _STATS = {None: Float, "pixels": of(Dict, Str, Float), "bands": lambda: Image,
              frozenset({"bands", "pixels"}): Float}  # fmt: skip

    @classmethod
    def from_id(cls, image_id: Any, resampler: str | None = None, processing_level: str | None = None, *,
                resampling: str | None = None) -> Image:  # fmt: skip
        """The catalogued image ``image_id``, read onto the computation's GeoContext, resampled by
        ``resampler`` (``near`` by default; ``resampling`` is another name for it). The catalogue holds one
        processing level of each image: any ``processing_level`` names it."""
        method = resampler if resampler is not None else resampling
        return cls._from_apply("wf.Image.load", Str._promote(image_id),
                               resampler=_optional_str(method, "resampler", _RESAMPLERS),
                               processing_level=_optional_str(processing_level, "processing_level"))  # fmt: skip

    @classmethod
    def _promote(cls, obj: Any) -> Image:
        if isinstance(obj, cls):
            return obj
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to Image")

    def normalized_difference(self, other: Image) -> Image:
        """``(self - other) / (self + other)``, pixel by pixel (NDVI: ``nir.normalized_difference(red)``)."""
        other = Image._promote(other)
        return (self - other) / (self + other)  # type: ignore[no-any-return]

    @property
    def bandinfo(self) -> Any:
        """Each band's name -> its info (in band order)."""
        return of(Dict, Str, of(Dict, Str, Any_))._from_apply("wf.getattr", self, Str._promote("bandinfo"))

    @property
    def properties(self) -> Any:
        """id, product, date and the catalogued properties."""
        return of(Dict, Str, Any_)._from_apply("wf.getattr", self, Str._promote("properties"))

    def get_property(self, name: str, cls: type = Float) -> Any:
        """One property as a proxy of type ``cls`` (Float by default): ``img.get_property("cloud") < 0.3``."""
        if not isinstance(name, str) or not isinstance(cls, type) or not issubclass(cls, Proxytype):
            raise ProxyTypeError("get_property takes a name and a proxy type, like get_property('cloud', Float)")
        return cls._from_apply("wf.get", self.properties, Str._promote(name))

    def fill(self, value: Any) -> Image:
        """Masked pixels replaced by ``value`` (and no longer masked)."""
        return Image._from_apply("wf.Image.fill", self, _operand(value, "fill"))


def concat(*imagery: Any) -> ImageCollection:
    """Images and ImageCollections, one after another, as one ImageCollection: ``wf.concat(back, img, fwd)``."""
    if not imagery:
        raise ProxyTypeError("concat takes at least one Image or ImageCollection")
    first = imagery[0]
    if not isinstance(first, Image | ImageCollection):
        raise ProxyTypeError(f"concat takes Images and ImageCollections, not {type(first).__name__}")
    return first.concat(*imagery[1:])


def where(condition: Image, then: Any, otherwise: Any) -> Image:
    """``then`` where ``condition`` is true, else ``otherwise`` (Images or numbers), pixel by pixel."""
    return Image._from_apply("wf.Image.where", Image._promote(condition), _operand(then, "where"),
                             _operand(otherwise, "where"))  # fmt: skip


def _datetime(value: Any) -> Any:
    return NoneType._promote(None) if value is None else Datetime._promote(value)  # (naive: UTC, as the original)


class ImageCollection(_Imagery):
    """Images of one product, oldest first: ``ImageCollection.from_id("landsat", start, end)``."""

    __slots__ = ()
    _computed: list[ImageResult]
    _STATS = {
        None: Float, "images": lambda: Image, "bands": lambda: ImageCollection,
        "pixels": of(List, of(Dict, Str, Float)), frozenset({"images", "pixels"}): of(Dict, Str, Float),
        frozenset({"bands", "pixels"}): of(List, Float), frozenset({"images", "bands"}): lambda: Image,
        frozenset({"images", "bands", "pixels"}): Float,
    }  # fmt: skip

    @classmethod
    def from_id(cls, product_id: Any, start_datetime: Any = None, end_datetime: Any = None, limit: Any = None,
                resampler: str | None = None, processing_level: str | None = None, *,
                resampling: str | None = None) -> ImageCollection:  # fmt: skip
        """The product's images acquired in [start, end) (all of them without bounds), oldest first, at most
        ``limit`` of them; ``resampler`` and ``processing_level`` as :meth:`Image.from_id`."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | Int)):
            raise ProxyTypeError(f"limit is an Int or None, not {type(limit).__name__}")
        method = resampler if resampler is not None else resampling
        most = NoneType._promote(None) if limit is None else Int._promote(limit)
        return cls._from_apply(
            "wf.ImageCollection.from_id", Str._promote(product_id), start_datetime=_datetime(start_datetime),
            end_datetime=_datetime(end_datetime), limit=most, resampler=_optional_str(method, "resampler", _RESAMPLERS),
            processing_level=_optional_str(processing_level, "processing_level"),
        )  # fmt: skip

    @classmethod
    def _promote(cls, obj: Any) -> ImageCollection:
        if isinstance(obj, cls):
            return obj
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to ImageCollection")

    def __init__(self, images: Any) -> None:
        """An ImageCollection of these Images: ``ImageCollection([img1, img2])``."""
        if not isinstance(images, list | tuple) or not all(isinstance(i, Image) for i in images):
            raise ProxyTypeError("ImageCollection(images) takes a list of Images")
        self._node = ImageCollection._from_apply(
            "wf.ImageCollection.from_images", List[Image]._promote(list(images))
        )._node

    def length(self) -> Int:
        """The number of images (an Int)."""
        return Int._from_apply("wf.length", self)

    def head(self, n: Any) -> ImageCollection:
        """The first ``n`` images."""
        return ImageCollection._from_apply("wf.ImageCollection.head", self, Int._promote(n))

    def tail(self, n: Any) -> ImageCollection:
        """The last ``n`` images."""
        return ImageCollection._from_apply("wf.ImageCollection.tail", self, Int._promote(n))

    def partition(self, i: Any) -> Any:
        """The images before index ``i``, and the rest: a Tuple of two ImageCollections."""
        return of(Tuple, ImageCollection, ImageCollection)._from_apply("wf.ImageCollection.partition", self,
                                                                       Int._promote(i))  # fmt: skip

    def __getitem__(self, index: Any) -> Image:
        return Image._from_apply("wf.get", self, Int._promote(index))

    @property
    def properties(self) -> Any:
        """Each image's properties, in order."""
        return of(List, of(Dict, Str, Any_))._from_apply("wf.getattr", self, Str._promote("properties"))

    @property
    def bandinfo(self) -> Any:
        """Each band's name -> its info (in band order)."""
        return of(Dict, Str, of(Dict, Str, Any_))._from_apply("wf.getattr", self, Str._promote("bandinfo"))

    def map(self, fn: Callable[[Image], Any]) -> Any:
        """``fn`` on every image: an ImageCollection if it returns Images, else a List."""
        function = _function(fn, Image)
        result = function._result_type()
        if issubclass(result, Image):
            return ImageCollection._from_apply("wf.map_imagery", self, function)
        return of(List, result)._from_apply("wf.map", self, function)

    def filter(self, fn: Callable[[Image], Any]) -> ImageCollection:
        """The images for which ``fn`` (Image -> Bool, e.g. on ``properties``) is true."""
        function = _function(fn, Image)
        if not issubclass(function._result_type(), Bool):
            raise ProxyTypeError("filter needs a function returning Bool")
        return ImageCollection._from_apply("wf.filter", self, function)

    def sorted(self, key: Callable[[Image], Any], reverse: bool = False) -> ImageCollection:
        """The images ordered by ``key`` (Image -> a comparable value, e.g. a property), stably."""
        function = _function(key, Image)
        return ImageCollection._from_apply("wf.sorted", self, function, reverse=Bool._promote(reverse))

    def groupby(self, key: Callable[[Image], Any]) -> Any:
        """The images grouped by ``key`` (Image -> a Str, Int ... value): a Dict of key -> ImageCollection, each
        group in the collection's order."""
        function = _function(key, Image)
        return of(Dict, function._result_type(), ImageCollection)._from_apply(
            "wf.ImageCollection.groupby", self, function
        )

    def map_window(self, func: Callable[[Any, Any, Any], Any], back: int = 0, fwd: int = 0) -> Any:
        """``func(back, current, fwd)`` over a sliding window: the ``back`` images before each image and the
        ``fwd`` after it (ImageCollections), from the ``back``-th image to the ``fwd``-th last. An ImageCollection
        of the results when ``func`` gives Images or ImageCollections, else a List."""
        function = _function(func, ImageCollection, Image, ImageCollection)
        result = function._result_type()
        args = (self, function, Int._promote(back), Int._promote(fwd))
        if issubclass(result, Image | ImageCollection):
            return ImageCollection._from_apply("wf.ImageCollection.map_window_ic", *args)
        return of(List, result)._from_apply("wf.ImageCollection.map_window", *args)

    def sortby_composite(self, band: str, operation: str = "argmax") -> Image:
        """Each pixel from the image whose ``band`` is greatest there (``argmax``) or least (``argmin``)."""
        if operation not in ("argmax", "argmin"):
            raise ProxyTypeError(f"operation is 'argmax' or 'argmin', not {operation!r}")
        return Image._from_apply("wf.ImageCollection.sortby_composite", self, Str._promote(band),
                                 operation=Str._promote(operation))  # fmt: skip

    def mosaic(self, reverse: bool = False) -> Image:
        """Each pixel from the first image that has data there (the last, with ``reverse``)."""
        return Image._from_apply("wf.mosaic", self, reverse=Bool._promote(reverse))
