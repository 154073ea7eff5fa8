"""Serving an app: answer questions to a service id through the backend's job engine."""

from __future__ import annotations

import contextvars
import json
import logging
import time
import traceback
from typing import Any

from asyncwf._context import JobContext, JobFailureError, JobOutput
from asyncwf.exceptions import InvalidInputException
from asyncwf.services._child import EVENT_PREFIX, service_kind
from asyncwf.services._runner import Runner

__all__ = ["QuestionTag", "ServedApp", "answer_question"]

log = logging.getLogger(__name__)

_RECORD_FIELDS = ("name", "levelname", "levelno", "pathname", "filename", "module", "lineno", "funcName",
                  "created", "msecs", "process", "processName", "thread", "threadName")  # fmt: skip


#: The question being answered in this context (read by the event log, which serves them all).
_QUESTION: contextvars.ContextVar[tuple[JobContext, str] | None] = contextvars.ContextVar(
    "asyncwf_question", default=None
)


class _EventLog(logging.Handler):
    """Forwards an analysis's log records to the asker, as events in the job log of the question being
    answered in the record's context (one handler serves every question: making one per question
    would take logging's global lock)."""

    def emit(self, record: logging.LogRecord) -> None:
        question = _QUESTION.get()
        if question is None:
            return
        ctx = question[0]
        fields: dict[str, Any] = {name: getattr(record, name, None) for name in _RECORD_FIELDS}
        fields["msg"] = record.getMessage()
        if record.exc_info:
            fields["exc_text"] = "".join(traceback.format_exception(*record.exc_info))
        send(ctx, {"kind": "log_record", "log_record": fields}, record.levelname)


_EVENT_LOG = _EventLog()


class QuestionTag(logging.Filter):
    """Gives every record ``question_id``: the uuid of the question answered in its context, else ``-``.
    Put it on a handler to tell apart the lines of questions answered at once (``asyncwf serve-app`` does)."""

    def filter(self, record: logging.LogRecord) -> bool:
        question = _QUESTION.get()
        record.question_id = "-" if question is None else question[1]
        return True


def send(ctx: JobContext, event: dict[str, Any], level: str = "INFO") -> None:
    ctx.log(EVENT_PREFIX + json.dumps(event, default=str), level, "asyncwf.services")


async def answer_question(runner: Runner, ctx: JobContext, *, log_level: int = logging.INFO) -> JobOutput:
    """Run one question (a ``service:<id>`` job) through ``runner``; the answer is the job's result."""
    try:
        question = json.loads(ctx.payload.decode())
        if not isinstance(question, dict):
            raise ValueError("a question is a JSON object")
    except ValueError as exc:
        raise JobFailureError("InvalidInputException", f"the question is not JSON: {exc}") from exc
    question_id = str(question.get("question_uuid") or ctx.job.id)
    token = _QUESTION.set((ctx, question_id))
    started = time.monotonic()
    try:
        analysis = await runner.run(
            analysis_id=question.get("question_uuid"), input_values=question.get("input_values"),
            input_manifest=question.get("input_manifest"), analysis_log_level=log_level,
            analysis_log_handler=_EVENT_LOG,
            handle_monitor_message=lambda data: send(ctx, {"kind": "monitor_message", "data": data}),
            allow_save_diagnostics_data_on_crash=bool(question.get("allow_save_diagnostics_data_on_crash", True)),
        )  # fmt: skip
    except Exception as exc:
        log.info("question %s: failed in %.2f s: %s: %s", question_id, time.monotonic() - started,
                 type(exc).__name__, exc)  # fmt: skip
        # The exception's type and message travel as the job's error, its traceback as the details.
        raise JobFailureError(type(exc).__name__, str(exc), "".join(traceback.format_exception(exc))) from exc
    else:
        log.info("question %s: answered in %.2f s", question_id, time.monotonic() - started)
    finally:
        _QUESTION.reset(token)
    manifest = analysis.output_manifest
    answer = {"output_values": analysis.output_values,
              "output_manifest": None if manifest is None else manifest.to_primitive()}  # fmt: skip
    try:
        data = json.dumps(answer).encode()
    except (TypeError, ValueError) as exc:
        raise JobFailureError("InvalidInputException", f"the output values are not JSON: {exc}") from exc
    return JobOutput(data, "application/json")


class ServedApp:
    """Answers questions to ``service_id`` with ``runner``, ``concurrency`` at a time, until closed::

        async with ServedApp(runner, "org/name:1.0", client, concurrency=10):
            await asyncio.Event().wait()

    Questions are leased from the backend like any job: while the app works
    its lease is renewed, and a served app that dies loses its lease.
    """

    def __init__(self, runner: Runner, service_id: str, client: Any, *, concurrency: int = 10,
                 lease_seconds: float | None = None, log_level: int = logging.INFO) -> None:  # fmt: skip
        from asyncwf.client import RemoteExecutor

        if concurrency < 1:
            raise InvalidInputException("concurrency is at least 1")
        self.runner = runner
        self.service_id = service_id
        self.kind = service_kind(service_id)

        async def handle(ctx: JobContext) -> JobOutput:
            return await answer_question(runner, ctx, log_level=log_level)

        self.executor = RemoteExecutor(client, {self.kind: handle}, capacity=concurrency,
                                       lease_seconds=lease_seconds)  # fmt: skip

    async def __aenter__(self) -> ServedApp:
        await self.executor.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.executor.__aexit__(*exc)
