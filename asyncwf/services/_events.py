"""The events a child sends while answering a question, in one canonical form, and how a parent handles them.

Canonical events are dicts with a ``kind``:

- ``{"kind": "delivery_acknowledgement"}``, ``{"kind": "heartbeat"}``
- ``{"kind": "log_record", "log_record": {...}}`` (what ``logging.makeLogRecord`` accepts)
- ``{"kind": "monitor_message", "data": value}``
- ``{"kind": "exception", "exception_type": str, "exception_message": str, "exception_traceback": [str]}``
- ``{"kind": "result", "output_values": value, "output_manifest": dict | None}``

:func:`normalise` reads every format the Octue SDK's emulator files used over
its history (``messages`` with ``type``/``content``, flat ``type``, ``kind``;
``events`` with ``kind``; the full ``{"event": ..., "attributes": ...}`` list).
"""

from __future__ import annotations

import builtins
import inspect
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from asyncwf.data._manifest import Manifest
from asyncwf.exceptions import ChildError, InvalidInputException

__all__ = ["KINDS", "ChildEventHandler", "normalise", "raise_child_exception", "save_record"]

KINDS = frozenset({"delivery_acknowledgement", "heartbeat", "log_record", "monitor_message", "exception", "result"})
log = logging.getLogger("asyncwf.services.child")


def _loads_maybe(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def normalise(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One event of any known format as a canonical event; InvalidInputException if it is not one."""
    if not isinstance(raw, Mapping):
        raise InvalidInputException(f"an event is a JSON object, not {type(raw).__name__}")
    if "event" in raw and isinstance(raw["event"], Mapping):
        raw = raw["event"]  # {"event": ..., "attributes": ...}
    kind = raw.get("kind", raw.get("type"))
    if kind not in KINDS:
        raise InvalidInputException(f"unknown event kind {kind!r}")
    content = raw.get("content")  # the oldest format: {"type": ..., "content": ...}
    if kind == "log_record":
        record = raw.get("log_record", content)
        if not isinstance(record, Mapping):
            raise InvalidInputException("a log_record event needs a log_record object")
        return {"kind": kind, "log_record": dict(record)}
    if kind == "monitor_message":
        return {"kind": kind, "data": _loads_maybe(raw.get("data", content))}
    if kind == "result":
        source = content if isinstance(content, Mapping) else raw
        return {"kind": kind, "output_values": source.get("output_values"),
                "output_manifest": source.get("output_manifest")}  # fmt: skip
    if kind == "exception":
        source = content if isinstance(content, Mapping) else raw
        trace = source.get("exception_traceback") or source.get("traceback") or []
        return {
            "kind": kind,
            "exception_type": str(source.get("exception_type", "Exception")),
            "exception_message": str(source.get("exception_message", source.get("message", ""))),
            "exception_traceback": [trace] if isinstance(trace, str) else list(trace),
        }
    return {"kind": kind}


#: Exception classes made for the child exception types the parent does not know, by name (made once each).
_REMOTE_TYPES: dict[str, type[ChildError]] = {}


def remote_exception_type(name: str) -> type[ChildError]:
    """A ChildError subclass named as a child's exception type (``MyAppError``), the same class each time."""
    short = name.rsplit(".", 1)[-1] or "ChildError"
    if not short.isidentifier():
        return ChildError
    if short not in _REMOTE_TYPES:
        _REMOTE_TYPES[short] = type(short, (ChildError,), {"__module__": "asyncwf.services.remote"})
    return _REMOTE_TYPES[short]


def raise_child_exception(event: Mapping[str, Any], child: str) -> None:
    """Raise a child's exception: as its own builtin type when it has one, else as a ChildError subclass of its
    name; the message starts with the child's."""
    name, message = event["exception_type"], event["exception_message"]
    remote = remote_exception_type(name)(child, name, message, "".join(event.get("exception_traceback") or []))
    kind = getattr(builtins, name.rsplit(".", 1)[-1], None)
    if inspect.isclass(kind) and issubclass(kind, Exception) and kind.__module__ == "builtins":
        try:
            error = kind(f"{message} (raised by child {child})")
        except Exception:  # a builtin exception that takes other arguments
            raise remote from None
        raise error from remote
    raise remote


class ChildEventHandler:
    """Handles a question's events as they arrive; ``result`` holds the answer once one came."""

    def __init__(
        self, child: str, *, subscribe_to_logs: bool = True,
        handle_monitor_message: Callable[[Any], Any] | None = None, record: list[dict[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        self.child = child
        self.subscribe_to_logs = subscribe_to_logs
        self.handle_monitor_message = handle_monitor_message
        self.record = record
        self.result: dict[str, Any] | None = None

    async def handle(self, event: dict[str, Any]) -> bool:
        """Handle one canonical event; True when the question is answered (a result)."""
        if self.record is not None:
            self.record.append(event)
        kind = event["kind"]
        if kind == "log_record" and self.subscribe_to_logs:
            fields = dict(event["log_record"])
            fields["msg"] = f"[{self.child}] {fields.get('msg', '')}"
            fields.setdefault("name", log.name)
            if not isinstance(fields.get("levelno"), int):
                level = logging.getLevelName(str(fields.get("levelname") or "INFO").upper())
                fields["levelno"] = level if isinstance(level, int) else logging.INFO
            fields["levelname"] = logging.getLevelName(fields["levelno"])
            fields["args"] = None  # the message arrives formatted
            record = logging.makeLogRecord(fields)
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        elif kind == "monitor_message" and self.handle_monitor_message is not None:
            outcome = self.handle_monitor_message(event["data"])
            if inspect.isawaitable(outcome):
                await outcome
        elif kind == "exception":
            raise_child_exception(event, self.child)
        elif kind == "result":
            manifest = event.get("output_manifest")
            if manifest is not None:  # a Manifest, as the Octue SDK gives it (its datasets load when awaited)
                manifest = Manifest.deserialise(manifest)
            self.result = {"output_values": event.get("output_values"), "output_manifest": manifest}
            return True
        return False


async def save_record(path: str | None, handler: ChildEventHandler) -> None:
    """Write the events a handler recorded to ``path`` (``record_messages_to``), if there is one."""
    if path and handler.record is not None:
        await anyio.Path(path).write_text(json.dumps(handler.record, indent=2, default=str))
