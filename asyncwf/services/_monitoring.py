"""Monitor-message helpers and the log handler (the Octue SDK's ``essentials`` and ``log_handlers``)."""

from __future__ import annotations

import logging

from asyncwf.services._analysis import Analysis

__all__ = ["LOG_FORMAT", "apply_log_handler", "send_estimated_seconds_remaining", "send_status_text"]

log = logging.getLogger("asyncwf.services")
LOG_FORMAT = "[%(asctime)s | %(levelname)s | %(name)s] %(message)s"


def send_status_text(analysis: Analysis, text: str, service_name: str) -> None:
    """Send ``{"status_text": text, "service": name}`` as a monitor message, and log it at INFO."""
    analysis.send_monitor_message({"type": "status_text", "data": text, "service": service_name})
    log.info("%s: %s", service_name, text)


def send_estimated_seconds_remaining(analysis: Analysis, estimated_seconds_remaining: float, service_name: str) -> None:
    """Send an estimated-seconds-remaining monitor message."""
    if estimated_seconds_remaining < 0:
        raise ValueError("estimated_seconds_remaining must not be negative")
    analysis.send_monitor_message(
        {"type": "estimated_seconds_remaining", "data": estimated_seconds_remaining, "service": service_name}
    )


def apply_log_handler(
    logger_name: str | None = None, logger: logging.Logger | None = None, handler: logging.Handler | None = None,
    log_level: int | str = logging.INFO, formatter: logging.Formatter | None = None, include_line_number: bool = False,
    include_process_name: bool = False, include_thread_name: bool = False,
) -> logging.Handler:  # fmt: skip
    """Attach ``handler`` (a StreamHandler if None) to a logger (the root logger by default) and return it.

    Only the given handler gets the formatter: other handlers keep theirs.
    """
    target = logger or logging.getLogger(logger_name)
    handler = handler or logging.StreamHandler()
    if formatter is None:
        context = ["%(asctime)s", "%(levelname)s", "%(name)s"]
        if include_line_number:
            context.append("%(filename)s:%(lineno)d")
        if include_process_name:
            context.append("%(processName)s")
        if include_thread_name:
            context.append("%(threadName)s")
        formatter = logging.Formatter(f"[{' | '.join(context)}] %(message)s")
    handler.setFormatter(formatter)
    handler.setLevel(log_level)
    target.addHandler(handler)
    if target.getEffectiveLevel() > handler.level:
        target.setLevel(handler.level)
    return handler
