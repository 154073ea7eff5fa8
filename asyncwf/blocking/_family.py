"""The base of the blocking proxy types: the same lazy objects, whose ``compute()`` blocks.

``asyncwf.blocking.workflows.Int`` is a subclass of ``asyncwf.workflows.Int``
(generated in ``_proxytypes.py``); it builds the same grafts and mixes with
async proxies. An operation with a blocking operand gives a blocking result
(:meth:`asyncwf.workflows.types.Proxytype._from_apply`), so what a blocking
user builds stays blocking, and ``obj.compute()`` / ``obj.publish()`` return
the result also where the calling thread runs an event loop (a notebook).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, overload

from asyncwf.blocking._wrap import await_
from asyncwf.workflows.types import _core

if TYPE_CHECKING:
    from asyncwf.blocking._client import Client
    from asyncwf.blocking._workflows import Job, Workflow
    from asyncwf.workflows.types._typing import Computes

__all__ = ["Proxytype"]

V = TypeVar("V")


class Proxytype(_core.Proxytype):
    """A lazy value of the blocking API: ``wf.Int(1).compute() == 1``, in any thread."""

    __slots__ = ()
    _blocking = True
    #: The async proxy class this class is the blocking form of.
    _Async: ClassVar[type[_core.Proxytype]] = _core.Proxytype

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_Async" in cls.__dict__:
            _core.BLOCKING_TWINS[cls._Async] = cls

    @overload  # type: ignore[override]
    def compute(
        self: Computes[V],
        geoctx: Any = None,
        timeout: float | None = None,
        block: Literal[True] = True,
        progress_bar: bool | None = None,
        channel: str | None = None,
        client: Client | None = None,
        **params: Any,
    ) -> V: ...
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
    ) -> Job: ...
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
    ) -> Job: ...
    def compute(
        self,
        geoctx: Any = None,
        timeout: float | None = None,
        block: bool = True,
        progress_bar: bool | None = None,
        channel: str | None = None,
        client: Client | None = None,
        **params: Any,
    ) -> Any:
        """Compute this object and return the result (a :class:`Job` with ``block=False``)."""
        from asyncwf.workflows._toplevel import compute

        if geoctx is not None:
            params["geoctx"] = geoctx
        return await_(compute, self, timeout, block, progress_bar, channel, client, **params)

    def publish(  # type: ignore[override]
        self, name: str = "", description: str = "", client: Client | None = None
    ) -> Workflow:
        """Publish this object as a Workflow and return it."""
        from asyncwf.workflows._workflow import publish

        result: Workflow = await_(publish, self, name, description, client)
        return result


_core.BLOCKING_TWINS[_core.Proxytype] = Proxytype
