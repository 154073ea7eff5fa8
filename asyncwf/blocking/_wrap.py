"""Generate synchronous twins of async functions, async generators and classes.

One implementation serves both APIs: a twin forwards every call to the async
original through the shared portal. Coroutines become plain functions, async
generators become iterators, async context managers become context managers,
and objects of wrapped classes come back wrapped.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from asyncwf.blocking._portal import call_async, call_sync

__all__ = ["BlockingProxy", "context_twin", "twin", "twin_class", "unwrap", "wrap"]

_TWINS: dict[type, type[BlockingProxy]] = {}


class BlockingProxy:
    """Base of generated twins; ``_async`` is the wrapped async object."""

    __slots__ = ("_async",)
    __wrapped_class__: type = object

    @classmethod
    def _from_async(cls, obj: Any) -> BlockingProxy:
        inst = object.__new__(cls)
        object.__setattr__(inst, "_async", obj)
        return inst

    def __getattr__(self, name: str) -> Any:
        value = call_sync(getattr, object.__getattribute__(self, "_async"), name)
        return _wrap_member(value)

    def __repr__(self) -> str:
        return f"<blocking {self._async!r}>"

    def __eq__(self, other: object) -> bool:
        return bool(self._async == unwrap(other))

    def __hash__(self) -> int:
        return hash(self._async)


def wrap(value: Any) -> Any:
    """Wrap an async-API object (or a list/tuple of them) in its twin."""
    if isinstance(value, BlockingProxy):
        return value
    for klass in type(value).__mro__:
        twin_cls = _TWINS.get(klass)
        if twin_cls is not None:
            return twin_cls._from_async(value)
    if _is_async_object(type(value)):
        # An object with async methods asyncwf returned (an open file, a context manager ...): twin it too.
        return twin_class(type(value))._from_async(value)
    if type(value) is list:
        return [wrap(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list | set | frozenset):
        # Containers of async objects (a FilterSet of Datafiles ...) keep their type, with twins inside.
        items = [wrap(v) for v in value]
        if any(a is not b for a, b in zip(items, value, strict=True)):
            return type(value)(items)
    if isinstance(value, dict) and type(value) is not dict:
        pairs = {k: wrap(v) for k, v in value.items()}
        if any(pairs[k] is not v for k, v in value.items()):
            return type(value)(pairs)
    return value


_ASYNC_TYPES: dict[type, bool] = {}


def _is_async_object(cls: type) -> bool:
    found = _ASYNC_TYPES.get(cls)
    if found is None:
        found = _ASYNC_TYPES[cls] = not issubclass(cls, type) and cls.__module__ != "builtins" and needs_twin(cls)
    return found


def unwrap(value: Any) -> Any:
    """The async object behind a twin (recursively through lists, tuples and dicts)."""
    if isinstance(value, BlockingProxy):
        return object.__getattribute__(value, "_async")
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


def _iterate(agen: Any) -> Iterator[Any]:
    try:
        while True:
            try:
                item = call_async(agen.__anext__)
            except StopAsyncIteration:
                return
            yield wrap(item)
    finally:
        call_async(agen.aclose)


def _wrap_member(value: Any) -> Any:
    if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value):
        return twin(value)
    if inspect.ismethod(value) or inspect.isfunction(value):
        return _sync_passthrough(value)
    return wrap(value)


def twin(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The blocking twin of a coroutine function or async generator function."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        def iterate(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return _iterate(fn(*unwrap(args), **unwrap(kwargs)))

        iterate.__blocking_twin__ = True  # type: ignore[attr-defined]
        return iterate

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return wrap(call_async(fn, *unwrap(args), **unwrap(kwargs)))

    call.__blocking_twin__ = True  # type: ignore[attr-defined]
    return call


def context_twin(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The blocking twin of a function returning an async context manager: returns a ``with`` one."""
    return _sync_passthrough(fn)


def _sync_passthrough(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return wrap(call_sync(fn, *unwrap(args), **unwrap(kwargs)))

    return call


def _method(name: str, member: Any) -> Any:
    """A twin method forwarding ``name`` to the async object."""
    raw = member.__func__ if isinstance(member, classmethod | staticmethod) else member
    is_async_gen = inspect.isasyncgenfunction(raw)
    is_coro = inspect.iscoroutinefunction(raw)

    if isinstance(member, classmethod | staticmethod):

        def static_call(cls_or_none: Any, *args: Any, **kwargs: Any) -> Any:
            target = getattr(cls_or_none.__wrapped_class__, name)
            if is_async_gen:
                return _iterate(target(*unwrap(args), **unwrap(kwargs)))
            if is_coro:
                return wrap(call_async(target, *unwrap(args), **unwrap(kwargs)))
            return wrap(call_sync(target, *unwrap(args), **unwrap(kwargs)))

        functools.update_wrapper(static_call, raw)
        if is_async_gen or is_coro:
            static_call.__blocking_twin__ = True  # type: ignore[attr-defined]
        return classmethod(static_call)

    def method(self: BlockingProxy, *args: Any, **kwargs: Any) -> Any:
        bound = getattr(object.__getattribute__(self, "_async"), name)
        if is_async_gen:
            return _iterate(bound(*unwrap(args), **unwrap(kwargs)))
        if is_coro:
            return wrap(call_async(bound, *unwrap(args), **unwrap(kwargs)))
        return wrap(call_sync(bound, *unwrap(args), **unwrap(kwargs)))

    functools.update_wrapper(method, raw)
    if is_async_gen or is_coro:
        method.__blocking_twin__ = True  # type: ignore[attr-defined]
    return method


def _property(name: str, prop: property) -> property:
    def get(self: BlockingProxy) -> Any:
        return wrap(call_sync(getattr, object.__getattribute__(self, "_async"), name))

    def set_(self: BlockingProxy, value: Any) -> None:
        call_sync(setattr, object.__getattribute__(self, "_async"), name, unwrap(value))

    return property(get, set_ if prop.fset is not None else None, doc=prop.__doc__)


def _iter_members(self: BlockingProxy) -> Iterator[Any]:
    members: list[Any] = call_sync(list, object.__getattribute__(self, "_async"))
    return iter([wrap(member) for member in members])


async def _construct_loaded(cls: type, args: Any, kwargs: Any) -> Any:
    return await cls(*args, **kwargs)


def needs_twin(cls: type) -> bool:
    """True when a class has async methods, async generators or is an async context manager."""
    for _, member in inspect.getmembers_static(cls):
        raw = member.__func__ if isinstance(member, classmethod | staticmethod) else member
        if inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw):
            return True
    return False


def twin_class(cls: type) -> type[BlockingProxy]:
    """The blocking twin of an async class (created once)."""
    if cls in _TWINS:
        return _TWINS[cls]
    namespace: dict[str, Any] = {
        "__doc__": cls.__doc__,
        "__module__": "asyncwf.blocking",
        "__qualname__": cls.__name__,
        "__wrapped_class__": cls,
        "__slots__": (),
    }
    for name, member in inspect.getmembers_static(cls):
        if name.startswith("_") and name not in {"__aenter__", "__aexit__", "__aiter__", "__iter__", "__len__",
                                                 "__contains__"}:  # fmt: skip
            continue
        if isinstance(member, property):
            namespace[name] = _property(name, member)
        elif callable(member) or isinstance(member, classmethod | staticmethod):
            namespace[name] = _method(name, member)
        else:
            namespace[name] = member
    if "__aenter__" in namespace:
        namespace["__enter__"] = lambda self: wrap(call_async(self._async.__aenter__))
        namespace["__exit__"] = lambda self, *exc: call_async(self._async.__aexit__, *exc)
    if "__aiter__" in namespace:
        namespace["__iter__"] = lambda self: _iterate(self._async.__aiter__())
    elif "__iter__" in namespace:
        namespace["__iter__"] = _iter_members

    if hasattr(cls, "__await__"):
        # Objects loaded by awaiting them (a Datafile, a Dataset ...) come back loaded.
        def __init__(self: BlockingProxy, *args: Any, **kwargs: Any) -> None:
            object.__setattr__(self, "_async", call_async(_construct_loaded, cls, unwrap(args), unwrap(kwargs)))

    else:

        def __init__(self: BlockingProxy, *args: Any, **kwargs: Any) -> None:
            object.__setattr__(self, "_async", call_sync(cls, *unwrap(args), **unwrap(kwargs)))

    __init__.__doc__ = inspect.getdoc(cls)
    namespace["__init__"] = __init__
    twin_cls = type(cls.__name__, (BlockingProxy,), namespace)
    _TWINS[cls] = twin_cls
    return twin_cls
