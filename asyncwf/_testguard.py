"""The test kit's guard: inside a pytest test, the implicit default client only reaches backends run here.

A test that forgets the ``asyncwf_client`` fixture would otherwise compute on the developer's own backend
at ``127.0.0.1:50051``. The pytest plugin marks the running test; :func:`check` refuses to connect an implicit
default client whose address is not a backend started in this process, unless the test opted in
(``@pytest.mark.asyncwf_real_backend`` or ``ASYNCWF_TEST_REAL_BACKEND=1``). Nothing here imports more
than the standard library, so the plugin stays cheap for suites that never use asyncwf.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
#: The node id of the guarded test running now (None: no test, or the test opted in).
_guarded: str | None = None
#: (host, port) of the gRPC servers this process runs.
_served: set[tuple[str, int]] = set()


def guard(nodeid: str | None) -> None:
    """Guard the test ``nodeid`` (None lifts the guard)."""
    global _guarded
    _guarded = nodeid


def serving(host: str, port: int, *, up: bool) -> None:
    """Record that this process serves (or no longer serves) gRPC at ``host:port``."""
    with _lock:
        if up:
            _served.add((host, port))
        else:
            _served.discard((host, port))


def check(host: str, port: int) -> None:
    """Raise :class:`~asyncwf.exceptions.ConfigurationError` if a guarded test may not connect to ``host:port``."""
    nodeid = _guarded
    if nodeid is None:
        return
    with _lock:
        if (host, port) in _served or any(p == port and _loopback(h) and _loopback(host) for h, p in _served):
            return
    from asyncwf.exceptions import ConfigurationError

    raise ConfigurationError(
        f"{nodeid} used the implicit default client, which points at {host}:{port}, a backend this test "
        "did not start. Request the asyncwf_client fixture (or Client.set_default_client(...)), or mark "
        "the test @pytest.mark.asyncwf_real_backend to use that backend on purpose."
    )


def _loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", "")  # noqa: S104 - compares, binds nothing
