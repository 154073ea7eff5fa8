"""XFWorkerArguments (what a task script is told through its environment), and version strings."""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Mapping

from asyncwf.exceptions import ConfigurationError, InvalidArgument

__all__ = ["ActivityLogLevel", "ENVIRONMENT", "XFWorkerArguments", "format_version", "parse_version"]

#: The environment variables the worker sets for a task script.
ENVIRONMENT = {
    "job_serial": "XF_JOB_SERIAL",
    "server_host": "XF_SERVER_HOST",
    "server_port": "XF_SERVER_PORT",
    "server_auth": "XF_SERVER_AUTH",
}


class ActivityLogLevel(enum.IntEnum):
    """Levels of activity-log messages."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40


@dataclasses.dataclass(frozen=True)
class XFWorkerArguments:
    """The job and the server a task script works for, read from the environment (``XF_*`` variables).

    ``XFWorkerArguments()`` with no arguments reads them, as the seed's scripts do; a
    :class:`ConfigurationError` says which are missing.
    """

    job_serial: int = 0
    server_host: str = ""
    server_port: str = ""
    server_auth: str = ""

    def __post_init__(self) -> None:
        if not (self.job_serial or self.server_host or self.server_port or self.server_auth):
            found = XFWorkerArguments.from_environment()
            for field in dataclasses.fields(self):
                object.__setattr__(self, field.name, getattr(found, field.name))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> XFWorkerArguments:
        """The arguments from ``XF_JOB_SERIAL``, ``XF_SERVER_HOST``, ``XF_SERVER_PORT`` and ``XF_SERVER_AUTH`` (as
        ``asyncwf worker`` sets them); ``ConfigurationError`` naming what is missing."""
        env = os.environ if environ is None else environ
        missing = [name for key, name in ENVIRONMENT.items() if key != "server_auth" and not env.get(name)]
        if missing:
            raise ConfigurationError(f"not run by an asyncwf worker: {', '.join(missing)} not set")
        serial = env[ENVIRONMENT["job_serial"]]
        if not serial.isdigit():
            raise ConfigurationError(f"{ENVIRONMENT['job_serial']} must be a positive integer, not {serial!r}")
        port = env[ENVIRONMENT["server_port"]]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(f"{ENVIRONMENT['server_port']} must be a port number, not {port!r}")
        return cls(int(serial), env[ENVIRONMENT["server_host"]], port, env.get(ENVIRONMENT["server_auth"], ""))

    def environment(self) -> dict[str, str]:
        """The variables that hand these arguments to a script."""
        return {ENVIRONMENT["job_serial"]: str(self.job_serial), ENVIRONMENT["server_host"]: self.server_host,
                ENVIRONMENT["server_port"]: self.server_port, ENVIRONMENT["server_auth"]: self.server_auth}  # fmt: skip


_VERSION = re.compile(r"^\d+(\.\d+)*$")


def parse_version(version: str) -> tuple[int, ...]:
    """``"1.10.2"`` -> ``(1, 10, 2)``."""
    if not isinstance(version, str) or not _VERSION.match(version.strip()):
        raise InvalidArgument(f"a version is numbers separated by dots, not {version!r}")
    return tuple(int(part) for part in version.strip().split("."))


def format_version(version: tuple[int, ...]) -> str:
    """``(1, 10, 2)`` -> ``"1.10.2"``."""
    if (
        not isinstance(version, tuple)
        or not version
        or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in version)
    ):
        raise InvalidArgument(f"a version is a tuple of non-negative integers, not {version!r}")
    return ".".join(str(p) for p in version)
