"""Paths: ``gs://bucket/name`` cloud paths, local paths, and paths inside a dataset."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, urlsplit

from asyncwf.exceptions import InvalidInputException, UnsafePathError

__all__ = [
    "CLOUD_PREFIX",
    "cloud_join",
    "is_cloud_path",
    "is_url",
    "relative_in_dataset",
    "split_cloud_path",
    "url_name",
]

CLOUD_PREFIX = "gs://"
# Bucket names: 3-222 characters of lowercase letters, digits, '-', '_' and '.', starting and ending alphanumeric.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def is_cloud_path(path: object) -> bool:
    """True for ``gs://...`` (and only that: a local file named ``http_...`` stays local)."""
    return isinstance(path, str) and path.startswith(CLOUD_PREFIX)


def is_url(path: object) -> bool:
    """True for ``http://`` and ``https://`` URLs (signed URLs of cloud files and datasets)."""
    return isinstance(path, str) and path.startswith(("http://", "https://"))


def url_name(url: str) -> str:
    """The file name in a URL's path (query left out)."""
    return posixpath.basename(unquote(urlsplit(url).path).rstrip("/"))


def split_cloud_path(path: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``; the name may be empty (the bucket's root)."""
    if not is_cloud_path(path):
        raise InvalidInputException(f"{path!r} is not a cloud path (gs://bucket/name)")
    bucket, _, name = path[len(CLOUD_PREFIX) :].partition("/")
    if not _BUCKET.match(bucket):
        raise InvalidInputException(f"{path!r}: {bucket!r} is not a valid bucket name")
    if name and (name.startswith("/") or any(part in ("", ".", "..") for part in name.rstrip("/").split("/"))):
        raise InvalidInputException(f"{path!r}: object names cannot contain empty, '.' or '..' parts")
    return bucket, name


def cloud_join(base: str, *parts: str) -> str:
    """``gs://b/x`` + ``"y/z.csv"`` -> ``gs://b/x/y/z.csv``."""
    bucket, name = split_cloud_path(base)
    joined = posixpath.join(name, *parts) if name else posixpath.join(*parts) if parts else ""
    return f"{CLOUD_PREFIX}{bucket}/{joined}"


def relative_in_dataset(path: str) -> str:
    """A path inside a dataset, normalised with '/'; absolute paths and '..' escapes are rejected."""
    if not isinstance(path, str) or not path:
        raise InvalidInputException(f"a path in a dataset must be a non-empty string, not {path!r}")
    unified = path.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:/", unified) or is_cloud_path(unified):
        raise UnsafePathError(f"{path!r} is absolute: give a path relative to the dataset")
    normal = posixpath.normpath(unified)
    if normal == ".." or normal.startswith("../") or normal == ".":
        raise UnsafePathError(f"{path!r} is not inside the dataset")
    return normal
