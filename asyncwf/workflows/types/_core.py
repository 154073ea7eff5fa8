"""Proxytype: the base of every lazy proxy object, and cached covariant generics."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast, overload

from asyncwf.exceptions import AsyncwfError
from asyncwf.graft._syntax import Apply, Graft, KeyRef, LoadedGraft, Node, to_graft

if TYPE_CHECKING:
    from asyncwf.client import Client
    from asyncwf.workflows._job import Job
    from asyncwf.workflows._workflow import Workflow
    from asyncwf.workflows.types._typing import Computes

__all__ = ["GenericProxytype", "Proxytype", "ProxyTypeError", "blocking_class", "node_of", "of"]

P = TypeVar("P", bound="Proxytype")
V = TypeVar("V")


class ProxyTypeError(AsyncwfError, TypeError):
    """A proxy operation got operands of the wrong types (raised while building)."""


class _GenericMeta(type):
    """``List[Int]`` is a cached subclass of ``List``; ``List[Int]`` is a ``List[Number]`` (covariance)."""

    _cache: ClassVar[dict[tuple[type, tuple[Any, ...]], type]] = {}

    def __getitem__(cls, params: Any) -> Any:
        if not isinstance(params, tuple):
            params = (params,)
        base = getattr(cls, "_generic_base", None) or cls
        if getattr(cls, "_type_params", None):
            raise ProxyTypeError(f"{cls.__name__} is already parametrized")
        key = (base, tuple(_freeze(p) for p in params))
        cached = _GenericMeta._cache.get(key)
        if cached is not None:
            return cached
        cast(Any, base)._check_params(params)
        name = f"{base.__name__}[{', '.join(_param_name(p) for p in params)}]"
        concrete = type(cls)(
            name, (base,), {"_type_params": tuple(params), "_generic_base": base, "__module__": base.__module__}
        )
        _GenericMeta._cache[key] = concrete
        return concrete

    def __subclasscheck__(cls, sub: type) -> bool:
        if type.__subclasscheck__(cls, sub):
            return True
        params = cls.__dict__.get("_type_params", ())
        base = cls.__dict__.get("_generic_base")
        if not params or base is None or not isinstance(sub, _GenericMeta):
            return False
        sub_params = getattr(sub, "_type_params", ())
        if not type.__subclasscheck__(base, sub) or len(sub_params) != len(params):
            return False
        return all(_param_subclass(s, p) for s, p in zip(sub_params, params, strict=True))

    def __instancecheck__(cls, obj: object) -> bool:
        if type.__instancecheck__(cls, obj):
            return True
        return bool(cls.__dict__.get("_type_params")) and cls.__subclasscheck__(type(obj))


def _freeze(param: Any) -> Any:
    if isinstance(param, dict):
        return tuple(sorted(param.items()))
    if isinstance(param, list):
        return tuple(param)
    return param


def _param_name(param: Any) -> str:
    if isinstance(param, dict):
        return "{" + ", ".join(f"{k!r}: {_param_name(v)}" for k, v in param.items()) + "}"
    return getattr(param, "__name__", repr(param))


def _param_subclass(sub: Any, sup: Any) -> bool:
    if isinstance(sub, dict) and isinstance(sup, dict):
        return sub.keys() == sup.keys() and all(_param_subclass(sub[k], sup[k]) for k in sub)
    if isinstance(sub, type) and isinstance(sup, type):
        return issubclass(sub, sup)
    return bool(sub == sup)


class Proxytype(metaclass=_GenericMeta):
    """A lazy value: operations build a graft; nothing runs until it is computed."""

    __slots__ = ("_node",)
    _node: Node
    _type_params: ClassVar[tuple[Any, ...]] = ()
    _generic_base: ClassVar[type | None] = None
    #: True on the blocking proxies of ``asyncwf.blocking.workflows`` (whose ``compute()`` blocks).
    _blocking: ClassVar[bool] = False
    #: For type checkers: the Python type this proxy computes to.
    _computed: Any

    @classmethod
    def _check_params(cls, params: tuple[Any, ...]) -> None:
        raise ProxyTypeError(f"{cls.__name__} takes no type parameters")

    @classmethod
    def _from_node(cls: type[P], node: Node) -> P:
        obj = object.__new__(cls)
        obj._node = node
        return obj

    @classmethod
    def _from_graft(cls: type[P], graft: Graft) -> P:
        """Wrap a graft loaded from JSON (its keys are isolated when written)."""
        if set(graft) == {"returns"}:
            return cls._from_node(KeyRef(graft["returns"]))
        return cls._from_node(LoadedGraft(graft))

    @classmethod
    def _from_apply(cls: type[P], fn: str | Proxytype, *args: Any, **kwargs: Any) -> P:
        """The result of applying ``fn``: a blocking proxy when an operand is one (it stays blocking)."""
        fn_node = fn if isinstance(fn, str) else fn._node
        node = Apply(fn_node, [node_of(a) for a in args], {k: node_of(v) for k, v in kwargs.items()})
        if not cls._blocking and (_any_blocking(args) or _any_blocking(kwargs.values())):
            return blocking_class(cls)._from_node(node)
        return cls._from_node(node)

    @classmethod
    def _promote(cls: type[P], obj: Any) -> P:
        if isinstance(obj, cls):
            return obj
        raise ProxyTypeError(f"cannot promote {type(obj).__name__} {obj!r} to {cls.__name__}")

    @property
    def graft(self) -> Graft:
        """The graft (JSON-serializable dict) of this object."""
        return to_graft(self._node)

    @property
    def params(self) -> frozenset[str]:
        """Names of the ``wf.parameter`` s this object depends on."""
        return self._node.free

    def __bool__(self) -> bool:
        raise ProxyTypeError(f"truth value of a {type(self).__name__} proxy is unknown until computed; use wf.ifelse")

    def __len__(self) -> int:
        raise ProxyTypeError(f"len() of a {type(self).__name__} proxy is unknown; use .length()")

    def __iter__(self) -> Any:
        raise ProxyTypeError(f"a {type(self).__name__} proxy cannot be iterated in Python; use .map()")

    def __contains__(self, item: object) -> bool:
        raise ProxyTypeError(f"'in' cannot test a {type(self).__name__} proxy; use .contains()")

    def __hash__(self) -> int:
        return hash(self._node.key)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._node.key}>"

    @overload
    def compute(
        self: Computes[V],
        geoctx: Any = None,
        timeout: float | None = None,
        block: Literal[True] = True,
        progress_bar: bool | None = None,
        channel: str | None = None,
        client: Client | None = None,
        **params: Any,
    ) -> Coroutine[Any, Any, V]: ...
    @overload
    def compute(
        self,
        geoctx: Any = None,
        timeout: float | None = None,
        *,
        block: Literal[False],
        progress_bar: bool | None = None,
        channel: str | None = None,
        client: Client | None = None,
        **params: Any,
    ) -> Coroutine[Any, Any, Job]: ...
    @overload
    def compute(
        self,
        geoctx: Any,
        timeout: float | None,
        block: Literal[False],
        progress_bar: bool | None = None,
        channel: str | None = None,
        client: Client | None = None,
        **params: Any,
    ) -> Coroutine[Any, Any, Job]: ...
    def compute(
        self,
        geoctx: Any = None,
        timeout: float | None = None,
        block: bool = True,
        progress_bar: bool | None = None,
        channel: str | None = None,
        client: Client | None = None,
        **params: Any,
    ) -> Coroutine[Any, Any, Any]:
        """Compute this object: ``await obj.compute(geoctx)`` is ``await wf.compute(obj, geoctx=geoctx)``.

        ``geoctx`` comes first, as on the original's proxy objects (``img.compute(geoctx)``);
        the other arguments are :func:`asyncwf.workflows.compute`'s. The blocking proxies of
        ``asyncwf.blocking.workflows`` block and return the result instead.
        """
        from asyncwf.workflows._toplevel import compute

        if geoctx is not None:
            params["geoctx"] = geoctx
        return compute(self, timeout, block, progress_bar, channel, client, **params)  # type: ignore[call-overload, no-any-return]

    def publish(
        self, name: str = "", description: str = "", client: Client | None = None
    ) -> Coroutine[Any, Any, Workflow]:
        """Publish this object as a Workflow: ``await obj.publish(name)`` is ``await wf.publish(obj, name)``."""
        from asyncwf.workflows._workflow import publish

        return publish(self, name, description, client)


def _any_blocking(values: Any) -> bool:
    for value in values:  # noqa: SIM110  (a loop: no generator per operation on the graft-building path)
        if isinstance(value, Proxytype) and value._blocking:
            return True
    return False


#: async proxy class -> its blocking twin (filled as ``asyncwf.blocking`` defines them).
BLOCKING_TWINS: dict[type, type] = {}


def blocking_class(cls: type[P]) -> type[P]:
    """The blocking proxy class of ``cls`` (itself when it is one): same graft, ``compute()`` blocks."""
    if cls._blocking:
        return cls
    twin = BLOCKING_TWINS.get(cls)
    if twin is not None:
        return cast(type[P], twin)
    if not BLOCKING_TWINS:
        import asyncwf.blocking._proxytypes  # noqa: F401  (defines the twins)
    params = cls.__dict__.get("_type_params")
    if params and cls._generic_base is not None:
        twin = cast(Any, blocking_class(cls._generic_base))[params]
    else:
        base = next(k for k in cls.__mro__ if k in BLOCKING_TWINS)  # the nearest class with a twin
        twin = BLOCKING_TWINS[base]
    BLOCKING_TWINS[cls] = twin
    return cast(type[P], twin)


class GenericProxytype(Proxytype):
    """Base of types with type parameters (``List[Int]``)."""

    __slots__ = ()


def of(generic: Any, *params: Any) -> Any:
    """``generic[params]`` for type parameters known only at run time (``of(List, item_type)``)."""
    return generic[params if len(params) != 1 else params[0]]


def node_of(value: Any) -> Node:
    """The graft node of a proxy object or of a plain Python value (proxified)."""
    if isinstance(value, Proxytype):
        return value._node
    from asyncwf.workflows.types._proxify import proxify

    return proxify(value)._node
