"""Retry policy: exponential backoff with full jitter, only for calls that are safe to repeat."""

from __future__ import annotations

import dataclasses
import random

from asyncwf.exceptions import ConfigurationError, RPCError, Unavailable

__all__ = ["RetryPolicy"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a :class:`~asyncwf.Client` retries idempotent calls.

    Only errors in ``retry_on`` are retried, and only for calls that are
    idempotent (reads, cancels, watches) or carry an idempotency key (creates).
    """

    #: Total tries, the first one included; 1 disables retries.
    max_attempts: int = 5
    #: Upper bound of the first backoff, in seconds.
    initial_backoff: float = 0.05
    #: Upper bound of any backoff, in seconds.
    max_backoff: float = 2.0
    multiplier: float = 2.0
    retry_on: tuple[type[RPCError], ...] = (Unavailable,)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff or self.multiplier < 1:
            raise ConfigurationError("backoffs must satisfy 0 <= initial_backoff <= max_backoff, multiplier >= 1")

    def backoff(self, attempt: int) -> float:
        """Seconds to sleep after failed try number ``attempt`` (1-based): full jitter."""
        cap = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return random.uniform(0, cap)  # noqa: S311 - jitter, not cryptography

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether to try again after ``exc`` on ``attempt`` (1 for the first): attempts left and a retryable error."""
        return attempt < self.max_attempts and isinstance(exc, self.retry_on)
