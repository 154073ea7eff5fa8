"""Any, NoneType, Bool, Number, Int, Float, Str."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

from asyncwf.graft._syntax import Apply, int_literal, literal
from asyncwf.workflows.types._core import Proxytype, ProxyTypeError

if TYPE_CHECKING:
    from asyncwf.workflows.types._containers import List
    from asyncwf.workflows.types._typing import BoolOp, FloatOp, IntOp, NumberOp

__all__ = ["Any_", "Bool", "Float", "Int", "NoneType", "Number", "Primitive", "Str"]


class Primitive(Proxytype):
    """A proxy of a Python scalar."""

    __slots__ = ()
    _pytype: tuple[type, ...] = ()

    def __init__(self, value: Any) -> None:
        cls = type(self)
        cast = getattr(cls, "cast", None)
        if isinstance(value, Any_):  # Int(an Any): the same value, typed (as the original; no cast is applied)
            self._node = value._node
            return
        if isinstance(value, Primitive) and not isinstance(value, cls) and cast is not None:
            self._node = cast(value)._node  # Int(Float(3.7)) is a cast, as in the original
            return
        self._node = cls._promote(value)._node

    @classmethod
    def _promote(cls, obj: Any) -> Any:
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, Proxytype):
            raise ProxyTypeError(f"cannot promote {type(obj).__name__} to {cls.__name__}")
        if cls._accepts(obj):
            return cls._from_node(literal(cls._convert(obj)))
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} {obj!r} to {cls.__name__}")

    @classmethod
    def _accepts(cls, obj: Any) -> bool:
        return isinstance(obj, cls._pytype)

    @classmethod
    def _convert(cls, obj: Any) -> Any:
        return obj

    def _cmp(self, other: Any, name: str) -> Bool:
        try:
            right = _peer(self, other)
        except ProxyTypeError as exc:
            raise ProxyTypeError(f"cannot compare {type(self).__name__} with {type(other).__name__} ({name})") from exc
        return Bool._from_apply(f"wf.{name}" if not isinstance(self, Number) else _NUMPY_CMP[name], self, right)

    def __eq__(self, other: Any) -> Bool:  # type: ignore[override]
        return self._cmp(other, "eq")

    def __ne__(self, other: Any) -> Bool:  # type: ignore[override]
        return self._cmp(other, "ne")

    __hash__ = Proxytype.__hash__


_NUMPY_CMP = {
    "eq": "wf.numpy.equal", "ne": "wf.numpy.not_equal", "lt": "wf.numpy.less", "le": "wf.numpy.less_equal",
    "gt": "wf.numpy.greater", "ge": "wf.numpy.greater_equal",
}  # fmt: skip


def _peer(left: Primitive, other: Any) -> Any:
    """``other`` promoted to be compared or combined with ``left``."""
    if isinstance(left, Number):
        return Number._promote(other)
    return type(left)._promote(other)


def _operator_pair(fn: str, symbol: str, *, always_float: bool = False) -> tuple[Any, Any]:
    """``__op__`` and ``__rop__`` of a Number operator applying builtin ``fn``."""

    def forward(self: Number, other: Any) -> Any:
        cls = type(self)
        if type(other) is int and not always_float and (cls is Int or cls is Float):
            # Hot path (Int or Float op a Python int): what _binary builds, without the dispatch.
            obj = object.__new__(cls)
            obj._node = Apply(fn, (self._node, int_literal(other)))
            return obj
        return self._binary(other, fn, symbol, result=Float if always_float else None)

    def reverse(self: Number, other: Any) -> Any:
        cls = type(self)
        if type(other) is int and not always_float and (cls is Int or cls is Float):
            obj = object.__new__(cls)
            obj._node = Apply(fn, (int_literal(other), self._node))
            return obj
        return self._binary(other, fn, symbol, reverse=True, result=Float if always_float else None)

    return forward, reverse


def _orderings() -> tuple[Any, Any, Any, Any]:
    """``<``, ``<=``, ``>``, ``>=`` through the type's ``_cmp``."""

    def make(name: str) -> Any:
        def compare(self: Primitive, other: Any) -> Bool:
            return self._cmp(other, name)

        compare.__name__ = f"__{name}__"
        return compare

    return make("lt"), make("le"), make("gt"), make("ge")


def _any_binary(fn: str) -> tuple[Any, Any]:
    """``__op__`` and ``__rop__`` of Any: the application the typed operator would build (checked when run)."""

    def forward(self: Any_, other: Any) -> Any_:
        return Any_._from_apply(fn, self, other)

    def reverse(self: Any_, other: Any) -> Any_:
        return Any_._from_apply(fn, other, self)

    return forward, reverse


def _any_compare(fn: str) -> Any:
    """A comparison with an Any: a Bool (usable in ``filter`` and ``ifelse``), checked when run."""

    def compare(self: Any_, other: Any) -> Bool:
        return Bool._from_apply(fn, self, other)

    return compare


def _any_unary(fn: str) -> Any:
    def method(self: Any_) -> Any_:
        return Any_._from_apply(fn, self)

    return method


class Any_(Proxytype):
    """Any type: anything promotes to it; the backend checks types when it runs."""

    __slots__ = ()
    _computed: Any

    def __init__(self, value: Any) -> None:
        self._node = Any_._promote(value)._node

    # An Any has every operator: the backend checks the operands' types when it runs (as the original's did).
    __add__, __radd__ = _any_binary("wf.add")
    __sub__, __rsub__ = _any_binary("wf.sub")
    __mul__, __rmul__ = _any_binary("wf.mul")
    __truediv__, __rtruediv__ = _any_binary("wf.numpy.true_divide")
    __floordiv__, __rfloordiv__ = _any_binary("wf.numpy.floor_divide")
    __mod__, __rmod__ = _any_binary("wf.numpy.remainder")
    __pow__, __rpow__ = _any_binary("wf.numpy.power")
    __and__, __rand__ = _any_binary("wf.numpy.logical_and")
    __or__, __ror__ = _any_binary("wf.numpy.logical_or")
    __lt__, __gt__ = _any_compare("wf.lt"), _any_compare("wf.gt")
    __le__, __ge__ = _any_compare("wf.le"), _any_compare("wf.ge")
    __eq__, __ne__ = _any_compare("wf.eq"), _any_compare("wf.ne")
    __neg__ = _any_unary("wf.numpy.negative")
    __invert__ = _any_unary("wf.numpy.logical_not")
    __hash__ = Proxytype.__hash__

    def __getitem__(self, key: Any) -> Any_:
        return Any_._from_apply("wf.get", self, key)

    @classmethod
    def _promote(cls, obj: Any) -> Any_:
        if isinstance(obj, Proxytype):
            return cls._from_node(obj._node)
        from asyncwf.workflows.types._proxify import proxify

        return cls._from_node(proxify(obj)._node)


Any_.__name__ = Any_.__qualname__ = "Any"


class NoneType(Primitive):
    __slots__ = ()
    _pytype = (type(None),)
    _computed: None


class Bool(Primitive):
    """A proxy bool. ``&``, ``|``, ``^``, ``~`` are logical and, or, xor, not."""

    __slots__ = ()
    _pytype = (bool,)
    _computed: bool

    def _logic(self, other: Any, name: str) -> Bool:
        return Bool._from_apply(f"wf.numpy.logical_{name}", self, Bool._promote(other))

    def __and__(self, other: Any) -> Bool:
        return self._logic(other, "and")

    def __or__(self, other: Any) -> Bool:
        return self._logic(other, "or")

    def __xor__(self, other: Any) -> Bool:
        return self._logic(other, "xor")

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __invert__(self) -> Bool:
        return Bool._from_apply("wf.numpy.logical_not", self)


class Number(Primitive):
    """Int or Float. Int and Float never promote into each other; a Float anywhere makes a Float."""

    __slots__ = ()
    _computed: float

    @classmethod
    def _promote(cls, obj: Any) -> Any:
        if cls is Number:
            if isinstance(obj, Number):
                return obj
            if isinstance(obj, bool):
                raise ProxyTypeError("a Bool is not a Number")
            if isinstance(obj, int):
                return Int._promote(obj)
            if isinstance(obj, float):
                return Float._promote(obj)
            raise ProxyTypeError(f"cannot promote {type(obj).__name__} {obj!r} to Number")
        return super()._promote(obj)

    def _result(self, other: Number) -> type[Number]:
        return Float if isinstance(self, Float) or isinstance(other, Float) else Int

    def _binary(
        self, other: Any, fn: str, name: str, *, reverse: bool = False, result: type[Proxytype] | None = None
    ) -> Any:
        try:
            right = Number._promote(other)
        except ProxyTypeError as exc:
            raise ProxyTypeError(
                f"unsupported operand types for {name}: {type(self).__name__} and {type(other).__name__}"
            ) from exc
        out = result or self._result(right)
        return out._from_apply(fn, right, self) if reverse else out._from_apply(fn, self, right)

    __add__: ClassVar[NumberOp[Number]]
    __radd__: ClassVar[NumberOp[Number]]
    __sub__: ClassVar[NumberOp[Number]]
    __rsub__: ClassVar[NumberOp[Number]]
    __mul__: ClassVar[NumberOp[Number]]
    __rmul__: ClassVar[NumberOp[Number]]
    __truediv__: ClassVar[FloatOp[Float]]
    __rtruediv__: ClassVar[FloatOp[Float]]
    __floordiv__: ClassVar[NumberOp[Number]]
    __rfloordiv__: ClassVar[NumberOp[Number]]
    __mod__: ClassVar[NumberOp[Number]]
    __rmod__: ClassVar[NumberOp[Number]]
    __pow__: ClassVar[NumberOp[Number]]
    __rpow__: ClassVar[NumberOp[Number]]
    __lt__: ClassVar[BoolOp[Bool]]
    __le__: ClassVar[BoolOp[Bool]]
    __gt__: ClassVar[BoolOp[Bool]]
    __ge__: ClassVar[BoolOp[Bool]]

    __add__, __radd__ = _operator_pair("wf.numpy.add", "+")
    __sub__, __rsub__ = _operator_pair("wf.numpy.subtract", "-")
    __mul__, __rmul__ = _operator_pair("wf.numpy.multiply", "*")
    __truediv__, __rtruediv__ = _operator_pair("wf.numpy.true_divide", "/", always_float=True)
    __floordiv__, __rfloordiv__ = _operator_pair("wf.numpy.floor_divide", "//")
    __mod__, __rmod__ = _operator_pair("wf.numpy.remainder", "%")
    __pow__, __rpow__ = _operator_pair("wf.numpy.power", "**")

    def __divmod__(self, other: Number | float) -> Any:
        """``divmod(a, b)``: a Tuple of the floor quotient and the remainder."""
        from asyncwf.workflows.types._containers import Tuple
        from asyncwf.workflows.types._core import of

        right = self._binary_operand(other, "divmod")
        kind = self._result(right)
        return of(Tuple, kind, kind)._from_apply("wf.divmod", self, right)

    def __rdivmod__(self, other: Number | float) -> Any:
        from asyncwf.workflows.types._containers import Tuple
        from asyncwf.workflows.types._core import of

        left = self._binary_operand(other, "divmod")
        kind = self._result(left)
        return of(Tuple, kind, kind)._from_apply("wf.divmod", left, self)

    def _binary_operand(self, other: Any, name: str) -> Number:
        try:
            return Number._promote(other)  # type: ignore[no-any-return]
        except ProxyTypeError as exc:
            raise ProxyTypeError(f"unsupported operand types for {name}: {type(self).__name__} and "
                                 f"{type(other).__name__}") from exc  # fmt: skip

    def __neg__(self) -> Self:
        return type(self)._from_apply("wf.numpy.negative", self)

    def __pos__(self) -> Self:
        return type(self)._from_apply("wf.pos", self)

    def __abs__(self) -> Self:
        return type(self)._from_apply("wf.numpy.absolute", self)

    __lt__, __le__, __gt__, __ge__ = _orderings()

    __hash__ = Primitive.__hash__


class Int(Number):
    """A proxy int. Also has the bitwise operators and ``~``."""

    __slots__ = ()
    _pytype = (int,)
    _computed: int
    __add__: ClassVar[IntOp[Int, Float, Number]]
    __radd__: ClassVar[IntOp[Int, Float, Number]]
    __sub__: ClassVar[IntOp[Int, Float, Number]]
    __rsub__: ClassVar[IntOp[Int, Float, Number]]
    __mul__: ClassVar[IntOp[Int, Float, Number]]
    __rmul__: ClassVar[IntOp[Int, Float, Number]]
    __floordiv__: ClassVar[IntOp[Int, Float, Number]]
    __rfloordiv__: ClassVar[IntOp[Int, Float, Number]]
    __mod__: ClassVar[IntOp[Int, Float, Number]]
    __rmod__: ClassVar[IntOp[Int, Float, Number]]
    __pow__: ClassVar[IntOp[Int, Float, Number]]
    __rpow__: ClassVar[IntOp[Int, Float, Number]]

    @classmethod
    def _accepts(cls, obj: Any) -> bool:
        return isinstance(obj, int) and not isinstance(obj, bool)

    def _bitwise(self, other: Any, fn: str, name: str, reverse: bool = False) -> Int:
        if isinstance(other, Float | float):
            raise ProxyTypeError(f"unsupported operand types for {name}: Int and Float")
        right = Int._promote(other)
        return Int._from_apply(fn, right, self) if reverse else Int._from_apply(fn, self, right)

    def __and__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.and", "&")

    def __or__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.or", "|")

    def __xor__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.xor", "^")

    def __lshift__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.lshift", "<<")

    def __rshift__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.rshift", ">>")

    def __rand__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.and", "&", reverse=True)

    def __ror__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.or", "|", reverse=True)

    def __rxor__(self, other: Any) -> Int:
        return self._bitwise(other, "wf.xor", "^", reverse=True)

    def __invert__(self) -> Int:
        return Int._from_apply("wf.invert", self)

    @classmethod
    def cast(cls, value: Any) -> Self:
        """Convert a Float, Bool or Str to Int (in the backend)."""
        return cls._from_apply("wf.Int.cast", _castable(value))

    __hash__ = Number.__hash__


class Float(Number):
    """A proxy float: arithmetic with any number gives a Float."""

    __slots__ = ()
    _pytype = (float, int)
    _computed: float
    __add__: ClassVar[FloatOp[Float]]
    __radd__: ClassVar[FloatOp[Float]]
    __sub__: ClassVar[FloatOp[Float]]
    __rsub__: ClassVar[FloatOp[Float]]
    __mul__: ClassVar[FloatOp[Float]]
    __rmul__: ClassVar[FloatOp[Float]]
    __floordiv__: ClassVar[FloatOp[Float]]
    __rfloordiv__: ClassVar[FloatOp[Float]]
    __mod__: ClassVar[FloatOp[Float]]
    __rmod__: ClassVar[FloatOp[Float]]
    __pow__: ClassVar[FloatOp[Float]]
    __rpow__: ClassVar[FloatOp[Float]]

    @classmethod
    def _accepts(cls, obj: Any) -> bool:
        return isinstance(obj, float | int) and not isinstance(obj, bool)

    @classmethod
    def _convert(cls, obj: Any) -> Any:
        return float(obj)

    @classmethod
    def cast(cls, value: Any) -> Self:
        """Convert an Int, Bool or Str to Float (in the backend)."""
        return cls._from_apply("wf.Float.cast", _castable(value))

    __hash__ = Number.__hash__


def _optional_str(value: Any) -> Any:
    return NoneType._promote(None) if value is None else Str._promote(value)


def _castable(value: Any) -> Proxytype:
    if isinstance(value, Proxytype):
        return value
    from asyncwf.workflows.types._proxify import proxify

    return proxify(value)


class Str(Primitive):
    """A proxy str with the common string methods."""

    __slots__ = ()
    _pytype = (str,)
    _computed: str

    def __add__(self, other: Str | str) -> Str:
        return Str._from_apply("wf.add", self, Str._promote(other))

    def __radd__(self, other: Str | str) -> Str:
        return Str._from_apply("wf.add", Str._promote(other), self)

    def __mul__(self, other: Int | int) -> Str:
        if not isinstance(other, Int | int) or isinstance(other, bool):
            raise ProxyTypeError(f"a Str repeats by an Int (Str * 3), not by a {type(other).__name__}")
        return Str._from_apply("wf.mul", self, Int._promote(other))

    __rmul__ = __mul__

    __lt__, __le__, __gt__, __ge__ = _orderings()

    def __getitem__(self, index: Any) -> Str:
        from asyncwf.workflows.types._containers import _index

        return Str._from_apply("wf.get", self, _index(index))

    def length(self) -> Int:
        """The number of characters (an Int)."""
        return Int._from_apply("wf.length", self)

    def contains(self, sub: Any) -> Bool:
        """Whether ``sub`` occurs in the string (a Bool)."""
        return Bool._from_apply("wf.contains", self, Str._promote(sub))

    def _method(self, name: str, result: type[Proxytype], *args: Any, **kwargs: Any) -> Any:
        return result._from_apply(f"wf.Str.{name}", self, *args, **kwargs)

    def upper(self) -> Str:
        """As ``str.upper``."""
        return self._method("upper", Str)  # type: ignore[no-any-return]

    def lower(self) -> Str:
        """As ``str.lower``."""
        return self._method("lower", Str)  # type: ignore[no-any-return]

    def strip(self, chars: Str | str | None = None) -> Str:
        """As ``str.strip``."""
        return self._method("strip", Str, chars=_optional_str(chars))  # type: ignore[no-any-return]

    def lstrip(self, chars: Str | str | None = None) -> Str:
        """As ``str.lstrip``."""
        return self._method("lstrip", Str, chars=_optional_str(chars))  # type: ignore[no-any-return]

    def rstrip(self, chars: Str | str | None = None) -> Str:
        """As ``str.rstrip``."""
        return self._method("rstrip", Str, chars=_optional_str(chars))  # type: ignore[no-any-return]

    def title(self) -> Str:
        """As ``str.title``."""
        return self._method("title", Str)  # type: ignore[no-any-return]

    def zfill(self, width: Int | int) -> Str:
        """As ``str.zfill``: padded with zeros on the left to ``width``."""
        return self._method("zfill", Str, Int._promote(width))  # type: ignore[no-any-return]

    def format(self, *args: Any, **kwargs: Any) -> Str:
        """``str.format`` in the backend: fields by position or name (``"{0} {name}"``)."""
        from asyncwf.workflows.types._proxify import proxify

        positional = [proxify(a) for a in args]
        named = {k: proxify(v) for k, v in kwargs.items()}
        return self._method("format", Str, *positional, **named)  # type: ignore[no-any-return]

    def capitalize(self) -> Str:
        """As ``str.capitalize``."""
        return self._method("capitalize", Str)  # type: ignore[no-any-return]

    def replace(self, old: Any, new: Any, count: Int | int = -1) -> Str:
        """As ``str.replace`` (the result's size is bounded by the backend)."""
        return self._method(  # type: ignore[no-any-return]
            "replace", Str, Str._promote(old), Str._promote(new), count=Int._promote(count)
        )

    def startswith(self, prefix: Any) -> Bool:
        """As ``str.startswith``."""
        return self._method("startswith", Bool, Str._promote(prefix))  # type: ignore[no-any-return]

    def endswith(self, suffix: Any) -> Bool:
        """As ``str.endswith``."""
        return self._method("endswith", Bool, Str._promote(suffix))  # type: ignore[no-any-return]

    def find(self, sub: Any) -> Int:
        """As ``str.find``: the index of ``sub``, or -1."""
        return self._method("find", Int, Str._promote(sub))  # type: ignore[no-any-return]

    def count(self, sub: Any) -> Int:
        """As ``str.count``."""
        return self._method("count", Int, Str._promote(sub))  # type: ignore[no-any-return]

    def split(self, sep: Str | str | None = None, maxsplit: Int | int = -1) -> List[Str]:
        """As ``str.split``: a List of Str."""
        from asyncwf.workflows.types._containers import List

        return self._method(  # type: ignore[no-any-return]
            "split", List[Str], sep=_optional_str(sep), maxsplit=Int._promote(maxsplit)
        )

    def join(self, items: Any) -> Str:
        """As ``str.join``: the items of a List of Str joined by this string."""
        from asyncwf.workflows.types._containers import List

        return Str._from_apply("wf.Str.join", self, List[Str]._promote(items))

    __hash__ = Primitive.__hash__
