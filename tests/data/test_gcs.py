"""Datafiles, datasets and manifests in Google Cloud Storage, against a real emulator over sockets."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
import anyio
import blake3
import pytest
from aiohttp import web

from asyncwf.data import Datafile, Dataset, Manifest
from asyncwf.data._gcs import MULTIPART_MAX_BYTES, CloudStorage, _NoCredentials, cloud_storage
from asyncwf.exceptions import (
    CloudLocationNotSpecified,
    FileNotFound,
    IntegrityError,
    InvalidInputException,
)


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if p.name.endswith(".part")]


async def test_datafile_round_trip_with_metadata(gcs_bucket: str, tmp_path: Path) -> None:
    local = await Datafile(write(tmp_path / "a.csv", b"1,2,3\n"), labels="raw", tags={"site": "n1"}, timestamp=7)
    target = f"gs://{gcs_bucket}/data/a.csv"
    assert await local.upload(target) == target
    cloud = await Datafile(target)
    assert (cloud.id, cloud.labels, cloud.tags, cloud.posix_timestamp) == (local.id, {"raw"}, {"site": "n1"}, 7.0)
    assert cloud.size_bytes == 6 and cloud.exists_in_cloud and not cloud.exists_locally
    assert cloud.cloud_hash_value  # the store's CRC32C
    # The BLAKE3 travelled with the upload: known without downloading.
    assert cloud.hash_value == blake3.blake3(b"1,2,3\n").hexdigest()
    path = await cloud.download(str(tmp_path / "down" / "a.csv"))
    assert await anyio.Path(path).read_bytes() == b"1,2,3\n" and cloud.exists_locally
    umask = os.umask(0)
    os.umask(umask)
    assert (await anyio.Path(path).stat()).st_mode & 0o777 == 0o666 & ~umask  # not a temporary file's 0600
    cloud.labels.add("checked")
    await cloud.update_metadata()
    assert (await Datafile(target)).labels == {"raw", "checked"}


async def test_large_files_stream_and_keep_their_hash(gcs_bucket: str, tmp_path: Path) -> None:
    data = os.urandom(MULTIPART_MAX_BYTES + 1024 * 1024)
    local = await Datafile(write(tmp_path / "big.bin", data), labels="big")
    target = f"gs://{gcs_bucket}/big.bin"
    await local.upload(target)
    cloud = await Datafile(target)
    assert cloud.labels == {"big"} and cloud.size_bytes == len(data)
    assert cloud.hash_value == blake3.blake3(data).hexdigest()
    async with cloud.open("rb") as f:
        assert await f.read() == data


async def test_cloud_datafile_written_through_open(gcs_bucket: str) -> None:
    target = f"gs://{gcs_bucket}/notes/new.txt"
    datafile = await Datafile(target, labels="note")
    async with datafile.open("w") as f:
        await f.write("hello")
    again = await Datafile(target)
    assert again.labels == {"note"}
    async with again.open() as f:
        assert await f.read() == "hello"


async def test_dataset_transfer_bars_count_bytes(
    gcs_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncwf.data._dataset as dataset_module

    bars = []

    def recording(*args):  # type: ignore[no-untyped-def]
        bars.append(real(*args))
        return bars[-1]

    real = dataset_module.new_progress_bar
    monkeypatch.setattr(dataset_module, "new_progress_bar", recording)
    big = MULTIPART_MAX_BYTES + 3 * 1024 * 1024  # streams in chunks: the bar moves within the file
    write(tmp_path / "src" / "big.bin", os.urandom(big))
    write(tmp_path / "src" / "small.txt", b"tiny")
    local = await Dataset(str(tmp_path / "src"))
    target = await local.upload(f"gs://{gcs_bucket}/bars", progress_bar=True)
    await (await Dataset(target)).download(str(tmp_path / "out"), progress_bar=True)
    assert [(bar.unit, bar.total, bar.n) for bar in bars] == [("B", big + 4, big + 4)] * 2


async def test_dataset_upload_listing_and_download(gcs_bucket: str, tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv", "sub/c.txt"):
        write(tmp_path / "src" / name, name.encode())
    local = await Dataset(str(tmp_path / "src"), recursive=True, labels="survey")
    local.files.one(name="c.txt").tags["kind"] = "text"
    target = await local.upload(f"gs://{gcs_bucket}/survey", progress_bar=False)
    cloud = await Dataset(target, recursive=True)
    assert cloud.labels == {"survey"} and cloud.id == local.id and cloud.all_files_are_in_cloud
    assert {cloud.relative_path(f) for f in cloud.files} == {"a.csv", "b.csv", "sub/c.txt"}
    assert cloud.files.one(tags__kind="text").name == "c.txt"
    assert await cloud.calculate_hash() == await local.calculate_hash()
    flat = await Dataset(target)
    assert {f.name for f in flat.files} == {"a.csv", "b.csv"}
    out = Path(await cloud.download(str(tmp_path / "out")))
    assert (out / "sub" / "c.txt").read_bytes() == b"sub/c.txt" and cloud.exists_locally
    assert not leftovers(out)


async def test_a_corrupted_download_is_detected_and_leaves_nothing(gcs_bucket: str, tmp_path: Path) -> None:
    target = f"gs://{gcs_bucket}/x.bin"
    original = await Datafile(write(tmp_path / "x.bin", b"original"))
    await original.upload(target)
    # Replace the bytes behind the metadata's back (its stored BLAKE3 is the old one).
    storage = await cloud_storage()
    info = await storage.info(target)
    assert info is not None
    await storage.upload_bytes(b"tampered", target, info.custom)
    cloud = await Datafile(target)
    with pytest.raises(IntegrityError, match="BLAKE3"):
        await cloud.download(str(tmp_path / "got" / "x.bin"))
    assert not (tmp_path / "got" / "x.bin").exists() and not leftovers(tmp_path)


async def test_a_wrong_crc32c_from_the_store_is_detected(tmp_path: Path) -> None:
    # A server that answers like GCS but whose bytes do not match its x-goog-hash.
    async def media(request: web.Request) -> web.Response:
        return web.Response(body=b"corrupted!", headers={"x-goog-hash": "crc32c=AAAAAA==,md5=x"})

    app = web.Application()
    app.router.add_get("/storage/v1/b/{bucket}/o/{name}", media)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        storage = CloudStorage(session, _NoCredentials(), f"http://127.0.0.1:{port}")
        with pytest.raises(IntegrityError, match="CRC32C"):
            await storage.download_file("gs://bucket/x", str(tmp_path / "x"))
    await runner.cleanup()
    assert [p async for p in anyio.Path(tmp_path).iterdir()] == []


async def test_cancelling_transfers_leaves_no_partial_file_or_object(gcs_bucket: str, tmp_path: Path) -> None:
    data = os.urandom(48 * 1024 * 1024)
    source = write(tmp_path / "big.bin", data)
    storage = await cloud_storage()
    sending = asyncio.Event()
    upload = asyncio.create_task(
        storage.upload_file(source, f"gs://{gcs_bucket}/cancelled.bin", progress=lambda n: sending.set())
    )
    await sending.wait()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    partial = await storage.info(f"gs://{gcs_bucket}/cancelled.bin")
    assert partial is None
    await storage.upload_file(source, f"gs://{gcs_bucket}/whole.bin")
    started = asyncio.Event()
    target = str(tmp_path / "d" / "whole.bin")
    download = asyncio.create_task(
        storage.download_file(f"gs://{gcs_bucket}/whole.bin", target, progress=lambda n: started.set())
    )
    await started.wait()
    download.cancel()
    with pytest.raises(asyncio.CancelledError):
        await download
    assert list((tmp_path / "d").iterdir()) == []


async def test_missing_objects_and_bad_paths(gcs_bucket: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFound):
        await (await Datafile(f"gs://{gcs_bucket}/nope.csv")).download(str(tmp_path / "nope.csv"))
    small = await Datafile(write(tmp_path / "small.txt", b"small"))
    await small.upload(f"gs://{gcs_bucket}/small.txt")
    with pytest.raises(InvalidInputException, match="is a directory"):
        await (await Datafile(f"gs://{gcs_bucket}/small.txt")).download(str(tmp_path))
    with pytest.raises(CloudLocationNotSpecified):
        await (await Datafile(write(tmp_path / "l.txt", b"l"))).upload()
    with pytest.raises(InvalidInputException):
        await (await Datafile(write(tmp_path / "m.txt", b"m"))).upload("gs://Not A Bucket/x")
    with pytest.raises(FileNotFound):
        await Manifest.from_cloud(f"gs://{gcs_bucket}/absent/manifest.json")
    empty = await Dataset(f"gs://{gcs_bucket}/no-such-prefix")
    assert len(empty) == 0


def _service_account(tmp_path: Path) -> tuple[Path, object]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "test", "private_key_id": "k1", "private_key": pem,
        "client_email": "tester@test.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))  # fmt: skip
    return path, key.public_key()


def _verify_v4_signature(url: str, public_key: object) -> dict[str, str]:
    """Check a V4 signed URL's signature the way GCS does (canonical request -> string to sign -> RSA)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical_query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items()))
    canonical = "\n".join(["GET", parts.path, canonical_query, "host:storage.googleapis.com\n", "host",
                           "UNSIGNED-PAYLOAD"])  # fmt: skip
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(["GOOG4-RSA-SHA256", query["X-Goog-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])  # fmt: skip
    public_key.verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
    return query


@pytest.fixture
def signing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    path, public_key = _service_account(tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return public_key


async def test_signed_urls_are_v4_signed_and_serve_the_object(gcs_bucket: str, tmp_path: Path,
                                                              signing: object) -> None:  # fmt: skip
    datafile = await Datafile(write(tmp_path / "s.txt", b"shared"))
    await datafile.upload(f"gs://{gcs_bucket}/shared/s.txt")
    url = await datafile.generate_signed_url(dt.timedelta(hours=1))
    emulator = os.environ["STORAGE_EMULATOR_HOST"]
    query = _verify_v4_signature(url.replace(emulator, "https://storage.googleapis.com"), signing)
    assert query["X-Goog-Expires"] == "3600" and query["X-Goog-Credential"].startswith("tester@")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert await response.read() == b"shared"
    for bad in (dt.timedelta(days=8), dt.timedelta(0), dt.datetime(2030, 1, 1)):
        with pytest.raises(InvalidInputException):
            await datafile.generate_signed_url(bad)


async def test_manifest_in_the_cloud_and_signed_datasets(gcs_bucket: str, tmp_path: Path, signing: object) -> None:
    write(tmp_path / "ds" / "a.txt", b"A")
    write(tmp_path / "ds" / "deep" / "b.txt", b"B")
    dataset = await Dataset(str(tmp_path / "ds"), recursive=True, labels="shared")
    cloud_path = await dataset.upload(f"gs://{gcs_bucket}/ds", progress_bar=False)
    manifest = await Manifest({"input": cloud_path, "local": str(tmp_path / "ds")}, name="m")
    assert not manifest.all_datasets_are_in_cloud
    await manifest.to_cloud(f"gs://{gcs_bucket}/manifest.json")
    again = await Manifest.from_cloud(f"gs://{gcs_bucket}/manifest.json")
    assert again.get_dataset("input").labels == {"shared"}
    signed = await manifest.use_signed_urls_for_datasets()
    assert signed is manifest and manifest.get_dataset("input").path != cloud_path  # in place, as in Octue
    assert manifest.get_dataset("local").path == str(tmp_path / "ds")  # local datasets stay
    shared = await signed.get_dataset("input")
    assert shared.path.startswith(os.environ["STORAGE_EMULATOR_HOST"]) and shared.labels == {"shared"}
    assert {shared.relative_path(f) for f in shared.files} == {"a.txt", "deep/b.txt"}
    out = Path(await shared.download(str(tmp_path / "fetched")))
    assert (out / "deep" / "b.txt").read_bytes() == b"B"
    assert await shared.calculate_hash() == await dataset.calculate_hash()
    with pytest.raises(InvalidInputException, match="read-only"):
        async with shared.files.one(name="a.txt").open("w"):
            pass


def test_crc32c_encoding_matches_gcs() -> None:
    from asyncwf.data._hashing import crc32c_b64

    assert crc32c_b64(b"") == "AAAAAA=="
    assert base64.b64decode(crc32c_b64(b"abc")) == (0x364B3FB7).to_bytes(4, "big")


@pytest.mark.allow_blocking
def test_signed_urls_with_the_emulator_named_before_import(gcs_bucket: str, tmp_path: Path) -> None:
    """``STORAGE_EMULATOR_HOST`` set before anything is imported (as the data guide says): a URL at the emulator."""
    path, _ = _service_account(tmp_path)
    (tmp_path / "s.txt").write_bytes(b"early")
    script = textwrap.dedent(
        f"""
        import datetime, urllib.request
        from asyncwf.blocking.data import Datafile, Dataset
        datafile = Datafile({str(tmp_path / "s.txt")!r})
        datafile.upload("gs://{gcs_bucket}/early/s.txt")
        url = datafile.generate_signed_url(datetime.timedelta(hours=1))
        assert url.startswith({os.environ["STORAGE_EMULATOR_HOST"]!r} + "/"), url
        assert urllib.request.urlopen(url, timeout=10).read() == b"early"
        print("ok")
        """
    )
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
