"""Job: the computation of a proxy object under given parameters (the seed's ``Job``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from asyncwf import _json as fast_json
from asyncwf._ids import new_id
from asyncwf._model import JobInfo, JobState, Progress, ProgressUpdate
from asyncwf.client import Client
from asyncwf.exceptions import (
    InvalidArgument,
    JobCancelled,
    JobComputeError,
    JobExpired,
)
from asyncwf.exceptions import TimeoutError as WorkflowsTimeout
from asyncwf.graft._syntax import Literal, declared_parameters, wire_graft
from asyncwf.workflows._channel import CHANNEL, COMPUTE_KIND
from asyncwf.workflows._geocontext import GeoContext
from asyncwf.workflows._progress import ProgressBar
from asyncwf.workflows._typespec import check_computable, decode_value, from_typespec, to_typespec, unmarshal
from asyncwf.workflows.types._core import Proxytype, ProxyTypeError
from asyncwf.workflows.types._proxify import proxify

__all__ = ["Job"]

_STATUS = {JobState.SUCCEEDED: "SUCCESS", JobState.FAILED: "FAILURE", JobState.CANCELLED: "FAILURE"}


def _arguments(obj: Proxytype, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``parameters`` against the object's ``wf.parameter`` s; JSON literals or grafts for each."""
    free = obj.params
    missing, unknown = sorted(free - set(parameters)), sorted(set(parameters) - free)
    if missing:
        raise InvalidArgument(f"missing parameters: {', '.join(missing)}")
    if unknown:
        raise InvalidArgument(f"unknown parameters: {', '.join(unknown)} (the object takes: {sorted(free) or 'none'})")
    declared = declared_parameters(obj._node)
    arguments: dict[str, Any] = {}
    for name, value in parameters.items():
        kind = declared.get(name)
        proxy = kind._promote(value) if kind is not None else proxify(value)
        if proxy.params:
            raise InvalidArgument(f"the value of parameter {name!r} depends on other parameters")
        node = proxy._node
        arguments[name] = node.value if isinstance(node, Literal) else proxy.graft
    return arguments


class Job:
    """The computation of a proxy object's graft under certain parameters.

    Build with :meth:`build` (or :func:`~asyncwf.workflows.compute` with
    ``block=False``), run with :meth:`execute`, wait with :meth:`result`.
    Cancelling the task that awaits :meth:`result` cancels the job in the
    backend unless ``cancel_on_abandon`` is False.
    """

    #: Kept from the seed; results here come from the backend, not a bucket.
    BUCKET_PREFIX = "https://storage.googleapis.com/dl-compute-dev-results/{}"
    #: Kept from the seed; unused: results are pushed, never polled.
    WAIT_INTERVAL = 0.1

    def __init__(self, message: JobInfo | None = None, client: Client | None = None) -> None:
        self._info = message
        self._client = client
        self._request: dict[str, Any] = {}
        self._object: Proxytype | None = None
        self._key = new_id()
        self._cache = False
        self.cancel_on_abandon = True
        if message is not None and message.payload:
            self._request = json.loads(message.payload)

    # --- construction ----------------------------------------------------------

    @classmethod
    def build(
        cls, proxy_object: Any, parameters: Mapping[str, Any] | None = None, channel: str | None = None,
        client: Client | None = None, *, cache: bool = True, geoctx: Any = None,
    ) -> Job:  # fmt: skip
        """A Job for ``proxy_object`` under ``parameters``; not submitted until :meth:`execute`.

        ``geoctx`` (a :class:`GeoContext`) is where Images are computed; it is required for them.

        With ``cache`` (the default), a succeeded, unexpired job of the same graft,
        parameters and channel answers at once (see :attr:`cached_from`).
        """
        obj = proxy_object if isinstance(proxy_object, Proxytype) else proxify(proxy_object)
        try:
            check_computable(type(obj))
        except ProxyTypeError as exc:
            raise ProxyTypeError(f"{exc}; compute a value, not a function") from exc
        if channel is not None and channel != CHANNEL:
            raise InvalidArgument(f"this client speaks channel {CHANNEL!r}, not {channel!r}")
        job = cls(None, client)
        job._object = obj
        job._request = {
            "graft": wire_graft(obj._node),
            "typespec": to_typespec(type(obj)),
            "arguments": _arguments(obj, parameters or {}),
            "channel": channel or CHANNEL,
        }
        if geoctx is not None:
            if not isinstance(geoctx, GeoContext):
                raise InvalidArgument(f"geoctx is a GeoContext, not {type(geoctx).__name__}")
            job._request["geoctx"] = geoctx.to_dict()
        job._cache = cache
        return job

    @classmethod
    async def get(cls, id: str, client: Client | None = None) -> Job:
        """Get a Job by its ID."""
        client = client or Client.get_default_client()
        info = await client.get_job(id)
        if info.kind != COMPUTE_KIND:
            raise InvalidArgument(f"job {id} is a {info.kind!r} job, not a compute job")
        return cls(info, client)

    @property
    def _api(self) -> Client:
        if self._client is None:
            self._client = Client.get_default_client()
        return self._client

    # --- operations -------------------------------------------------------------

    def _create_options(self) -> tuple[bytes, dict[str, Any]]:
        # The graft is written deterministically, so its text addresses it; the rest is sorted.
        graft = fast_json.dumps(self._request["graft"])
        rest = {k: v for k, v in self._request.items() if k != "graft"}
        others = fast_json.dumps(rest, sort_keys=True)
        payload = b'{"graft":' + graft + b"," + others[1:]
        cache_key = ""
        if self._cache:
            digest = hashlib.blake2b(payload, digest_size=20).hexdigest()
            cache_key = f"wf:{digest}"
        options = {
            "content_type": "application/json", "idempotency_key": f"wf:{self._key}",
            "labels": {"wf.type": self.result_type}, "cache_key": cache_key,
        }  # fmt: skip
        return payload, options

    async def execute(self) -> None:
        """Submit the job; calling it again does nothing (also across retries)."""
        if self._info is not None:
            return
        payload, options = self._create_options()
        self._info = await self._api.create_job(COMPUTE_KIND, payload, **options)

    async def _run(self, timeout: float | None) -> Any:
        """Submit and wait in one go over the client's shared run stream (no progress bar).

        On a timeout, or when the awaiting task is cancelled, the backend job is
        cancelled too (unless ``cancel_on_abandon`` is False): the caller has no
        other handle on it.
        """
        if self._info is not None:
            return await self.result(timeout)
        payload, options = self._create_options()

        def created(info: JobInfo) -> None:
            self._info = info

        try:
            async with asyncio.timeout(timeout):
                self._info = await self._api.run_job(COMPUTE_KIND, payload, on_created=created, **options)
        except TimeoutError as exc:
            if getattr(exc, "status", None) is not None:
                raise
            await self._abandon("the caller's timeout passed")
            raise WorkflowsTimeout(f"timeout while waiting on result for Job('{self.id}')") from exc
        except asyncio.CancelledError:
            await self._abandon("the caller stopped waiting")
            raise
        return await self._value()

    async def _abandon(self, reason: str) -> None:
        if self.cancel_on_abandon and self._info is not None and not self._info.done:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._api.cancel_job(self._info.id, reason))

    async def refresh(self) -> None:
        """Refresh the attributes and status of the job."""
        self._info = await self._api.get_job(self._require_id())

    async def cancel(self) -> None:
        """Cancel a running job."""
        self._info = await self._api.cancel_job(self._require_id())

    async def watch(self) -> AsyncIterator[Job]:
        """Yield this Job each time its state or progress changes, until it is done."""
        await self.execute()
        async for event in self._api.watch_job(self._require_id()):
            if isinstance(event, JobInfo):
                self._info = event
                yield self
            elif isinstance(event, ProgressUpdate) and self._info is not None:
                self._info = self._info.replace(progress=event.progress)
                yield self

    async def result(self, timeout: float | None = None, progress_bar: bool | None = None) -> Any:
        """Wait (push-based) for the job and return its result as a Python value.

        Raises ``asyncwf.exceptions.TimeoutError`` after ``timeout`` seconds
        even if the backend is silent, and the :class:`JobComputeError`
        subclass of the failure's code if the job failed.
        """
        await self.execute()
        bar = ProgressBar.create(progress_bar, self._require_id())
        try:
            async with asyncio.timeout(timeout):
                async for job in self.watch():
                    if bar is not None:
                        bar.update(job)
        except TimeoutError as exc:
            if getattr(exc, "status", None) is not None:  # an RPC DeadlineExceeded, not our timeout
                raise
            raise WorkflowsTimeout(f"timeout while waiting on result for Job('{self.id}')") from exc
        except asyncio.CancelledError:
            await self._abandon("the caller stopped waiting")
            raise
        finally:
            if bar is not None:
                bar.close()
        return await self._value()

    async def _value(self) -> Any:
        info = self._info
        if info is None:  # pragma: no cover - execute() sets it
            raise InvalidArgument("the job has not been executed")
        if info.state is JobState.FAILED:
            raise JobComputeError.for_code(info.error.code if info.error else "")(self)
        if info.state is JobState.CANCELLED:
            raise JobCancelled(f'Job("{info.id}") was cancelled', job_id=info.id, code="CANCELLED")
        if info.state is JobState.EXPIRED:
            raise JobExpired(f'the result of Job("{info.id}") expired', job_id=info.id, code="EXPIRED")
        data = await self._api.job_result(info)
        return unmarshal(self.type, decode_value(json.loads(data)))

    def _require_id(self) -> str:
        if self._info is None:
            raise InvalidArgument("the job has not been executed yet")
        return self._info.id

    # --- attributes ----------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The globally unique identifier for the Job, or None if it hasn't been executed yet."""
        return self._info.id if self._info is not None else None

    @property
    def channel(self) -> str:
        """The channel name where this Job will execute."""
        return str(self._request.get("channel", CHANNEL))

    @property
    def object(self) -> Proxytype:
        """The proxy object this Job computes (rebuilt from its graft when loaded)."""
        if self._object is None:
            if self.channel != CHANNEL:
                raise ValueError(f"the job was made for channel {self.channel!r}; this client speaks {CHANNEL!r}")
            self._object = self.type._from_graft(self._request["graft"])
        return self._object

    @property
    def type(self) -> type[Proxytype]:
        """The type of the proxy object."""
        return from_typespec(self._request.get("typespec", "Any"))

    @property
    def result_type(self) -> str:
        """Name of the type of object that will be used to hold the result."""
        return str(self.type.__name__)

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters (JSON values or grafts) the job was built with."""
        return dict(self._request.get("arguments", {}))

    @property
    def stage(self) -> str:
        """QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED or EXPIRED (``UNKNOWN`` before execution)."""
        return self._info.state.name if self._info is not None else "UNKNOWN"

    @property
    def status(self) -> str:
        """SUCCESS, FAILURE or UNKNOWN (still running)."""
        return _STATUS.get(self._info.state, "UNKNOWN") if self._info is not None else "UNKNOWN"

    @property
    def done(self) -> bool:
        """Whether the job has finished (succeeded, failed or cancelled), as of the last refresh."""
        return self._info is not None and self._info.done

    @property
    def error(self) -> JobComputeError | None:
        """The failure as a JobComputeError, or None."""
        if self._info is None or self._info.state is not JobState.FAILED:
            return None
        return JobComputeError.for_code(self._info.error.code if self._info.error else "")(self)

    @property
    def progress(self) -> Progress | None:
        """How far the job is (steps done of steps in all, ``percent``); complete once it succeeded."""
        if self._info is None:
            return None
        progress = self._info.progress
        if self._info.state is JobState.SUCCEEDED:
            total = max(progress.steps_total, 1)
            return dataclasses.replace(progress, steps_done=total, steps_total=total, percent=100.0, eta_seconds=0.0)
        return progress

    @property
    def created_datetime(self) -> dt.datetime | None:
        """When the job was created (a timezone-aware datetime)."""
        return self._info.created_at if self._info is not None else None

    @property
    def updated_datetime(self) -> dt.datetime | None:
        """When the job last changed (a timezone-aware datetime)."""
        return self._info.updated_at if self._info is not None else None

    @property
    def runtime(self) -> dt.timedelta | None:
        """How long the evaluation took (or has taken so far)."""
        if self._info is None or self._info.started_at is None:
            return None
        end = self._info.finished_at or dt.datetime.now(dt.UTC)
        return end - self._info.started_at

    @property
    def cached_from(self) -> str | None:
        """The id of the job whose stored result answered this one, or None if computed here."""
        return (self._info.cached_from or None) if self._info is not None else None

    @property
    def info(self) -> JobInfo | None:
        """The underlying job-engine snapshot."""
        return self._info

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, stage={self.stage}, type={self.result_type})"
