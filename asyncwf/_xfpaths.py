"""Names in the XF file service: areas, safe relative paths, ``@xfuserdata/`` virtual paths."""

from __future__ import annotations

from asyncwf.exceptions import InvalidArgument

__all__ = ["AREAS", "USERDATA", "USERDATA_PREFIX", "check_relative_path", "check_virtualpath", "engine_kind"]

#: Area -> the entity kind whose serial it takes.
AREAS = {
    "job-result": "job",
    "job-log": "job",
    "task-config": "task",
    "task-type-config": "task_type",
    "workflow-config": "workflow",
    "dependency-package-config": "dependency_package",
}
USERDATA = "userdata"
USERDATA_PREFIX = "@xfuserdata/"


def check_relative_path(name: str, what: str = "file name") -> str:
    """``name`` if it is a safe relative path (no ``..``, not absolute, no backslash or NUL)."""
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise InvalidArgument(f"a {what} is 1-1024 characters, not {name!r}")
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or "\x00" in name or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(
            f"{name!r} is not a safe relative {what}: no '..', '.', empty parts, '\\\\' or leading '/'"
        )
    return name


def check_virtualpath(virtualpath: str, *, folder_ok: bool = False) -> str:
    """The path under ``@xfuserdata/`` of a virtual path, checked."""
    if not isinstance(virtualpath, str) or not virtualpath.startswith(USERDATA_PREFIX):
        raise InvalidArgument(f"a virtual path starts with {USERDATA_PREFIX!r}, not {virtualpath!r}")
    rest = virtualpath[len(USERDATA_PREFIX) :]
    if folder_ok and (rest == "" or rest.endswith("/")):
        return rest and check_relative_path(rest[:-1], "virtual path") + "/"
    return check_relative_path(rest, "virtual path")


def engine_kind(task_type_name: str) -> str:
    """The engine job kind of XF jobs of a task type: ``xf:<name>``."""
    return f"xf:{task_type_name}"
