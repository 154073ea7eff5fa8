"""asyncwf.data beside the Octue SDK 0.69.1 (in its own virtualenv) and bare gcloud-aio-storage, same run.

- a directory of 1,000 files with stored metadata: write every file's metadata, open the Dataset;
- the hash of a 512 MiB file, beside reading it and hashing it with blake3 directly;
- 200 x 100 KiB and 1 x 256 MiB uploads and downloads through a GCS emulator, beside bare
  gcloud-aio-storage calls with the same concurrency (16) and the Octue SDK's Dataset.upload/download;
- 1 x 64 MiB downloaded to disk, verified, beside a bare aiohttp GET streamed to a file;
- the peak memory of downloading a 1 GiB object.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._util import ROOT, Row, peer_python

CONCURRENCY = 16
MIB = 1024 * 1024


def _octue_python() -> Path | None:
    """The Octue SDK's virtualenv, made on first use."""
    return peer_python("octue", "octue==0.69.1")


def _random_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
        f.write(os.urandom(size % MIB))


async def _metadata_and_hash(rows: list[Row], work: Path, count: int, hash_mib: int) -> None:
    import blake3

    from asyncwf.data import Dataset, hash_file

    meta = work / "asyncwf-meta"
    meta.mkdir()
    for i in range(count):
        (meta / f"f{i:04}.dat").write_bytes(b"x" * 1024)
    dataset = await Dataset(str(meta))
    for datafile in dataset.files:
        datafile.labels.add("raw")
    start = time.perf_counter()
    await dataset.update_local_metadata()
    rows.append(Row("data: metadata", "asyncwf", f"write {count} files' metadata", time.perf_counter() - start, "s"))
    start = time.perf_counter()
    opened = await Dataset(str(meta))
    rows.append(Row("data: metadata", "asyncwf", f"open a dataset of {count}", time.perf_counter() - start, "s"))
    assert len(opened) == count and all(f.labels == {"raw"} for f in opened.files)

    path = work / "hash.bin"
    _random_file(path, hash_mib * MIB)
    start = time.perf_counter()
    hasher = blake3.blake3()
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            hasher.update(chunk)
    direct = time.perf_counter() - start
    start = time.perf_counter()
    ours = await hash_file(str(path))
    elapsed = time.perf_counter() - start
    assert ours == hasher.hexdigest()
    rows.append(Row("data: hash", "asyncwf", f"{hash_mib} MiB file", elapsed, "s"))
    rows.append(Row("data: hash", "read + blake3 (floor)", f"{hash_mib} MiB file", direct, "s"))


async def _transfers(rows: list[Row], work: Path, bucket: str, small_count: int, large_mib: int) -> None:
    """Each side three times, interleaved; the best run of each is reported (the machine is noisy)."""
    from gcloud.aio.storage import Storage

    from asyncwf.data import Datafile, Dataset
    from asyncwf.data._gcs import cloud_storage

    small, large = work / "small", work / "large"
    for i in range(small_count):
        _random_file(small / f"s{i:03}.bin", 100 * 1024)
    _random_file(large / "big.bin", large_mib * MIB)
    small_mib = small_count * 100 / 1024
    storage: Storage = (await cloud_storage()).storage  # bare calls share the session
    semaphore = asyncio.Semaphore(CONCURRENCY)
    names = sorted(p.name for p in small.iterdir())
    best: dict[tuple[str, str, str], float] = {}

    def note(what: str, system: str, metric: str, mib: float, start: float) -> None:
        rate = mib / (time.perf_counter() - start)
        best[(what, system, metric)] = max(best.get((what, system, metric), 0.0), rate)

    async def bare(fn: Any, *args: Any) -> None:
        async with semaphore:
            await fn(*args)

    small_label, large_label = f"data: {small_count} x 100 KiB", f"data: 1 x {large_mib} MiB"
    for run in range(3):
        dataset = await Dataset(str(small))
        start = time.perf_counter()
        await dataset.upload(f"gs://{bucket}/aw-small-{run}", concurrency=CONCURRENCY, progress_bar=False)
        note(small_label, "asyncwf", "upload", small_mib, start)
        start = time.perf_counter()
        await asyncio.gather(*(bare(storage.upload_from_filename, bucket, f"bare-small-{run}/{n}", str(small / n))
                               for n in names))  # fmt: skip
        note(small_label, "gcloud-aio-storage", "upload", small_mib, start)
        cloud = await Dataset(f"gs://{bucket}/aw-small-{run}")
        start = time.perf_counter()
        await cloud.download(str(work / f"aw-small-out-{run}"), concurrency=CONCURRENCY, progress_bar=False)
        note(small_label, "asyncwf", "download", small_mib, start)
        (work / f"bare-out-{run}").mkdir()
        start = time.perf_counter()
        await asyncio.gather(*(bare(storage.download_to_filename, bucket, f"bare-small-{run}/{n}",
                                    str(work / f"bare-out-{run}" / n)) for n in names))  # fmt: skip
        note(small_label, "gcloud-aio-storage", "download", small_mib, start)

        big = await Datafile(str(large / "big.bin"))
        start = time.perf_counter()
        await big.upload(f"gs://{bucket}/aw-large-{run}/big.bin")
        note(large_label, "asyncwf", "upload", large_mib, start)
        start = time.perf_counter()
        await storage.upload_from_filename(bucket, f"bare-large-{run}/big.bin", str(large / "big.bin"), timeout=600)
        note(large_label, "gcloud-aio-storage", "upload", large_mib, start)
        cloud_big = await Datafile(f"gs://{bucket}/aw-large-{run}/big.bin")
        start = time.perf_counter()
        await cloud_big.download(str(work / f"aw-large-out-{run}" / "big.bin"))
        note(large_label, "asyncwf", "download", large_mib, start)
        start = time.perf_counter()
        await storage.download_to_filename(bucket, f"bare-large-{run}/big.bin",
                                           str(work / f"bare-out-{run}" / "big.bin"), timeout=600)  # fmt: skip
        note(large_label, "gcloud-aio-storage", "download", large_mib, start)
    # The network's ceiling for downloads: one GET of the same object, bytes discarded (no hash, no disk).
    cs = await cloud_storage()
    ceiling = "raw GET, bytes discarded"
    for run in range(3):
        start = time.perf_counter()
        await _raw_get(cs, bucket, f"aw-large-{run}/big.bin")
        note(large_label, ceiling, "download", large_mib, start)
    rows.append(Row(large_label, ceiling, "download", best[(large_label, ceiling, "download")], "MiB/s"))
    for system in ("asyncwf", "gcloud-aio-storage"):
        for what in (small_label, large_label):
            for metric in ("upload", "download"):
                rows.append(Row(what, system, metric, best[(what, system, metric)], "MiB/s"))


async def _to_disk(rows: list[Row], work: Path, bucket: str, mib: int, rounds: int) -> None:
    """One object downloaded to disk: asyncwf (received, hashed and written to a temporary file by a worker
    thread, checked against its stored BLAKE3, renamed into place) beside a bare aiohttp GET streamed to a
    file. The kernel's write-back makes the disk's pace uneven: every download starts after ``os.sync()``,
    the two alternate in order, and the medians are reported."""
    from asyncwf.data import Datafile
    from asyncwf.data._gcs import cloud_storage

    _random_file(work / "disk.bin", mib * MIB)
    cs = await cloud_storage()
    await (await Datafile(str(work / "disk.bin"))).upload(f"gs://{bucket}/disk.bin")  # with its BLAKE3 stored
    url = f"{cs._emulator}/storage/v1/b/{bucket}/o/disk.bin"

    datafile = await Datafile(f"gs://{bucket}/disk.bin")  # its metadata read once, as a user's would be

    async def ours(target: Path) -> None:
        await datafile.download(str(target))

    async def bare(target: Path) -> None:
        async with cs.session.get(url, params={"alt": "media"}, raise_for_status=True) as response:
            with target.open("wb") as f:
                async for chunk in response.content.iter_chunked(MIB):
                    f.write(chunk)

    rates: dict[str, list[float]] = {"asyncwf (verified)": [], "bare aiohttp GET to a file": []}
    sides = list(zip(rates, (ours, bare), strict=True))
    for run in range(rounds):
        for system, fn in sides if run % 2 == 0 else sides[::-1]:
            target = work / f"disk-{run}-{len(rates[system])}.bin"
            await asyncio.to_thread(os.sync)
            start = time.perf_counter()
            await fn(target)
            rates[system].append(mib / (time.perf_counter() - start))
            assert target.stat().st_size == mib * MIB
            target.unlink()
    for system, values in rates.items():
        rows.append(Row(f"data: 1 x {mib} MiB to disk", system, "download, median", statistics.median(values), "MiB/s"))


async def _raw_get(cs: Any, bucket: str, name: str) -> None:
    url = f"{cs._emulator}/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}"
    async with cs.session.get(url, params={"alt": "media"}, raise_for_status=True) as response:
        async for _ in response.content.iter_any():
            pass


def _octue(rows: list[Row], work: Path, bucket: str, emulator: str, quick: bool, small_count: int,
           large_mib: int, hash_mib: int) -> None:  # fmt: skip
    python = _octue_python()
    if python is None:
        rows.append(Row("data", "octue 0.69.1", "skipped (could not install it)", float("nan"), ""))
        return
    env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator, "GOOGLE_CLOUD_PROJECT": "test"}
    done = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "_octue_side.py"), str(work), bucket, "1" if quick else "0"],
        env=env, capture_output=True, text=True, check=True, timeout=1800,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    count = int(result["metadata_files"])
    small_mib = small_count * 100 / 1024
    rows += [
        Row("data: metadata", "octue 0.69.1", f"write {count} files' metadata", result["write_metadata"], "s"),
        Row("data: metadata", "octue 0.69.1", f"open a dataset of {count}", result["open_dataset"], "s"),
        Row("data: hash", "octue 0.69.1 (CRC32C)", f"{hash_mib} MiB file", result["hash"], "s"),
        Row("data: 200 x 100 KiB", "octue 0.69.1", "upload", small_mib / result["upload_small"], "MiB/s"),
        Row("data: 200 x 100 KiB", "octue 0.69.1", "download", small_mib / result["download_small"], "MiB/s"),
        Row(f"data: 1 x {large_mib} MiB", "octue 0.69.1", "upload", large_mib / result["upload_large"], "MiB/s"),
        Row(f"data: 1 x {large_mib} MiB", "octue 0.69.1", "download", large_mib / result["download_large"], "MiB/s"),
    ]


async def _upload_big(path: Path, target: str) -> None:
    from asyncwf.data._gcs import cloud_storage

    await (await cloud_storage()).upload_file(str(path), target)


def _memory(rows: list[Row], work: Path, bucket: str, emulator: str, size_mib: int) -> None:
    path = work / "huge.bin"
    _random_file(path, size_mib * MIB)
    target = f"gs://{bucket}/huge.bin"
    asyncio.run(_upload_big(path, target))
    path.unlink()
    env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._rss_side", target, str(work / "huge-out.bin")],
        env=env, capture_output=True, text=True, check=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rise = result["peak_mib"] - result["baseline_mib"]
    rows.append(Row(f"data: download {size_mib} MiB", "asyncwf", "resident memory rise", rise, "MiB"))


async def _ours(rows: list[Row], work: Path, bucket: str, quick: bool) -> None:
    await _metadata_and_hash(rows, work, 200 if quick else 1000, 128 if quick else 512)
    await _transfers(rows, work, bucket, 200, 64 if quick else 256)
    await _to_disk(rows, work, bucket, 64, 7 if quick else 15)


def run_sync(rows: list[Row], *, quick: bool = False) -> None:
    from asyncwf.testing import GCSEmulator

    hash_mib, large_mib = (128, 64) if quick else (512, 256)
    with tempfile.TemporaryDirectory() as tmp, GCSEmulator() as emulator:
        work = Path(tmp)
        bucket = emulator.create_bucket()
        asyncio.run(_ours(rows, work, bucket, quick))
        _octue(rows, work, bucket, emulator.url, quick, 200, large_mib, hash_mib)
        emulator.wipe()
        _memory(rows, work, bucket, emulator.url, 1024)


async def run(rows: list[Row], *, quick: bool = False) -> None:
    # The parts run their own event loops (and a subprocess per peer): keep them off this one.
    await asyncio.to_thread(run_sync, rows, quick=quick)


if __name__ == "__main__":
    out: list[Row] = []
    run_sync(out, quick="--quick" in sys.argv)
    for row in out:
        print(row)
