"""The low-level gRPC client (the seed's ``Client``), asyncio-native."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, TypedDict, TypeVar

from grpclib.client import Channel
from grpclib.health.v1 import health_grpc, health_pb2
from typing_extensions import Unpack

from asyncwf import _testguard
from asyncwf._ids import new_id
from asyncwf._model import (
    JobEvent,
    JobInfo,
    JobState,
    LogRecord,
    accepted_from_pb,
    event_from_pb,
    job_from_pb,
    log_from_pb,
    ts_to_pb,
)
from asyncwf.client._auth import Auth
from asyncwf.client._defaults import default_client, explicit_default, release_at_shutdown
from asyncwf.client._errors import mapped_errors
from asyncwf.client._mux import RunMux
from asyncwf.client._pool import ChannelPool
from asyncwf.client._retry import RetryPolicy
from asyncwf.client._unserved import QueuedNotice
from asyncwf.exceptions import (
    ConfigurationError,
    EventLoopError,
    InvalidArgument,
    JobCancelled,
    JobExpired,
    JobFailed,
    RPCError,
    Unauthenticated,
    Unavailable,
)
from asyncwf.v1 import files_grpc, jobs_grpc
from asyncwf.v1 import files_pb2 as files_pb
from asyncwf.v1 import jobs_pb2 as pb

__all__ = ["Client", "JobOptions", "raise_for_job"]

T = TypeVar("T")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051


def _parse_target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigurationError(f"target must look like 'host:port', not {target!r}")
    return host.strip("[]") or DEFAULT_HOST, int(port)


def _ssl_context(certificate: bytes | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=certificate.decode() if certificate else None)
    ctx.set_alpn_protocols(["h2"])
    return ctx


class Client:
    """Low-level gRPC client of the asyncwf backend.

    Args:
        host: Backend host; default ``$ASYNCWF_HOST`` or ``127.0.0.1``.
        port: Backend port; default ``$ASYNCWF_PORT`` or ``50051``.
        auth: Supplies the bearer token; default ``Auth.get_default_client()``
            (``$ASYNCWF_TOKEN``).
        certificate: PEM certificate(s) to trust; turns TLS on.
        channel: A pre-configured ``grpclib.client.Channel`` to use instead.
        retry: The retry policy of idempotent calls.
        max_connections: HTTP/2 connections opened at most for concurrent
            calls (each carries up to 90 calls at once).
        **grpc_client_kwargs: Passed to ``grpclib.client.Channel``
            (e.g. ``config=grpclib.config.Configuration(...)``).

    Use it as an async context manager, or call :meth:`aclose`.
    """

    DEFAULT_TIMEOUT: ClassVar[float] = 5
    STREAM_TIMEOUT: ClassVar[float] = 86400
    #: How often, while ``run_job`` calls wait, the client checks for jobs of their kinds queued that long
    #: with nobody taking them (and warns once per kind).
    QUEUED_NOTICE_SECONDS: ClassVar[float] = 10

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        auth: Auth | None = None,
        certificate: bytes | None = None,
        channel: Channel | None = None,
        *,
        retry: RetryPolicy | None = None,
        max_connections: int = 8,
        **grpc_client_kwargs: Any,
    ) -> None:
        env_port = os.environ.get("ASYNCWF_PORT")
        if port is None and env_port:
            if not env_port.isdigit():
                raise ConfigurationError(f"ASYNCWF_PORT must be a port number, not {env_port!r}")
            port = int(env_port)
        self.host = host or os.environ.get("ASYNCWF_HOST") or DEFAULT_HOST
        self.port = DEFAULT_PORT if port is None else port
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigurationError(f"port must be between 1 and 65535, not {self.port!r}")
        if auth is not None and not isinstance(auth, Auth):
            raise ConfigurationError("auth must be an asyncwf.Auth")
        if certificate is not None and not isinstance(certificate, bytes):
            raise ConfigurationError("certificate must be PEM bytes")
        self.auth = auth if auth is not None else Auth.get_default_client()
        self.retry = retry or RetryPolicy()
        self._certificate = certificate
        self._channel = channel
        self._owns_channel = channel is None
        self._kwargs = grpc_client_kwargs
        self._mux: RunMux | None = None
        self._pool = ChannelPool(self._new_channel, max_connections=1 if channel is not None else max_connections)
        #: The event loop this client's connections and run stream belong to (the first that used it).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued = QueuedNotice(self)
        #: Made by get_default_client rather than by the caller.
        self._implicit_default = False

    # --- seed attributes ---------------------------------------------------

    @staticmethod
    def INSECURE_CHANNEL_FACTORY(
        target: str, options: Sequence[tuple[str, Any]] | None = None, compression: Any = None
    ) -> Channel:
        """Create a plaintext channel to ``target`` (``"host:port"``). ``compression`` is not supported."""
        if compression is not None:
            raise ConfigurationError("compression is not supported")
        host, port = _parse_target(target)
        return Channel(host, port, **dict(options or ()))

    @staticmethod
    def SECURE_CHANNEL_FACTORY(
        target: str,
        credentials: ssl.SSLContext | bytes | None,
        options: Sequence[tuple[str, Any]] | None = None,
        compression: Any = None,
    ) -> Channel:
        """Create a TLS channel to ``target``; ``credentials`` is an SSLContext or PEM bytes to trust."""
        if compression is not None:
            raise ConfigurationError("compression is not supported")
        host, port = _parse_target(target)
        ctx = credentials if isinstance(credentials, ssl.SSLContext) else _ssl_context(credentials)
        return Channel(host, port, ssl=ctx, **dict(options or ()))

    @property
    def address(self) -> str:
        """``host:port`` of the backend."""
        return f"{self.host}:{self.port}"

    @property
    def certificate(self) -> bytes | None:
        """The Client SSL certificate."""
        return self._certificate

    def _new_channel(self) -> Channel:
        if self._channel is not None:
            return self._channel
        if self._implicit_default:
            _testguard.check(self.host, self.port)
        target = f"{self.host}:{self.port}"
        if self._certificate is not None:
            return self.SECURE_CHANNEL_FACTORY(target, self._certificate, list(self._kwargs.items()))
        return self.INSECURE_CHANNEL_FACTORY(target, list(self._kwargs.items()))

    @property
    def channel(self) -> Channel:
        """The gRPC channel of the Client (created on first use, inside the event loop)."""
        return self._pool.primary

    @property
    def token(self) -> str | None:
        """The Client token."""
        return self.auth.token

    @property
    def api(self) -> dict[str, Callable[..., Any]]:
        """The available Client operations, as a dict."""
        return {
            name: getattr(self, name)
            for name in (
                "health",
                "create_job",
                "run_job",
                "create_and_watch",
                "get_job",
                "list_jobs",
                "cancel_job",
                "watch_job",
                "wait_job",
                "job_result",
            )
        }

    @classmethod
    def get_default_client(cls) -> Client:
        """The default client: the one set for this context (task), else the running event loop's own.

        Each event loop gets a default of its own, made on first use and closed when the loop shuts down,
        so sequential ``asyncio.run`` calls and pytest-asyncio's loop per test never share connections.
        Each thread calling :mod:`asyncwf.blocking` gets its own too. Outside any loop, one default is
        shared; it belongs to the first loop that uses it, and starts afresh once that loop has closed.
        """
        return default_client(cls._new_implicit_default)

    @classmethod
    def _new_implicit_default(cls) -> Client:
        """A default client made on demand: its first connection passes the test kit's guard (``_testguard``)."""
        client = cls()
        client._implicit_default = True
        return client

    @classmethod
    def set_default_client(cls, client: Client) -> None:
        """Make ``client`` the default of the current context (and of tasks it starts later)."""
        if not isinstance(client, Client):
            raise ConfigurationError("set_default_client takes a Client")
        explicit_default.set(client)

    # --- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Close the gRPC channel(s) associated with the Client (a channel passed in is left open)."""
        if self._mux is not None:
            self._mux.cancel()
        self._queued.close()
        if self._owns_channel:
            self._pool.close()

    async def aclose(self) -> None:
        """Stop the shared run stream and close the channel(s)."""
        if self._mux is not None:
            await self._mux.aclose()
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Client(host={self.host!r}, port={self.port}, tls={self._certificate is not None})"

    # --- plumbing ----------------------------------------------------------

    def _bind(self) -> None:
        """Tie the client to the running loop on first use; refuse any other loop while that one lives."""
        loop = asyncio.get_running_loop()
        bound = self._loop
        if bound is loop:
            return
        if bound is not None and not bound.is_closed():
            raise EventLoopError(
                f"{self!r} belongs to another event loop (the first that used it); make a Client in the loop "
                "that uses it, or use Client.get_default_client(), which is one per event loop"
            )
        if bound is not None:
            # Its loop is closed: what it held there (connections, the run stream) died with it.
            self._mux = None
            with contextlib.suppress(RuntimeError):
                self._pool.close()
        self._loop = loop
        release_at_shutdown(loop, self)

    @contextlib.asynccontextmanager
    async def _jobs(self, service: Callable[[Channel], Any] = jobs_grpc.JobServiceStub) -> AsyncIterator[Any]:
        """A stub of ``service`` (JobService by default) on the least-loaded connection, for one call."""
        self._bind()
        async with self._pool.channel() as channel:
            yield service(channel)

    async def _metadata(self) -> dict[str, str] | None:
        token = await self.auth.get_token()
        return {"authorization": f"Bearer {token}"} if token else None

    async def _unary(
        self,
        method: str,
        request: Any,
        *,
        timeout: float | None,
        idempotent: bool,
        service: Callable[[Channel], Any] = jobs_grpc.JobServiceStub,
    ) -> Any:
        """One unary call with deadline, auth refresh, retries and error mapping."""
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                with mapped_errors(self.address):
                    async with self._jobs(service) as stub:
                        call = getattr(stub, method)
                        return await call(
                            request, timeout=timeout or self.DEFAULT_TIMEOUT, metadata=await self._metadata()
                        )
            except Unauthenticated:
                if refreshed or not self.auth.can_refresh:
                    raise
                refreshed = True
                await self.auth.refresh()
            except RPCError as exc:
                if not (idempotent and self.retry.should_retry(exc, attempt)):
                    raise
                await asyncio.sleep(self.retry.backoff(attempt))

    async def _stream(
        self,
        method: str,
        request: Any,
        *,
        timeout: float | None,
        service: Callable[[Channel], Any] = jobs_grpc.JobServiceStub,
    ) -> AsyncIterator[Any]:
        """A server-streaming call; errors raised while iterating are mapped too. Cancelling the consumer
        (or closing the generator) ends the call and stays a cancellation, whatever closing the stream raised."""
        stopped: BaseException | None = None
        with mapped_errors(self.address):
            try:
                async with self._jobs(service) as stub:
                    call = getattr(stub, method)
                    async with call.open(timeout=timeout or self.STREAM_TIMEOUT,
                                         metadata=await self._metadata()) as stream:  # fmt: skip
                        await stream.send_message(request, end=True)
                        try:
                            async for message in stream:
                                yield message
                        except (asyncio.CancelledError, GeneratorExit) as exc:
                            stopped = exc
                            raise
            except Exception:
                if stopped is not None:
                    raise stopped from None
                raise

    # --- operations --------------------------------------------------------

    async def health(self, timeout: float | None = None) -> str:
        """Check the health of the gRPC server: ``SERVING``, ``NOT_SERVING`` or ``UNKNOWN``."""
        self._bind()
        stub = health_grpc.HealthStub(self.channel)
        with mapped_errors(self.address):
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout or self.DEFAULT_TIMEOUT)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    async def create_job(
        self, kind: str, payload: bytes = b"", *, timeout: float | None = None, **options: Unpack[JobOptions]
    ) -> JobInfo:
        """Queue a job and return its first snapshot.

        Options (:class:`JobOptions`): ``content_type``, ``idempotency_key``
        (a second create with the same key returns the first job; one is
        generated when omitted, so retries are safe), ``labels``,
        ``max_attempts``, ``execution_timeout``, ``result_ttl``, ``priority``,
        ``wait_for_executor`` (here True by default: the job waits in the queue for an executor of its
        kind; False raises :class:`~asyncwf.exceptions.NoExecutor` when none serves it).
        """
        request = _create_request(kind, payload, options, wait=True)
        reply = await self._unary("CreateJob", request, timeout=timeout, idempotent=True)
        job = job_from_pb(reply.job)
        if not reply.job.payload:
            job.payload = payload  # the backend does not echo what we sent
        return job

    async def create_and_watch(
        self,
        kind: str,
        payload: bytes = b"",
        *,
        include_logs: bool = False,
        final_only: bool = False,
        **options: Unpack[JobOptions],
    ) -> AsyncIterator[JobEvent]:
        """Create a job and stream its events until it is done, with one RPC.

        With ``final_only`` the backend sends just the final snapshot. If the
        connection drops, the stream resumes where it stopped: the create is
        retried with its idempotency key, then the job is watched. As with
        :meth:`run_job`, a kind no executor serves raises
        :class:`~asyncwf.exceptions.NoExecutor` unless ``wait_for_executor=True``.
        """
        create = _create_request(kind, payload, options, wait=False)
        request = pb.CreateAndWatchRequest(create=create, include_logs=include_logs, final_only=final_only)
        job_id, version, attempt = "", 0, 0
        while not job_id:
            attempt += 1
            try:
                async for message in self._stream("CreateAndWatch", request, timeout=None):
                    event = event_from_pb(message)
                    if isinstance(event, JobInfo):
                        job_id, version = event.id, event.version
                    yield event
                    if isinstance(event, JobInfo) and event.done:
                        return
                if job_id:
                    break
                raise Unavailable("the stream ended before the job finished")
            except RPCError as exc:
                if job_id or not self.retry.should_retry(exc, attempt):
                    if not job_id:
                        raise
                    break
                await asyncio.sleep(self.retry.backoff(attempt))
        async for event in self.watch_job(job_id, include_logs=include_logs, _after_version=version):
            if not final_only or (isinstance(event, JobInfo) and event.done):
                yield event

    async def run_job(
        self,
        kind: str,
        payload: bytes = b"",
        *,
        on_created: Callable[[JobInfo], None] | None = None,
        on_log: Callable[[LogRecord], None] | None = None,
        **options: Unpack[JobOptions],
    ) -> JobInfo:
        """Create a job, wait until it is done and return its final snapshot.

        Takes the options of :meth:`create_job`. Concurrent calls share one
        long-lived stream (requests and results travel in batches), so a job
        costs less than an RPC. The result is in ``result_inline`` when small,
        else fetch it with :meth:`job_result`. ``on_created`` is called as soon as
        the job exists (to learn its id early) with a partial snapshot: its id,
        kind, state, version, attempt and creation time;
        ``on_log`` with each log entry the job writes, in order, on the same
        stream (use :meth:`watch_job` for every event, exactly once).

        A job whose kind no executor serves (here, or on another replica of the
        same store) fails at once with :class:`~asyncwf.exceptions.NoExecutor`
        naming the kind; with ``wait_for_executor=True`` it waits in the queue
        for one, with a warning after ``QUEUED_NOTICE_SECONDS``.
        """
        accepted = None if on_created is None else (lambda message: on_created(accepted_from_pb(message)))
        logged = None if on_log is None else (lambda entry: on_log(log_from_pb(entry)))
        return job_from_pb(await self._run_job_message(kind, payload, accepted, logged, options))

    async def _run_job_message(
        self, kind: str, payload: bytes, on_accepted: Callable[[pb.Job], None] | None,
        on_log: Callable[[pb.LogEntry], None] | None, options: JobOptions,
    ) -> pb.Job:  # fmt: skip
        """:meth:`run_job` with the wire messages themselves, for callers here that read a field or two
        (turning a final snapshot into a JobInfo costs ~16 us)."""
        request = _create_request(kind, payload, options, wait=False)
        self._bind()
        if self._mux is None:
            self._mux = RunMux(self)
        self._queued.enter(kind)
        try:
            return await self._mux.run(request, on_accepted, on_log)
        finally:
            self._queued.leave(kind)

    async def get_job(self, job_id: str, *, timeout: float | None = None) -> JobInfo:
        """The current snapshot of a job."""
        _check_id(job_id)
        return job_from_pb(await self._unary("GetJob", pb.GetJobRequest(id=job_id), timeout=timeout, idempotent=True))

    async def list_jobs(
        self,
        *,
        states: Sequence[JobState] = (),
        kind: str = "",
        labels: Mapping[str, str] | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        limit: int = 0,
    ) -> AsyncIterator[JobInfo]:
        """Stream the jobs matching every given filter, oldest first."""
        request = pb.ListJobsRequest(
            states=[JobState(s).value for s in states], kind=kind, labels=dict(labels or {}), limit=limit
        )
        for name, value in (("created_after", created_after), ("created_before", created_before)):
            if value is not None:
                if value.tzinfo is None:
                    raise InvalidArgument(f"{name} must be timezone-aware")
                stamp = ts_to_pb(value)
                getattr(request, name).CopyFrom(stamp)
        async for message in self._stream("ListJobs", request, timeout=None):
            yield job_from_pb(message)

    async def cancel_job(self, job_id: str, reason: str = "", *, timeout: float | None = None) -> JobInfo:
        """Cancel a queued or running job (a finished one is left as it is); its snapshot, without
        the payload (:meth:`get_job` has it)."""
        _check_id(job_id)
        request = pb.CancelJobRequest(id=job_id, reason=reason)
        return job_from_pb(await self._unary("CancelJob", request, timeout=timeout, idempotent=True))

    async def sign_file_url(self, path: str, expires_in: float = 3600.0, *, timeout: float | None = None) -> str:
        """A URL that reads the local file ``path`` through the backend's HTTP endpoint until it expires.

        The file must be inside a directory the backend shares (``asyncwf serve --share-dir DIR``);
        ``expires_in`` is 1 second to 7 days.
        """
        if not isinstance(path, str) or not path:
            raise InvalidArgument("give the file's absolute path")
        request = files_pb.SignFileURLRequest(path=path, expires_in_seconds=float(expires_in))
        reply = await self._unary("SignFileURL", request, timeout=timeout, idempotent=True,
                                  service=files_grpc.FileServiceStub)  # fmt: skip
        return str(reply.url)

    async def watch_job(
        self, job_id: str, *, include_logs: bool = False, _after_version: int = 0
    ) -> AsyncIterator[JobEvent]:
        """Stream a job's snapshot, then every change until it is done.

        Reconnects by itself when the backend is briefly unavailable,
        resuming after the last snapshot it delivered.
        """
        _check_id(job_id)
        version, attempt = _after_version, 0
        while True:
            attempt += 1
            request = pb.WatchJobRequest(id=job_id, include_logs=include_logs and version == 0, after_version=version)
            try:
                async for message in self._stream("WatchJob", request, timeout=None):
                    event = event_from_pb(message)
                    if isinstance(event, JobInfo):
                        if event.version <= version:  # already delivered before a reconnect
                            if event.done:
                                return
                            continue
                        version = event.version
                        attempt = 0
                    yield event
                    if isinstance(event, JobInfo) and event.done:
                        return
                raise Unavailable("the watch stream ended before the job finished")
            except RPCError as exc:
                if not self.retry.should_retry(exc, attempt):
                    raise
                await asyncio.sleep(self.retry.backoff(attempt))

    async def wait_job(self, job_id: str, *, timeout: float | None = None) -> JobInfo:
        """Wait (push-based) until the job is done; raises ``asyncwf.exceptions.TimeoutError``."""
        from asyncwf.exceptions import TimeoutError as AsyncwfTimeout

        final: JobInfo | None = None
        try:
            async with asyncio.timeout(timeout):
                async for event in self.watch_job(job_id):
                    if isinstance(event, JobInfo):
                        final = event
        except TimeoutError as exc:
            if isinstance(exc, RPCError):
                raise
            raise AsyncwfTimeout(f"job {job_id} did not finish within {timeout} s") from exc
        if final is None:  # pragma: no cover
            raise Unavailable("the backend sent no job snapshot")
        return final

    async def job_result(self, job: JobInfo | str, *, timeout: float | None = None) -> bytes:
        """The result bytes of a succeeded job; raises JobFailed/JobCancelled/JobExpired otherwise."""
        info = job if isinstance(job, JobInfo) else await self.get_job(job, timeout=timeout)
        raise_for_job(info)
        if info.result_inline is not None:
            return info.result_inline
        parts = []
        async for chunk in self._stream("GetResult", pb.GetResultRequest(id=info.id), timeout=timeout):
            parts.append(chunk.data)
        return b"".join(parts)


def raise_for_job(job: JobInfo) -> None:
    """Raise the JobError matching a job that did not succeed."""
    if job.state is JobState.SUCCEEDED:
        return
    error = job.error
    code, message = (error.code, error.message) if error else ("", "")
    if job.state is JobState.FAILED:
        raise JobFailed(f"job {job.id} failed: {message or code}", job_id=job.id, code=code)
    if job.state is JobState.CANCELLED:
        raise JobCancelled(f"job {job.id} was cancelled: {message}", job_id=job.id, code=code or "CANCELLED")
    if job.state is JobState.EXPIRED:
        raise JobExpired(f"the result of job {job.id} expired", job_id=job.id, code="EXPIRED")
    raise InvalidArgument(f"job {job.id} is still {job.state.name}")


def _check_id(job_id: str) -> None:
    if not isinstance(job_id, str) or not job_id:
        if inspect.isawaitable(job_id):
            if inspect.iscoroutine(job_id):
                job_id.close()  # (never awaited: no warning on top of this error)
            raise InvalidArgument("got a coroutine where a job or job id was expected: did you forget `await`?")
        raise InvalidArgument(f"a job id must be a non-empty string, not {type(job_id).__name__}")


class JobOptions(TypedDict, total=False):
    """Options of a new job (keyword arguments of ``create_job``, ``run_job``, ``create_and_watch``)."""

    #: Media type of the payload.
    content_type: str
    #: A retried create with the same key returns the first job (generated when omitted).
    idempotency_key: str | None
    labels: Mapping[str, str] | None
    #: Leases the job may get (0: the backend's default, 3).
    max_attempts: int
    #: Seconds the job function may run.
    execution_timeout: float | None
    #: Seconds the result is kept after the job ends (the backend's default: 10 days).
    result_ttl: float | None
    #: Higher runs first.
    priority: int
    #: Content address of the work: a succeeded, unexpired job with the same key answers at once.
    cache_key: str
    #: Queue the job even when no executor serves its kind (it runs once one connects; a warning is logged
    #: after ``Client.QUEUED_NOTICE_SECONDS``). When False, such a job fails at once with
    #: :class:`~asyncwf.exceptions.NoExecutor`. Default: True for ``create_job``, False for ``run_job`` and
    #: ``create_and_watch``.
    wait_for_executor: bool


_JOB_OPTIONS = frozenset(JobOptions.__annotations__)
_BYTES_LIKE = (bytes, bytearray, memoryview)


def _create_request(kind: str, payload: bytes, options: JobOptions, *, wait: bool) -> pb.CreateJobRequest:
    """The request for a new job; ``wait`` is ``wait_for_executor``'s default."""
    unknown = options.keys() - _JOB_OPTIONS
    if unknown:
        raise InvalidArgument(f"unknown job options: {', '.join(sorted(unknown))}")
    labels = options.get("labels")
    execution_timeout = options.get("execution_timeout")
    result_ttl = options.get("result_ttl")
    max_attempts = options.get("max_attempts", 0)
    if not isinstance(kind, str) or not kind:
        raise InvalidArgument("kind must be a non-empty string")
    if not isinstance(payload, _BYTES_LIKE):
        raise InvalidArgument(f"payload must be bytes, not {type(payload).__name__}")
    if labels is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InvalidArgument("labels must map str to str")
    for name, value in (("execution_timeout", execution_timeout), ("result_ttl", result_ttl)):
        if value is not None and not value > 0:
            raise InvalidArgument(f"{name} must be a positive number of seconds")
    if not isinstance(max_attempts, int) or max_attempts < 0:
        raise InvalidArgument("max_attempts must be a non-negative integer")
    request = pb.CreateJobRequest(
        kind=kind,
        payload=payload if type(payload) is bytes else bytes(payload),
        content_type=options.get("content_type", ""),
        idempotency_key=options.get("idempotency_key") or new_id(),
        max_attempts=max_attempts,
        timeout_seconds=execution_timeout or 0.0,
        result_ttl_seconds=result_ttl or 0.0,
        priority=options.get("priority", 0),
        cache_key=options.get("cache_key") or "",
        require_executor=not options.get("wait_for_executor", wait),
    )
    if labels:
        request.labels.update(labels)
    return request
