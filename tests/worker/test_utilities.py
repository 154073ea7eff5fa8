"""The first worker utilities: the temporary working directory, the script's arguments, versions."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from asyncwf.exceptions import ConfigurationError, InvalidArgument
from asyncwf.worker import TemporaryWorkingDirectory, XFWorkerArguments, format_version, parse_version


async def test_temporary_working_directory() -> None:
    tmp = TemporaryWorkingDirectory("job-")
    with pytest.raises(InvalidArgument, match="await"):
        _ = tmp.path
    await tmp
    first, second = tmp.create_temp_path("scan.aim"), tmp.create_temp_path("scan.aim")
    assert first != second and first.parent == tmp.path and first.suffix == ".aim"
    related = tmp.create_related_path(first, "_SEG.AIM")
    assert related.name.startswith(first.stem + "_SEG") and related.suffix == ".AIM"
    async with tmp.subdir("a very long name", max_name_len=4) as sub:
        inner = tmp.create_temp_path("x.txt")
        assert inner.parent == sub and sub.name.startswith("a_ve")
    assert tmp.create_temp_path("y").parent == tmp.root
    assert tmp.is_under(inner) and tmp.is_under("relative/file") and not tmp.is_under("/etc/passwd")
    assert not tmp.is_under(Path("..") / "escape")
    await anyio.Path(inner).write_text("data")
    root = tmp.root
    await tmp.remove()
    assert not await anyio.Path(root).exists()
    with pytest.raises(InvalidArgument):
        TemporaryWorkingDirectory("a/b")
    async with TemporaryWorkingDirectory() as scoped:
        kept = scoped.root
    assert not await anyio.Path(kept).exists()


def test_worker_arguments_from_the_environment() -> None:
    env = {"XF_JOB_SERIAL": "42", "XF_SERVER_HOST": "xf.local", "XF_SERVER_PORT": "8443", "XF_SERVER_AUTH": "t"}
    args = XFWorkerArguments.from_environment(env)
    assert (args.job_serial, args.server_host, args.server_port, args.server_auth) == (42, "xf.local", "8443", "t")
    assert XFWorkerArguments.from_environment(args.environment()) == args
    for broken in ({}, {**env, "XF_JOB_SERIAL": "x"}, {**env, "XF_SERVER_PORT": "99999"}):
        with pytest.raises(ConfigurationError):
            XFWorkerArguments.from_environment(broken)


def test_versions() -> None:
    assert parse_version("1.10.2") == (1, 10, 2) and format_version((1, 10, 2)) == "1.10.2"
    assert parse_version(format_version((0, 0, 7))) == (0, 0, 7)
    for bad in ("", "1..2", "v1", "1.2-beta"):
        with pytest.raises(InvalidArgument):
            parse_version(bad)
    for bad_tuple in ((), (1, -2), (1, "2"), (True,)):
        with pytest.raises(InvalidArgument):
            format_version(bad_tuple)  # type: ignore[arg-type]


def test_the_blocking_temporary_working_directory() -> None:
    from asyncwf.blocking.worker import TemporaryWorkingDirectory as BlockingDirectory

    tmp = BlockingDirectory("blocking-")  # made by the constructor
    path = tmp.create_temp_path("a.txt")
    assert tmp.is_under(path)
    with tmp.subdir("inner") as sub:
        assert tmp.create_temp_path("b.txt").parent == sub
    root = tmp.root
    tmp.remove()
    assert not root.exists()
