"""Child: asks a service questions through the asyncwf backend; ask_multiple and answers as they arrive.

A question is a job of kind ``service:<service id>`` on the shared job
engine: the service (``asyncwf serve-app``) leases it, heartbeats while it
works (a service that dies loses its lease, and the question fails or runs
again), and sends its events as the job's log entries, which the backend
pushes to the asker in order: log records, monitor messages, then the answer
(the job's result) or the exception (the job's error).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asyncwf._concurrency import gather_bounded
from asyncwf._deadlines import callbacks
from asyncwf._ids import new_id, new_uuid
from asyncwf._model import JobInfo, JobState, LogRecord, log_from_pb
from asyncwf._tqdm import new_progress_bar
from asyncwf.data import Manifest
from asyncwf.exceptions import ChildError, ConfigurationError, InvalidInputException
from asyncwf.exceptions import TimeoutError as AsyncwfTimeout
from asyncwf.services._events import ChildEventHandler, normalise, raise_child_exception, save_record
from asyncwf.v1 import jobs_pb2 as pb

if TYPE_CHECKING:
    from asyncwf.client._client import JobOptions

__all__ = ["EVENT_PREFIX", "Child", "ask_all", "service_kind"]

log = logging.getLogger("asyncwf.services")

#: Log entries of a question's job that carry an event (the rest are plain logs).
EVENT_PREFIX = "\x1eevent:"
#: The job options of a question: one attempt (a service that dies fails it; ask's retries decide what next),
#: queued while the service is not running (as a Pub/Sub question waits; ``delivery_timeout`` bounds it).
_QUESTION_OPTIONS: JobOptions = {"content_type": "application/json", "max_attempts": 1, "wait_for_executor": True}
#: How long a question that is given up is tried to be cancelled in the backend.
CANCEL_SECONDS = 10.0
#: How many questions ask_multiple runs at once by default.
DEFAULT_CONCURRENCY = 64


def service_kind(service_id: str) -> str:
    """The job kind of questions to a service (``org/name:version``)."""
    if not isinstance(service_id, str) or not service_id or any(c.isspace() for c in service_id):
        raise InvalidInputException(f"a service id is like 'org/name:1.0', not {service_id!r}")
    return f"service:{service_id}"


async def ask_all(ask: Callable[..., Awaitable[dict[str, Any]]], questions: Sequence[Mapping[str, Any]],
                  concurrency: int, raise_errors: bool = True, *, progress_bar: bool | None = False,
                  description: str = "", **options: Any) -> list[Any]:  # fmt: skip
    """Answers in question order, at most ``concurrency`` questions at once, no threads.

    With ``raise_errors`` the first question to fail cancels the ones still
    waiting or running (in the backend too) and its error is raised; without,
    every question runs to its end and a failed one's exception stands in its
    answer's place. ``options`` (``max_retries`` ...) apply to each question
    unless it says otherwise. ``progress_bar`` shows a bar of the questions answered (or failed),
    titled ``description``; None shows it only in a notebook.
    """
    for question in questions:
        if not isinstance(question, Mapping):
            raise InvalidInputException("each question is a dict of ask() arguments")
    merged = [{**options, **question} if raise_errors else {**options, **question, "raise_errors": False}
              for question in questions]  # fmt: skip
    progress = new_progress_bar(progress_bar, len(merged), description, "question")
    if progress is not None:
        ask = _counted(ask, progress.update)
    try:
        return await gather_bounded(merged, lambda question: ask(**question), concurrency)
    finally:
        if progress is not None:
            progress.close()


def _counted(ask: Callable[..., Awaitable[Any]], done: Callable[[int], object]) -> Callable[..., Awaitable[Any]]:
    """``ask`` that calls ``done(1)`` once each question has its answer or its error."""

    async def counted(**question: Any) -> Any:
        try:
            answer = await ask(**question)
        except Exception:
            done(1)
            raise
        done(1)
        return answer

    return counted


async def answer_or_error(asking: Awaitable[dict[str, Any]], raise_errors: bool, log_errors: bool,
                          child: str) -> Any:  # fmt: skip
    """The answer; or, with ``raise_errors`` false, the question's exception in its place (logged)."""
    if raise_errors:
        return await asking
    try:
        return await asking
    except Exception as exc:  # returned, as the Octue SDK's ask(raise_errors=False) does
        if log_errors:
            log.error("a question to %s failed: %r", child, exc)
        return exc


class _Interrupt:
    """Stops the task that asks, for a reason of ours, told apart from a cancellation from outside
    (as :func:`asyncio.timeout` does): the reason is raised instead of the CancelledError."""

    __slots__ = ("armed", "cancelling", "reason", "task")

    def __init__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.cancelling = task.cancelling()
        self.reason: BaseException | None = None
        self.armed = True

    def __call__(self, reason: BaseException | None) -> None:
        if self.armed and self.reason is None and reason is not None:
            self.reason = reason
            self.task.cancel()

    def disarm(self) -> None:
        self.armed = False

    def raise_reason(self) -> None:
        """With a CancelledError in hand: raise the reason when the cancellation was ours alone."""
        if self.reason is not None and self.task.uncancel() <= self.cancelling:
            raise self.reason


class _EventPump:
    """Hands a question's events to its handler in order, from a task started with the first one
    (most questions send none). A handler that raises stops the question (``stop`` is called)."""

    __slots__ = ("convert", "error", "handler", "queue", "stop", "task")

    def __init__(self, handler: ChildEventHandler, convert: Callable[[LogRecord], dict[str, Any]]) -> None:
        self.handler = handler
        self.convert = convert
        #: Stops the question (set once it is under way).
        self.stop: Callable[[], Any] = lambda: None
        self.queue: asyncio.Queue[LogRecord | None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    def put(self, record: LogRecord) -> None:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = asyncio.create_task(self._consume())
        self.queue.put_nowait(record)

    async def _consume(self) -> None:
        assert self.queue is not None
        try:
            while (record := await self.queue.get()) is not None:
                await self.handler.handle(self.convert(record))
        except Exception as exc:
            self.error = exc
            self.stop()

    async def drain(self) -> None:
        """Wait until every event received so far is handled; raise what a handler raised."""
        if self.queue is not None and self.task is not None:
            self.queue.put_nowait(None)
            await self.task
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [] if self.task is None else [self.task]


class Child:
    """A service that answers questions, reached through an asyncwf backend.

    ``backend`` is ``{"name": "asyncwf", "host": ..., "port": ..., "token": ...}``
    (missing fields come from the environment, as for :class:`~asyncwf.Client`),
    or give ``client=`` directly.
    """

    def __init__(self, id: str, backend: Mapping[str, Any] | None = None, internal_service_name: str | None = None,
                 *, client: Any = None) -> None:  # fmt: skip
        self.kind = service_kind(id)
        self.id = id
        self.backend = dict(backend or {"name": "asyncwf"})
        if self.backend.get("name") not in ("asyncwf", None):
            raise ConfigurationError(
                f"backend {self.backend.get('name')!r} is not available here: use {{'name': 'asyncwf', ...}}"
            )
        self.internal_service_name = internal_service_name or f"{id}-parent"
        self._client = client

    def _api(self) -> Any:
        if self._client is None:
            from asyncwf.client import Client

            options = {k: v for k, v in self.backend.items() if k in ("host", "port")}
            if "token" in self.backend:
                from asyncwf.client import Auth

                options["auth"] = Auth(self.backend["token"])
            self._client = Client(**options) if options else Client.get_default_client()
        return self._client

    async def ask(
        self, input_values: Any = None, input_manifest: Manifest | Mapping[str, Any] | None = None,
        subscribe_to_logs: bool = True, allow_local_files: bool = False,
        handle_monitor_message: Callable[[Any], Any] | None = None, record_messages_to: str | None = None,
        allow_save_diagnostics_data_on_crash: bool = True, question_uuid: str | None = None,
        timeout: float | None = 86400, *, max_retries: int = 0,
        prevent_retries_when: Sequence[type[BaseException]] = (), delivery_timeout: float = 360,
        raise_errors: bool = True, log_errors: bool = True,
    ) -> Any:  # fmt: skip
        """Ask a question and wait for the answer ``{"output_values", "output_manifest"}``.

        Log records are re-emitted locally (prefixed with the child's id) when
        ``subscribe_to_logs``; monitor messages go to ``handle_monitor_message``
        (a function or a coroutine function); the child's exception is raised
        here (its own builtin type, or :class:`~asyncwf.exceptions.ChildError`
        with the remote traceback). A question no service takes within
        ``delivery_timeout`` seconds fails; a service that dies while answering
        loses its lease and the question fails within the lease time. Failures
        are asked again up to ``max_retries`` times, unless their type is in
        ``prevent_retries_when``. With ``raise_errors=False`` the last failure
        is returned (and logged, with ``log_errors``) in the answer's place.
        Cancelling the awaiting task cancels the question in the backend.
        """
        asking = self._ask(input_values, input_manifest, subscribe_to_logs, allow_local_files,
                           handle_monitor_message, record_messages_to, allow_save_diagnostics_data_on_crash,
                           question_uuid, timeout, max_retries, prevent_retries_when, delivery_timeout)  # fmt: skip
        return await answer_or_error(asking, raise_errors, log_errors, self.id)

    async def _ask(
        self, input_values: Any, input_manifest: Any, subscribe_to_logs: bool, allow_local_files: bool,
        handle_monitor_message: Callable[[Any], Any] | None, record_messages_to: str | None,
        allow_save_diagnostics_data_on_crash: bool, question_uuid: str | None, timeout: float | None,
        max_retries: int, prevent_retries_when: Sequence[type[BaseException]], delivery_timeout: float,
    ) -> dict[str, Any]:  # fmt: skip
        payload = self._payload(input_values, input_manifest, allow_local_files, question_uuid,
                                allow_save_diagnostics_data_on_crash)  # fmt: skip
        attempt = 0
        while True:
            handler = ChildEventHandler(self.id, subscribe_to_logs=subscribe_to_logs,
                                        handle_monitor_message=handle_monitor_message,
                                        record=[] if record_messages_to else None)  # fmt: skip
            try:
                return await self._ask_once(payload, handler, delivery_timeout, timeout)
            except AsyncwfTimeout:
                raise
            except Exception as exc:
                attempt += 1
                if attempt > max_retries or isinstance(exc, tuple(prevent_retries_when)):
                    raise
            finally:
                await save_record(record_messages_to, handler)

    def _payload(self, input_values: Any, input_manifest: Any, allow_local_files: bool, question_uuid: str | None,
                 allow_diagnostics: bool) -> bytes:  # fmt: skip
        manifest: Any = None
        if input_manifest is not None:
            manifest = input_manifest.to_primitive() if isinstance(input_manifest, Manifest) else dict(input_manifest)
            if not allow_local_files:
                remote = ("gs://", "http://", "https://")
                local = [key for key, path in manifest.get("datasets", {}).items()
                         if isinstance(path, str) and not path.startswith(remote)]  # fmt: skip
                if local:
                    raise InvalidInputException(
                        f"datasets {', '.join(local)} are local: upload them, or pass allow_local_files=True "
                        "if the child can read them"
                    )
        question = {
            "input_values": input_values, "input_manifest": manifest,
            "question_uuid": question_uuid or new_uuid(), "parent": self.internal_service_name,
            "allow_save_diagnostics_data_on_crash": allow_diagnostics,
        }  # fmt: skip
        try:
            return json.dumps(question).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidInputException(f"the question is not JSON-serialisable: {exc}") from exc

    async def _ask_once(self, payload: bytes, handler: ChildEventHandler, delivery_timeout: float,
                        timeout: float | None) -> dict[str, Any]:  # fmt: skip
        """One question over the client's shared RunJobs stream, its log entries (events) with it.

        Awaited in the asking task itself (no task of its own): a handler that raises, a question
        no service took in time, or no answer within ``timeout``, stops it through
        :class:`_Interrupt`. Both times are kept by the loop's coarse deadlines (a timer per 25 ms
        for every question, not two per question).
        """
        client = self._api()
        settled = False
        interrupt = _Interrupt()
        pump = _EventPump(handler, self._event_of)
        pump.stop = lambda: interrupt(pump.error)
        checks: list[asyncio.Future[None]] = []
        # The question's job is known by its idempotency key: the backend need not say its id (an
        # ``accepted`` message per question) for the rare question that is checked or cancelled.
        options: JobOptions = {**_QUESTION_OPTIONS, "idempotency_key": new_id()}

        async def current() -> JobInfo:
            """The question's job: a create with its key returns it (or makes it, if the question has
            not reached the backend yet)."""
            job: JobInfo = await client.create_job(self.kind, payload, **options)
            return job

        async def check_delivered() -> None:
            queued = (await current()).state is JobState.QUEUED
            if queued and not settled:
                reason = f"no service {self.id!r} took the question within {delivery_timeout} s"
                interrupt(ChildError(self.id, "NotDelivered", reason))

        def undelivered() -> None:
            checks.append(asyncio.ensure_future(check_delivered()))

        def timed_out() -> None:
            interrupt(AsyncwfTimeout(f"no answer from {self.id} within {timeout} s"))

        deadlines = callbacks()
        deadlines.set(undelivered, delivery_timeout)
        if timeout is not None:
            deadlines.set(timed_out, timeout)
        try:
            final = await client._run_job_message(self.kind, payload, None, lambda e: pump.put(log_from_pb(e)),
                                                  options)  # fmt: skip
            settled = True
            deadlines.discard(undelivered)
            await pump.drain()
            return await self._answer(client, final, handler)
        except asyncio.CancelledError:
            interrupt.raise_reason()
            raise
        finally:
            interrupt.disarm()
            deadlines.discard(undelivered)
            deadlines.discard(timed_out)
            for check in checks:
                check.cancel()
            pump.cancel()
            if pump.task is not None or checks:
                await asyncio.gather(*pump.tasks(), *checks, return_exceptions=True)
            if not settled:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._cancel(client, current))

    @staticmethod
    async def _cancel(client: Any, current: Callable[[], Awaitable[JobInfo]]) -> None:
        """Cancel the question's job, trying for at most :data:`CANCEL_SECONDS` (a backend that cannot
        be reached keeps no one waiting: the job, if it exists, runs and its answer is dropped)."""
        async with asyncio.timeout(CANCEL_SECONDS):
            job = await current()
            if not job.done:
                await client.cancel_job(job.id, "the asker stopped waiting")

    def _event_of(self, record: LogRecord) -> dict[str, Any]:
        message = record.message
        if message.startswith(EVENT_PREFIX):
            return normalise(json.loads(message[len(EVENT_PREFIX) :]))
        return {"kind": "log_record", "log_record": {"msg": message, "levelname": record.level,
                                                     "name": record.logger or "asyncwf.services.child"}}  # fmt: skip

    async def _answer(self, client: Any, final: pb.Job, handler: ChildEventHandler) -> dict[str, Any]:
        state = JobState(final.state)
        if state is JobState.SUCCEEDED:
            data = await client.job_result(final.id) if final.result.stored else final.result.inline
            answer = json.loads(data.decode())
            await handler.handle({"kind": "result", **answer})
            assert handler.result is not None
            return handler.result
        if state is JobState.FAILED and final.HasField("error"):
            error = final.error
            raise_child_exception({"exception_type": error.code, "exception_message": error.message,
                                   "exception_traceback": [error.details]}, self.id)  # fmt: skip
        raise ChildError(self.id, state.name, f"the question ended {state.name.lower()}")

    async def ask_multiple(self, *questions: Mapping[str, Any], concurrency: int = DEFAULT_CONCURRENCY,
                           raise_errors: bool = True, max_retries: int = 0,
                           prevent_retries_when: Sequence[type[BaseException]] = (), log_errors: bool = True,
                           progress_bar: bool | None = None) -> list[Any]:  # fmt: skip
        """Ask several questions (dicts of :meth:`ask` arguments) at once; answers in question order.

        At most ``concurrency`` are in flight. With ``raise_errors`` the first
        failure cancels the others (in the backend too) and is raised; without,
        every question is answered and a failed one's exception (after
        ``max_retries``, unless its type is in ``prevent_retries_when``) stands
        in its place. ``progress_bar`` counts the questions answered (or
        failed); None shows it only in a notebook. For answers as they
        arrive, use :meth:`answers`.
        """
        return await ask_all(self.ask, questions, concurrency, raise_errors, progress_bar=progress_bar,
                             description=f"Asking {self.id}", max_retries=max_retries,
                             prevent_retries_when=prevent_retries_when, log_errors=log_errors)  # fmt: skip

    async def answers(self, *questions: Mapping[str, Any], concurrency: int = DEFAULT_CONCURRENCY,
                      ) -> AsyncIterator[tuple[int, dict[str, Any]]]:  # fmt: skip
        """``(question index, answer)`` pairs as answers arrive; a failure is raised when it comes."""
        semaphore = asyncio.Semaphore(max(1, concurrency))
        queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

        async def one(index: int, question: Mapping[str, Any]) -> None:
            async with semaphore:
                try:
                    await queue.put((index, await self.ask(**question)))
                except Exception as exc:
                    await queue.put((index, exc))

        tasks = [asyncio.ensure_future(one(i, q)) for i, q in enumerate(questions)]
        try:
            for _ in tasks:
                index, answer = await queue.get()
                if isinstance(answer, Exception):
                    raise answer
                yield index, answer
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def __repr__(self) -> str:
        return f"<Child {self.id!r}>"
