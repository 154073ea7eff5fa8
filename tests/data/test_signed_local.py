"""Local files shared by signed URL through the backend's HTTP endpoint (FileService + GET /v1/files)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import anyio
import pytest

from asyncwf import Client
from asyncwf.data import Datafile, Dataset
from asyncwf.exceptions import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from asyncwf.testing import LocalBackend


async def fetch(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


@pytest.fixture
async def sharing(tmp_path: Path) -> tuple[Path, Client]:  # type: ignore[misc]
    share = tmp_path / "share"
    await anyio.Path(share).mkdir()
    async with LocalBackend(shared_dirs=(share,)) as backend, backend.client() as client:
        yield share, client


async def test_a_local_datafile_shared_by_url(sharing: tuple[Path, Client]) -> None:
    share, client = sharing
    await anyio.Path(share / "a.txt").write_text("hello")
    datafile = await Datafile(str(share / "a.txt"))
    url = await datafile.generate_signed_url(dt.timedelta(minutes=5), client=client)
    assert await fetch(url) == (200, b"hello")
    # Any change to the path or the expiry breaks the signature.
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for change in ({"path": str(share / "other.txt")}, {"expires": str(int(query["expires"]) + 60)},
                   {"signature": "0" * 64}):  # fmt: skip
        status, _ = await fetch(parts._replace(query=urlencode({**query, **change})).geturl())
        assert status == 403


async def test_signed_urls_expire(sharing: tuple[Path, Client]) -> None:
    share, client = sharing
    await anyio.Path(share / "b.txt").write_text("soon gone")
    url = await client.sign_file_url(str(share / "b.txt"), 2)
    assert (await fetch(url))[0] == 200
    await asyncio.sleep(3.1)
    assert (await fetch(url))[0] == 403


async def test_only_shared_regular_files_can_be_signed(sharing: tuple[Path, Client], tmp_path: Path) -> None:
    share, client = sharing
    await anyio.Path(tmp_path / "secret.txt").write_text("no")
    await anyio.to_thread.run_sync(os.symlink, tmp_path / "secret.txt", share / "link.txt")
    with pytest.raises(PermissionDenied):
        await client.sign_file_url(str(tmp_path / "secret.txt"))
    with pytest.raises(PermissionDenied):
        await client.sign_file_url(str(share / "link.txt"))  # a link out of the shared directory
    with pytest.raises(PermissionDenied):
        await client.sign_file_url(str(share / ".." / "secret.txt"))
    with pytest.raises(NotFound):
        await client.sign_file_url(str(share / "missing.txt"))
    with pytest.raises(InvalidArgument):
        await client.sign_file_url("relative.txt")
    with pytest.raises(InvalidArgument):
        await client.sign_file_url(str(share), 10 * 24 * 3600)


async def test_a_backend_sharing_nothing_refuses(client: Client, tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="--share-dir"):
        await client.sign_file_url(str(tmp_path / "x"))


async def test_a_local_dataset_shared_by_url(sharing: tuple[Path, Client], tmp_path: Path) -> None:
    share, client = sharing
    await anyio.Path(share / "ds" / "deep").mkdir(parents=True)
    await anyio.Path(share / "ds" / "a.txt").write_text("A")
    await anyio.Path(share / "ds" / "deep" / "b.txt").write_text("B")
    dataset = await Dataset(str(share / "ds"), recursive=True, labels="shared")
    url = await dataset.generate_signed_url(client=client)
    again = await Dataset(str(share / "ds"), recursive=True)
    assert sorted(again.relative_path(f) for f in again) == ["a.txt", "deep/b.txt"]  # not the signed document
    shared = await Dataset(url)
    assert shared.labels == {"shared"} and {shared.relative_path(f) for f in shared} == {"a.txt", "deep/b.txt"}
    out = Path(await shared.download(str(tmp_path / "copy")))
    assert await anyio.Path(out / "deep" / "b.txt").read_text() == "B"
    assert await shared.calculate_hash() == await dataset.calculate_hash()
