"""Map transport errors (grpclib, h2, sockets) to asyncwf.exceptions at the boundary."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator

from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from asyncwf.exceptions import AsyncwfError, DeadlineExceeded, Unavailable, error_for_status

__all__ = ["mapped_errors", "translate"]


def translate(exc: BaseException, address: str | None = None) -> AsyncwfError | None:
    """The asyncwf error for a transport error, or ``None`` if it is not one.

    ``address`` (``host:port``) lets a lost connection say what most often causes it: a client
    pointed at a port that does not speak gRPC, such as the backend's HTTP port.
    """
    if isinstance(exc, AsyncwfError):
        return exc
    if isinstance(exc, GRPCError):
        return error_for_status(exc.status.value, exc.message or exc.status.name)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return DeadlineExceeded("deadline exceeded")
    at = f" at {address}" if address is not None else ""
    if isinstance(exc, StreamTerminatedError | ProtocolError | ConnectionError | ssl.SSLError):
        hint = ""
        if address is not None and isinstance(exc, StreamTerminatedError | ProtocolError):
            hint = (f". If it happens at once, is {address} the backend's gRPC port? asyncwf serve takes gRPC "
                    "on --port (50051 by default); its HTTP port (--http-port, 8080 by default) does not "
                    "speak gRPC")  # fmt: skip
        return Unavailable(f"connection to the backend{at} failed: {exc}{hint}")
    if isinstance(exc, OSError):
        return Unavailable(f"cannot reach the backend{at}: {exc}")
    return None


@contextlib.contextmanager
def mapped_errors(address: str | None = None) -> Iterator[None]:
    """Re-raise transport errors as asyncwf errors (``raise ... from exc``); ``address`` as in :func:`translate`."""
    try:
        yield
    except AsyncwfError:
        raise
    except Exception as exc:
        mapped = translate(exc, address)
        if mapped is None:
            raise
        raise mapped from exc
