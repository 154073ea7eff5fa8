"""What the generated twins (``_twins.py``) run on: forwarding to the async original through the portal.

A twin holds its async original in ``_async``. Its methods are written out by
``scripts/gen_blocking.py``; each calls one of the helpers here, which run the
original's coroutine on the portal (or on the loop of the AnyIO worker thread
the caller is in), turn async generators into iterators and async context
managers into ``with`` blocks, and give back twins for async objects.
Attributes that are plain data are read and assigned on the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

import anyio.to_thread

from asyncwf.blocking._portal import call_async, call_sync
from asyncwf.exceptions import NotLoadedError

__all__ = [
    "FACTORY",
    "BlockingProxy",
    "await_",
    "construct",
    "construct_fields",
    "get",
    "iterate",
    "run_sync",
    "sync_callback",
    "sync_context",
    "unwrap",
    "wrap",
]

A = TypeVar("A")
_TWINS: dict[type, type[BlockingProxy[Any]]] = {}
#: The default of a dataclass field made by a factory (the field is left to the original's factory).
FACTORY: Any = type("_Factory", (), {"__repr__": lambda self: "<factory default>"})()


class BlockingProxy(Generic[A]):
    """Base of the generated twins: ``_async`` is the wrapped async object (``_Async`` its class)."""

    __slots__ = ("_async",)
    _async: A
    _Async: ClassVar[type]
    #: Made by awaiting the class (a Datafile, a Dataset ...): the constructor returns it loaded.
    _loaded: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_Async" in cls.__dict__:
            _TWINS[cls._Async] = cls

    @classmethod
    def _from_async(cls, obj: Any) -> Any:
        inst = object.__new__(cls)
        object.__setattr__(inst, "_async", obj)
        return inst

    def __getattr__(self, name: str) -> Any:
        # Data attributes of the original (the generated class declares their types).
        return get(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_async"), name, unwrap(value))

    def __repr__(self) -> str:
        return f"<blocking {object.__getattribute__(self, '_async')!r}>"

    def __eq__(self, other: object) -> bool:
        return bool(object.__getattribute__(self, "_async") == unwrap(other))

    def __hash__(self) -> int:
        return hash(object.__getattribute__(self, "_async"))


class _Adapter:
    """A blocking view of an async object asyncwf hands out that has no generated twin (an open file)."""

    __slots__ = ("_async",)

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_async", obj)

    def __getattr__(self, name: str) -> Any:
        value = getattr(object.__getattribute__(self, "_async"), name)
        if callable(value):
            return lambda *args, **kwargs: _result(call_sync(value, *unwrap(args), **unwrap(kwargs)))
        return wrap(value)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_async"), name, unwrap(value))

    def __enter__(self) -> Any:
        return wrap(call_async(object.__getattribute__(self, "_async").__aenter__))

    def __exit__(self, *exc: object) -> Any:
        return call_async(object.__getattribute__(self, "_async").__aexit__, *exc)

    def __iter__(self) -> Iterator[Any]:
        return _items(object.__getattribute__(self, "_async").__aiter__())

    def __repr__(self) -> str:
        return f"<blocking {object.__getattribute__(self, '_async')!r}>"


def _result(value: Any) -> Any:
    """A value a call returned, with an awaitable awaited (an adapted object's coroutine methods)."""
    if hasattr(value, "__await__"):
        return wrap(call_async(_awaited, value))
    return wrap(value)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _needs_adapter(value: Any) -> bool:
    return hasattr(value, "__aenter__") or hasattr(value, "__aiter__") or hasattr(value, "aclose")


_HOMES = ("_client", "_data", "_services", "_worker", "_workflows")
_loaded_homes: list[bool] = []


def _twin_of(kind: type) -> type[BlockingProxy[Any]] | None:
    for klass in kind.__mro__:
        twin = _TWINS.get(klass)
        if twin is not None:
            return twin
    if not _loaded_homes and kind.__module__.startswith("asyncwf."):
        # An async object handed to sync code before its twin's module was imported (a sync app's Analysis).
        _loaded_homes.append(True)
        for home in _HOMES:
            importlib.import_module(f"asyncwf.blocking.{home}")
        return _twin_of(kind)
    return None


def wrap(value: Any) -> Any:
    """The blocking form of a value an async original returned."""
    if isinstance(value, BlockingProxy | _Adapter):
        return value
    kind = type(value)
    core = sys.modules.get("asyncwf.workflows.types._core")  # no proxy exists before it is imported
    if core is not None and isinstance(value, core.Proxytype):
        return value if value._blocking else core.blocking_class(kind)._from_node(value._node)
    twin = _twin_of(kind)
    if twin is not None:
        return twin._from_async(value)
    if kind is list:
        return [wrap(v) for v in value]
    if kind is tuple:
        return tuple(wrap(v) for v in value)
    if isinstance(value, list | set | frozenset):
        # Containers of async objects (a FilterSet of Datafiles ...) keep their type, with twins inside.
        items = [wrap(v) for v in value]
        if any(a is not b for a, b in zip(items, value, strict=True)):
            return kind(items)
        return value
    if isinstance(value, dict):  # an answer holding a Manifest, a FilterDict of Datasets ...
        pairs = {k: wrap(v) for k, v in value.items()}
        if any(pairs[k] is not v for k, v in value.items()):
            return kind(pairs)
        return value
    if kind.__module__ != "builtins" and not isinstance(value, type) and _needs_adapter(value):
        return _Adapter(value)
    return value


def unwrap(value: Any) -> Any:
    """The async object behind a twin (recursively through lists, tuples and dicts)."""
    if isinstance(value, BlockingProxy | _Adapter):
        return object.__getattribute__(value, "_async")
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


_callbacks: weakref.WeakKeyDictionary[Callable[..., Any], Callable[..., Any]] = weakref.WeakKeyDictionary()


def sync_callback(fn: Any) -> Any:
    """A plain-function callback given to the blocking API, as its async original calls it.

    It runs in a worker thread of the calling loop (AnyIO's, so the blocking API
    called from it reaches that loop instead of freezing it), one call at a
    time in the order of the calls, and gets blocking objects. The same function gives the same adapter
    (``remove_callback`` finds it). Coroutine functions pass as they are.
    """
    if fn is None or not callable(fn) or inspect.iscoroutinefunction(fn):
        return fn
    adapter = _callbacks.get(fn)
    if adapter is None:
        locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

        async def adapter(*args: Any) -> Any:
            # In the order the messages came (a lock hands over first come, first served).
            lock = locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
            async with lock:
                return await anyio.to_thread.run_sync(_call_wrapped, fn, args)

        _callbacks[fn] = adapter
    return adapter


def _call_wrapped(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``fn`` with blocking forms of ``args``, made in the worker thread (they may import twin modules)."""
    return fn(*(wrap(a) for a in args))


def await_(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await ``fn(*args, **kwargs)`` and return its result, blocking."""
    return wrap(call_async(fn, *unwrap(args), **unwrap(kwargs)))


def run_sync(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a plain method of a loop-bound original on its loop's thread."""
    return _result(call_sync(fn, *unwrap(args), **unwrap(kwargs)))


def get(obj: BlockingProxy[Any], name: str) -> Any:
    """A property of the original. One that needs I/O first (a cloud file's ``local_path``, a ``hash_value``)
    does it, as the Octue SDK's properties did: the error names the coroutine, which runs here, then the
    property is read again."""
    original = object.__getattribute__(obj, "_async")
    try:
        return wrap(getattr(original, name))
    except NotLoadedError as exc:
        if exc.load is None:
            raise
        call_async(exc.load)
        return wrap(getattr(original, name))


def iterate(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """The items of the async generator ``fn(*args, **kwargs)``, as an iterator."""
    return _items(fn(*unwrap(args), **unwrap(kwargs)))


def _items(agen: Any) -> Iterator[Any]:
    try:
        while True:
            try:
                item = call_async(agen.__anext__)
            except StopAsyncIteration:
                return
            yield wrap(item)
    finally:
        closing = getattr(agen, "aclose", None)
        if closing is not None:
            call_async(closing)


@contextlib.contextmanager
def sync_context(manager: Any) -> Iterator[Any]:
    """An async context manager, as a ``with`` one."""
    value = call_async(manager.__aenter__)
    try:
        yield wrap(value)
    except BaseException as exc:
        if not call_async(manager.__aexit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        call_async(manager.__aexit__, None, None, None)


async def _construct_loaded(cls: type, args: Any, kwargs: Any) -> Any:
    return await cls(*args, **kwargs)


def construct(twin: BlockingProxy[Any], *args: Any, **kwargs: Any) -> None:
    """Make the original of a twin being constructed (awaited when its class is loaded by awaiting)."""
    cls = type(twin)._Async
    if type(twin)._loaded:
        obj = call_async(_construct_loaded, cls, unwrap(args), unwrap(kwargs))
    else:
        obj = call_sync(cls, *unwrap(args), **unwrap(kwargs))
    object.__setattr__(twin, "_async", obj)


def construct_fields(twin: BlockingProxy[Any], fields: dict[str, Any]) -> None:
    """:func:`construct` for a dataclass: fields left at a factory default are left to the original."""
    construct(twin, **{k: v for k, v in fields.items() if v is not FACTORY and k != "self"})
