"""What type checkers see of the proxy operators (nothing here runs).

The arithmetic and comparison operators of the Number types are made at run
time by one factory (:func:`asyncwf.workflows.types._primitives._operator_pair`);
their types are declared on each class as callable protocols, so that mypy
knows ``Int + int -> Int``, ``Int + Float -> Float``, ``Float // Int -> Float``
and rejects ``Int + str``. The protocols take the result types as parameters:
the blocking proxies (``asyncwf.blocking.workflows``) declare the same
operators returning their own classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from asyncwf.workflows.types._primitives import Float, Int, Number

__all__ = ["BoolOp", "Computes", "FloatOp", "IntOp", "NumberOp"]

V_co = TypeVar("V_co", covariant=True)
I_co = TypeVar("I_co", covariant=True)
F_co = TypeVar("F_co", covariant=True)
N_co = TypeVar("N_co", covariant=True)
B_co = TypeVar("B_co", covariant=True)


class Computes(Protocol[V_co]):
    """A proxy object whose computed value is a ``V_co`` (``Int`` → ``int``, ``Image`` → ``ImageResult``)."""

    @property
    def _computed(self) -> V_co: ...


class IntOp(Protocol[I_co, F_co, N_co]):
    """``Int <op> x``: an Int with an Int or int, a Float with a Float or float."""

    @overload
    def __call__(self, other: Int | int, /) -> I_co: ...
    @overload
    def __call__(self, other: Float | float, /) -> F_co: ...
    @overload
    def __call__(self, other: Number | float, /) -> N_co: ...


class FloatOp(Protocol[F_co]):
    """``Float <op> x`` and ``x / y``: always a Float."""

    def __call__(self, other: Number | float, /) -> F_co: ...


class NumberOp(Protocol[N_co]):
    """``Number <op> x`` where the kind of number is unknown."""

    def __call__(self, other: Number | float, /) -> N_co: ...


class BoolOp(Protocol[B_co]):
    """A comparison of numbers: a Bool."""

    def __call__(self, other: Number | float, /) -> B_co: ...
