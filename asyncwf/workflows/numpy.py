"""``wf.numpy``: NumPy functions on numbers and, pixel by pixel, on Images.

Each works on an Int or Float (computed in the backend, as the original's) and element-wise on an
:class:`~asyncwf.workflows.Image` (invalid results masked): an asyncwf addition, since the original's ``wf.numpy``
takes its Array types, which asyncwf does not have (``Image`` methods and ``wf.log`` ... are the original's way).
What an Image gives stays in the Image's family: on a blocking Image (``asyncwf.blocking.workflows``) the result
is blocking too.
"""

from __future__ import annotations

from typing import Any

from asyncwf.workflows.types._core import ProxyTypeError
from asyncwf.workflows.types._function import _math
from asyncwf.workflows.types._image import Image
from asyncwf.workflows.types._primitives import Number

__all__ = [
    "absolute", "add", "cos", "divide", "equal", "exp", "greater", "greater_equal", "less", "less_equal", "log",
    "log10", "multiply", "negative", "not_equal", "power", "sin", "sqrt", "subtract", "tan", "true_divide",
]  # fmt: skip


def _unary(name: str, image_method: str) -> Any:
    number = _math(name) if name not in ("absolute", "negative") else None

    def fn(x: Any) -> Any:
        if isinstance(x, Image):
            return getattr(x, image_method)()
        if number is not None:
            return number(x)
        return abs(Number._promote(x)) if name == "absolute" else -Number._promote(x)

    fn.__name__ = name
    fn.__doc__ = f"``numpy.{name}``, element-wise on an Image or a number."
    return fn


def _binary(name: str, apply: Any) -> Any:
    def fn(x: Any, y: Any) -> Any:
        if not any(isinstance(v, Image | Number | int | float) and not isinstance(v, bool) for v in (x, y)):
            raise ProxyTypeError(f"numpy.{name} takes Images or numbers")
        plain = isinstance(x, int | float) and not isinstance(y, Image)
        return apply(Number._promote(x) if plain else x, y)  # (a number and an Image: the Image's operator)

    fn.__name__ = name
    fn.__doc__ = f"``numpy.{name}``, element-wise on Images or numbers."
    return fn


sqrt = _unary("sqrt", "sqrt")
log = _unary("log", "log")
log10 = _unary("log10", "log10")
exp = _unary("exp", "exp")
sin = _unary("sin", "sin")
cos = _unary("cos", "cos")
tan = _unary("tan", "tan")
absolute = _unary("absolute", "__abs__")
negative = _unary("negative", "__neg__")
add = _binary("add", lambda a, b: a + b)
subtract = _binary("subtract", lambda a, b: a - b)
multiply = _binary("multiply", lambda a, b: a * b)
true_divide = _binary("true_divide", lambda a, b: a / b)
divide = true_divide
power = _binary("power", lambda a, b: a**b)
less = _binary("less", lambda a, b: a < b)
less_equal = _binary("less_equal", lambda a, b: a <= b)
greater = _binary("greater", lambda a, b: a > b)
greater_equal = _binary("greater_equal", lambda a, b: a >= b)
equal = _binary("equal", lambda a, b: a == b)
not_equal = _binary("not_equal", lambda a, b: a != b)
