"""Function[...], ifelse, range, parameter, and the math helpers."""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from asyncwf.graft._syntax import Function as FunctionNode
from asyncwf.graft._syntax import KeyRef, is_key
from asyncwf.workflows.types._core import GenericProxytype, Proxytype, ProxyTypeError
from asyncwf.workflows.types._primitives import Bool, Float, Int, Number, Str

if TYPE_CHECKING:
    from asyncwf.workflows.types._containers import List

__all__ = ["Function", "ifelse", "parameter", "range"]

P = TypeVar("P", bound=Proxytype)


class Function(GenericProxytype):
    """A proxy function: ``Function[Int, Int, {}, Int]`` takes two Ints, no named args, returns Int.

    Build one with :meth:`from_callable`; call it like a Python function.
    """

    __slots__ = ()
    _computed: Any

    @classmethod
    def _check_params(cls, params: tuple[Any, ...]) -> None:
        if not params:
            raise ProxyTypeError("Function needs at least a result type")
        for p in params:
            if isinstance(p, dict):
                if not all(
                    isinstance(k, str) and isinstance(v, type) and issubclass(v, Proxytype) for k, v in p.items()
                ):
                    raise ProxyTypeError("named argument types must map names to proxy types")
            elif not (isinstance(p, type) and issubclass(p, Proxytype)):
                raise ProxyTypeError(f"Function type parameters must be proxy types, not {p!r}")

    def _result_type(self) -> type[Proxytype]:
        if not self._type_params:
            raise ProxyTypeError("this Function has no declared result type")
        return self._type_params[-1]  # type: ignore[no-any-return]

    def _arg_types(self) -> tuple[list[type[Proxytype]], dict[str, type[Proxytype]]]:
        positional: list[type[Proxytype]] = []
        named: dict[str, type[Proxytype]] = {}
        for p in self._type_params[:-1]:
            if isinstance(p, dict):
                named.update(p)
            else:
                positional.append(p)
        return positional, named

    @classmethod
    def from_callable(cls, fn: Callable[..., Any], *arg_types: type[Proxytype]) -> Function:
        """Trace a Python function over proxy arguments of ``arg_types`` into a Function."""
        from asyncwf.workflows.types._proxify import proxify

        if isinstance(fn, Function):
            return fn
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise ProxyTypeError(f"cannot inspect {fn!r}: {exc}") from exc
        names = [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if not arg_types and names:
            arg_types = _annotated_types(fn, names)
        if len(names) != len(arg_types):
            raise ProxyTypeError(
                f"{getattr(fn, '__name__', fn)} takes {len(names)} arguments, {len(arg_types)} types given"
            )
        params = [_param_name(n) for n in names]
        args = [t._from_node(KeyRef(p)) for t, p in zip(arg_types, params, strict=True)]
        result = fn(*args)
        result = result if isinstance(result, Proxytype) else proxify(result)
        concrete: Any = Function[(*arg_types, {}, type(result))]
        return cast(Function, concrete._from_node(FunctionNode(params, result._node)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        positional, named = self._arg_types()
        if len(args) != len(positional) or set(kwargs) - set(named):
            raise ProxyTypeError(
                f"{type(self).__name__} called with {len(args)} positional and {sorted(kwargs)} named arguments"
            )
        promoted = [t._promote(a) for t, a in zip(positional, args, strict=True)]
        promoted_kw = {k: named[k]._promote(v) for k, v in kwargs.items()}
        return self._result_type()._from_apply(self, *promoted, **promoted_kw)

    def __hash__(self) -> int:
        return Proxytype.__hash__(self)


def _annotated_types(fn: Callable[..., Any], names: list[str]) -> tuple[type[Proxytype], ...]:
    """The proxy types a function's parameters are annotated with (``def f(x: wf.Int)``); all must be."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable string annotations: read them as written
        hints = dict(getattr(fn, "__annotations__", {}))
    found = [hints.get(name) for name in names]
    missing = [name for name, hint in zip(names, found, strict=True) if not _is_proxy_type(hint)]
    if missing:
        raise ProxyTypeError(f"give the argument types, or annotate {', '.join(missing)} with proxy types")
    return tuple(cast(type[Proxytype], hint) for hint in found)


def _is_proxy_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Proxytype)


def _param_name(name: str) -> str:
    from asyncwf.graft._vocabulary import BUILTINS

    return f"{name}_" if name in BUILTINS or not is_key(name) else name


def _common_type(a: Proxytype, b: Proxytype) -> type[Proxytype]:
    ta, tb = type(a), type(b)
    if issubclass(ta, tb):
        return tb
    if issubclass(tb, ta):
        return ta
    if isinstance(a, Number) and isinstance(b, Number):
        return Float
    raise ProxyTypeError(f"ifelse branches have different types: {ta.__name__} and {tb.__name__}")


def ifelse(condition: Any, true_value: Any, false_value: Any) -> Any:
    """``true_value`` if ``condition`` else ``false_value``; only the chosen branch is evaluated."""
    from asyncwf.workflows.types._proxify import proxify

    cond = Bool._promote(condition)
    a = true_value if isinstance(true_value, Proxytype) else proxify(true_value)
    b = false_value if isinstance(false_value, Proxytype) else proxify(false_value)
    result = _common_type(a, b)
    then = Proxytype._from_node(FunctionNode((), a._node))
    otherwise = Proxytype._from_node(FunctionNode((), b._node))
    return result._from_apply("wf.ifelse", cond, then, otherwise)


def range(start: Any, stop: Any = None, step: Any = None) -> List[Int]:
    """A List[Int] like Python's ``range``."""
    from asyncwf.workflows.types._containers import List

    args = [Int._promote(a) for a in (start, stop) if a is not None]
    named = {} if step is None else {"step": Int._promote(step)}  # (named, as the original writes it)
    return List[Int]._from_apply("wf.range", *args, **named)  # type: ignore[no-any-return]


def parameter(name: str, type_: type[P]) -> P:
    """A named placeholder of type ``type_``, given a value when computed (``compute(obj, x=5)``)."""
    if not isinstance(name, str) or not is_key(name) or name.isdigit() or name.startswith("_"):
        raise ProxyTypeError(f"invalid parameter name {name!r}: use letters, digits and '_' (not all digits)")
    if not name.isidentifier():
        raise ProxyTypeError(f"parameter name {name!r} must be a Python identifier")
    if not (isinstance(type_, type) and issubclass(type_, Proxytype)):
        raise ProxyTypeError(f"parameter type must be a proxy type, not {type_!r}")
    if issubclass(type_, GenericProxytype) and not type_._type_params:
        raise ProxyTypeError(f"parameter type must be concrete, e.g. {type_.__name__}[Int]")
    return type_._from_node(KeyRef(name, declared=type_))


def _math(name: str, result: type[Proxytype] = Float) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        from asyncwf.workflows.types._image import Image, ImageCollection

        if isinstance(x, Image | ImageCollection) and result is Float:
            return type(x)._from_apply(f"wf.{name}", x)  # pixel by pixel, as the original's
        return result._from_apply(f"wf.{name}", Number._promote(x))  # (the 1.12 client's names: wf.sqrt ...)

    fn.__name__ = name
    fn.__doc__ = f"``math.{name}`` of a Number, or of every pixel of an Image or ImageCollection, in the backend."
    return fn


sqrt = _math("sqrt")
log = _math("log")
log10 = _math("log10")
log2 = _math("log2")
exp = _math("exp")
sin = _math("sin")
cos = _math("cos")
tan = _math("tan")
floor = _math("floor", Int)
ceil = _math("ceil", Int)
log1p = _math("log1p")
arcsin = _math("arcsin")
arccos = _math("arccos")
arctan = _math("arctan")
square = _math("square")


def arctan2(y: Any, x: Any) -> Any:
    """The angle of (x, y) in radians, of numbers or pixel by pixel of Images and ImageCollections."""
    from asyncwf.workflows.types._image import Image, ImageCollection

    operands = (y, x)
    if any(isinstance(v, ImageCollection) for v in operands):
        return ImageCollection._from_apply("wf.arctan2", *operands)
    if any(isinstance(v, Image) for v in operands):
        return Image._from_apply("wf.arctan2", *operands)
    return Float._from_apply("wf.arctan2", Number._promote(y), Number._promote(x))


def normalized_difference(x: Any, y: Any) -> Any:
    """``(x - y) / (x + y)``: NDVI is ``normalized_difference(nir, red)``."""
    return (x - y) / (x + y)


e = Float(math.e)
pi = Float(math.pi)
inf = Float._from_apply("wf.Float.cast", Str("inf"))
nan = Float._from_apply("wf.Float.cast", Str("nan"))
