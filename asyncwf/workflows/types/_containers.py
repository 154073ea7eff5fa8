"""List[T], Tuple[A, B, ...], Dict[K, V] and slices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar, overload

from asyncwf.graft._syntax import Apply, Node
from asyncwf.workflows.types._core import GenericProxytype, Proxytype, ProxyTypeError, of
from asyncwf.workflows.types._primitives import Any_, Bool, Int, NoneType, Str

__all__ = ["Dict", "List", "Tuple", "zip_"]

#: The item type of a List, the key and value types of a Dict (covariant: proxies are immutable, so a
#: ``List[Int]`` is a ``List[Number]``), and what a function returns.
T = TypeVar("T", bound=Proxytype, covariant=True)
K = TypeVar("K", bound=Proxytype, covariant=True)
V = TypeVar("V", bound=Proxytype, covariant=True)
R = TypeVar("R", bound=Proxytype)


def _check_type(param: Any) -> None:
    if not (isinstance(param, type) and issubclass(param, Proxytype)):
        raise ProxyTypeError(f"type parameters must be proxy types, not {param!r}")


def _index(index: Any) -> Any:
    """An Int index, or a Slice built from a Python slice of ints/Ints/None."""
    if isinstance(index, slice):
        parts = {}
        for name in ("start", "stop", "step"):
            value = getattr(index, name)
            parts[name] = NoneType._promote(None) if value is None else Int._promote(value)
        return Proxytype._from_apply("wf.Slice.create", **parts)
    return Int._promote(index)


def _function(fn: Any, *arg_types: type) -> Any:
    from asyncwf.workflows.types._function import Function

    if isinstance(fn, Function):
        return fn
    if not callable(fn):
        raise ProxyTypeError(f"expected a function, not {type(fn).__name__}")
    return Function.from_callable(fn, *arg_types)


class List(GenericProxytype, Generic[T]):
    """A proxy list whose items are all of type ``T``: ``List[Int]([1, 2, 3])``."""

    __slots__ = ()
    _computed: list[Any]

    @classmethod
    def _check_params(cls, params: tuple[Any, ...]) -> None:
        if len(params) != 1:
            raise ProxyTypeError("List takes exactly one type parameter: List[T]")
        _check_type(params[0])

    def __init__(self, items: Any) -> None:
        self._node = type(self)._promote(items)._node

    @classmethod
    def _item_type(cls) -> type[Proxytype]:
        if not cls._type_params:
            raise ProxyTypeError("use a parametrized List, e.g. List[Int]")
        return cls._type_params[0]  # type: ignore[no-any-return]

    @classmethod
    def _promote(cls, obj: Any) -> Any:
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, list | tuple) and not isinstance(obj, Proxytype):
            item = cls._item_type()
            return cls._from_node(Apply("wf.list", [item._promote(x)._node for x in obj]))
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to {cls.__name__}")

    @overload
    def __getitem__(self, index: Int | int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Self: ...
    def __getitem__(self, index: Int | int | slice) -> T | Self:
        result = type(self) if isinstance(index, slice) else self._item_type()
        return result._from_apply("wf.get", self, _index(index))  # type: ignore[return-value]

    def __add__(self, other: List[T] | list[Any]) -> Self:
        return type(self)._from_apply("wf.add", self, type(self)._promote(other))

    def __mul__(self, times: Int | int) -> Self:
        return type(self)._from_apply("wf.mul", self, Int._promote(times))

    def length(self) -> Int:
        """The number of items (an Int; ``len()`` must return a Python int, so it cannot be lazy)."""
        return Int._from_apply("wf.length", self)

    def contains(self, item: Any) -> Bool:
        """Whether ``item`` is an item of the list (a Bool)."""
        return Bool._from_apply("wf.contains", self, self._item_type()._promote(item))

    def __eq__(self, other: Any) -> Bool:  # type: ignore[override]
        return Bool._from_apply("wf.eq", self, type(self)._promote(other))

    def __ne__(self, other: Any) -> Bool:  # type: ignore[override]
        return Bool._from_apply("wf.ne", self, type(self)._promote(other))

    def __reversed__(self) -> Self:
        return type(self)._from_apply("wf.reversed", self)

    def map(self, fn: Callable[[T], R]) -> List[R]:
        """Apply ``fn`` to every item; the result type is what ``fn`` returns (a proxy type)."""
        function = _function(fn, self._item_type())
        return of(List, function._result_type())._from_apply("wf.map", self, function)  # type: ignore[no-any-return]

    def filter(self, fn: Callable[[T], Bool | bool]) -> Self:
        """The items for which ``fn`` (item -> Bool) is true, in order."""
        function = _function(fn, self._item_type())
        if not issubclass(function._result_type(), Bool | Any_):
            raise ProxyTypeError(f"filter needs a function returning Bool, not {function._result_type().__name__}")
        return type(self)._from_apply("wf.filter", self, function)

    def reduce(self, fn: Callable[[Any, T], Any], initial: Any = None) -> Any:
        """``fn(accumulated, item)`` folded over the items, from ``initial`` when given (else the first item)."""
        item = self._item_type()
        acc_type = item if initial is None else _type_of(initial)
        function = _function(fn, acc_type, item)
        if initial is None:
            return function._result_type()._from_apply("wf.reduce", self, function)
        return function._result_type()._from_apply("wf.reduce", self, function, initial=acc_type._promote(initial))

    def sorted(self, key: Callable[[T], Any] | None = None, reverse: bool = False) -> Self:
        """The items sorted (by ``key`` when given), stably, also with ``reverse``."""
        # Both always named (key None when not given), as the 1.12 client writes them.
        fn = None if key is None else _function(key, self._item_type())
        return type(self)._from_apply("wf.sorted", self, key=fn, reverse=Bool._promote(reverse))

    def __hash__(self) -> int:
        return Proxytype.__hash__(self)


class Tuple(GenericProxytype):
    """A proxy tuple with a type per position: ``Tuple[Int, Str]((1, "a"))``."""

    __slots__ = ()
    _computed: tuple[Any, ...]

    @classmethod
    def _check_params(cls, params: tuple[Any, ...]) -> None:
        for p in params:
            _check_type(p)

    def __init__(self, items: Any) -> None:
        self._node = type(self)._promote(items)._node

    @classmethod
    def _promote(cls, obj: Any) -> Any:
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, tuple | list) and not isinstance(obj, Proxytype):
            types = cls._type_params
            if len(types) != len(obj):
                raise ProxyTypeError(f"{cls.__name__} needs {len(types)} items, got {len(obj)}")
            return cls._from_node(Apply("wf.tuple", [t._promote(x)._node for t, x in zip(types, obj, strict=True)]))
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to {cls.__name__}")

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ProxyTypeError("Tuple indices must be Python ints (the item types differ)")
        types = self._type_params
        if not -len(types) <= index < len(types):
            raise ProxyTypeError(f"index {index} out of range for {type(self).__name__}")
        return types[index]._from_apply("wf.get", self, Int._promote(index))

    def length(self) -> Int:
        """The number of items (an Int)."""
        return Int._from_apply("wf.length", self)

    def __add__(self, other: Any) -> Any:
        """Tuple + Tuple: a Tuple of both's items."""
        right = _type_of(other)._promote(other) if not isinstance(other, Proxytype) else other
        if not isinstance(right, Tuple):
            raise ProxyTypeError(f"can only add a Tuple to a Tuple, not {type(other).__name__}")
        return of(Tuple, *self._type_params, *right._type_params)._from_apply("wf.add", self, right)

    def __eq__(self, other: Any) -> Bool:  # type: ignore[override]
        return Bool._from_apply("wf.eq", self, type(self)._promote(other))

    def __ne__(self, other: Any) -> Bool:  # type: ignore[override]
        return Bool._from_apply("wf.ne", self, type(self)._promote(other))

    def __hash__(self) -> int:
        return Proxytype.__hash__(self)


class Dict(GenericProxytype, Generic[K, V]):
    """A proxy dict: ``Dict[Str, Int]({"a": 1})``."""

    __slots__ = ()
    _computed: dict[Any, Any]

    @classmethod
    def _check_params(cls, params: tuple[Any, ...]) -> None:
        if len(params) != 2:
            raise ProxyTypeError("Dict takes two type parameters: Dict[K, V]")
        for p in params:
            _check_type(p)

    def __init__(self, items: Any) -> None:
        self._node = type(self)._promote(items)._node

    @classmethod
    def _kv(cls) -> tuple[type[Proxytype], type[Proxytype]]:
        if len(cls._type_params) != 2:
            raise ProxyTypeError("use a parametrized Dict, e.g. Dict[Str, Int]")
        return cls._type_params[0], cls._type_params[1]

    @classmethod
    def _promote(cls, obj: Any) -> Any:
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dict):
            key_type, value_type = cls._kv()
            if issubclass(key_type, Str) and all(isinstance(k, str) for k in obj):
                items = {k: value_type._promote(v)._node for k, v in obj.items()}
                return cls._from_node(Apply("wf.dict.create", (), items))
            pairs: list[Node] = [
                node for k, v in obj.items() for node in (key_type._promote(k)._node, value_type._promote(v)._node)
            ]
            return cls._from_node(Apply("wf.dict.create", pairs))
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} to {cls.__name__}")

    def __getitem__(self, key: Any) -> V:
        key_type, value_type = self._kv()
        return value_type._from_apply("wf.get", self, key_type._promote(key))  # type: ignore[return-value]

    def get(self, key: Any, default: Any) -> V:
        """The value at ``key``, or ``default`` when there is none (as ``dict.get``)."""
        key_type, value_type = self._kv()
        value = value_type._from_apply("wf.get", self, key_type._promote(key), value_type._promote(default))
        return value  # type: ignore[return-value]

    def contains(self, key: Any) -> Bool:
        """Whether ``key`` is a key (a Bool; ``key in d`` is Python's and cannot be lazy)."""
        return Bool._from_apply("wf.contains", self, self._kv()[0]._promote(key))

    def keys(self) -> List[K]:
        """The keys, as a List."""
        return of(List, self._kv()[0])._from_apply("wf.dict.keys", self)  # type: ignore[no-any-return]

    def values(self) -> List[V]:
        """The values, as a List."""
        return of(List, self._kv()[1])._from_apply("wf.dict.values", self)  # type: ignore[no-any-return]

    def items(self) -> List[Any]:
        """The (key, value) pairs, as a List of Tuples."""
        key_type, value_type = self._kv()
        return of(List, of(Tuple, key_type, value_type))._from_apply("wf.dict.items", self)  # type: ignore[no-any-return]

    def length(self) -> Int:
        """The number of entries (an Int; ``len()`` must return a Python int, so it cannot be lazy)."""
        return Int._from_apply("wf.length", self)

    def __eq__(self, other: Any) -> Bool:  # type: ignore[override]
        return Bool._from_apply("wf.eq", self, type(self)._promote(other))

    def __ne__(self, other: Any) -> Bool:  # type: ignore[override]
        return Bool._from_apply("wf.ne", self, type(self)._promote(other))

    @classmethod
    def from_pairs(cls, pairs: Any) -> Self:
        """The Dict of a List of (key, value) Tuples: ``Dict[Str, Int].from_pairs([("a", 1)])``."""
        key_type, value_type = cls._kv()
        items = of(List, of(Tuple, key_type, value_type))._promote(pairs)
        return cls._from_apply("wf.dict.from_pairs", items)

    def __hash__(self) -> int:
        return Proxytype.__hash__(self)


def zip_(*seqs: Any) -> List[Any]:
    """``wf.zip(a, b, ...)``: a List of Tuples of the sequences' items, as long as the shortest."""
    lists: list[Any] = [s if isinstance(s, List) else _type_of(s)._promote(s) for s in seqs]
    if not lists or not all(isinstance(s, List) for s in lists):
        raise ProxyTypeError("wf.zip takes Lists")
    items = of(Tuple, *(s._item_type() for s in lists))
    return of(List, items)._from_apply("wf.zip", *lists)  # type: ignore[no-any-return]


def _type_of(value: Any) -> type[Proxytype]:
    if isinstance(value, Proxytype):
        return type(value)
    from asyncwf.workflows.types._proxify import proxify

    return type(proxify(value))
