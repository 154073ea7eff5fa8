"""Worker utilities for task scripts (XamFlow's ``xfworkerutil``, async) — the first parts.

Here now: :class:`TemporaryWorkingDirectory`, :class:`XFWorkerArguments`,
:class:`ActivityLogLevel`, :func:`parse_version` and :func:`format_version`.
The XF entities, the file service, ``XFWorkerJob`` and the ``asyncwf worker``
command are still to come (issue 7).
"""

from asyncwf.worker._arguments import ActivityLogLevel, XFWorkerArguments, format_version, parse_version
from asyncwf.worker._tempdir import TemporaryWorkingDirectory

__all__ = ["ActivityLogLevel", "TemporaryWorkingDirectory", "XFWorkerArguments", "format_version", "parse_version"]
