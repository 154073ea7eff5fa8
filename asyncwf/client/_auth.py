"""Bearer-token authentication for the client, with optional refresh."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable

from asyncwf.exceptions import ConfigurationError

__all__ = ["Auth"]

TokenProvider = Callable[[], "str | Awaitable[str]"]


class Auth:
    """Supplies the bearer token sent with every call.

    Args:
        token: A fixed token.
        token_provider: A function (sync or async) returning a fresh token;
            called when there is no token yet, when ``ttl`` has passed, and
            once after the backend answers UNAUTHENTICATED.
        ttl: Seconds a provided token is reused before it is refreshed.
    """

    def __init__(
        self, token: str | None = None, *, token_provider: TokenProvider | None = None, ttl: float | None = None
    ) -> None:
        if token is not None and not isinstance(token, str):
            raise ConfigurationError("token must be a string")
        if token_provider is not None and not callable(token_provider):
            raise ConfigurationError("token_provider must be callable")
        if ttl is not None and ttl <= 0:
            raise ConfigurationError("ttl must be positive")
        self._token = token or None
        self._provider = token_provider
        self._ttl = ttl
        self._fetched_at = time.monotonic() if token else 0.0
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_environment(cls) -> Auth:
        """An Auth holding ``$ASYNCWF_TOKEN`` (or no token)."""
        return cls(os.environ.get("ASYNCWF_TOKEN") or None)

    @classmethod
    def get_default_client(cls) -> Auth:
        """The default Auth (the seed's name for it): from the environment."""
        return cls.from_environment()

    @property
    def token(self) -> str | None:
        """The current token, without refreshing."""
        return self._token

    @property
    def can_refresh(self) -> bool:
        """Whether a token provider can make a new token (after an ``Unauthenticated`` reply, say)."""
        return self._provider is not None

    def _stale(self) -> bool:
        if self._provider is None:
            return False
        if self._token is None:
            return True
        return self._ttl is not None and time.monotonic() - self._fetched_at > self._ttl

    async def get_token(self) -> str | None:
        """The token to send now, refreshed first if stale."""
        if self._stale():
            await self.refresh()
        return self._token

    async def refresh(self) -> str | None:
        """Ask the provider for a new token (one caller at a time)."""
        if self._provider is None:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            value = self._provider()
            if inspect.isawaitable(value):
                value = await value
            if not isinstance(value, str) or not value:
                raise ConfigurationError("token_provider must return a non-empty string")
            self._token = value
            self._fetched_at = time.monotonic()
        return self._token

    def __repr__(self) -> str:
        return f"Auth(token={'***' if self._token else None}, refreshable={self.can_refresh})"
