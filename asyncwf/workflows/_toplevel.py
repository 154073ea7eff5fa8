"""compute (and the methods on proxy objects that call it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from asyncwf.client import Client
from asyncwf.workflows._job import Job
from asyncwf.workflows._progress import in_notebook
from asyncwf.workflows.types._core import Proxytype
from asyncwf.workflows.types._proxify import proxify

if TYPE_CHECKING:
    from asyncwf.workflows.types._typing import Computes

__all__ = ["compute"]

V = TypeVar("V")


def _as_proxy(obj: Any) -> Proxytype:
    if isinstance(obj, list | tuple) and not isinstance(obj, Proxytype):
        # Several objects in one job: computed together as a Tuple.
        return proxify(tuple(o if isinstance(o, Proxytype) else proxify(o) for o in obj))
    return obj if isinstance(obj, Proxytype) else proxify(obj)


@overload
async def compute(
    obj: Computes[V],
    timeout: float | None = None,
    block: Literal[True] = True,
    progress_bar: bool | None = None,
    channel: str | None = None,
    client: Client | None = None,
    *,
    cache: bool = True,
    **params: Any,
) -> V: ...
@overload
async def compute(
    obj: Any,
    timeout: float | None = None,
    *,
    block: Literal[False],
    progress_bar: bool | None = None,
    channel: str | None = None,
    client: Client | None = None,
    cache: bool = True,
    **params: Any,
) -> Job: ...
@overload
async def compute(
    obj: Any,
    timeout: float | None,
    block: Literal[False],
    progress_bar: bool | None = None,
    channel: str | None = None,
    client: Client | None = None,
    *,
    cache: bool = True,
    **params: Any,
) -> Job: ...
@overload
async def compute(
    obj: Any,
    timeout: float | None = None,
    block: bool = True,
    progress_bar: bool | None = None,
    channel: str | None = None,
    client: Client | None = None,
    *,
    cache: bool = True,
    **params: Any,
) -> Any: ...
async def compute(
    obj: Any,
    timeout: float | None = None,
    block: bool = True,
    progress_bar: bool | None = None,
    channel: str | None = None,
    client: Client | None = None,
    *,
    cache: bool = True,
    **params: Any,
) -> Any:
    """Compute a proxy object (or a list/tuple of them, as one job) and wait for its result.

    ``params`` give the values of the object's ``wf.parameter`` s; missing or
    unknown ones are rejected before anything is sent. With ``block=False``
    the executed :class:`Job` is returned instead of its result; with
    ``block=True`` a ``timeout`` or a cancelled caller also cancels the job. A result
    already computed for the same graft, parameters and channel (and not
    expired) is reused unless ``cache=False``.

    The result's type follows the object's: an ``Int`` gives an ``int``, an
    ``Image`` an :class:`ImageResult`, a list of objects a tuple of results.
    """
    geoctx = params.pop("geoctx", None)
    job = Job.build(_as_proxy(obj), params, channel=channel, client=client, cache=cache, geoctx=geoctx)
    if not block:
        await job.execute()
        return job
    if progress_bar or (progress_bar is None and in_notebook()):
        await job.execute()
        return await job.result(timeout=timeout, progress_bar=True)
    return await job._run(timeout)
