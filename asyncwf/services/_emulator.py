"""ChildEmulator: a drop-in for Child in tests that answers with recorded events, without a backend."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio

from asyncwf.exceptions import InvalidInputException
from asyncwf.services._child import answer_or_error, ask_all
from asyncwf.services._events import ChildEventHandler, normalise, save_record

__all__ = ["ChildEmulator", "DEFAULT_CONCURRENCY"]

log = logging.getLogger("asyncwf.services")

#: How many questions ask_multiple runs at once by default.
DEFAULT_CONCURRENCY = 32


class ChildEmulator:
    """Answers every question with the same events: log records, monitor messages, then a result or an exception.

    ``messages`` (the documented name) and ``events`` (the newer one) take
    events in any of the Octue SDK's formats. Inputs are not validated: the
    emulator has no twine.
    """

    def __init__(
        self, id: str | None = None, backend: Mapping[str, Any] | None = None,
        internal_service_name: str | None = None, messages: Sequence[Mapping[str, Any]] | None = None,
        *, events: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        if messages is not None and events is not None:
            raise InvalidInputException("give messages or events, not both")
        self.id = id or str(uuid.uuid4())
        self.backend = dict(backend or {"name": "emulator"})
        self.internal_service_name = internal_service_name or f"{self.id}-parent"
        raw = list(messages if messages is not None else events or [])
        if not raw:
            raise InvalidInputException("an emulated child needs the events it answers with (messages or events)")
        self.events = [normalise(event) for event in raw]

    @classmethod
    async def from_file(cls, path: str | os.PathLike[str]) -> ChildEmulator:
        """An emulator from a JSON file: ``{"id", "backend", "internal_service_name", "messages" | "events"}``
        (any key may be missing), or a bare list of events."""
        try:
            data = json.loads(await anyio.Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputException(f"cannot read a child emulator from {os.fspath(path)!r}: {exc}") from exc
        if isinstance(data, list):
            return cls(events=data)
        if not isinstance(data, dict):
            raise InvalidInputException("a child emulator file holds a JSON object or a list of events")
        return cls(
            id=data.get("id"), backend=data.get("backend"),
            internal_service_name=data.get("internal_service_name") or data.get("internal_sruid"),
            messages=data.get("messages"), events=data.get("events"),
        )  # fmt: skip

    async def ask(
        self, input_values: Any = None, input_manifest: Any = None, subscribe_to_logs: bool = True,
        allow_local_files: bool = False, handle_monitor_message: Callable[[Any], Any] | None = None,
        record_messages_to: str | None = None, allow_save_diagnostics_data_on_crash: bool = True,
        question_uuid: str | None = None, timeout: float | None = 86400, *, max_retries: int = 0,
        prevent_retries_when: Sequence[type[BaseException]] = (), raise_errors: bool = True, log_errors: bool = True,
    ) -> Any:  # fmt: skip
        """Replay the events: logs to local logging, monitor messages to the handler; return the result or
        raise the exception (return it in the answer's place with ``raise_errors=False``). ChildError if the
        events hold neither. Retries replay the same events, so they change nothing."""
        del max_retries, prevent_retries_when  # (Child's signature: replaying again gives the same answer)
        asking = self._replay(input_values, input_manifest, subscribe_to_logs, handle_monitor_message,
                              record_messages_to, timeout)  # fmt: skip
        return await answer_or_error(asking, raise_errors, log_errors, self.id)

    async def _replay(self, input_values: Any, input_manifest: Any, subscribe_to_logs: bool,
                      handle_monitor_message: Callable[[Any], Any] | None, record_messages_to: str | None,
                      timeout: float | None) -> dict[str, Any]:  # fmt: skip
        handler = ChildEventHandler(self.id, subscribe_to_logs=subscribe_to_logs,
                                    handle_monitor_message=handle_monitor_message,
                                    record=[] if record_messages_to else None)  # fmt: skip
        try:
            async with asyncio.timeout(timeout):
                for event in self.events:
                    if await handler.handle(event):
                        break
        finally:
            await save_record(record_messages_to, handler)
        if handler.result is None:
            # As the seed's Octue versions (later ones log it): an answer of nothing.
            log.warning("the emulated child %s sent no result: the answer holds no values or manifest", self.id)
            return {"output_values": None, "output_manifest": None}
        return handler.result

    async def ask_multiple(self, *questions: Mapping[str, Any], concurrency: int = DEFAULT_CONCURRENCY,
                           raise_errors: bool = True, max_retries: int = 0,
                           prevent_retries_when: Sequence[type[BaseException]] = (), log_errors: bool = True,
                           progress_bar: bool | None = None) -> list[Any]:  # fmt: skip
        """Ask several questions (dicts of :meth:`ask`'s arguments); answers in question order, with
        :meth:`Child.ask_multiple`'s handling of failures and progress bar."""
        return await ask_all(self.ask, questions, concurrency, raise_errors, progress_bar=progress_bar,
                             description=f"Asking {self.id}", max_retries=max_retries,
                             prevent_retries_when=prevent_retries_when, log_errors=log_errors)  # fmt: skip

    def __repr__(self) -> str:
        return f"<ChildEmulator {self.id!r} ({len(self.events)} events)>"
